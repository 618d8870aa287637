//! Layered views of the world state during execution.
//!
//! A transaction reads through three layers: its own uncommitted writes, the
//! writes of earlier transactions in the same block, and the committed store.
//! [`StateView`] is the seam: parallel execution plugs in its own
//! multi-version view without touching contracts.

use crate::block_writes::BlockWrites;
use crate::store::{Rows, Store, StoreError};
use std::collections::BTreeMap;

/// A transaction's writes buffered above a view: `None` is a delete.
pub type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes laid over a lower view, as [`merged_range`] reads them.
pub trait Layer {
    /// Whether `key` was written (set or deleted) in this layer.
    fn contains_key(&self, key: &[u8]) -> bool;
    /// Distinct keys written.
    fn len(&self) -> usize;
    /// Whether nothing was written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Written keys at or after `start` in ascending order, with their
    /// values (`None`: deleted).
    fn range_from<'s>(
        &'s self,
        start: &[u8],
    ) -> impl Iterator<Item = (&'s [u8], &'s Option<Vec<u8>>)> + 's;
}

impl Layer for Overlay {
    fn contains_key(&self, key: &[u8]) -> bool {
        BTreeMap::contains_key(self, key)
    }
    fn len(&self) -> usize {
        BTreeMap::len(self)
    }
    fn range_from<'s>(
        &'s self,
        start: &[u8],
    ) -> impl Iterator<Item = (&'s [u8], &'s Option<Vec<u8>>)> + 's {
        self.range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|(k, v)| (k.as_slice(), v))
    }
}

impl Layer for BlockWrites {
    fn contains_key(&self, key: &[u8]) -> bool {
        BlockWrites::contains_key(self, key)
    }
    fn len(&self) -> usize {
        BlockWrites::len(self)
    }
    fn range_from<'s>(
        &'s self,
        start: &[u8],
    ) -> impl Iterator<Item = (&'s [u8], &'s Option<Vec<u8>>)> + 's {
        BlockWrites::range_from(self, start)
    }
}

/// Read access to the state as of some point.
pub trait StateView {
    /// The value of a full state key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Full keys in `[start, end)` in ascending order, at most `limit`.
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError>;
}

impl<S: Store + ?Sized> StateView for S {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Store::get(self, key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        Store::range(self, start, end, limit)
    }
}

/// Rows fetched from the lower layer per round trip while merging.
const MERGE_PAGE_ROWS: usize = 256;

/// The first `limit` rows of `[start, end)` in `overlay` laid over `base`.
pub fn merged_range(
    base: &dyn StateView,
    overlay: &impl Layer,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Rows, StoreError> {
    if limit == 0 || end.is_some_and(|e| e <= start) {
        return Ok(Vec::new());
    }
    let in_range = |k: &[u8]| k >= start && end.is_none_or(|e| k < e);
    let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut cursor = start.to_vec();
    // Each round either ends the scan or advances the cursor past a full
    // page; rows hidden by the overlay are bounded by the overlay's size, so
    // the rounds are bounded by (limit + overlay.len()) / page + 1.
    let rounds_max = (limit + overlay.len()) / MERGE_PAGE_ROWS + 2;
    for _ in 0..rounds_max {
        let page = base.range(&cursor, end, MERGE_PAGE_ROWS)?;
        let full = page.len() == MERGE_PAGE_ROWS;
        let mut last = None;
        for (k, v) in page {
            if !overlay.contains_key(&k) {
                out.insert(k.clone(), v);
            }
            last = Some(k);
        }
        match last {
            Some(mut k) if full && out.len() < limit => {
                k.push(0);
                cursor = k;
            }
            _ => break,
        }
    }
    for (k, v) in overlay.range_from(start) {
        if !in_range(k) {
            break;
        }
        if let Some(v) = v {
            out.insert(k.to_vec(), v.clone());
        }
    }
    Ok(out.into_iter().take(limit).collect())
}

/// The state as seen by a transaction in a block: the block's earlier writes
/// over the committed store.
pub struct BlockView<'a> {
    store: &'a (dyn StateView + Sync),
    writes: BlockWrites,
}

impl<'a> BlockView<'a> {
    /// A view over the committed store with no writes yet.
    pub fn new(store: &'a (dyn StateView + Sync)) -> BlockView<'a> {
        BlockView::with_capacity(store, 0)
    }

    /// A view over the committed store with room for `writes` writes.
    pub fn with_capacity(store: &'a (dyn StateView + Sync), writes: usize) -> BlockView<'a> {
        BlockView {
            store,
            writes: BlockWrites::with_capacity(writes),
        }
    }

    /// Applies one valid transaction's writes, in order.
    pub fn apply(
        &mut self,
        tx_index: u32,
        writes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) {
        for (key, value) in writes {
            self.writes.push(tx_index, key, value);
        }
    }

    /// The block's writes so far.
    pub fn writes(&self) -> &BlockWrites {
        &self.writes
    }

    /// Consumes the view: the block's writes.
    pub fn into_writes(self) -> BlockWrites {
        self.writes
    }
}

impl StateView for BlockView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.get(key),
        }
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        merged_range(self.store, &self.writes, start, end, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Base(BTreeMap<Vec<u8>, Vec<u8>>);
    impl StateView for Base {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.0.get(key).cloned())
        }
        fn range(
            &self,
            start: &[u8],
            end: Option<&[u8]>,
            limit: usize,
        ) -> Result<Rows, StoreError> {
            Ok(self
                .0
                .range(start.to_vec()..)
                .take_while(|(k, _)| end.is_none_or(|e| k.as_slice() < e))
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        }
    }

    #[test]
    fn merged_range_equals_a_materialized_merge() {
        // Deterministic pseudo-random layouts, including deletes that hide
        // more than a page of base rows.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..50 {
            let mut base = BTreeMap::new();
            let mut overlay = Overlay::new();
            for _ in 0..(next() % 900) {
                let k = format!("k{:04}", next() % 1000).into_bytes();
                base.insert(k.clone(), k.clone());
            }
            for _ in 0..(next() % 700) {
                let k = format!("k{:04}", next() % 1000).into_bytes();
                let v = if next() % 3 == 0 {
                    None
                } else {
                    Some(b"o".to_vec())
                };
                overlay.insert(k, v);
            }
            let mut want = base.clone();
            for (k, v) in &overlay {
                match v {
                    Some(v) => want.insert(k.clone(), v.clone()),
                    None => want.remove(k),
                };
            }
            let lo = format!("k{:04}", next() % 500).into_bytes();
            let hi = format!("k{:04}", 500 + next() % 500).into_bytes();
            let limit = (next() % 400) as usize + 1;
            let got = merged_range(&Base(base), &overlay, &lo, Some(&hi), limit).unwrap();
            let expect: Vec<_> = want
                .range(lo.clone()..hi.clone())
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, expect, "case {case}");
        }
    }
}
