//! Why Raft refused an input.

use crate::NodeId;

/// Errors returned by the Raft state machine. None of them leaves the state
/// machine in an inconsistent state: the input is simply not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes from the wire are not a canonical message.
    #[error("cannot decode message: {0}")]
    Decode(String),
    /// A decoded message breaks a structural rule of the protocol.
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// A peer asked us to overwrite an entry we already committed. A correct
    /// cluster never does this; refusing keeps our committed prefix intact.
    #[error("peer tried to overwrite committed entry {index}")]
    ConflictWithCommitted {
        /// The committed index that would have been overwritten.
        index: u64,
    },
    /// Only the leader accepts proposals.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader we last heard from, if any.
        leader: Option<NodeId>,
    },
    /// A leadership transfer is in progress; retry at the new leader.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// Too many uncommitted bytes already; back-pressure the client.
    #[error("proposal dropped: {uncommitted_bytes} uncommitted bytes (limit {limit_bytes})")]
    Backpressure {
        /// Bytes proposed but not yet committed.
        uncommitted_bytes: u64,
        /// Configured limit.
        limit_bytes: u64,
    },
    /// A previous membership change is not committed yet, or this leader has
    /// not committed an entry of its own term (required before the first
    /// change, see the dissertation errata on single-server changes).
    #[error("a membership change is already in progress")]
    ConfChangeInProgress,
    /// The change is not a valid single-server change of the current
    /// membership (or removes the leader itself).
    #[error("invalid membership change")]
    InvalidConfChange,
    /// Leadership transfer to a node that is not another voter.
    #[error("invalid leadership transfer target {0}")]
    InvalidTransferTarget(NodeId),
    /// `compact` asked for an index that is not applied or already compacted.
    #[error("cannot compact to {index}: applied {applied}, snapshot {snapshot_index}")]
    InvalidCompaction {
        /// Requested index.
        index: u64,
        /// Highest index handed to the application.
        applied: u64,
        /// Current snapshot index.
        snapshot_index: u64,
    },
    /// Durable state handed to `restart` is not self-consistent.
    #[error("corrupt durable state: {0}")]
    CorruptStorage(&'static str),
    /// Configuration values make no sense together.
    #[error("invalid config: {0}")]
    InvalidConfig(&'static str),
}
