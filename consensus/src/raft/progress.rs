//! The leader's view of one follower's log: how far it matches, what to send
//! next, and how much is already in flight.

use std::collections::VecDeque;

/// Replication mode towards one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressState {
    /// Unknown match: send one append at a time and find where logs agree.
    Probe,
    /// Known match: pipeline appends up to the inflight limit.
    Replicate,
    /// The follower needs compacted entries: a snapshot is on its way.
    Snapshot {
        /// Index of the snapshot sent.
        pending_index: u64,
        /// Leader tick at which it was sent (to retry if it got lost).
        sent_at_tick: u64,
    },
}

/// Leader-side state for one peer.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Highest index known replicated on the peer.
    pub match_index: u64,
    /// Next index to send.
    pub next_index: u64,
    /// Replication mode.
    pub state: ProgressState,
    /// In Probe: an append is outstanding, wait for an answer or heartbeat.
    pub probe_sent: bool,
    /// Last index of each append in flight (Replicate), oldest first.
    inflight: VecDeque<u64>,
    max_inflight: usize,
    /// Heard from the peer since the last quorum check.
    pub recent_active: bool,
    /// Leader tick at which a heartbeat answer last unblocked this peer.
    unblocked_at_tick: Option<u64>,
}

impl Progress {
    /// Fresh progress for a new leader whose log ends at `last_index`.
    pub fn new(last_index: u64, max_inflight: usize) -> Self {
        assert!(max_inflight > 0);
        Self {
            match_index: 0,
            next_index: last_index + 1,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: VecDeque::with_capacity(max_inflight),
            max_inflight,
            recent_active: true,
            unblocked_at_tick: None,
        }
    }

    /// Whether no append should be sent now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflight_full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Whether the inflight window is full.
    pub fn inflight_full(&self) -> bool {
        self.inflight.len() >= self.max_inflight
    }

    /// Switches to probing from just after the match.
    pub fn become_probe(&mut self) {
        if let ProgressState::Snapshot { pending_index, .. } = self.state {
            // The snapshot may have landed even if its ack was lost.
            self.next_index = (self.match_index + 1).max(pending_index + 1);
        } else {
            self.next_index = self.match_index + 1;
        }
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// Switches to pipelined replication.
    pub fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// Records that snapshot `pending_index` was sent at `tick`.
    pub fn become_snapshot(&mut self, pending_index: u64, tick: u64) {
        self.state = ProgressState::Snapshot {
            pending_index,
            sent_at_tick: tick,
        };
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// A successful ack up to `index`. Returns whether it taught us anything.
    pub fn maybe_update(&mut self, index: u64) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        // Acks are cumulative: everything up to `index` has landed.
        while self.inflight.front().is_some_and(|last| *last <= index) {
            self.inflight.pop_front();
        }
        updated
    }

    /// Records an append ending at `last_index` sent in Replicate.
    pub fn optimistic_update(&mut self, last_index: u64) {
        debug_assert_eq!(self.state, ProgressState::Replicate);
        assert!(!self.inflight_full(), "caller checks the inflight bound");
        self.next_index = last_index + 1;
        self.inflight.push_back(last_index);
    }

    /// A rejection of an append at `rejected` with the follower's hint.
    /// Returns false for stale rejections (reordered or duplicated).
    pub fn maybe_decr_to(&mut self, rejected: u64, hint: u64) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.match_index {
                return false;
            }
            self.next_index = self.match_index + 1;
            return true;
        }
        // In Probe only the answer to the outstanding probe counts.
        if self.next_index == 0 || rejected != self.next_index - 1 {
            return false;
        }
        self.next_index = (hint.min(rejected) + 1).max(self.match_index + 1);
        self.probe_sent = false;
        true
    }

    /// Frees one inflight slot: a heartbeat answer proves the peer is alive
    /// though an append or its ack was lost.
    pub fn free_first_inflight(&mut self) {
        self.inflight.pop_front();
    }

    /// A heartbeat answer: the peer is alive, so an append or its ack may
    /// have been lost. Unblocks a paused peer (the probe may be resent, or
    /// one inflight slot is freed), at most once per `interval_ticks`.
    /// Why the bound: the answers to heartbeats queued while the peer was
    /// unreachable arrive in a burst when it comes back, and each unblock
    /// lets a full append (megabytes) go out. Unbounded, a leader spent
    /// seconds building a gigabyte of appends to a restarted follower, and
    /// sent no heartbeats meanwhile (measured, docs/BENCHMARKS.md). Returns
    /// whether it unblocked.
    pub fn unblock_on_heartbeat(&mut self, now_tick: u64, interval_ticks: u64) -> bool {
        let recent = self
            .unblocked_at_tick
            .is_some_and(|t| now_tick < t.saturating_add(interval_ticks.max(1)));
        if recent {
            return false;
        }
        let unblocked = match self.state {
            ProgressState::Probe if self.probe_sent => {
                self.probe_sent = false;
                true
            }
            ProgressState::Replicate if self.inflight_full() => {
                self.free_first_inflight();
                true
            }
            _ => false,
        };
        if unblocked {
            self.unblocked_at_tick = Some(now_tick);
        }
        unblocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_answers_unblock_a_probe_once_per_interval() {
        let mut p = Progress::new(100, 4);
        p.probe_sent = true;
        assert!(p.unblock_on_heartbeat(10, 2));
        assert!(!p.probe_sent);
        // The probe goes again; a burst of answers in the same interval
        // leaves it outstanding.
        p.probe_sent = true;
        for _ in 0..1000 {
            assert!(!p.unblock_on_heartbeat(11, 2));
        }
        assert!(p.probe_sent);
        assert!(p.unblock_on_heartbeat(12, 2));
        assert!(!p.probe_sent);
        // Not paused: nothing to unblock, and the next pause may be
        // unblocked at once.
        assert!(!p.unblock_on_heartbeat(20, 2));
        p.probe_sent = true;
        assert!(p.unblock_on_heartbeat(20, 2));
    }

    #[test]
    fn heartbeat_answers_free_one_inflight_slot_per_interval() {
        let mut p = Progress::new(0, 2);
        p.become_replicate();
        p.optimistic_update(5);
        p.optimistic_update(9);
        assert!(p.is_paused());
        assert!(p.unblock_on_heartbeat(3, 2));
        assert!(!p.is_paused());
        p.optimistic_update(12);
        for _ in 0..100 {
            assert!(!p.unblock_on_heartbeat(4, 2));
        }
        assert!(p.is_paused());
        assert!(p.unblock_on_heartbeat(5, 2));
        assert!(!p.is_paused());
    }
}
