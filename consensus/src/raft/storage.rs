//! What Raft asks the driver to make durable, and a reference in-memory
//! "disk" that applies those requests (used by the simulator and tests;
//! a real node implements the same rules over its store).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::NodeId;
use crate::raft::message::{Entry, Snapshot};

/// State that must survive a crash for Raft to stay safe.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct HardState {
    /// Latest term seen.
    pub term: u64,
    /// Vote cast in `term`, if any.
    pub vote: Option<NodeId>,
    /// Commit index (lets a restarted node re-apply without a leader).
    pub commit: u64,
}

/// Durable writes of one output, applied in field order, atomically or at
/// least before any message of the same output is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persist {
    /// Store this snapshot and drop durable entries up to its index.
    pub snapshot: Option<Snapshot>,
    /// Drop durable entries with index >= this.
    pub truncate_from: Option<u64>,
    /// Append these (contiguous, following the durable log).
    pub entries: Vec<Entry>,
    /// Overwrite the hard state.
    pub hard_state: Option<HardState>,
}

impl Persist {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
    }
}

/// Everything a node has made durable; what `Raft::restart` reads back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    /// Last persisted hard state.
    pub hard_state: HardState,
    /// Last persisted snapshot (index 0: none).
    pub snapshot: Snapshot,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl DurableState {
    /// Applies one output's writes, following the rules documented on
    /// [`Persist`]. Panics on a write that does not extend the log: that is
    /// a bug in the state machine, not an input error.
    pub fn apply(&mut self, persist: &Persist) {
        if let Some(snapshot) = &persist.snapshot {
            let first = self.snapshot.index + 1;
            let drop =
                usize::try_from((snapshot.index + 1).saturating_sub(first)).unwrap_or(usize::MAX);
            self.entries.drain(..drop.min(self.entries.len()));
            self.snapshot = snapshot.clone();
        }
        if let Some(from) = persist.truncate_from {
            // Entries are contiguous, so the cut is positional.
            let first = self.snapshot.index + 1;
            let keep = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
            self.entries.truncate(keep);
        }
        if let Some(first) = persist.entries.first() {
            let expected = self
                .entries
                .last()
                .map_or(self.snapshot.index + 1, |e| e.index + 1);
            assert_eq!(
                first.index, expected,
                "persisted entries must extend the durable log"
            );
            self.entries.extend(persist.entries.iter().cloned());
        }
        if let Some(hard_state) = &persist.hard_state {
            self.hard_state = hard_state.clone();
        }
    }

    /// Whether nothing was ever persisted (a brand-new node).
    pub fn is_empty(&self) -> bool {
        self.hard_state == HardState::default()
            && self.snapshot.index == 0
            && self.entries.is_empty()
    }

    /// Index of the last durable entry.
    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.index, |e| e.index)
    }
}
