//! Block sync: a node whose consensus stopped advancing (it restarted, or
//! fell further behind than its peers' protocol memory reaches) asks every
//! peer for the finalized blocks after its tip, over the QUIC transport
//! (`Wire::SyncRequest` / `Wire::SyncBlocks`, bounded answers).
//!
//! Trust: a block is installed only once `quorum` distinct consenters sent
//! the same bytes at the same height (f + 1 for BFT: at least one of them
//! is honest, so the block is really finalized). The protocol then checks
//! that the blocks extend its chain and hands them to the driver as
//! committed items, which executes them on the ledger like any other
//! committed block (re-execution: the node computes the state root itself
//! and never takes a peer's).
//!
//! Raft does not use this: a lagging follower catches up from the leader's
//! log, or, behind its compaction point, from its peers' ledgers
//! (`catchup.rs`).

use productivist_consensus::NodeId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// No progress for this long starts a sync round.
pub const SYNC_STALL_MS: u64 = 1_000;
/// A round without agreement is abandoned after this long.
pub const SYNC_ROUND_MS: u64 = 2_000;
/// A peer's requests are served at most this often.
pub const SYNC_SERVE_INTERVAL_MS: u64 = 100;

/// One round: the height asked from, and the answers so far.
#[derive(Debug)]
struct Round {
    from_height: u64,
    started: Instant,
    answers: BTreeMap<NodeId, Vec<Vec<u8>>>,
}

/// What the driver should do after a sync event.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncAction {
    /// Nothing.
    Idle,
    /// Ask every peer for blocks from this height.
    Request(u64),
    /// Install these agreed blocks (starting at the round's height).
    Install(Vec<Vec<u8>>),
}

/// Block sync state of one channel.
#[derive(Debug)]
pub struct SyncState {
    tip: u64,
    progress_at: Instant,
    round: Option<Round>,
    last_round_at: Option<Instant>,
    served_at: BTreeMap<NodeId, Instant>,
    /// Blocks installed by sync so far.
    pub blocks_synced: u64,
}

impl SyncState {
    /// A fresh state at `now`.
    pub fn new(now: Instant) -> SyncState {
        SyncState {
            tip: 0,
            progress_at: now,
            round: None,
            last_round_at: None,
            served_at: BTreeMap::new(),
            blocks_synced: 0,
        }
    }

    /// Called on every tick with the protocol's next wanted height.
    pub fn tick(&mut self, next_height: u64, now: Instant) -> SyncAction {
        let tip = next_height.saturating_sub(1);
        if tip != self.tip {
            self.tip = tip;
            self.progress_at = now;
        }
        if let Some(r) = &self.round
            && (r.from_height != next_height
                || now.duration_since(r.started) >= Duration::from_millis(SYNC_ROUND_MS))
        {
            self.round = None;
        }
        let stalled = now.duration_since(self.progress_at) >= Duration::from_millis(SYNC_STALL_MS);
        let rested = self
            .last_round_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_millis(SYNC_STALL_MS));
        if self.round.is_none() && stalled && rested {
            return self.start(next_height, now);
        }
        SyncAction::Idle
    }

    fn start(&mut self, from_height: u64, now: Instant) -> SyncAction {
        self.round = Some(Round {
            from_height,
            started: now,
            answers: BTreeMap::new(),
        });
        self.last_round_at = Some(now);
        SyncAction::Request(from_height)
    }

    /// Whether `from`'s request may be served now (rate limit per peer).
    pub fn may_serve(&mut self, from: NodeId, now: Instant) -> bool {
        let ok = self.served_at.get(&from).is_none_or(|at| {
            now.duration_since(*at) >= Duration::from_millis(SYNC_SERVE_INTERVAL_MS)
        });
        if ok {
            self.served_at.insert(from, now);
        }
        ok
    }

    /// Records `from`'s answer; once `quorum` answers agree on a non-empty
    /// prefix, returns it to install.
    pub fn answer(
        &mut self,
        from: NodeId,
        from_height: u64,
        blocks: Vec<Vec<u8>>,
        quorum: usize,
    ) -> SyncAction {
        let Some(round) = &mut self.round else {
            return SyncAction::Idle;
        };
        if round.from_height != from_height || round.answers.contains_key(&from) {
            return SyncAction::Idle;
        }
        round.answers.insert(from, blocks);
        let agreed = agreed_prefix(&round.answers, quorum);
        if agreed == 0 {
            return SyncAction::Idle;
        }
        let blocks = round
            .answers
            .values()
            .find(|a| a.len() >= agreed)
            .map(|a| a[..agreed].to_vec())
            .unwrap_or_default();
        self.round = None;
        self.last_round_at = None;
        SyncAction::Install(blocks)
    }

    /// Records installed blocks. A full batch (`more`) asks for the next
    /// one at once; otherwise the next round waits for another stall.
    pub fn installed(
        &mut self,
        count: usize,
        more: bool,
        next_height: u64,
        now: Instant,
    ) -> SyncAction {
        self.blocks_synced += count as u64;
        self.progress_at = now;
        self.tip = next_height.saturating_sub(1);
        if more {
            return self.start(next_height, now);
        }
        SyncAction::Idle
    }
}

/// The longest prefix (in blocks) that at least `quorum` answers share
/// byte for byte. Answers never trusted alone unless `quorum` is 1.
pub fn agreed_prefix(answers: &BTreeMap<NodeId, Vec<Vec<u8>>>, quorum: usize) -> usize {
    let quorum = quorum.max(1);
    let all: Vec<&Vec<Vec<u8>>> = answers.values().collect();
    if all.len() < quorum {
        return 0;
    }
    let mut best = 0;
    for a in &all {
        // Prefix shared with each answer (itself included), largest first:
        // the quorum-th largest is shared by `quorum` answers.
        let mut shared: Vec<usize> = all
            .iter()
            .map(|b| a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count())
            .collect();
        shared.sort_unstable_by(|x, y| y.cmp(x));
        best = best.max(shared[quorum - 1]);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(tags: &[u8]) -> Vec<Vec<u8>> {
        tags.iter().map(|t| vec![*t; 3]).collect()
    }

    #[test]
    fn one_answer_is_not_enough_when_two_must_agree() {
        let mut answers = BTreeMap::new();
        answers.insert(1, blocks(&[1, 2, 3]));
        assert_eq!(agreed_prefix(&answers, 2), 0);
        // A liar disagrees from the second block on.
        answers.insert(2, blocks(&[1, 9, 9]));
        assert_eq!(agreed_prefix(&answers, 2), 1);
        // An honest peer slightly behind.
        answers.insert(3, blocks(&[1, 2]));
        assert_eq!(agreed_prefix(&answers, 2), 2);
        assert_eq!(agreed_prefix(&answers, 3), 1);
        assert_eq!(agreed_prefix(&answers, 1), 3);
    }

    #[test]
    fn a_stalled_node_asks_then_installs_what_f_plus_one_peers_agree_on() {
        let t0 = Instant::now();
        let mut s = SyncState::new(t0);
        assert_eq!(s.tick(5, t0), SyncAction::Idle, "no stall yet");
        let later = t0 + Duration::from_millis(SYNC_STALL_MS);
        assert_eq!(s.tick(5, later), SyncAction::Request(5));
        assert_eq!(s.tick(5, later), SyncAction::Idle, "one round at a time");
        // Answers for another height, or twice from one peer, do not count.
        assert_eq!(s.answer(1, 4, blocks(&[7]), 2), SyncAction::Idle);
        assert_eq!(s.answer(1, 5, blocks(&[7, 8]), 2), SyncAction::Idle);
        assert_eq!(s.answer(1, 5, blocks(&[7, 8]), 2), SyncAction::Idle);
        assert_eq!(
            s.answer(2, 5, blocks(&[7, 8, 9]), 2),
            SyncAction::Install(blocks(&[7, 8]))
        );
        assert_eq!(s.installed(2, false, 7, later), SyncAction::Idle);
        assert_eq!(s.blocks_synced, 2);
        // Progress resets the stall timer.
        assert_eq!(s.tick(7, later), SyncAction::Idle);
        let much_later = later + Duration::from_millis(SYNC_STALL_MS);
        assert_eq!(s.tick(7, much_later), SyncAction::Request(7));
        // A round without agreement expires.
        let expired = much_later + Duration::from_millis(SYNC_ROUND_MS);
        assert_eq!(s.tick(7, expired), SyncAction::Request(7));
        // A full batch asks for the next at once.
        assert_eq!(
            s.installed(128, true, 135, expired),
            SyncAction::Request(135)
        );
    }

    #[test]
    fn serving_is_rate_limited_per_peer() {
        let t0 = Instant::now();
        let mut s = SyncState::new(t0);
        assert!(s.may_serve(1, t0));
        assert!(!s.may_serve(1, t0));
        assert!(s.may_serve(2, t0));
        assert!(s.may_serve(1, t0 + Duration::from_millis(SYNC_SERVE_INTERVAL_MS)));
    }
}
