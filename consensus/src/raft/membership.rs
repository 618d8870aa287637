//! Which membership is in force. A config entry takes effect as soon as it
//! is appended (dissertation §4.1), so truncating the log can revert it: we
//! keep the config entries above the snapshot as a small stack.

use crate::raft::message::{Entry, EntryPayload, Membership};

/// Membership at the snapshot plus every config entry after it.
#[derive(Debug, Clone)]
pub struct MembershipHistory {
    base: Membership,
    /// (index, membership) in ascending index order; at most one
    /// uncommitted change exists, so this stays short between compactions.
    changes: Vec<(u64, Membership)>,
}

impl MembershipHistory {
    /// History starting from the membership recorded in a snapshot.
    pub fn new(base: Membership) -> Self {
        Self {
            base,
            changes: Vec::new(),
        }
    }

    /// The membership in force (the latest appended).
    pub fn current(&self) -> &Membership {
        self.changes.last().map_or(&self.base, |(_, m)| m)
    }

    /// Index of the latest config entry above the snapshot (0 if none).
    pub fn last_change_index(&self) -> u64 {
        self.changes.last().map_or(0, |(i, _)| *i)
    }

    /// Membership in force at `index` (for snapshot metadata).
    pub fn at(&self, index: u64) -> &Membership {
        self.changes
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or(&self.base, |(_, m)| m)
    }

    /// Records config entries among freshly appended `entries`.
    pub fn on_append(&mut self, entries: &[Entry]) {
        for entry in entries {
            if let EntryPayload::Config(m) = &entry.payload {
                debug_assert!(self.last_change_index() < entry.index);
                self.changes.push((entry.index, m.clone()));
            }
        }
    }

    /// Reverts config entries at or after `index` (log truncation).
    pub fn on_truncate(&mut self, index: u64) {
        while self.changes.last().is_some_and(|(i, _)| *i >= index) {
            self.changes.pop();
        }
    }

    /// Folds changes up to `index` into the base (log compaction).
    pub fn on_compact(&mut self, index: u64) {
        let folded = self.changes.iter().take_while(|(i, _)| *i <= index).count();
        if folded > 0 {
            self.base = self.changes[folded - 1].1.clone();
            self.changes.drain(..folded);
        }
    }

    /// Replaces everything (snapshot installed from the leader).
    pub fn reset(&mut self, base: Membership) {
        self.base = base;
        self.changes.clear();
    }
}
