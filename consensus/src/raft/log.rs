//! The in-memory Raft log: a snapshot followed by contiguous entries, plus
//! the commit and apply cursors and the part not yet handed to persistence.

use crate::raft::error::Error;
use crate::raft::message::{Entry, Snapshot};

/// Snapshot + entries `snapshot.index + 1 ..= last_index`.
#[derive(Debug, Clone)]
pub struct RaftLog {
    /// Latest snapshot (index 0 with empty data means "none yet"). Kept in
    /// full because the leader ships it to lagging followers.
    snapshot: Snapshot,
    entries: Vec<Entry>,
    /// Highest index known committed.
    commit: u64,
    /// Highest index handed to the application (via output).
    applied: u64,
    /// Lowest index whose entry changed since the last `take_unstable`.
    unstable_from: Option<u64>,
}

impl RaftLog {
    /// A log starting after `snapshot` with `entries`, as read from disk.
    pub fn restore(snapshot: Snapshot, entries: Vec<Entry>, commit: u64) -> Result<Self, Error> {
        let mut previous_term = snapshot.term;
        for (expected, entry) in (snapshot.index + 1..).zip(entries.iter()) {
            if entry.index != expected || entry.term < previous_term {
                return Err(Error::CorruptStorage(
                    "entries not contiguous after snapshot",
                ));
            }
            previous_term = entry.term;
        }
        let last_index = snapshot.index + entries.len() as u64;
        let commit = commit.max(snapshot.index);
        if commit > last_index {
            return Err(Error::CorruptStorage("commit index beyond log"));
        }
        let applied = snapshot.index;
        Ok(Self {
            snapshot,
            entries,
            commit,
            applied,
            unstable_from: None,
        })
    }

    /// Index of the first entry held (one past the snapshot).
    pub fn first_index(&self) -> u64 {
        self.snapshot.index + 1
    }

    /// Index of the last entry (or of the snapshot when no entries).
    pub fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.term, |e| e.term)
    }

    /// Commit index.
    pub fn commit(&self) -> u64 {
        self.commit
    }

    /// Highest index handed to the application.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Current snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Term of entry `index`; `None` if compacted away or beyond the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// Entry at `index`, if held.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot.index {
            return None;
        }
        let offset = usize::try_from(index - self.first_index()).ok()?;
        self.entries.get(offset)
    }

    /// Whether we hold entry (`index`, `term`).
    pub fn match_term(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft §5.4.1: is a log ending at (`last_index`, `last_term`) at least
    /// as up to date as ours?
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Leader append of new entries at the end.
    pub fn append(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first() else { return };
        assert_eq!(
            first.index,
            self.last_index() + 1,
            "leader append must extend the log"
        );
        debug_assert!(
            first.term >= self.last_term(),
            "terms never decrease along the log"
        );
        self.mark_unstable(first.index);
        self.entries.extend(entries);
    }

    /// Follower side of AppendEntries (§5.3), given that the entry before
    /// `entries` matches: the offset of the first entry that we do not hold
    /// with the same term. Matching entries are skipped rather than
    /// rewritten, so a stale or duplicated append never truncates what a
    /// newer one appended.
    pub fn find_conflict(&self, entries: &[Entry]) -> Option<usize> {
        entries.iter().position(|entry| {
            // Entries covered by the snapshot are committed and therefore
            // match (Log Matching).
            entry.index > self.snapshot.index && self.term(entry.index) != Some(entry.term)
        })
    }

    /// Drops entries `index..`. Only uncommitted entries may go.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(index > self.commit, "never truncate committed entries");
        if index > self.last_index() {
            return;
        }
        let keep = usize::try_from(index - self.first_index()).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.mark_unstable(index);
    }

    /// For a rejection hint: the first index of the term of `index`'s entry,
    /// not below the commit index (entries up to it are known to match).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term(index) else {
            return index.min(self.last_index());
        };
        let mut i = index;
        while i > self.commit.max(self.first_index()) && self.term(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// Advances the commit index.
    pub fn commit_to(&mut self, index: u64) -> bool {
        if index <= self.commit {
            return false;
        }
        assert!(index <= self.last_index(), "commit beyond the log");
        self.commit = index;
        true
    }

    /// Up to `max_count` entries from `from`, at most `max_bytes` (but at
    /// least one entry if any exists).
    pub fn entries_from(&self, from: u64, max_count: usize, max_bytes: u64) -> Vec<Entry> {
        if from <= self.snapshot.index || from > self.last_index() {
            return Vec::new();
        }
        let start = usize::try_from(from - self.first_index()).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for entry in self.entries[start..].iter().take(max_count) {
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Committed entries not yet handed to the application (bounded).
    pub fn next_committed(&mut self, max_count: usize) -> Vec<Entry> {
        let from = self.applied + 1;
        let to = self.commit.min(self.applied + max_count as u64);
        if from > to {
            return Vec::new();
        }
        let count = usize::try_from(to - from + 1).unwrap_or(max_count);
        let out = self.entries_from(from, count, u64::MAX);
        debug_assert_eq!(out.len() as u64, to - from + 1);
        self.applied = to;
        out
    }

    /// Whether committed entries await the application.
    pub fn has_next_committed(&self) -> bool {
        self.commit > self.applied
    }

    /// Replaces the prefix up to `snapshot.index` (local compaction, after
    /// the application applied it).
    pub fn compact(&mut self, snapshot: Snapshot) {
        assert!(snapshot.index > self.snapshot.index && snapshot.index <= self.applied);
        debug_assert_eq!(self.term(snapshot.index), Some(snapshot.term));
        let drop = usize::try_from(snapshot.index - self.snapshot.index).unwrap_or(usize::MAX);
        self.entries.drain(..drop);
        self.snapshot = snapshot;
        if let Some(from) = self.unstable_from
            && from <= self.snapshot.index
        {
            self.unstable_from = Some(self.snapshot.index + 1);
        }
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn install(&mut self, snapshot: Snapshot) {
        assert!(
            snapshot.index > self.commit,
            "installed snapshots move commit forward"
        );
        self.entries.clear();
        self.commit = snapshot.index;
        self.snapshot = snapshot;
        self.unstable_from = Some(self.snapshot.index + 1);
    }

    /// Marks the snapshot as handed to the application.
    pub fn set_applied_to_snapshot(&mut self) {
        debug_assert!(self.snapshot.index >= self.applied);
        self.applied = self.snapshot.index;
    }

    /// Entries changed since the last call: truncate durable entries from
    /// the returned index, then append the returned entries.
    pub fn take_unstable(&mut self) -> Option<(u64, Vec<Entry>)> {
        let from = self.unstable_from.take()?.max(self.first_index());
        let entries = self.entries_from(from, usize::MAX, u64::MAX);
        Some((from, entries))
    }

    /// Whether some entries were changed since the last `take_unstable`.
    pub fn has_unstable(&self) -> bool {
        self.unstable_from.is_some()
    }

    fn mark_unstable(&mut self, index: u64) {
        self.unstable_from = Some(self.unstable_from.map_or(index, |u| u.min(index)));
    }
}
