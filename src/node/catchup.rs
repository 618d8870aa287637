//! Raft log compaction and the ledger catch-up it requires.
//!
//! A Raft channel's log would otherwise grow with the chain, in memory and
//! on disk. Every committed entry is already in the ledger (as a sealed
//! block, or as nothing for internal entries), so the driver compacts the
//! log behind what it applied, keeping a [`LedgerMark`] (consensus index,
//! ledger height and block hash) as the snapshot.
//!
//! A follower that falls behind the leader's compaction point receives that
//! snapshot instead of the entries. It then fetches the missing *ledger
//! blocks* from its peers (`Wire::LedgerRequest` / `Wire::LedgerBlocks`),
//! checks each by re-execution on its own ledger (`Ledger::verify`: same
//! parent, same transactions' results, same state root), commits them, and
//! requires the last one to be the block the snapshot names. Raft tolerates
//! crashes, not lies, so one peer's answer is enough; the hash check at the
//! end still catches a peer on another chain (a bug), as a fatal error.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::crypto::Hash;
use std::collections::VecDeque;

/// Compact once this many entries were applied since the last snapshot.
pub const COMPACT_EVERY_ENTRIES_DEFAULT: u64 = 4096;
/// Marks remembered to choose a compaction point behind the applied index.
pub const MARKS_MAX: usize = 4096;
/// Most blocks in one catch-up answer.
pub const LEDGER_BLOCKS_PER_FRAME_MAX: usize = 64;
/// Most bytes of blocks in one catch-up answer (the transport's frame limit
/// is 16 MiB).
pub const LEDGER_FRAME_BYTES_MAX: usize = 8 << 20;
/// A catch-up asks again (any peer) after this long without progress.
pub const CATCH_UP_RETRY_MS: u64 = 500;
/// A catch-up that makes no progress for this long stops the channel with
/// an explicit error (restarting the node retries it).
pub const CATCH_UP_STALL_MS: u64 = 60_000;

/// What a snapshot of a Raft channel says: the log up to `index` is the
/// ledger up to `height`, whose head block is `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LedgerMark {
    /// Consensus index.
    pub index: u64,
    /// Ledger height at that index.
    pub height: u64,
    /// Hash of the ledger block at that height.
    pub hash: Hash,
}

impl LedgerMark {
    /// Encodes the mark (the snapshot's data).
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes a snapshot's data strictly.
    pub fn decode(bytes: &[u8]) -> Result<LedgerMark, String> {
        borsh::from_slice(bytes).map_err(|e| format!("snapshot data is not a ledger mark: {e}"))
    }
}

/// When to compact, and to where.
#[derive(Debug)]
pub struct Compaction {
    every_entries: u64,
    keep_entries: u64,
    /// Recent applied marks, oldest first, bounded by [`MARKS_MAX`].
    marks: VecDeque<LedgerMark>,
}

impl Compaction {
    /// Compacts every `every_entries` applied entries (0: never), keeping a
    /// quarter of that in the log so that a follower slightly behind still
    /// catches up from entries rather than a snapshot.
    pub fn new(every_entries: u64) -> Compaction {
        Compaction {
            every_entries,
            keep_entries: every_entries / 4,
            marks: VecDeque::new(),
        }
    }

    /// Records that the ledger reached `mark` (called after each applied
    /// entry that changed the ledger).
    pub fn applied(&mut self, mark: LedgerMark) {
        if self.every_entries == 0 {
            return;
        }
        if self.marks.len() >= MARKS_MAX {
            self.marks.pop_front();
        }
        self.marks.push_back(mark);
    }

    /// The point to compact to, if it is time: the newest recorded mark at
    /// least `keep_entries` behind `applied_index`, when it is at least
    /// `every_entries` past the current snapshot.
    pub fn due(&mut self, snapshot_index: u64, applied_index: u64) -> Option<LedgerMark> {
        if self.every_entries == 0 || applied_index < snapshot_index + self.every_entries {
            return None;
        }
        let limit = applied_index.saturating_sub(self.keep_entries);
        let mark = self
            .marks
            .iter()
            .rev()
            .find(|m| m.index <= limit && m.index > snapshot_index)
            .copied()?;
        while self.marks.front().is_some_and(|m| m.index <= mark.index) {
            self.marks.pop_front();
        }
        Some(mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(index: u64) -> LedgerMark {
        LedgerMark {
            index,
            height: index / 2,
            hash: Hash::of(&index.to_le_bytes()),
        }
    }

    #[test]
    fn compaction_waits_for_its_interval_and_keeps_a_tail() {
        let mut c = Compaction::new(8);
        for i in 1..=7 {
            c.applied(mark(i));
            assert_eq!(c.due(0, i), None, "not due before 8 entries");
        }
        c.applied(mark(8));
        // 8 applied, keep 2: compact to index 6.
        assert_eq!(c.due(0, 8), Some(mark(6)));
        // Marks up to 6 are gone; the next point is after 6.
        for i in 9..=13 {
            c.applied(mark(i));
        }
        assert_eq!(c.due(6, 13), None);
        c.applied(mark(14));
        assert_eq!(c.due(6, 14), Some(mark(12)));
    }

    #[test]
    fn never_compacting_remembers_nothing() {
        let mut c = Compaction::new(0);
        for i in 1..100 {
            c.applied(mark(i));
        }
        assert!(c.marks.is_empty());
        assert_eq!(c.due(0, 99), None);
    }

    #[test]
    fn marks_are_bounded() {
        let mut c = Compaction::new(1_000_000);
        for i in 1..=(MARKS_MAX as u64 + 10) {
            c.applied(mark(i));
        }
        assert_eq!(c.marks.len(), MARKS_MAX);
    }

    #[test]
    fn a_mark_round_trips_and_garbage_is_refused() {
        let m = mark(42);
        assert_eq!(LedgerMark::decode(&m.encode()), Ok(m));
        assert!(LedgerMark::decode(b"garbage").is_err());
    }
}
