//! The ids of recently committed transactions, held in memory until the
//! store writes them into its tx-id index in one batch.
//!
//! Why: the tx-id index is keyed by a hash, so every insert lands on a
//! random leaf of its B-tree, and a block of n transactions rewrote about n
//! pages (4 KiB each) of it: most of a block's commit cost (measured in
//! docs/BENCHMARKS.md). Written once per batch of many blocks, the inserts
//! share leaves. Nothing is less durable: each block's id list is written
//! with the block, so the index is derived data, and the ids it lacks are
//! loaded back from those lists when the store opens.
//!
//! Readers see a committed id either here or in the index, never in
//! neither: ids enter `current` before their block's write and leave it
//! only when the batch holding them is in the index, and the batch written
//! last stays in `previous` until the next one, so a snapshot whose read
//! transaction predates one batch write still finds its ids here; one
//! older than two batch writes reads the index afresh (`batches`).

use super::TxLocation;
use crate::crypto::Hash;
use std::collections::HashMap;

/// Recently committed transaction ids not yet (or only just) in the index.
#[derive(Debug, Default)]
pub(crate) struct RecentTxs {
    /// Ids of the blocks after the last batch written to the index, and of
    /// the block being written (staged before its write, so a reader never
    /// misses an id of a block the store already shows).
    current: HashMap<Hash, TxLocation>,
    /// The batch written to the index last.
    previous: HashMap<Hash, TxLocation>,
    /// Batches written to the index since the store opened: a snapshot
    /// older than two of them cannot rely on `previous` any more.
    batches: u64,
}

impl RecentTxs {
    /// Starts from the ids not in the index yet.
    pub(crate) fn open(unindexed: impl IntoIterator<Item = (Hash, TxLocation)>) -> RecentTxs {
        RecentTxs {
            current: unindexed.into_iter().collect(),
            previous: HashMap::new(),
            batches: 0,
        }
    }

    /// Where `id` was committed, as seen by a reader whose read
    /// transaction's head is at `as_of`: ids staged for a later block, not
    /// yet (or only just) written, stay invisible to it.
    pub(crate) fn lookup(&self, id: &Hash, as_of: u64) -> Option<TxLocation> {
        self.current
            .get(id)
            .or_else(|| self.previous.get(id))
            .copied()
            .filter(|loc| loc.height <= as_of)
    }

    /// Batches written to the index since the store opened.
    pub(crate) fn batches(&self) -> u64 {
        self.batches
    }

    /// Ids waiting for the index.
    pub(crate) fn pending(&self) -> usize {
        self.current.len()
    }

    /// Adds a block's ids before its write (the store checked its height
    /// follows the head's).
    pub(crate) fn stage(&mut self, height: u64, txs: &[(Hash, u32)]) {
        for (id, index) in txs {
            self.current.insert(
                *id,
                TxLocation {
                    height,
                    index: *index,
                },
            );
        }
    }

    /// Takes a block's ids back after its write failed.
    pub(crate) fn unstage(&mut self, height: u64, txs: &[(Hash, u32)]) {
        for (id, _) in txs {
            if self.current.get(id).is_some_and(|l| l.height == height) {
                self.current.remove(id);
            }
        }
    }

    /// Every id waiting for the index, sorted by id (in-order inserts keep
    /// the B-tree's writes together).
    pub(crate) fn batch(&self) -> Vec<(Hash, TxLocation)> {
        let mut all: Vec<(Hash, TxLocation)> = self.current.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_unstable_by_key(|(id, _)| id.0);
        all
    }

    /// Records that a block's write also wrote [`RecentTxs::batch`] to the
    /// index.
    pub(crate) fn indexed(&mut self) {
        self.previous = std::mem::take(&mut self.current);
        self.batches += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Hash {
        Hash::of(&[n])
    }

    #[test]
    fn staged_ids_are_visible_only_to_readers_at_their_height() {
        let mut r = RecentTxs::open([]);
        r.stage(5, &[(id(1), 0)]);
        assert_eq!(r.lookup(&id(1), 4), None, "a reader before the block");
        assert_eq!(
            r.lookup(&id(1), 5),
            Some(TxLocation {
                height: 5,
                index: 0
            })
        );
    }

    #[test]
    fn a_written_batch_stays_one_more_batch() {
        let mut r = RecentTxs::open([]);
        r.stage(1, &[(id(1), 0)]);
        r.indexed();
        assert!(r.lookup(&id(1), 1).is_some(), "kept for old snapshots");
        assert_eq!(r.pending(), 0);
        r.stage(2, &[(id(2), 0)]);
        r.indexed();
        assert!(r.lookup(&id(1), 2).is_none(), "the index has it");
        assert!(r.lookup(&id(2), 2).is_some());
        assert_eq!(r.batches(), 2);
    }

    #[test]
    fn a_failed_write_unstages_its_ids() {
        let mut r = RecentTxs::open([]);
        r.stage(1, &[(id(1), 0), (id(2), 1)]);
        r.unstage(1, &[(id(1), 0), (id(2), 1)]);
        assert_eq!(r.pending(), 0);
    }
}
