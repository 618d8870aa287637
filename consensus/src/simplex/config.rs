//! Tuning knobs of one Simplex replica. Every queue, map and batch the
//! state machine builds is bounded by one of these.

use crate::NodeId;
use crate::simplex::error::Error;
use crate::simplex::message::{MAX_BLOCKS_PER_MESSAGE, MAX_PAYLOAD_BYTES};

/// Static configuration of a Simplex replica.
#[derive(Clone, Debug)]
pub struct SimplexConfig {
    /// This node's id; never 0.
    pub id: NodeId,
    /// Domain separation for every signature (e.g. the channel id): votes
    /// of one channel can never be replayed in another.
    pub namespace: Vec<u8>,
    /// Ticks in a view without a notarization or nullification certificate
    /// before voting to nullify it. Must exceed a few network round trips
    /// (propose, notarize) or good leaders get skipped.
    pub view_timeout_ticks: u64,
    /// A leader with no payload waits this long into its view before
    /// proposing an empty filler block: the chain advances at most one
    /// empty block per this many ticks instead of spinning as fast as the
    /// network allows. Must be below `view_timeout_ticks`.
    pub empty_block_delay_ticks: u64,
    /// Once a view timed out, own votes and the latest certificates are
    /// re-sent at this period: the network may lose anything, and this is
    /// what lets a partitioned or restarted replica catch up.
    pub retransmit_interval_ticks: u64,
    /// Re-ask for a missing block or certificate after this many ticks.
    pub fetch_retry_ticks: u64,
    /// Votes for views beyond `current + max_future_views` are ignored (a
    /// faulty peer cannot make us store votes for arbitrary views).
    /// Certificates are accepted for any view: they prove progress.
    pub max_future_views: u64,
    /// Per-view state older than `current - max_past_views` (or older than
    /// the last finalized view) is pruned.
    pub max_past_views: u64,
    /// Largest payload accepted in `propose` or in a proposal.
    pub max_payload_bytes: usize,
    /// Payloads waiting for this node's next leader view.
    pub max_pending_proposals: usize,
    /// Upper bound on committed blocks handed out in one output.
    pub max_committed_per_output: usize,
    /// Finalized blocks kept in memory to serve lagging peers.
    pub max_retained_blocks: usize,
    /// Notarized or proposed blocks above the finalized height kept in
    /// memory; beyond it new blocks are refused until finalization prunes.
    pub max_unfinalized_blocks: usize,
    /// Blocks in one fetch answer.
    pub max_blocks_per_message: usize,
    /// Evidence records kept (one per offender and offense at most).
    pub max_evidence: usize,
    /// Messages buffered between two polls; past it messages are dropped
    /// (the protocol tolerates loss and retransmits).
    pub max_pending_messages: usize,
    /// Deliberately broken safety rule, for checking that the simulator
    /// catches bugs. Never set outside tests.
    #[cfg(feature = "mutations")]
    pub unsafe_mutation: Option<Mutation>,
}

/// A deliberate safety bug (tests only).
#[cfg(feature = "mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Notarize every valid proposal of a view, not only the first.
    NotarizeTwice,
    /// Build and accept finalization certificates with 2f votes, not 2f+1.
    FinalizeWithoutQuorum,
    /// Vote finalize on a notarization even after voting to nullify.
    FinalizeAfterNullify,
    /// Do not persist votes: a restarted replica can vote again in a view.
    VoteNotPersisted,
}

impl SimplexConfig {
    /// Reasonable defaults for node `id` signing under `namespace`.
    pub fn new(id: NodeId, namespace: impl Into<Vec<u8>>) -> Self {
        Self {
            id,
            namespace: namespace.into(),
            view_timeout_ticks: 20,
            empty_block_delay_ticks: 2,
            retransmit_interval_ticks: 5,
            fetch_retry_ticks: 4,
            max_future_views: 64,
            max_past_views: 256,
            max_payload_bytes: 1 << 20,
            max_pending_proposals: 64,
            max_committed_per_output: 256,
            max_retained_blocks: 1024,
            max_unfinalized_blocks: 1024,
            max_blocks_per_message: 32,
            max_evidence: 256,
            max_pending_messages: 16 * 1024,
            #[cfg(feature = "mutations")]
            unsafe_mutation: None,
        }
    }

    /// Rejects configurations under which the protocol cannot make progress.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id == 0 {
            return Err(Error::InvalidConfig("id must not be 0"));
        }
        if self.view_timeout_ticks < 2 {
            return Err(Error::InvalidConfig("view_timeout_ticks must be >= 2"));
        }
        if self.empty_block_delay_ticks >= self.view_timeout_ticks {
            return Err(Error::InvalidConfig(
                "empty_block_delay_ticks must be below view_timeout_ticks",
            ));
        }
        if self.retransmit_interval_ticks == 0 || self.fetch_retry_ticks == 0 {
            return Err(Error::InvalidConfig("retry periods must be positive"));
        }
        if self.max_future_views == 0 || self.max_past_views == 0 {
            return Err(Error::InvalidConfig("view windows must be positive"));
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_PAYLOAD_BYTES {
            return Err(Error::InvalidConfig(
                "max_payload_bytes must be in 1..=MAX_PAYLOAD_BYTES",
            ));
        }
        if self.max_blocks_per_message == 0 || self.max_blocks_per_message > MAX_BLOCKS_PER_MESSAGE
        {
            return Err(Error::InvalidConfig(
                "max_blocks_per_message must be in 1..=MAX_BLOCKS_PER_MESSAGE",
            ));
        }
        if self.max_pending_proposals == 0
            || self.max_committed_per_output == 0
            || self.max_retained_blocks == 0
            || self.max_unfinalized_blocks == 0
            || self.max_pending_messages == 0
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
