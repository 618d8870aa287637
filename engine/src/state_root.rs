//! The state root: an incremental, homomorphic commitment to the whole world
//! state (LtHash, as in Bellare–Micciancio and Facebook's lattice hash, with
//! blake3's extendable output; Solana adopted the same construction).
//!
//! The commitment is the lane-wise sum (mod 2^16, 1024 lanes) of a 2 KiB
//! hash of every `(key, value)` pair. Writing a key subtracts the old pair's
//! hash and adds the new one, so a block costs O(writes), never O(state),
//! and two nodes with the same state get the same root whatever order they
//! applied the writes in. See docs/DECISIONS.md.

use crate::crypto::Hash;

/// Number of 16-bit lanes: 2048 bytes, the size the security analysis of
/// LtHash with 16-bit lanes asks for (about 200 bits against lattice attacks).
pub const LANES: usize = 1024;
/// Size of the serialized accumulator.
pub const BYTES: usize = LANES * 2;

/// The accumulator.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", self.root())
    }
}

impl Default for LtHash {
    fn default() -> Self {
        Self::zero()
    }
}

/// The element hasher, keyed once: `new_derive_key` hashes its context
/// string on every call, a whole compression per element (four per
/// transfer); a clone of the keyed state gives the same bytes without it.
static ELEMENT_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key("productivist/v1/state-element"));

fn element(key: &[u8], value: &[u8]) -> [u8; BYTES] {
    let mut h = ELEMENT_HASHER.clone();
    // Length prefix: (k, v) pairs map to distinct inputs.
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(value);
    let mut out = [0u8; BYTES];
    h.finalize_xof().fill(&mut out);
    out
}

impl LtHash {
    /// The commitment to the empty state.
    pub fn zero() -> LtHash {
        LtHash {
            lanes: Box::new([0; LANES]),
        }
    }

    /// Adds the pair `(key, value)`.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let e = element(key, value);
        for (lane, b) in self.lanes.iter_mut().zip(e.chunks_exact(2)) {
            *lane = lane.wrapping_add(u16::from_le_bytes([b[0], b[1]]));
        }
    }

    /// Removes the pair `(key, value)`; it must have been inserted.
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        let e = element(key, value);
        for (lane, b) in self.lanes.iter_mut().zip(e.chunks_exact(2)) {
            *lane = lane.wrapping_sub(u16::from_le_bytes([b[0], b[1]]));
        }
    }

    /// Adds another accumulator (for combining partial sums computed in
    /// parallel).
    pub fn combine(&mut self, other: &LtHash) {
        for (a, b) in self.lanes.iter_mut().zip(other.lanes.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// The 32-byte state root.
    pub fn root(&self) -> Hash {
        Hash::tagged(b"productivist/v1/state-root", &self.to_bytes())
    }

    /// Serializes the accumulator (little-endian lanes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BYTES);
        for lane in self.lanes.iter() {
            out.extend_from_slice(&lane.to_le_bytes());
        }
        out
    }

    /// Parses a serialized accumulator.
    pub fn from_bytes(bytes: &[u8]) -> Option<LtHash> {
        if bytes.len() != BYTES {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, b) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([b[0], b[1]]);
        }
        Some(LtHash { lanes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_invertible() {
        let mut a = LtHash::zero();
        a.insert(b"k1", b"v1");
        a.insert(b"k2", b"v2");
        let mut b = LtHash::zero();
        b.insert(b"k2", b"v2");
        b.insert(b"k1", b"v1");
        assert_eq!(a.root(), b.root());
        b.remove(b"k2", b"v2");
        let mut c = LtHash::zero();
        c.insert(b"k1", b"v1");
        assert_eq!(b.root(), c.root());
        c.remove(b"k1", b"v1");
        assert_eq!(c.root(), LtHash::zero().root());
    }

    #[test]
    fn key_value_boundary_matters() {
        let mut a = LtHash::zero();
        a.insert(b"ab", b"c");
        let mut b = LtHash::zero();
        b.insert(b"a", b"bc");
        assert_ne!(a.root(), b.root());
    }

    #[test]
    fn the_cached_hasher_gives_the_derive_key_construction() {
        // Roots on disk were computed with a fresh `new_derive_key` hasher
        // per element; the cached one must not change a byte of them.
        for (key, value) in [
            (&b""[..], &b""[..]),
            (b"k", b"v"),
            (&[7u8; 300][..], &[9u8; 5000][..]),
        ] {
            let mut h = blake3::Hasher::new_derive_key("productivist/v1/state-element");
            h.update(&(key.len() as u64).to_le_bytes());
            h.update(key);
            h.update(value);
            let mut expected = [0u8; BYTES];
            h.finalize_xof().fill(&mut expected);
            assert_eq!(element(key, value), expected);
        }
    }

    #[test]
    fn serialization_round_trips() {
        let mut a = LtHash::zero();
        a.insert(b"k", b"v");
        assert_eq!(LtHash::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!(LtHash::from_bytes(&[0; 3]), None);
    }
}
