//! What the simulator needs from a protocol beyond [`Consensus`]: how to
//! build and rebuild a node, how its durable writes land on a disk, its wire
//! codec, and optional administrative chaos (membership, transfers).

use crate::sim::SimConfig;
use crate::sim::rng::SplitMix64;
use crate::{Consensus, NodeId};

/// What a trace shows of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// Message name.
    pub kind: &'static str,
    /// Sender's term or view.
    pub epoch: u64,
    /// Protocol-specific index (Raft: prev/last/acked log index).
    pub index: u64,
}

/// A protocol the simulator can drive. Raft implements it in
/// `raft_adapter.rs`; a BFT protocol implements the same hooks.
pub trait SimProtocol: Consensus + Sized {
    /// The durable "disk" of one node: only what `persist` wrote survives a
    /// crash.
    type Disk: Default;

    /// A node that never persisted anything (first boot, or a crash before
    /// its first write). `cluster` lists every node id.
    fn boot(id: NodeId, cluster: &[NodeId], seed: u64, cfg: &SimConfig) -> Self;

    /// A node rebuilt from its disk after a crash.
    fn restart(
        id: NodeId,
        cluster: &[NodeId],
        seed: u64,
        cfg: &SimConfig,
        disk: &Self::Disk,
    ) -> Self;

    /// Whether the disk holds nothing (then `boot` is used on restart).
    fn disk_is_empty(disk: &Self::Disk) -> bool;

    /// Makes one output's durable writes.
    fn persist(disk: &mut Self::Disk, persist: &Self::Persist);

    /// Canonical wire bytes.
    fn encode(msg: &Self::Message) -> Vec<u8>;

    /// Decodes wire bytes (untrusted in production; here a failure is a bug).
    fn decode(bytes: &[u8]) -> Result<Self::Message, Self::Error>;

    /// Message name, epoch (term/view) and the most telling index, for
    /// traces.
    fn describe(msg: &Self::Message) -> MessageInfo;

    /// `Some(epoch)` if this node is leader of `epoch` (term, view): at most
    /// one node may lead a given epoch (Election Safety).
    fn leadership(&self) -> Option<u64>;

    /// Called after the application applied up to `applied_index`;
    /// `snapshot_data` summarizes the application state at that index. The
    /// protocol may compact its log.
    fn after_apply(&mut self, applied_index: u64, snapshot_data: &[u8], cfg: &SimConfig);

    /// Called on leaders during the fault phase with some probability: a
    /// random administrative action. Returns a description for the trace.
    fn chaos_admin(&mut self, rng: &mut SplitMix64, cluster: &[NodeId]) -> Option<String>;

    /// Whether the Validity re-check at commit judges a payload as a child
    /// of the item committed just before it (Simplex: the parent block;
    /// Raft orders entries without a validity rule, so `false`).
    fn validity_checks_parent() -> bool {
        false
    }

    /// A safety rule the node broke in its last output (checked by the
    /// adapter, e.g. acting on a certificate without a quorum), taken once.
    fn take_violation(&mut self) -> Option<String> {
        None
    }

    /// Called on the leader after the network heals, every tick, to undo
    /// administrative chaos (e.g. add removed voters back).
    fn heal_admin(&mut self, cluster: &[NodeId]) -> Option<String>;
}
