//! Binary blake3 Merkle roots over ordered lists (transactions, results).
//!
//! Leaves and inner nodes are domain-separated (0x00 / 0x01 prefixes), so a
//! leaf can never be passed off as an inner node. An odd node at the end of a
//! level is promoted unchanged.

use crate::crypto::Hash;

/// The root of the empty list.
pub fn empty_root() -> Hash {
    Hash::tagged(b"productivist/v1/merkle-empty", &[])
}

/// The leaf hash of one item's bytes.
pub fn leaf(bytes: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0]);
    h.update(bytes);
    Hash(*h.finalize().as_bytes())
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(&left.0);
    h.update(&right.0);
    Hash(*h.finalize().as_bytes())
}

/// The Merkle root of leaf hashes.
pub fn root(mut level: Vec<Hash>) -> Hash {
    if level.is_empty() {
        return empty_root();
    }
    // Each pass halves the level, so this runs ceil(log2(n)) times.
    while level.len() > 1 {
        let next: Vec<Hash> = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [one] => *one,
                _ => unreachable!("chunks(2) yields 1 or 2 items"),
            })
            .collect();
        level = next;
    }
    level[0]
}

/// The Merkle root of a list of byte strings.
pub fn root_of<I, B>(items: I) -> Hash
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    root(items.into_iter().map(|b| leaf(b.as_ref())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_change_the_root() {
        let a = root_of([b"a", b"b", b"c"]);
        assert_ne!(a, root_of([b"b", b"a", b"c"]));
        assert_ne!(a, root_of([b"a", b"b"]));
        assert_eq!(a, root_of([b"a", b"b", b"c"]));
        assert_ne!(root_of::<_, &[u8]>([]), root_of([b""]));
    }
}
