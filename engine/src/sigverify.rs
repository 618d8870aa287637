//! `verify_strict`'s verdict, computed with one field inversion per batch
//! of signatures instead of two exponentiations per signature.
//!
//! ed25519-dalek's `verify_strict(A, M, (R, S))` accepts exactly when
//! 1. `S` is canonical (`S < l`),
//! 2. the bytes `R` decompress to a point,
//! 3. neither that point nor `A` has small order,
//! 4. `P = [S]B - [k]A`, with `k = SHA-512(R || A || M) mod l`, compresses
//!    to exactly the bytes `R`.
//!
//! It pays for 2 with a square root and for 4 with an inversion (the
//! compression), each about 255 field squarings: with the AVX-512 IFMA
//! backend, a third of a verification on this project's machines.
//!
//! Here the same verdict is reached without decompressing `R`: accept when
//! 1 holds, `A` is not of small order, `P` is not of small order, and `P`
//! compresses to the bytes `R`. Equivalence: if `P` compresses to `R`, then
//! `R` is the canonical encoding of `P`, so it decompresses (2) to `P`
//! itself, and `R`'s point has small order exactly when `P` has (3); 4 is
//! the same test. Conversely, if dalek accepts, 4 says `P` compresses to
//! `R` and 3 says `P` (the point `R` decodes to) is not of small order. So
//! every condition is the same, on the same bytes, and `k` is hashed from
//! the same bytes `R` and `A` as dalek hashes.
//!
//! Compressions of many `P` share one inversion (Montgomery's trick, dalek's
//! `EdwardsPoint::compress_batch_alloc`). That is exact field arithmetic,
//! not a probabilistic batch equation, so a signature's verdict cannot
//! depend on which others it was grouped with or on the thread count.
//! `engine/tests/adversarial_signatures.rs` compares verdicts with dalek's
//! `verify_strict` on crafted signatures (small-order and mixed-order `R`,
//! non-canonical `R` and `S`) and on seeded random corruptions, for single
//! and batched verification in every grouping.

use crate::crypto::{Hash, PreparedKey, PublicKey, SignatureBytes};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest as _, Sha512};

/// The point `[S]B - [k]A` that a valid signature's `R` encodes, or `None`
/// when the signature fails a check that needs no compression (`S` not
/// canonical, or the point of small order). `a_point` is `a_bytes`
/// decompressed, and not of small order.
fn candidate(
    a_bytes: &[u8; 32],
    a_point: &EdwardsPoint,
    digest: &Hash,
    signature: &SignatureBytes,
) -> Option<EdwardsPoint> {
    debug_assert!(!a_point.is_small_order());
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&signature.0[32..]);
    let s: Scalar = Option::from(Scalar::from_canonical_bytes(s))?;
    let mut h = Sha512::new();
    h.update(r);
    h.update(a_bytes);
    h.update(digest.0);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let p = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a_point), &s);
    if p.is_small_order() {
        return None;
    }
    Some(p)
}

/// `key` decompressed, or `None` when it is not a point or has small order
/// (`verify_strict` refuses every signature under such a key).
fn decompress_key(key: &PublicKey) -> Option<EdwardsPoint> {
    CompressedEdwardsY(key.0)
        .decompress()
        .filter(|p| !p.is_small_order())
}

/// `verify_strict`'s verdict on one signature over a 32-byte digest.
pub fn verify_one(key: &PreparedKey, digest: &Hash, signature: &SignatureBytes) -> bool {
    let (a_bytes, a_point) = key.parts();
    encodes_r(candidate(a_bytes, &a_point, digest, signature), signature)
}

/// Whether the candidate point compresses to exactly the signature's R.
fn encodes_r(p: Option<EdwardsPoint>, signature: &SignatureBytes) -> bool {
    p.is_some_and(|p| p.compress().to_bytes()[..] == signature.0[..32])
}

/// [`verify_one`] for a key not decompressed beforehand (any key dalek
/// accepts, including mixed-order ones, which certificates never carry).
pub fn verify_key(key: &PublicKey, digest: &Hash, signature: &SignatureBytes) -> bool {
    let p = decompress_key(key).and_then(|a| candidate(&key.0, &a, digest, signature));
    encodes_r(p, signature)
}

/// Most signatures sharing one inversion: past a few dozen the inversion's
/// share is negligible, and the points of a batch are held in memory.
pub const BATCH_MAX: usize = 256;

/// Signatures collected for [`StrictBatch::verdicts`].
#[derive(Default)]
pub struct StrictBatch {
    /// The candidate points of the signatures still in the running.
    points: Vec<EdwardsPoint>,
    /// For each signature pushed, the index of its point in `points`, or
    /// `None` when it already failed.
    slots: Vec<Option<usize>>,
    /// The `R` bytes of each signature pushed.
    rs: Vec<[u8; 32]>,
}

impl StrictBatch {
    /// An empty batch with room for `n` signatures.
    pub fn with_capacity(n: usize) -> StrictBatch {
        StrictBatch {
            points: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
            rs: Vec::with_capacity(n),
        }
    }

    /// Adds a signature; its verdict comes, in push order, from
    /// [`StrictBatch::verdicts`].
    pub fn push(&mut self, key: &PreparedKey, digest: &Hash, signature: &SignatureBytes) {
        let (a_bytes, a_point) = key.parts();
        let p = candidate(a_bytes, &a_point, digest, signature);
        self.record(p, signature);
    }

    /// [`StrictBatch::push`] for a key not decompressed beforehand.
    pub fn push_key(&mut self, key: &PublicKey, digest: &Hash, signature: &SignatureBytes) {
        let p = decompress_key(key).and_then(|a| candidate(&key.0, &a, digest, signature));
        self.record(p, signature);
    }

    fn record(&mut self, p: Option<EdwardsPoint>, signature: &SignatureBytes) {
        let mut r = [0u8; 32];
        r.copy_from_slice(&signature.0[..32]);
        self.rs.push(r);
        let slot = p.map(|p| {
            self.points.push(p);
            self.points.len() - 1
        });
        self.slots.push(slot);
    }

    /// How many signatures were pushed.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none was pushed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// `verify_strict`'s verdict on each signature pushed, in push order.
    pub fn verdicts(self) -> Vec<bool> {
        let mut compressed = Vec::with_capacity(self.points.len());
        // Bounded: BATCH_MAX points per inversion.
        for part in self.points.chunks(BATCH_MAX) {
            compressed.extend(EdwardsPoint::compress_batch_alloc(part));
        }
        debug_assert_eq!(compressed.len(), self.points.len());
        self.slots
            .iter()
            .zip(&self.rs)
            .map(|(slot, r)| slot.is_some_and(|i| compressed[i].to_bytes() == *r))
            .collect()
    }
}
