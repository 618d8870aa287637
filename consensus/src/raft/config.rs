//! Tuning knobs of one Raft node. Every queue and batch the state machine
//! builds is bounded by one of these.

use crate::NodeId;
use crate::raft::error::Error;

/// Static configuration of a Raft node.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    /// This node's id; never 0 (0 reads as "nobody" in traces).
    pub id: NodeId,
    /// Minimum election timeout. The effective timeout is drawn uniformly in
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)` so that
    /// candidates rarely split the vote. Also the leader-lease length.
    pub election_timeout_ticks: u64,
    /// Leader heartbeat period; must be well below the election timeout.
    pub heartbeat_interval_ticks: u64,
    /// Run a pre-vote round before every election (dissertation §9.6). On by
    /// default; turning it off exists to let tests reach histories that
    /// pre-vote makes rare.
    pub pre_vote: bool,
    /// Seed of this node's private PRNG (election timeouts only).
    pub seed: u64,
    /// Upper bound on entries in one `AppendEntries`.
    pub max_entries_per_append: usize,
    /// Upper bound on entry bytes in one `AppendEntries` (at least one entry
    /// is always sent so a large entry cannot wedge replication).
    pub max_bytes_per_append: u64,
    /// Appends in flight to one peer before waiting for acknowledgements.
    pub max_inflight_appends_per_peer: usize,
    /// Bytes a leader accepts but has not committed before refusing
    /// proposals (back-pressure instead of unbounded memory).
    pub max_uncommitted_bytes: u64,
    /// Upper bound on committed entries handed out in one output.
    pub max_committed_per_output: usize,
    /// Deliberately broken safety rule, for checking that the simulator
    /// catches bugs. Never set outside tests.
    #[cfg(feature = "mutations")]
    pub unsafe_mutation: Option<Mutation>,
}

/// A deliberate safety bug (tests only).
#[cfg(feature = "mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Grant a vote even when already voted for someone else this term.
    DoubleVote,
    /// Commit once a minority (quorum - 1) has an entry.
    CommitWithoutQuorum,
    /// Commit entries of previous terms by counting replicas (Figure 8).
    CommitPreviousTermByCounting,
    /// Do not persist the vote: a restarted node can vote twice in a term.
    VoteNotPersisted,
}

impl RaftConfig {
    /// Reasonable defaults for node `id` with PRNG `seed`.
    pub fn new(id: NodeId, seed: u64) -> Self {
        Self {
            id,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 2,
            pre_vote: true,
            seed,
            max_entries_per_append: 256,
            max_bytes_per_append: 4 << 20,
            max_inflight_appends_per_peer: 16,
            max_uncommitted_bytes: 64 << 20,
            max_committed_per_output: 1024,
            #[cfg(feature = "mutations")]
            unsafe_mutation: None,
        }
    }

    /// Rejects configurations under which the protocol cannot make progress.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id == 0 {
            return Err(Error::InvalidConfig("id must not be 0"));
        }
        if self.election_timeout_ticks < 2 {
            return Err(Error::InvalidConfig("election_timeout_ticks must be >= 2"));
        }
        if self.heartbeat_interval_ticks == 0
            || self.heartbeat_interval_ticks >= self.election_timeout_ticks
        {
            return Err(Error::InvalidConfig(
                "heartbeat_interval_ticks must be in 1..election_timeout_ticks",
            ));
        }
        if self.max_entries_per_append == 0
            || self.max_bytes_per_append == 0
            || self.max_inflight_appends_per_peer == 0
            || self.max_uncommitted_bytes == 0
            || self.max_committed_per_output == 0
        {
            return Err(Error::InvalidConfig("limits must be positive"));
        }
        Ok(())
    }

    #[cfg(feature = "mutations")]
    pub(crate) fn mutation(&self, m: Mutation) -> bool {
        self.unsafe_mutation == Some(m)
    }
}
