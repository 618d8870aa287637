//! TLS 1.3 identities pinned to ed25519 node keys.
//!
//! A node's certificate is self-signed by its node key (rcgen). What is
//! checked is the key inside it, against the consenter set: the TLS
//! handshake's CertificateVerify proves the peer holds that key's secret.

use crate::allowlist::Allowlist;
use productivist_engine::crypto::{KeyPair, PublicKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// The ALPN protocol id of node-to-node traffic.
pub const ALPN: &[u8] = b"productivist/1";
/// The server name dialers use (identity comes from the pinned key, not DNS).
pub const SERVER_NAME: &str = "productivist-node";

/// Why TLS material could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The node key could not be encoded.
    #[error("node key encoding: {0}")]
    Key(String),
    /// rcgen refused the certificate.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// quinn refused the configuration.
    #[error("quic configuration: {0}")]
    Quic(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `key`, and the key in PKCS#8.
pub fn node_certificate(
    key: &KeyPair,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.secret());
    let pkcs8 = signing
        .to_pkcs8_der()
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let der = PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
    let kp = rcgen::KeyPair::try_from(&der)?;
    let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    let cert = params.self_signed(&kp)?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(der)))
}

/// The ed25519 key a certificate carries.
pub fn public_key_of(cert: &CertificateDer<'_>) -> Result<PublicKey, rustls::Error> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding);
    let (rest, parsed) = X509Certificate::from_der(cert.as_ref()).map_err(|_| bad())?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let spki = parsed.public_key();
    // id-Ed25519, RFC 8410.
    if spki.algorithm.algorithm.to_id_string() != "1.3.101.112" {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ));
    }
    let bytes: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| bad())?;
    Ok(PublicKey(bytes))
}

// QUIC is TLS 1.3 only.
fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOffered,
    ))
}

fn tls13_verify(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

fn unknown_key() -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
}

/// Accepts exactly one server key: the peer the dialer meant to reach.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    expected: PublicKey,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if public_key_of(end_entity)? != self.expected {
            return Err(unknown_key());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls13_verify(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Accepts client keys in the allowlist.
#[derive(Debug)]
pub struct AllowlistClientVerifier {
    allow: Allowlist,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AllowlistClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let key = public_key_of(end_entity)?;
        if !self.allow.contains(&key) {
            tracing::warn!(peer = %key, "refused a connection from a key outside the consenter set");
            return Err(unknown_key());
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls13_verify(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The QUIC server configuration of a node.
pub fn server_crypto(
    key: &KeyPair,
    allow: Allowlist,
) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsError> {
    let (cert, secret) = node_certificate(key)?;
    let provider = provider();
    let verifier = Arc::new(AllowlistClientVerifier {
        allow,
        provider: provider.clone(),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], secret)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

/// The QUIC client configuration for dialing the node with key `expected`.
pub fn client_crypto(
    key: &KeyPair,
    expected: PublicKey,
) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsError> {
    let (cert, secret) = node_certificate(key)?;
    let provider = provider();
    let verifier = Arc::new(PinnedServerVerifier {
        expected,
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], secret)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_node_key() {
        let key = KeyPair::from_seed("node");
        let (cert, _) = node_certificate(&key).unwrap();
        assert_eq!(public_key_of(&cert).unwrap(), key.public());
    }

    #[test]
    fn garbage_certificates_are_refused_not_panicked_on() {
        for bytes in [vec![], vec![0x30], vec![0xff; 100]] {
            assert!(public_key_of(&CertificateDer::from(bytes)).is_err());
        }
    }
}
