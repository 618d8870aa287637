//! The state writes of one block: the ordered log the store commits, and an
//! index of each key's last write, which is the block's state as seen by its
//! later transactions and by the next block while this one's commit is in
//! flight.
//!
//! A block of transfers writes tens of thousands of keys that share long
//! prefixes, and the in-order pass of parallel execution (a serial part of
//! the block) looks every one of them up and inserts it. An ordered map pays
//! a dozen prefix comparisons per operation there; the hash index pays one
//! hash, and stores positions into the log rather than second copies of the
//! keys and values. Range reads need key order: the ordered index is built
//! the first time a range is asked for and kept up to date from then on, so
//! only blocks that scan pay for it.

use crate::store::StateWrite;
use hashbrown::HashTable;
use std::collections::BTreeMap;
use std::hash::BuildHasher as _;
use std::ops::Bound;
use std::sync::OnceLock;

/// A block's writes in order, indexed by key.
#[derive(Clone, Debug, Default)]
pub struct BlockWrites {
    log: Vec<StateWrite>,
    /// Position in `log` of each key's last write.
    last: HashTable<u32>,
    /// Seeded at random per block: contracts choose their keys, and a fixed
    /// seed would let them aim collisions at the index.
    hasher: foldhash::fast::RandomState,
    /// Each key's last write position, in key order; built on the first
    /// range read.
    ordered: OnceLock<BTreeMap<Vec<u8>, u32>>,
}

impl BlockWrites {
    /// No writes yet.
    pub fn new() -> BlockWrites {
        BlockWrites::default()
    }

    /// No writes yet, with room for `keys` distinct keys and writes before
    /// growing (growing rehashes every key, reading it back from the log).
    pub fn with_capacity(keys: usize) -> BlockWrites {
        BlockWrites {
            log: Vec::with_capacity(keys),
            last: HashTable::with_capacity(keys),
            ..BlockWrites::default()
        }
    }

    /// Appends one write; `None` is a delete.
    pub fn push(&mut self, tx_index: u32, key: Vec<u8>, value: Option<Vec<u8>>) {
        // A block's writes are bounded by its byte limit, far below 2^32; a
        // log this long is a bug, not input.
        assert!(
            self.log.len() < u32::MAX as usize,
            "more than 2^32 writes in one block"
        );
        let position = self.log.len() as u32;
        let hash = self.hasher.hash_one(key.as_slice());
        let log = &self.log;
        let hasher = &self.hasher;
        match self.last.entry(
            hash,
            |&p| log[p as usize].key == key,
            |&p| hasher.hash_one(log[p as usize].key.as_slice()),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = position,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(position);
            }
        }
        if let Some(ordered) = self.ordered.get_mut() {
            match ordered.get_mut(key.as_slice()) {
                Some(p) => *p = position,
                None => {
                    ordered.insert(key.clone(), position);
                }
            }
        }
        self.log.push(StateWrite {
            key,
            value,
            tx_index,
        });
    }

    fn last_position(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.last
            .find(hash, |&p| self.log[p as usize].key == key)
            .map(|&p| p as usize)
    }

    /// The final value of `key` if the block wrote it (`Some(None)`: deleted).
    pub fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.last_position(key).map(|p| &self.log[p].value)
    }

    /// Whether the block wrote `key`.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.last_position(key).is_some()
    }

    /// Distinct keys written.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Every write, in order.
    pub fn log(&self) -> &[StateWrite] {
        &self.log
    }

    /// Each key's final write, in log order (deterministic, unlike the
    /// index's order).
    pub fn finals(&self) -> impl Iterator<Item = &StateWrite> {
        self.log
            .iter()
            .enumerate()
            .filter(|(i, w)| self.last_position(&w.key) == Some(*i))
            .map(|(_, w)| w)
    }

    /// Final values of the keys at or after `start`, in key order.
    pub fn range_from<'s>(
        &'s self,
        start: &[u8],
    ) -> impl Iterator<Item = (&'s [u8], &'s Option<Vec<u8>>)> + 's {
        let ordered = self.ordered.get_or_init(|| {
            let mut m = BTreeMap::new();
            for (i, w) in self.log.iter().enumerate() {
                // Later writes overwrite earlier positions; `i` fits in u32
                // because `push` asserted it.
                m.insert(w.key.clone(), i as u32);
            }
            m
        });
        ordered
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
            .map(|(k, &p)| (k.as_slice(), &self.log[p as usize].value))
    }
}

impl FromIterator<StateWrite> for BlockWrites {
    /// The writes in iteration order (a later write to a key wins).
    fn from_iter<I: IntoIterator<Item = StateWrite>>(log: I) -> BlockWrites {
        let mut writes = BlockWrites::new();
        for w in log {
            writes.push(w.tx_index, w.key, w.value);
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(writes: &BlockWrites, model: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        assert_eq!(writes.len(), model.len());
        for (k, v) in model {
            assert_eq!(writes.get(k), Some(v));
            assert!(writes.contains_key(k));
        }
        let finals: BTreeMap<_, _> = writes
            .finals()
            .map(|w| (w.key.clone(), w.value.clone()))
            .collect();
        assert_eq!(&finals, model);
        for start in [b"".as_slice(), b"k03", b"k10", b"zz"] {
            let got: Vec<_> = writes
                .range_from(start)
                .map(|(k, v)| (k.to_vec(), v.clone()))
                .collect();
            let want: Vec<_> = model
                .range(start.to_vec()..)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn index_and_ordered_view_follow_a_map_of_last_writes() {
        // Seeded xorshift: overwrites, deletes and range reads interleaved
        // with pushes, so the ordered index is also checked after updates.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut writes = BlockWrites::new();
        let mut model = BTreeMap::new();
        for i in 0..2_000u32 {
            let key = format!("k{:02}", next() % 40).into_bytes();
            let value = (next() % 4 != 0).then(|| i.to_le_bytes().to_vec());
            writes.push(i, key.clone(), value.clone());
            model.insert(key, value);
            if i % 250 == 0 {
                model_check(&writes, &model);
            }
        }
        model_check(&writes, &model);
        assert_eq!(writes.log().len(), 2_000);
        assert!(writes.get(b"absent").is_none());
        let rebuilt = writes.log().iter().cloned().collect::<BlockWrites>();
        model_check(&rebuilt, &model);
    }
}
