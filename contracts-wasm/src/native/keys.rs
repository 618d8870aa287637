//! Key building. Every contract's keys are `tag/part/part...`: a short ASCII
//! tag, then parts separated by `/`. Numbers are 8-byte (or 4-byte)
//! big-endian so keys sort numerically; text parts are identifiers or
//! accounts, which cannot contain `/` (they are validated before use), so
//! a prefix `tag/part/` never matches a longer part.

/// Builds a key from a tag and parts, joined by `/`.
pub fn key(tag: &str, parts: &[&[u8]]) -> Vec<u8> {
    let len = tag.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut k = Vec::with_capacity(len);
    k.extend_from_slice(tag.as_bytes());
    for p in parts {
        k.push(b'/');
        k.extend_from_slice(p);
    }
    debug_assert_eq!(k.len(), len);
    k
}

/// A key prefix ending in `/`, for range scans over `tag/parts.../*`.
pub fn prefix(tag: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = key(tag, parts);
    k.push(b'/');
    k
}

/// The first key after every key starting with `prefix`. Our prefixes end
/// in `/` (0x2f), so incrementing the last byte never overflows.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    let last = end.last_mut();
    match last {
        Some(b) if *b < u8::MAX => *b += 1,
        // Unreachable for our prefixes; an empty end would scan everything,
        // so fall back to the prefix itself (an empty range).
        _ => return prefix.to_vec(),
    }
    end
}

/// Big-endian u64, so numeric order is key order.
pub fn be64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Big-endian u32.
pub fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Encodes a score so that ascending key order is descending score order.
pub fn score_desc(score: i64) -> [u8; 8] {
    // Flipping the sign bit maps i64 order onto u64 order; inverting all
    // bits reverses it.
    let ascending = (score as u64) ^ (1 << 63);
    (!ascending).to_be_bytes()
}

/// Decodes [`score_desc`].
pub fn score_from_desc(bytes: [u8; 8]) -> i64 {
    let ascending = !u64::from_be_bytes(bytes);
    (ascending ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_keys_sort_descending_and_round_trip() {
        let scores = [i64::MIN, -20, -1, 0, 1, 7, 1_000, i64::MAX];
        for w in scores.windows(2) {
            assert!(score_desc(w[0]) > score_desc(w[1]));
        }
        for s in scores {
            assert_eq!(score_from_desc(score_desc(s)), s);
        }
    }

    #[test]
    fn prefixes_do_not_match_longer_parts() {
        let p = prefix("t", &[b"PLA"]);
        let longer = key("t", &[b"PLA2", b"x"]);
        let inside = key("t", &[b"PLA", b"x"]);
        let end = prefix_end(&p);
        assert!(inside >= p && inside < end);
        assert!(!(longer >= p && longer < end));
    }
}
