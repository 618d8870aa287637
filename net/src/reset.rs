//! The QUIC stateless-reset key, derived from the node key.
//!
//! When a node is killed and restarted, its peers still hold connections to
//! the old process. Packets they send on them reach the new process, which
//! does not know those connections; QUIC lets it answer with a *stateless
//! reset* that closes them at once, but only if the reset token matches the
//! one the old process issued. quinn derives tokens from a per-endpoint
//! HMAC key that is random by default, so a restarted node could not reset
//! anything and peers noticed only at the idle timeout. Deriving the key
//! from the node's secret key makes the tokens survive restarts: a peer's
//! stale connection is reset on its first packet and it re-dials at once.
//!
//! The connection-id generator needs the same treatment: quinn's default
//! embeds a keyed checksum in every connection id and silently drops
//! packets whose id does not verify, before any reset is considered, and
//! its key is random per process too.

use productivist_engine::crypto::KeyPair;
use quinn::crypto::{CryptoError, HmacKey};

/// blake3 context for the derivation (domain separation from every other
/// use of the node key).
const CONTEXT: &str = "productivist/v1 quic stateless reset key";
/// blake3 context for the connection-id checksum key.
const CID_CONTEXT: &str = "productivist/v1 quic connection id key";

/// The endpoint config of `node`: reset key and connection-id key derived
/// from its node key, so that both survive a restart.
pub fn endpoint_config(node: &KeyPair) -> quinn::EndpointConfig {
    let mut config = quinn::EndpointConfig::new(std::sync::Arc::new(ResetKey::of(node)));
    let derived = blake3::derive_key(CID_CONTEXT, &node.secret());
    let mut first = [0u8; 8];
    first.copy_from_slice(&derived[..8]);
    let cid_key = u64::from_le_bytes(first);
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}
/// Bytes of a reset-token MAC.
const MAC_BYTES: usize = 32;

/// A keyed blake3 MAC (a PRF, which is all a reset token needs).
pub struct ResetKey {
    key: [u8; 32],
}

impl ResetKey {
    /// The reset key of `node`: the same across restarts, secret like the
    /// node key, and unrelated to its signatures.
    pub fn of(node: &KeyPair) -> ResetKey {
        ResetKey {
            key: blake3::derive_key(CONTEXT, &node.secret()),
        }
    }
}

impl HmacKey for ResetKey {
    fn sign(&self, data: &[u8], signature_out: &mut [u8]) {
        let mac = blake3::keyed_hash(&self.key, data);
        let n = signature_out.len().min(MAC_BYTES);
        signature_out[..n].copy_from_slice(&mac.as_bytes()[..n]);
    }

    fn signature_len(&self) -> usize {
        MAC_BYTES
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        // blake3::Hash compares in constant time.
        let expected = blake3::keyed_hash(&self.key, data);
        let given: [u8; MAC_BYTES] = signature.try_into().map_err(|_| CryptoError)?;
        if expected == blake3::Hash::from(given) {
            Ok(())
        } else {
            Err(CryptoError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_survives_restarts_and_differs_between_nodes() {
        let a = KeyPair::from_seed("a");
        let b = KeyPair::from_seed("b");
        let sign = |k: &ResetKey| {
            let mut out = [0u8; MAC_BYTES];
            k.sign(b"connection id", &mut out);
            out
        };
        let first = sign(&ResetKey::of(&a));
        assert_eq!(first, sign(&ResetKey::of(&a)), "same node, same token");
        assert_ne!(first, sign(&ResetKey::of(&b)));
        let key = ResetKey::of(&a);
        assert!(key.verify(b"connection id", &first).is_ok());
        assert!(key.verify(b"other id", &first).is_err());
        assert!(key.verify(b"connection id", &first[..31]).is_err());
    }
}
