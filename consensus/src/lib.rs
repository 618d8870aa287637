//! Sans-IO consensus for Productivist channels.
//!
//! Each channel picks Raft (crash faults, one organization's cluster) or
//! Simplex BFT (Byzantine faults, the consortium). Both are deterministic
//! state machines: inputs are messages, ticks and proposals; outputs are
//! messages to send, state to persist and entries to commit. No tokio, no
//! sockets, no clock, no global randomness.
//!
//! The node drives either protocol through the [`Consensus`] trait and the
//! same loop:
//!
//! 1. feed inputs: [`Consensus::tick`], [`Consensus::step`],
//!    [`Consensus::propose`];
//! 2. while [`Consensus::has_output`], take an [`Output`] with
//!    [`Consensus::poll_output`] and, in this order: make `persist` durable
//!    (fsync), send `messages`, install `snapshot` (if any), apply
//!    `committed` in order.
//!
//! Persisting before sending is what makes a vote or an acknowledgement a
//! promise that survives a crash.
#![deny(missing_docs)]

pub mod raft;
pub mod sim;
pub mod simplex;

/// Identity of a consensus participant inside one channel.
pub type NodeId = u64;

/// A protocol message addressed to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<M> {
    /// Recipient.
    pub to: NodeId,
    /// The message; the sender is the local node.
    pub msg: M,
}

/// Whether a committed item carries an application payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommitKind {
    /// A payload given to [`Consensus::propose`]: the application applies it.
    Application,
    /// Protocol bookkeeping (a leader's no-op, a membership change): the
    /// application only advances its applied index. Reported so that
    /// committed indices are contiguous.
    Internal,
}

/// One committed item. Items are delivered exactly in index order, without
/// gaps, starting after the last installed snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Position in the committed sequence (Raft log index, BFT height).
    pub index: u64,
    /// Whether the application must apply `payload`.
    pub kind: CommitKind,
    /// Opaque bytes (a block, for the ledger). Empty for internal items.
    pub payload: Vec<u8>,
}

/// Application state the node must install before applying further
/// committed items: everything up to and including `index` is summarized by
/// `data` (bytes the application itself produced when it compacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotToApply {
    /// Last committed index covered by the snapshot.
    pub index: u64,
    /// Application-defined snapshot bytes.
    pub data: Vec<u8>,
}

/// One batch of effects produced by a protocol state machine.
///
/// The driver must handle the fields in declaration order: `persist` must be
/// durable before any of `messages` leaves the node.
#[derive(Clone, Debug)]
pub struct Output<M, P> {
    /// State to make durable before sending anything in this batch.
    pub persist: P,
    /// Messages to send once `persist` is durable. Delivery may be lossy.
    pub messages: Vec<Envelope<M>>,
    /// Snapshot to install before applying `committed`.
    pub snapshot: Option<SnapshotToApply>,
    /// Newly committed items, in index order.
    pub committed: Vec<Committed>,
}

/// A deterministic, sans-IO consensus protocol as seen by the node.
///
/// Implementations never block, never read a clock and never draw global
/// randomness: the same inputs produce the same outputs.
pub trait Consensus {
    /// Wire message exchanged between peers.
    type Message;
    /// Protocol-specific state to make durable (see [`Output::persist`]).
    type Persist;
    /// Why an input was refused.
    type Error: std::error::Error;

    /// The local node's id.
    fn id(&self) -> NodeId;
    /// Advances logical time by one tick.
    fn tick(&mut self);
    /// Handles a message received from `from` (authenticated by the
    /// transport). Invalid messages are refused with an error, never a panic.
    fn step(&mut self, from: NodeId, msg: Self::Message) -> Result<(), Self::Error>;
    /// Submits an opaque payload for ordering. `Ok` means accepted for
    /// ordering, not committed: the payload may still be lost if leadership
    /// changes, so clients retry.
    fn propose(&mut self, payload: Vec<u8>) -> Result<(), Self::Error>;
    /// The node currently believed to accept proposals, if known.
    fn leader_hint(&self) -> Option<NodeId>;
    /// Whether [`Consensus::poll_output`] has anything to return.
    fn has_output(&self) -> bool;
    /// Takes the next batch of effects; see the crate docs for the contract.
    fn poll_output(&mut self) -> Output<Self::Message, Self::Persist>;
}
