//! Member sessions for private channels' pages.
//!
//! A browser cannot sign each request like the API's clients do
//! (`node::auth`), so a member signs once, offline, a session token with
//! the same key and the same request digest: `auth::request_digest("SESSION",
//! "/explorer", expires_ms)`. The token is
//! `v1.<certificate hex>.<expires_ms>.<signature hex>`; the member pastes it
//! into `/session`, and the node keeps it in an HttpOnly, SameSite=Strict
//! cookie. Every private-channel page checks the token against that
//! channel's config (organizations and revocations) at the node's clock, so
//! a member of one channel sees nothing of another. See docs/EXPLORER.md.

use crate::node::auth;
use productivist_engine::codec;
use productivist_engine::config::ChannelConfig;
use productivist_engine::crypto::{KeyPair, SignatureBytes, hex, unhex};
use productivist_engine::identity::{Certificate, Identity, check_certificate};

/// The cookie holding the session token.
pub const COOKIE: &str = "productivist_session";
/// Longest session a token may ask for.
pub const SESSION_TTL_MS_MAX: u64 = 24 * 3600 * 1000;
/// The method and path the session digest is computed over (never a real
/// route, so a session signature cannot be replayed as a signed request).
const SESSION_METHOD: &str = "SESSION";
const SESSION_PATH: &str = "/explorer";
/// Largest token accepted (a certificate is well under 1 KiB).
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;

/// Why a session token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not `v1.<cert>.<expires>.<sig>`.
    #[error("malformed session token: {0}")]
    Malformed(&'static str),
    /// Past its expiry.
    #[error("the session has expired")]
    Expired,
    /// Asks for more than [`SESSION_TTL_MS_MAX`].
    #[error("the session lasts longer than 24 hours")]
    TooLong,
    /// The certificate is not a member's of this channel, or revoked.
    #[error("not a member of this channel: {0}")]
    NotMember(String),
    /// The signature does not verify.
    #[error("the session signature does not verify")]
    BadSignature,
}

/// A session token for `cert` signed by `key`, valid until `expires_ms`.
pub fn sign_token(cert: &Certificate, key: &KeyPair, expires_ms: u64) -> String {
    let digest = auth::request_digest(SESSION_METHOD, SESSION_PATH, expires_ms);
    let sig = key.sign(&digest);
    format!(
        "v1.{}.{expires_ms}.{}",
        hex(&codec::encode(cert)),
        hex(&sig.0)
    )
}

/// The member a token names, if it is valid on the channel `config` at
/// `now_ms`.
pub fn verify_token(
    token: &str,
    config: &ChannelConfig,
    now_ms: u64,
) -> Result<Identity, SessionError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(SessionError::Malformed("too long"));
    }
    let mut parts = token.trim().split('.');
    let (Some("v1"), Some(cert), Some(expires), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SessionError::Malformed(
            "expected v1.<cert>.<expires>.<sig>",
        ));
    };
    let expires_ms: u64 = expires
        .parse()
        .map_err(|_| SessionError::Malformed("expiry is not a number"))?;
    if expires_ms <= now_ms {
        return Err(SessionError::Expired);
    }
    if expires_ms - now_ms > SESSION_TTL_MS_MAX {
        return Err(SessionError::TooLong);
    }
    let cert_bytes = unhex(cert).ok_or(SessionError::Malformed("certificate is not hex"))?;
    let cert: Certificate = codec::decode("certificate", &cert_bytes)
        .map_err(|_| SessionError::Malformed("certificate does not decode"))?;
    let sig: [u8; 64] = unhex(sig)
        .and_then(|b| b.try_into().ok())
        .ok_or(SessionError::Malformed("signature is not 64 bytes of hex"))?;
    let identity = check_certificate(&cert, &config.orgs, &config.revocations, now_ms)
        .map_err(|e| SessionError::NotMember(e.to_string()))?;
    identity
        .public_key
        .verify(
            &auth::request_digest(SESSION_METHOD, SESSION_PATH, expires_ms),
            &SignatureBytes(sig),
        )
        .map_err(|_| SessionError::BadSignature)?;
    Ok(identity)
}

/// The session token in a `Cookie` header value, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_engine::devnet::{DevNet, DevNetSpec};

    #[test]
    fn tokens_verify_for_members_only_and_expire() {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("session"))).unwrap();
        let carla = net.find("carla").unwrap();
        let now = 1_700_000_000_000;
        let token = sign_token(&carla.cert, &carla.key, now + 3_600_000);
        let who = verify_token(&token, &net.config, now).unwrap();
        assert_eq!(who.account(), carla.account());
        assert_eq!(
            verify_token(&token, &net.config, now + 3_600_000),
            Err(SessionError::Expired)
        );
        let long = sign_token(&carla.cert, &carla.key, now + SESSION_TTL_MS_MAX + 1);
        assert_eq!(
            verify_token(&long, &net.config, now),
            Err(SessionError::TooLong)
        );
        // Another member's key cannot sign for carla's certificate.
        let dora = net.find("dora").unwrap();
        let forged = sign_token(&carla.cert, &dora.key, now + 60_000);
        assert_eq!(
            verify_token(&forged, &net.config, now),
            Err(SessionError::BadSignature)
        );
        // A channel without carla's organization does not know her.
        let mut other = net.config.clone();
        other.orgs.retain(|o| o.name != carla.org);
        assert!(matches!(
            verify_token(&token, &other, now),
            Err(SessionError::NotMember(_))
        ));
        let soon = now + 1000;
        for bad in [
            String::new(),
            "v1".into(),
            format!("v2.a.{soon}.b"),
            format!("v1.zz.{soon}.00"),
            "v1.00.soon.00".into(),
            format!("{token}.x"),
        ] {
            assert!(matches!(
                verify_token(&bad, &net.config, now),
                Err(SessionError::Malformed(_))
            ));
        }
        assert_eq!(
            from_cookie_header(&format!("a=b; {COOKIE}={token}; c=d")),
            Some(token.as_str())
        );
        assert_eq!(from_cookie_header("a=b"), None);
    }
}
