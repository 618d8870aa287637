//! The set of node keys allowed to connect, shared with the TLS verifiers so
//! that removing a key takes effect for every new handshake.

use productivist_engine::crypto::PublicKey;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// Node keys allowed to connect.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    keys: Arc<RwLock<BTreeSet<PublicKey>>>,
}

impl Allowlist {
    /// An allowlist of these keys.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Allowlist {
        Allowlist {
            keys: Arc::new(RwLock::new(keys.into_iter().collect())),
        }
    }

    /// Whether `key` may connect.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.read().map(|k| k.contains(key)).unwrap_or(false)
    }

    /// Replaces the whole set (after a config update).
    pub fn replace(&self, keys: impl IntoIterator<Item = PublicKey>) {
        if let Ok(mut k) = self.keys.write() {
            *k = keys.into_iter().collect();
        }
    }

    /// Allows `key`.
    pub fn insert(&self, key: PublicKey) {
        if let Ok(mut k) = self.keys.write() {
            k.insert(key);
        }
    }

    /// Disallows `key` (a removed or revoked node).
    pub fn remove(&self, key: &PublicKey) {
        if let Ok(mut k) = self.keys.write() {
            k.remove(key);
        }
    }
}
