//! Signed HTTP requests: how a member proves who reads.
//!
//! A request carries three headers:
//! - `x-productivist-cert`: the member's certificate (hex of its borsh
//!   encoding, as in `orgs/ORG/members/NAME.cert`);
//! - `x-productivist-time`: the request time, ms since the Unix epoch;
//! - `x-productivist-signature`: hex of the ed25519 signature, by the
//!   certificate's key, of `blake3(tag "productivist/v1/http",
//!   "METHOD\nPATH\nTIME")` where PATH is the path with its query string.
//!
//! The node checks the certificate against the channel's organizations and
//! revocations, the time against its clock (±[`SKEW_MS_MAX`]), and the
//! signature. Private channels (every channel but `public`) require it for
//! every read; on the public channel it only names the caller of queries.

use productivist_engine::codec;
use productivist_engine::config::{ChannelConfig, Readers};
use productivist_engine::crypto::{Hash, KeyPair, SignatureBytes, hex, unhex};
use productivist_engine::identity::{Certificate, Identity, check_certificate};

/// Domain tag of request signatures.
pub const DOMAIN: &[u8] = b"productivist/v1/http";
/// Header with the certificate.
pub const HEADER_CERT: &str = "x-productivist-cert";
/// Header with the request time.
pub const HEADER_TIME: &str = "x-productivist-time";
/// Header with the signature.
pub const HEADER_SIGNATURE: &str = "x-productivist-signature";
/// Largest accepted difference between the request time and the node's.
pub const SKEW_MS_MAX: u64 = 5 * 60 * 1000;
/// Whether reading a channel requires a signed request (its config says
/// who its readers are).
pub fn requires_auth(config: &ChannelConfig) -> bool {
    config.readers == Readers::Members
}

/// The digest a member signs for a request.
pub fn request_digest(method: &str, path_and_query: &str, time_ms: u64) -> Hash {
    Hash::tagged(
        DOMAIN,
        format!(
            "{}\n{path_and_query}\n{time_ms}",
            method.to_ascii_uppercase()
        )
        .as_bytes(),
    )
}

/// The three headers for a request signed by `key` with `cert`.
pub fn sign_request(
    cert: &Certificate,
    key: &KeyPair,
    method: &str,
    path_and_query: &str,
    time_ms: u64,
) -> [(&'static str, String); 3] {
    let sig = key.sign(&request_digest(method, path_and_query, time_ms));
    [
        (HEADER_CERT, hex(&codec::encode(cert))),
        (HEADER_TIME, time_ms.to_string()),
        (HEADER_SIGNATURE, hex(&sig.0)),
    ]
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature headers on a channel that needs them.
    #[error("this channel is private: sign the request as a member (see docs/API.md)")]
    Missing,
    /// The headers are malformed or the signature does not verify.
    #[error("invalid request signature: {0}")]
    Invalid(String),
}

/// Checks the signature headers (`get` returns a header's value) at
/// `now_ms`. `Ok(None)` when there are none.
pub fn verify_request(
    get: &dyn Fn(&str) -> Option<String>,
    method: &str,
    path_and_query: &str,
    config: &ChannelConfig,
    now_ms: u64,
) -> Result<Option<Identity>, AuthError> {
    let (cert, time, sig) = match (get(HEADER_CERT), get(HEADER_TIME), get(HEADER_SIGNATURE)) {
        (None, None, None) => return Ok(None),
        (Some(c), Some(t), Some(s)) => (c, t, s),
        _ => return Err(AuthError::Invalid("all three headers are needed".into())),
    };
    let invalid = |m: &str| AuthError::Invalid(m.to_string());
    let cert_bytes = unhex(cert.trim()).ok_or_else(|| invalid("certificate is not hex"))?;
    let cert: Certificate = codec::decode("certificate", &cert_bytes)
        .map_err(|e| AuthError::Invalid(format!("certificate: {e}")))?;
    let time_ms: u64 = time
        .trim()
        .parse()
        .map_err(|_| invalid("time is not a number"))?;
    if time_ms.abs_diff(now_ms) > SKEW_MS_MAX {
        return Err(invalid("request time too far from the node's clock"));
    }
    let sig: [u8; 64] = unhex(sig.trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("signature is not 64 bytes of hex"))?;
    let identity = check_certificate(&cert, &config.orgs, &config.revocations, now_ms)
        .map_err(|e| AuthError::Invalid(format!("certificate: {e}")))?;
    identity
        .public_key
        .verify(
            &request_digest(method, path_and_query, time_ms),
            &SignatureBytes(sig),
        )
        .map_err(|_| invalid("signature does not verify"))?;
    Ok(Some(identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_engine::devnet::{DevNet, DevNetSpec};

    #[test]
    fn signed_requests_verify_and_tampering_fails() {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("auth"))).unwrap();
        let carla = net.find("carla").unwrap();
        let now = 1_700_000_000_000;
        let headers = sign_request(&carla.cert, &carla.key, "get", "/v1/x?from=1", now);
        let get = |h: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == h)
                .map(|(_, v)| v.clone())
        };
        let id = verify_request(&get, "GET", "/v1/x?from=1", &net.config, now + 1000)
            .unwrap()
            .unwrap();
        assert_eq!(id.account(), carla.account());
        assert!(verify_request(&get, "GET", "/v1/x?from=2", &net.config, now).is_err());
        assert!(verify_request(&get, "POST", "/v1/x?from=1", &net.config, now).is_err());
        assert!(
            verify_request(
                &get,
                "GET",
                "/v1/x?from=1",
                &net.config,
                now + SKEW_MS_MAX + 1
            )
            .is_err()
        );
        assert_eq!(
            verify_request(&|_| None, "GET", "/", &net.config, now),
            Ok(None)
        );
        let partial = |h: &str| (h == HEADER_TIME).then(|| "1".to_string());
        assert!(verify_request(&partial, "GET", "/", &net.config, now).is_err());
        // The config decides, not the channel's name.
        let mut config = net.config.clone();
        assert!(!requires_auth(&config));
        config.readers = Readers::Members;
        assert!(requires_auth(&config));
    }
}
