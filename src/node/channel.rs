//! One channel on one node: the shared state the HTTP API reads (ledger,
//! mempool, status, metrics) and the consensus driver that owns the
//! protocol state machine.
//!
//! The driver runs on its own OS thread (consensus and block execution are
//! synchronous; fsyncs and execution must not stall the async runtime). It
//! follows the `Consensus` contract: for each output, make `persist`
//! durable, then send `messages`, then install the snapshot, then apply
//! `committed` in order. It is generic over [`NodeConsensus`] and
//! [`Durable`], so Simplex BFT plugs in beside Raft.
//!
//! Transactions travel by gossip: a node that admits a transaction sends it
//! to every peer's mempool, so whichever node leads (now or after a
//! failover) can order it. Only the leader cuts blocks.

use super::catchup::{
    CATCH_UP_RETRY_MS, CATCH_UP_STALL_MS, COMPACT_EVERY_ENTRIES_DEFAULT, Compaction,
    LEDGER_BLOCKS_PER_FRAME_MAX, LedgerMark,
};
use super::mempool::{BlockBounds, Mempool, MempoolError};
use super::simplex_store::SimplexStore;
use super::storage::{Applied, RaftStore, StorageError};
use super::sync::{SyncAction, SyncState};
use super::wire::{BlockProposal, GOSSIP_TXS_PER_FRAME_MAX, Wire};
use crate::embedded::{DynStore, now_ms};
use productivist_consensus::{CommitKind, Committed, Consensus, NodeId, SnapshotToApply};
use productivist_engine::admission::{AdmitError, Rejection, admit};
use productivist_engine::block::Block;
use productivist_engine::config::ChannelConfig;
use productivist_engine::crypto::{Hash, PublicKey};
use productivist_engine::executor::{StoreView, resolve_cert};
use productivist_engine::identity::CertCache;
use productivist_engine::ledger::{Ledger, LedgerError};
use productivist_engine::store::TxLocation;
use productivist_engine::tx::{TxId, decode_tx, tx_id};
use productivist_net::Network;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Inputs queued for the driver before network messages are dropped
/// (consensus tolerates loss) and wake-ups coalesce.
pub const DRIVER_QUEUE_MAX: usize = 8192;
/// How long after a config removes a consenter the protocol drops it from
/// its voters (below `membership::REMOVAL_GRACE_MS`, when the transport
/// closes its connections).
pub const VOTER_REMOVAL_DELAY_MS: u64 = 1_000;
/// Inputs handled between two output flushes.
pub const INPUTS_PER_ROUND_MAX: usize = 1024;
/// A driver round (inputs, proposal, output) longer than this is logged:
/// a leader that long away from its loop sends no heartbeats.
pub const SLOW_ROUND_MS: u64 = 250;
/// Output batches taken per round (each bounded by the protocol's limits).
pub const OUTPUTS_PER_ROUND_MAX: usize = 64;
/// Blocks a leader proposes before waiting for one to commit.
pub const INFLIGHT_BLOCKS_MAX: usize = 4;
/// Room left in a transport frame around a proposal: the wire envelope and
/// the consensus message's other fields (far less than this).
pub const FRAME_HEADROOM_BYTES: usize = 64 << 10;
/// Mempool bounds.
pub const MEMPOOL_TXS_MAX: usize = 50_000;
/// Mempool bounds, bytes.
pub const MEMPOOL_BYTES_MAX: u64 = 256 << 20;
/// Transactions queued for gossip before submissions are refused as busy.
pub const GOSSIP_QUEUE_TXS_MAX: usize = 16_384;
/// A proposed transaction not committed after this long returns to the
/// pending queue (its block was lost with a leader change).
pub const PROPOSED_STALE_MS: u64 = 10_000;
/// A pending transaction is gossiped again after this long (a dropped
/// gossip frame must not strand it on a follower).
pub const REGOSSIP_AFTER_MS: u64 = 2_000;

/// An input for the driver.
#[derive(Debug)]
pub enum Input {
    /// A consensus message from a peer (authenticated by the transport).
    Message {
        /// Sender.
        from: NodeId,
        /// Encoded protocol message.
        bytes: Vec<u8>,
    },
    /// Something changed (the mempool filled up): check for work.
    Wake,
    /// A peer asks for finalized blocks from `from_height` (block sync).
    SyncRequest {
        /// The peer.
        from: NodeId,
        /// First height wanted.
        from_height: u64,
    },
    /// A peer's answer to our sync request.
    SyncBlocks {
        /// The peer.
        from: NodeId,
        /// First height of `blocks`.
        from_height: u64,
        /// Encoded protocol blocks, in height order.
        blocks: Vec<Vec<u8>>,
    },
    /// A peer's answer to our ledger catch-up request (Raft, after the
    /// leader compacted its log past us).
    LedgerBlocks {
        /// The peer.
        from: NodeId,
        /// Height of the first block.
        from_height: u64,
        /// Sealed ledger blocks, in height order.
        blocks: Vec<Vec<u8>>,
    },
    /// Stop the driver.
    Stop,
}

/// The protocol's view for `/health` and `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct ConsensusStatus {
    /// `raft` or `bft`.
    pub kind: &'static str,
    /// This node's id in the channel.
    pub id: NodeId,
    /// Role name (`leader`, `follower`, ...).
    pub role: String,
    /// Term or view.
    pub term: u64,
    /// The leader, when known.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: u64,
    /// Last index applied to the ledger.
    pub applied: u64,
    /// Equivocation evidence recorded (BFT), latest last.
    pub evidence: Vec<EvidenceSummary>,
    /// Set when the protocol saw proof that too many nodes are faulty and
    /// stopped committing (BFT).
    pub safety_fault: Option<String>,
    /// The voters of the protocol's current membership (Raft; BFT: all).
    pub voters: Vec<NodeId>,
    /// The height of the committed config that removed this node from the
    /// consenters; it takes no further part in the channel's consensus.
    pub removed_at: Option<u64>,
}

/// One piece of equivocation evidence, for the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceSummary {
    /// The consenter (1-based, config order) that signed conflicting votes.
    pub offender: NodeId,
    /// The rule broken (`ConflictingNotarize`, `NullifyFinalize`...).
    pub offense: String,
    /// The view of the offense.
    pub view: u64,
}

/// What the node needs from a consensus protocol beyond [`Consensus`].
pub trait NodeConsensus: Consensus + Send + 'static {
    /// Encodes a message for the wire.
    fn encode(msg: &Self::Message) -> Vec<u8>;
    /// Decodes an untrusted message.
    fn decode(bytes: &[u8]) -> Result<Self::Message, String>;
    /// Whether this node should cut and propose blocks now.
    fn is_leader(&self) -> bool;
    /// Status for the API.
    fn status(&self) -> ConsensusStatus;
    /// Whether the driver may cut and propose a block now.
    fn ready_to_propose(&self) -> bool {
        self.is_leader()
    }
    /// Whether a change of leadership returns proposed transactions to the
    /// queue at once (Raft: the old leader's blocks may be lost).
    fn requeue_on_leader_change(&self) -> bool {
        true
    }
    /// The largest encoded block proposal the protocol accepts and can
    /// ship to its peers; the driver cuts blocks within it.
    fn max_proposal_bytes(&self) -> u64 {
        // A Raft entry travels inside one transport frame, with the
        // message's own fields around it.
        (productivist_net::frame::FRAME_BYTES_MAX_DEFAULT - FRAME_HEADROOM_BYTES) as u64
    }
    /// Blocks a leader proposes before waiting for one to commit.
    fn inflight_blocks_max(&self) -> usize {
        INFLIGHT_BLOCKS_MAX
    }
    /// A proposed transaction not committed after this long returns to the
    /// pending queue (its block was lost).
    fn proposed_stale_ms(&self) -> u64 {
        PROPOSED_STALE_MS
    }
    /// Block sync: the next height this protocol wants from peers, if it
    /// catches up through block sync (`None`: it catches up by itself).
    fn sync_start(&self) -> Option<u64> {
        None
    }
    /// Distinct peers that must send the same blocks before they are
    /// installed.
    fn sync_quorum(&self) -> usize {
        1
    }
    /// Finalized blocks from `from_height`, encoded, for a peer.
    fn serve_sync(&self, _from_height: u64) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// Installs agreed finalized blocks extending the local chain; they
    /// come out as committed items. Returns how many.
    fn install_synced(&mut self, _blocks: &[Vec<u8>]) -> Result<usize, String> {
        Ok(0)
    }
    /// The index of the log's snapshot, if this protocol compacts its log
    /// behind the ledger (`None`: it does not).
    fn snapshot_index(&self) -> Option<u64> {
        None
    }
    /// Moves the protocol's voter set towards `target`, the consenters of
    /// the latest committed config (by stable id). Called every tick; a
    /// protocol whose members cannot change (the engine refuses such
    /// configs) ignores it.
    fn follow_voters(&mut self, _target: &[NodeId]) {}
    /// Compacts the log up to `mark.index`, keeping the mark as snapshot.
    fn compact_to(&mut self, _mark: &LedgerMark) -> Result<(), String> {
        Ok(())
    }
}

/// Durable storage of a protocol's state plus the node's applied mark.
pub trait Durable<P>: Send + 'static {
    /// Makes `persist` durable (fsync) before returning.
    fn persist(&mut self, persist: &P) -> Result<(), StorageError>;
    /// The applied mark.
    fn applied(&self) -> Result<Applied, StorageError>;
    /// Records the applied mark durably.
    fn set_applied(&mut self, applied: Applied) -> Result<(), StorageError>;
}

impl NodeConsensus for productivist_consensus::raft::Raft {
    fn encode(msg: &Self::Message) -> Vec<u8> {
        productivist_consensus::raft::encode_message(msg)
    }
    fn decode(bytes: &[u8]) -> Result<Self::Message, String> {
        productivist_consensus::raft::decode_message(bytes).map_err(|e| e.to_string())
    }
    fn is_leader(&self) -> bool {
        productivist_consensus::raft::Raft::is_leader(self)
    }
    fn status(&self) -> ConsensusStatus {
        ConsensusStatus {
            kind: "raft",
            id: self.id(),
            role: format!("{:?}", self.role()).to_lowercase(),
            term: self.term(),
            leader: self.leader(),
            commit: self.commit_index(),
            applied: self.applied_index(),
            voters: self.membership().voters().to_vec(),
            ..ConsensusStatus::default()
        }
    }
    fn snapshot_index(&self) -> Option<u64> {
        Some(productivist_consensus::raft::Raft::snapshot(self).index)
    }
    fn follow_voters(&mut self, target: &[NodeId]) {
        use productivist_consensus::raft::{ConfChange, Error};
        if !productivist_consensus::raft::Raft::is_leader(self) {
            return;
        }
        // Removals only (the engine refuses additions). A leader never
        // removes itself: it stops when it applies the config that removed
        // it, and the next leader removes it.
        let me = self.id();
        let Some(gone) = self
            .membership()
            .voters()
            .iter()
            .copied()
            .find(|v| *v != me && !target.contains(v))
        else {
            return;
        };
        match self.propose_conf_change(ConfChange::RemoveVoter(gone)) {
            Ok(index) => tracing::info!(voter = gone, index, "removing a voter the config removed"),
            // Retried at the next tick, once the change in flight commits.
            Err(Error::ConfChangeInProgress | Error::NotLeader { .. }) => {}
            Err(e) => tracing::warn!(voter = gone, "cannot remove voter: {e}"),
        }
    }
    fn compact_to(&mut self, mark: &LedgerMark) -> Result<(), String> {
        self.compact(mark.index, mark.encode())
            .map_err(|e| e.to_string())
    }
}

impl Durable<productivist_consensus::raft::Persist> for RaftStore {
    fn persist(&mut self, p: &productivist_consensus::raft::Persist) -> Result<(), StorageError> {
        RaftStore::persist(self, p)
    }
    fn applied(&self) -> Result<Applied, StorageError> {
        RaftStore::applied(self)
    }
    fn set_applied(&mut self, applied: Applied) -> Result<(), StorageError> {
        RaftStore::set_applied(self, applied)
    }
}

impl Durable<productivist_consensus::simplex::Persist> for Arc<SimplexStore> {
    fn persist(
        &mut self,
        p: &productivist_consensus::simplex::Persist,
    ) -> Result<(), StorageError> {
        SimplexStore::persist(self, p)
    }
    fn applied(&self) -> Result<Applied, StorageError> {
        SimplexStore::applied(self)
    }
    fn set_applied(&mut self, applied: Applied) -> Result<(), StorageError> {
        SimplexStore::set_applied(self, applied)
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Transactions admitted to the mempool (API and gossip).
    pub txs_admitted: AtomicU64,
    /// Transactions refused at admission.
    pub txs_rejected: AtomicU64,
    /// Submissions refused because the node was busy.
    pub txs_busy: AtomicU64,
    /// Gossiped transactions dropped before admission (queue full).
    pub gossip_dropped: AtomicU64,
    /// Blocks committed by this node.
    pub blocks_committed: AtomicU64,
    /// Transactions committed by this node.
    pub txs_committed: AtomicU64,
    /// Blocks proposed by this node.
    pub blocks_proposed: AtomicU64,
    /// Consensus messages dropped (queue full, peer busy, undecodable).
    pub messages_dropped: AtomicU64,
    /// Consensus messages sent.
    pub messages_sent: AtomicU64,
    /// Consensus messages received.
    pub messages_received: AtomicU64,
    /// Equivocation evidence recorded (BFT).
    pub evidence_recorded: AtomicU64,
    /// Proposals this node refused to vote for (BFT).
    pub proposals_refused: AtomicU64,
    /// Blocks installed by block sync.
    pub blocks_synced: AtomicU64,
}

/// Why a submission was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// Refused at admission: the client's fault.
    #[error(transparent)]
    Rejected(Rejection),
    /// Too much load: retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// The node failed.
    #[error("internal error: {0}")]
    Internal(String),
    /// A committed config removed this node from the channel's consenters.
    #[error(
        "this node was removed from channel {channel}'s consenters at height {height}: submit to a consenter"
    )]
    NotConsenter {
        /// The channel.
        channel: String,
        /// The height of the config that removed it.
        height: u64,
    },
}

/// A submission's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Newly added to the mempool (and gossiped).
    Pending(TxId),
    /// Already in the mempool.
    AlreadyPending(TxId),
    /// Already committed.
    Committed(TxId, TxLocation),
}

/// The state of one channel shared by the driver and the API.
pub struct ChannelShared {
    /// Channel id.
    pub id: String,
    /// The ledger; only the driver writes.
    pub ledger: RwLock<Ledger<DynStore>>,
    /// The mempool.
    pub mempool: Mutex<Mempool>,
    /// Verified certificates, for admission.
    pub cert_cache: CertCache,
    /// The committed height (wakes API waiters and event streams).
    pub head: tokio::sync::watch::Sender<u64>,
    /// Consensus status.
    pub status: Mutex<ConsensusStatus>,
    /// Set when the driver stopped on a fatal error.
    pub failed: Mutex<Option<String>>,
    /// Counters.
    pub metrics: Metrics,
    /// Inputs for the driver.
    pub driver: SyncSender<Input>,
    /// Transactions to gossip to peers.
    pub gossip: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// The ledger's store, for admission's reads (certificates, committed
    /// ids) without the ledger lock: the driver holds that lock for writing
    /// during every block commit (fsync included), and submissions queued
    /// behind it.
    store: DynStore,
    /// The channel config admission last used (see [`ChannelShared::submit`]).
    admission_config: Mutex<Option<Arc<ChannelConfig>>>,
    /// Ids of the latest committed blocks' transactions, by height, as the
    /// driver computed them (the event streams use them instead of decoding
    /// and hashing every transaction again); at most
    /// [`RECENT_BLOCK_IDS_MAX`] blocks.
    recent_ids: Mutex<VecDeque<(u64, BlockTxIds)>>,
    /// The largest block proposal the channel's consensus accepts
    /// ([`NodeConsensus::max_proposal_bytes`]), set by the driver: a
    /// transaction that no proposal can hold is refused at submission
    /// rather than admitted and dropped when a block is cut.
    max_proposal_bytes: AtomicU64,
}

/// The most transactions [`ChannelShared::submit_batch`] takes at once: a
/// gossip frame, or a client's batch (`POST .../transactions/batch`).
pub const SUBMIT_BATCH_TXS_MAX: usize = 512;
const _: () = assert!(GOSSIP_TXS_PER_FRAME_MAX <= SUBMIT_BATCH_TXS_MAX);

/// The ids of a block's transactions in order (`None`: undecodable).
pub type BlockTxIds = Arc<[Option<TxId>]>;

/// Committed blocks whose transaction ids [`ChannelShared`] keeps for the
/// event streams (a stream further behind decodes the block instead).
pub const RECENT_BLOCK_IDS_MAX: usize = 64;

impl ChannelShared {
    /// A channel's shared state around `ledger`: the head at the ledger's
    /// height, a fresh certificate cache, status and counters; `driver` and
    /// `gossip` are the queues the node reads (closed ones for a channel
    /// nobody drives).
    pub fn new(
        id: &str,
        ledger: Ledger<DynStore>,
        mempool: Mempool,
        driver: SyncSender<Input>,
        gossip: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> ChannelShared {
        let height = ledger.head().map_or(0, |h| h.height);
        let store = ledger.store().clone();
        let admission_config = Mutex::new(ledger.config().cloned());
        ChannelShared {
            id: id.to_string(),
            ledger: RwLock::new(ledger),
            mempool: Mutex::new(mempool),
            cert_cache: CertCache::default(),
            head: tokio::sync::watch::channel(height).0,
            status: Mutex::new(ConsensusStatus::default()),
            failed: Mutex::new(None),
            metrics: Metrics::default(),
            driver,
            gossip,
            store,
            admission_config,
            recent_ids: Mutex::new(VecDeque::new()),
            max_proposal_bytes: AtomicU64::new(u64::MAX),
        }
    }

    /// Sets the largest proposal the channel's consensus accepts; see
    /// [`ChannelShared::submit`].
    pub fn set_max_proposal_bytes(&self, bytes: u64) {
        self.max_proposal_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The channel config for admission: the ledger's when its lock is
    /// free, else the one seen last. That one is at most the block being
    /// committed behind: the same staleness a transaction admitted just
    /// before that commit has, and execution checks every certificate again
    /// at the block's time.
    fn config_for_admission(&self) -> Result<Arc<ChannelConfig>, SubmitError> {
        let mut cached = self
            .admission_config
            .lock()
            .map_err(|_| SubmitError::Internal("config cache lock poisoned".into()))?;
        if let Ok(ledger) = self.ledger.try_read()
            && let Some(config) = ledger.config()
            && !cached.as_ref().is_some_and(|c| Arc::ptr_eq(c, config))
        {
            *cached = Some(config.clone());
        }
        cached
            .clone()
            .ok_or_else(|| SubmitError::Internal("the ledger has no genesis".into()))
    }

    /// Records the ids of the transactions of committed block `height`
    /// (`None` for undecodable ones), for the event streams.
    pub fn record_committed_ids(&self, height: u64, ids: BlockTxIds) {
        if let Ok(mut recent) = self.recent_ids.lock() {
            while recent.len() >= RECENT_BLOCK_IDS_MAX {
                recent.pop_front();
            }
            recent.push_back((height, ids));
        }
    }

    /// The ids of block `height`'s transactions, if it is among the latest
    /// committed ones.
    pub fn committed_ids(&self, height: u64) -> Option<BlockTxIds> {
        let recent = self.recent_ids.lock().ok()?;
        recent
            .iter()
            .rev()
            .find(|(h, _)| *h == height)
            .map(|(_, ids)| ids.clone())
    }

    /// Admits a transaction: decode, channel, certificate and signature
    /// checks once, then the mempool (refusing duplicates, shedding load
    /// when full). `gossip`: also send it to peers (not for transactions
    /// that came by gossip).
    pub fn submit(&self, bytes: Vec<u8>, gossip: bool) -> Result<Submitted, SubmitError> {
        self.gate(&bytes)?;
        let now = now_ms();
        let config = self.config_for_admission()?;
        // The store directly, not through the ledger lock: its reads are
        // consistent snapshots while the driver commits.
        let store: &dyn productivist_engine::store::Store = self.store.as_ref();
        let view = StoreView(store);
        let resolve = |id: &Hash| resolve_cert(&view, id);
        let admitted = match admit(&bytes, &config, now, &resolve, Some(&self.cert_cache)) {
            Ok(a) => a,
            Err(e) => return Err(self.refused(e)),
        };
        self.enqueue(admitted.id, bytes, now, &config, gossip)
    }

    /// [`ChannelShared::submit`] for a batch of transactions, with the same
    /// result for each as one `submit` at a time, in order. The signatures
    /// of the batch are verified together (`StrictBatch`: the same
    /// verdicts, one shared inversion). `gossip`: send the admitted ones to
    /// peers (a client's batch), or not (a gossip frame). At most
    /// [`SUBMIT_BATCH_TXS_MAX`] transactions.
    pub fn submit_batch(
        &self,
        txs: Vec<Vec<u8>>,
        gossip: bool,
    ) -> Vec<Result<Submitted, SubmitError>> {
        use productivist_engine::admission::{admit_unsigned, signature_rejection};
        use productivist_engine::sigverify::StrictBatch;
        assert!(txs.len() <= SUBMIT_BATCH_TXS_MAX);
        let config = match self.config_for_admission() {
            Ok(c) => c,
            Err(e) => return txs.iter().map(|_| Err(e.clone())).collect(),
        };
        let now = now_ms();
        let store: &dyn productivist_engine::store::Store = self.store.as_ref();
        let view = StoreView(store);
        let resolve = |id: &Hash| resolve_cert(&view, id);
        let mut batch = StrictBatch::with_capacity(txs.len());
        // Each transaction's result before its signature: `Ok` waits for the
        // batch's verdict (the `usize` is its place in the batch).
        let mut checked = Vec::with_capacity(txs.len());
        for bytes in &txs {
            let r = self.gate(bytes).and_then(|()| {
                admit_unsigned(bytes, &config, now, &resolve, Some(&self.cert_cache))
                    .map_err(|e| self.refused(e))
            });
            checked.push(r.map(|(admitted, key)| {
                batch.push(&key, &admitted.id, admitted.tx.signature());
                (admitted.id, batch.len() - 1)
            }));
        }
        let verdicts = batch.verdicts();
        txs.into_iter()
            .zip(checked)
            .map(|(bytes, checked)| {
                let (id, slot) = checked?;
                if !verdicts[slot] {
                    self.metrics.txs_rejected.fetch_add(1, Ordering::Relaxed);
                    let e = productivist_engine::crypto::CryptoError::BadSignature;
                    return Err(SubmitError::Rejected(signature_rejection(e)));
                }
                self.enqueue(id, bytes, now, &config, gossip)
            })
            .collect()
    }

    /// The checks that come before admission: the node still hosts the
    /// channel, and the transaction fits a proposal.
    fn gate(&self, bytes: &[u8]) -> Result<(), SubmitError> {
        if let Some(height) = self.status.lock().ok().and_then(|s| s.removed_at) {
            return Err(SubmitError::NotConsenter {
                channel: self.id.clone(),
                height,
            });
        }
        // Alone in a block, the transaction must still fit the consensus's
        // proposal limit (BFT's payload limit can be below the channel's
        // max_tx_bytes): otherwise it would be admitted, then dropped when
        // a block is cut, and its client would wait for nothing.
        let max_proposal_bytes = self.max_proposal_bytes.load(Ordering::Relaxed);
        if BlockProposal::encoded_len(1, bytes.len() as u64) > max_proposal_bytes {
            self.metrics.txs_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Rejected(Rejection {
                code: productivist_engine::block::InvalidCode::TooLarge,
                reason: format!(
                    "transaction of {} bytes: no block of this channel's consensus can hold it \
                     (proposals of at most {max_proposal_bytes} bytes)",
                    bytes.len()
                ),
            }));
        }
        Ok(())
    }

    /// An admission failure as a submission error, counted.
    fn refused(&self, e: AdmitError) -> SubmitError {
        match e {
            AdmitError::Rejected(r) => {
                self.metrics.txs_rejected.fetch_add(1, Ordering::Relaxed);
                SubmitError::Rejected(r)
            }
            AdmitError::Store(e) => SubmitError::Internal(e.to_string()),
        }
    }

    /// After admission: committed already, or into the mempool (and to the
    /// gossip queue when `gossip`), waking the driver when a block is due.
    fn enqueue(
        &self,
        id: TxId,
        bytes: Vec<u8>,
        now: u64,
        config: &ChannelConfig,
        gossip: bool,
    ) -> Result<Submitted, SubmitError> {
        let committed = self
            .store
            .tx_location(&id)
            .map_err(|e| SubmitError::Internal(e.to_string()))?;
        if let Some(loc) = committed {
            return Ok(Submitted::Committed(id, loc));
        }
        let mut pool = self
            .mempool
            .lock()
            .map_err(|_| SubmitError::Internal("mempool lock poisoned".into()))?;
        match pool.insert(id, bytes.clone(), now) {
            Ok(()) => {}
            Err(MempoolError::Duplicate) => return Ok(Submitted::AlreadyPending(id)),
            Err(e @ MempoolError::Full { .. }) => {
                self.metrics.txs_busy.fetch_add(1, Ordering::Relaxed);
                return Err(SubmitError::Busy(e.to_string()));
            }
        }
        if gossip && self.gossip.try_send(bytes).is_err() {
            pool.remove([id]);
            self.metrics.txs_busy.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Busy("gossip queue full: retry later".into()));
        }
        let pending = pool.pending_txs();
        drop(pool);
        self.metrics.txs_admitted.fetch_add(1, Ordering::Relaxed);
        let max_txs = config.limits.max_txs as usize;
        // Wake the driver for a full block, or for the first pending
        // transaction (an idle leader cuts at once).
        if pending >= max_txs || pending == 1 {
            let _ = self.driver.try_send(Input::Wake);
        }
        Ok(Submitted::Pending(id))
    }

    /// The failure that stopped the driver, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The consensus store.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Something the node cannot go on with.
    #[error("{0}")]
    Fatal(String),
}

/// The consensus driver of one channel.
pub struct Driver<C: NodeConsensus, D: Durable<C::Persist>> {
    /// The protocol.
    pub consensus: C,
    /// Its durable state.
    pub durable: D,
    /// Shared state.
    pub shared: Arc<ChannelShared>,
    /// The transport.
    pub net: Arc<Network>,
    /// Peers by consensus id.
    pub peers: BTreeMap<NodeId, PublicKey>,
    /// This node's key (the proposer of its blocks).
    pub key: PublicKey,
    /// Inputs.
    pub inputs: Receiver<Input>,
    /// Tick length.
    pub tick: Duration,
    /// Applied mark.
    pub applied: Applied,
    inflight_blocks: usize,
    /// Consensus messages (count, bytes) sent in the current round.
    sent_round: u64,
    sent_bytes_round: u64,
    was_leader: bool,
    sync: SyncState,
    compaction: Compaction,
    /// Stable consensus ids of the genesis consenters (this node included),
    /// to follow the consenter set of later configs.
    ids: BTreeMap<PublicKey, NodeId>,
    /// The latest config's voters, and since when (see `follow_config`).
    target: (Vec<NodeId>, Instant),
}

impl<C: NodeConsensus, D: Durable<C::Persist>> Driver<C, D> {
    /// A driver; reads the applied mark from `durable`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        consensus: C,
        durable: D,
        shared: Arc<ChannelShared>,
        net: Arc<Network>,
        peers: BTreeMap<NodeId, PublicKey>,
        key: PublicKey,
        inputs: Receiver<Input>,
        tick: Duration,
    ) -> Result<Self, DriverError> {
        let applied = durable.applied()?;
        shared.set_max_proposal_bytes(consensus.max_proposal_bytes());
        Ok(Driver {
            consensus,
            durable,
            shared,
            net,
            peers,
            key,
            inputs,
            tick,
            applied,
            inflight_blocks: 0,
            sent_round: 0,
            sent_bytes_round: 0,
            was_leader: false,
            sync: SyncState::new(Instant::now()),
            compaction: Compaction::new(COMPACT_EVERY_ENTRIES_DEFAULT),
            ids: BTreeMap::new(),
            target: (Vec::new(), Instant::now()),
        })
    }

    /// Follows the consenter set of committed configs: `ids` are the stable
    /// consensus ids of the genesis consenters (see `membership.rs`).
    pub fn with_members(mut self, ids: BTreeMap<PublicKey, NodeId>) -> Self {
        self.ids = ids;
        self
    }

    /// Compacts the log every `every_entries` applied entries (0: never;
    /// only for protocols that compact, see [`NodeConsensus::snapshot_index`]).
    pub fn with_compaction(mut self, every_entries: u64) -> Self {
        self.compaction = Compaction::new(every_entries);
        self
    }

    /// Runs until [`Input::Stop`] or a fatal error (recorded in the shared
    /// state before returning).
    pub fn run(mut self) -> Result<(), DriverError> {
        // A panic is a bug; the release profile unwinds (docs/DECISIONS.md),
        // so contain it here and stop the node like any fatal error rather
        // than leave the API serving a channel whose driver is gone.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner()))
            .unwrap_or_else(|_| {
                Err(DriverError::Fatal(
                    "the consensus driver panicked (a bug; see the node's stderr)".into(),
                ))
            });
        if let Err(e) = &result {
            tracing::error!(channel = %self.shared.id, "consensus driver stopped: {e}");
            if let Ok(mut f) = self.shared.failed.lock() {
                *f = Some(e.to_string());
            }
        }
        result
    }

    fn run_inner(&mut self) -> Result<(), DriverError> {
        // Status (e.g. stored evidence) is visible before the replay.
        self.publish_status();
        // A restarted protocol re-delivers committed items first.
        self.flush()?;
        let mut next_tick = Instant::now() + self.tick;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let mut inputs = 0usize;
            let started = Instant::now();
            match self.inputs.recv_timeout(timeout) {
                Ok(Input::Stop) => return Ok(()),
                Ok(input) => {
                    inputs += 1;
                    self.handle(input);
                    for _ in 0..INPUTS_PER_ROUND_MAX {
                        match self.inputs.try_recv() {
                            Ok(Input::Stop) => return Ok(()),
                            Ok(input) => {
                                inputs += 1;
                                self.handle(input);
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let now = Instant::now();
            if now >= next_tick {
                self.consensus.tick();
                next_tick += self.tick;
                if next_tick < now {
                    // Fell behind (a long block): do not burst ticks.
                    next_tick = now + self.tick;
                }
                self.housekeeping();
                if self.follow_config() {
                    return Ok(());
                }
                self.sync_tick();
            }
            let handled = started.elapsed();
            self.leadership();
            self.maybe_propose();
            self.sent_bytes_round = 0;
            self.sent_round = 0;
            self.flush()?;
            self.publish_status();
            let round = started.elapsed();
            if round > Duration::from_millis(SLOW_ROUND_MS) {
                tracing::warn!(
                    channel = %self.shared.id,
                    round_ms = round.as_millis() as u64,
                    inputs_ms = handled.as_millis() as u64,
                    inputs,
                    messages = self.sent_round,
                    message_bytes = self.sent_bytes_round,
                    "slow consensus round"
                );
            }
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Message { from, bytes } => {
                self.shared
                    .metrics
                    .messages_received
                    .fetch_add(1, Ordering::Relaxed);
                match C::decode(&bytes) {
                    Ok(msg) => {
                        if let Err(e) = self.consensus.step(from, msg) {
                            tracing::debug!(channel = %self.shared.id, from, "message refused: {e}");
                        }
                    }
                    Err(e) => {
                        self.shared
                            .metrics
                            .messages_dropped
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(channel = %self.shared.id, from, "undecodable message: {e}");
                    }
                }
            }
            Input::SyncRequest { from, from_height } => {
                if !self.sync.may_serve(from, Instant::now()) {
                    return;
                }
                let blocks = self.consensus.serve_sync(from_height);
                if let Some(key) = self.peers.get(&from) {
                    let frame = Wire::SyncBlocks {
                        channel: self.shared.id.clone(),
                        from_height,
                        blocks,
                    }
                    .encode();
                    let _ = self.net.send(key, frame);
                }
            }
            Input::SyncBlocks {
                from,
                from_height,
                blocks,
            } => {
                let quorum = self.consensus.sync_quorum();
                if let SyncAction::Install(agreed) =
                    self.sync.answer(from, from_height, blocks, quorum)
                {
                    self.install_synced(&agreed);
                }
            }
            Input::LedgerBlocks { from, .. } => {
                // Only wanted while catching up, which reads them itself.
                tracing::debug!(channel = %self.shared.id, from, "unexpected ledger blocks dropped");
            }
            Input::Wake | Input::Stop => {}
        }
    }

    /// Starts a sync round when the protocol stopped advancing.
    fn sync_tick(&mut self) {
        let Some(next) = self.consensus.sync_start() else {
            return;
        };
        if let SyncAction::Request(from_height) = self.sync.tick(next, Instant::now()) {
            self.request_sync(from_height);
        }
    }

    fn request_sync(&self, from_height: u64) {
        tracing::debug!(channel = %self.shared.id, from_height, "asking peers for finalized blocks");
        let frame = Wire::SyncRequest {
            channel: self.shared.id.clone(),
            from_height,
        }
        .encode();
        for key in self.peers.values() {
            let _ = self.net.send(key, frame.clone());
        }
    }

    fn install_synced(&mut self, blocks: &[Vec<u8>]) {
        let asked = blocks.len();
        match self.consensus.install_synced(blocks) {
            Ok(count) => {
                self.shared
                    .metrics
                    .blocks_synced
                    .fetch_add(count as u64, Ordering::Relaxed);
                tracing::info!(channel = %self.shared.id, blocks = count, "finalized blocks installed by sync");
                let next = self.consensus.sync_start().unwrap_or(0);
                let more = count > 0 && count == asked && asked >= super::bft::SYNC_BLOCKS_MAX;
                if let SyncAction::Request(h) =
                    self.sync.installed(count, more, next, Instant::now())
                {
                    self.request_sync(h);
                }
            }
            Err(e) => {
                tracing::warn!(channel = %self.shared.id, "synced blocks refused: {e}");
            }
        }
    }

    fn housekeeping(&mut self) {
        let now = now_ms();
        let leader = self.consensus.is_leader();
        let Ok(mut pool) = self.shared.mempool.lock() else {
            return;
        };
        let stale_ms = self.consensus.proposed_stale_ms();
        let requeued = pool.requeue_proposed(Some(now.saturating_sub(stale_ms)));
        if requeued > 0 {
            tracing::info!(channel = %self.shared.id, requeued, "stale proposed transactions requeued");
            self.inflight_blocks = 0;
        }
        if !leader {
            let again = pool.take_for_regossip(now, REGOSSIP_AFTER_MS, GOSSIP_TXS_PER_FRAME_MAX);
            drop(pool);
            for tx in again {
                if self.shared.gossip.try_send(tx).is_err() {
                    break;
                }
            }
        }
    }

    /// Moves the consensus towards the consenters of the latest committed
    /// config. Returns true when that config no longer lists this node: it
    /// then stops taking part (its peers refuse its connections anyway).
    fn follow_config(&mut self) -> bool {
        if self.ids.is_empty() {
            return false;
        }
        let Some((height, keys)) = self.shared.ledger.read().ok().and_then(|l| {
            let keys: Vec<PublicKey> = l
                .config()?
                .consensus
                .consenters
                .iter()
                .map(|n| n.node_key)
                .collect();
            Some((l.head().map_or(0, |h| h.height), keys))
        }) else {
            return false;
        };
        if !keys.contains(&self.key) {
            tracing::warn!(channel = %self.shared.id, height, "a committed config removed this node from the consenters: it stops taking part in consensus");
            if let Ok(mut s) = self.shared.status.lock() {
                s.role = "removed".into();
                s.removed_at = Some(height);
            }
            return true;
        }
        let target: Vec<NodeId> = keys
            .iter()
            .filter_map(|k| self.ids.get(k).copied())
            .collect();
        if target != self.target.0 {
            self.target = (target, Instant::now());
        }
        // A Raft voter removed from the membership gets no more messages,
        // not even the commit of the config that removed it: wait a few
        // heartbeats so that it learns of its removal and stops by itself.
        if self.target.1.elapsed() >= Duration::from_millis(VOTER_REMOVAL_DELAY_MS) {
            self.consensus.follow_voters(&self.target.0);
        }
        false
    }

    fn leadership(&mut self) {
        let leader = self.consensus.is_leader();
        if leader != self.was_leader && self.consensus.requeue_on_leader_change() {
            // Blocks proposed in an earlier leadership may be lost: their
            // transactions go back to the queue (a duplicate that does commit
            // twice is recorded as a replay, never executed twice).
            if let Ok(mut pool) = self.shared.mempool.lock() {
                pool.requeue_proposed(None);
            }
            self.inflight_blocks = 0;
            tracing::info!(channel = %self.shared.id, leader, "leadership changed");
        }
        self.was_leader = leader;
    }

    fn maybe_propose(&mut self) {
        if !self.consensus.ready_to_propose()
            || self.inflight_blocks >= self.consensus.inflight_blocks_max()
        {
            return;
        }
        let Some(limits) = self
            .shared
            .ledger
            .read()
            .ok()
            .and_then(|l| l.config().map(|c| c.limits.clone()))
        else {
            return;
        };
        let now = now_ms();
        // The consensus's proposal limit binds too: without it a backlog
        // (after a view timed out, say) became one proposal above the
        // protocol's limit, refused again at every try, and the channel
        // stopped committing for good.
        let bounds = BlockBounds {
            max_txs: limits.max_txs as usize,
            max_block_bytes: limits.max_block_bytes,
            max_proposal_bytes: self.consensus.max_proposal_bytes(),
        };
        let cut = {
            let Ok(mut pool) = self.shared.mempool.lock() else {
                return;
            };
            let unproposable = pool.unproposable();
            // The batch timeout is an upper bound: with none of this
            // leader's blocks in flight, waiting only adds latency. Under
            // load, blocks still fill while earlier ones commit.
            let idle = self.inflight_blocks == 0 && pool.pending_txs() > 0;
            if !idle && !pool.ready(&bounds, limits.batch_timeout_ms, now) {
                return;
            }
            let cut = pool.cut(&bounds, now);
            if pool.unproposable() > unproposable {
                tracing::warn!(
                    channel = %self.shared.id,
                    dropped = pool.unproposable() - unproposable,
                    max_proposal_bytes = bounds.max_proposal_bytes,
                    "transactions larger than any block this channel's consensus can propose were dropped"
                );
            }
            cut
        };
        if cut.is_empty() {
            return;
        }
        let (ids, txs): (Vec<TxId>, Vec<Vec<u8>>) = cut.into_iter().unzip();
        let count = txs.len();
        let proposal = BlockProposal {
            txs,
            timestamp_ms: now,
            proposer: self.key,
        };
        match self.consensus.propose(proposal.encode()) {
            Ok(()) => {
                self.inflight_blocks += 1;
                self.shared
                    .metrics
                    .blocks_proposed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(channel = %self.shared.id, txs = count, "block proposed");
            }
            Err(e) => {
                tracing::info!(channel = %self.shared.id, "proposal refused: {e}");
                if let Ok(mut pool) = self.shared.mempool.lock() {
                    pool.requeue(&ids);
                }
            }
        }
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        for _ in 0..OUTPUTS_PER_ROUND_MAX {
            if !self.consensus.has_output() {
                break;
            }
            let out = self.consensus.poll_output();
            // 1. Durable before anything leaves the node.
            self.durable.persist(&out.persist)?;
            // 2. Messages (lossy: a busy peer drops them, consensus retries).
            for env in out.messages {
                let Some(key) = self.peers.get(&env.to) else {
                    continue;
                };
                let frame = Wire::Consensus {
                    channel: self.shared.id.clone(),
                    message: C::encode(&env.msg),
                }
                .encode();
                self.sent_round += 1;
                self.sent_bytes_round += frame.len() as u64;
                match self.net.send(key, frame) {
                    Ok(()) => {
                        self.shared
                            .metrics
                            .messages_sent
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        self.shared
                            .metrics
                            .messages_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // 3. Snapshot, 4. committed items in order.
            if let Some(s) = out.snapshot {
                self.install_snapshot(s)?;
            }
            for item in out.committed {
                self.apply(item)?;
            }
            self.maybe_compact();
        }
        Ok(())
    }

    fn maybe_compact(&mut self) {
        let Some(snapshot_index) = self.consensus.snapshot_index() else {
            return;
        };
        let Some(mark) = self.compaction.due(snapshot_index, self.applied.index) else {
            return;
        };
        match self.consensus.compact_to(&mark) {
            Ok(()) => {
                tracing::debug!(channel = %self.shared.id, index = mark.index, height = mark.height, "log compacted");
            }
            Err(e) => tracing::warn!(channel = %self.shared.id, "log compaction refused: {e}"),
        }
    }

    /// A snapshot from the leader: the ledger must reach the block it
    /// names before the entries after it apply (see `catchup.rs`).
    fn install_snapshot(&mut self, s: SnapshotToApply) -> Result<(), DriverError> {
        if s.index <= self.applied.index {
            return Ok(());
        }
        let mark = LedgerMark::decode(&s.data).map_err(DriverError::Fatal)?;
        if mark.index != s.index {
            return Err(DriverError::Fatal(format!(
                "snapshot at index {} carries the mark of index {}",
                s.index, mark.index
            )));
        }
        self.catch_up(&mark)?;
        self.applied = Applied {
            index: mark.index,
            height: mark.height,
        };
        self.durable.set_applied(self.applied)?;
        self.compaction.applied(mark);
        self.shared.head.send_replace(mark.height);
        Ok(())
    }

    fn ledger_head(&self) -> Result<Option<productivist_engine::store::Head>, DriverError> {
        Ok(self
            .shared
            .ledger
            .read()
            .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?
            .head())
    }

    /// Fetches, verifies by re-execution and commits ledger blocks until
    /// the ledger's head is `mark`. Consensus messages that arrive meanwhile
    /// are dropped (the protocol retransmits); bounded by
    /// [`CATCH_UP_STALL_MS`] without progress.
    fn catch_up(&mut self, mark: &LedgerMark) -> Result<(), DriverError> {
        let started_at = self.ledger_head()?.map_or(0, |h| h.height);
        tracing::info!(channel = %self.shared.id, from = started_at, to = mark.height, "catching up the ledger after a snapshot");
        let mut last_progress = Instant::now();
        let mut asked_at: Option<Instant> = None;
        loop {
            let head = self.ledger_head()?;
            let height = head.map_or(0, |h| h.height);
            if height >= mark.height {
                let hash = self
                    .shared
                    .ledger
                    .read()
                    .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?
                    .block(mark.height)?
                    .map(|b| b.header.hash());
                if hash != Some(mark.hash) {
                    return Err(DriverError::Fatal(format!(
                        "the ledger block at height {} is not the one the leader's snapshot names ({})",
                        mark.height, mark.hash
                    )));
                }
                let synced = height - started_at;
                self.shared
                    .metrics
                    .blocks_synced
                    .fetch_add(synced, Ordering::Relaxed);
                tracing::info!(channel = %self.shared.id, blocks = synced, height, "ledger caught up");
                return Ok(());
            }
            if last_progress.elapsed() > Duration::from_millis(CATCH_UP_STALL_MS) {
                return Err(DriverError::Fatal(format!(
                    "ledger catch-up stalled at height {height} (target {}): no peer served the blocks",
                    mark.height
                )));
            }
            if asked_at.is_none_or(|t| t.elapsed() > Duration::from_millis(CATCH_UP_RETRY_MS)) {
                let frame = Wire::LedgerRequest {
                    channel: self.shared.id.clone(),
                    from_height: height + 1,
                }
                .encode();
                for key in self.peers.values() {
                    let _ = self.net.send(key, frame.clone());
                }
                asked_at = Some(Instant::now());
            }
            let input = match self
                .inputs
                .recv_timeout(Duration::from_millis(CATCH_UP_RETRY_MS))
            {
                Ok(i) => i,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(DriverError::Fatal("stopped while catching up".into()));
                }
            };
            match input {
                Input::LedgerBlocks {
                    from,
                    from_height,
                    blocks,
                } if from_height == height + 1 => {
                    let count = self.apply_ledger_blocks(from, mark.height, &blocks)?;
                    if count > 0 {
                        last_progress = Instant::now();
                        // The next round asks at once from the new head.
                        asked_at = None;
                    }
                }
                Input::Stop => {
                    // Nothing is half done: each block commits atomically,
                    // and the next start resumes from the ledger's head.
                    return Err(DriverError::Fatal("stopped while catching up".into()));
                }
                Input::SyncRequest { .. } | Input::Message { .. } => {
                    self.shared
                        .metrics
                        .messages_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
                Input::LedgerBlocks { .. } | Input::SyncBlocks { .. } | Input::Wake => {}
            }
        }
    }

    /// Verifies and commits `blocks` (up to `max_height`); a block that
    /// does not verify ends this answer (the next request asks again).
    fn apply_ledger_blocks(
        &mut self,
        from: NodeId,
        max_height: u64,
        blocks: &[Vec<u8>],
    ) -> Result<usize, DriverError> {
        let mut count = 0;
        for bytes in blocks.iter().take(LEDGER_BLOCKS_PER_FRAME_MAX) {
            let mut ledger = self
                .shared
                .ledger
                .write()
                .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?;
            if ledger.head().map_or(0, |h| h.height) >= max_height {
                break;
            }
            let executed = match ledger.verify(bytes) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(channel = %self.shared.id, from, "ledger block from a peer refused: {e}");
                    break;
                }
            };
            let head = ledger.commit(executed)?;
            drop(ledger);
            self.shared.head.send_replace(head.height);
            count += 1;
        }
        Ok(count)
    }

    fn apply(&mut self, item: Committed) -> Result<(), DriverError> {
        if item.index <= self.applied.index {
            // Replayed after a restart: already in the ledger.
            return Ok(());
        }
        if item.index != self.applied.index + 1 {
            return Err(DriverError::Fatal(format!(
                "committed index {} after applied {}",
                item.index, self.applied.index
            )));
        }
        if item.kind == CommitKind::Internal {
            // Nothing changes in the ledger; the mark is saved with the next
            // block (re-applying an internal item is a no-op).
            self.applied.index = item.index;
            return Ok(());
        }
        let proposal = match BlockProposal::decode(&item.payload) {
            Ok(p) => p,
            Err(e) => {
                // Every node decodes the same bytes the same way.
                tracing::warn!(channel = %self.shared.id, index = item.index, "undecodable proposal skipped: {e}");
                self.applied.index = item.index;
                self.durable.set_applied(self.applied)?;
                return Ok(());
            }
        };
        let expected = self.applied.height + 1;
        let positions: Vec<Option<TxId>> = proposal
            .txs
            .iter()
            .map(|b| decode_tx(b, usize::MAX).ok().map(|t| tx_id(&t)))
            .collect();
        // Transactions whose exact bytes this node's mempool admitted have a
        // verified signature: execution skips that one check for them (it
        // still checks the certificate at the block's time, and replay).
        let verified: Vec<bool> = match self.shared.mempool.lock() {
            Ok(pool) => positions
                .iter()
                .zip(&proposal.txs)
                .map(|(id, b)| id.as_ref().is_some_and(|id| pool.holds_exact(id, b)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let ids: Vec<TxId> = positions.iter().flatten().copied().collect();
        let positions: BlockTxIds = positions.into();
        let mine = proposal.proposer == self.key;
        let head_height = {
            let ledger = self
                .shared
                .ledger
                .read()
                .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?;
            ledger.head().map_or(0, |h| h.height)
        };
        let mut committed_block = true;
        if head_height >= expected {
            // Committed before a crash, between the ledger write and the
            // applied mark: check it is this proposal, then only record it.
            let ledger = self
                .shared
                .ledger
                .read()
                .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?;
            let block = ledger
                .block(expected)?
                .ok_or_else(|| DriverError::Fatal(format!("block {expected} missing")))?;
            if block.header.tx_root != Block::tx_root(&proposal.txs) {
                return Err(DriverError::Fatal(format!(
                    "ledger block {expected} is not consensus entry {}",
                    item.index
                )));
            }
        } else {
            if head_height + 1 != expected {
                return Err(DriverError::Fatal(format!(
                    "ledger head {head_height} is behind the applied mark {}",
                    self.applied.height
                )));
            }
            let executed = {
                let ledger = self
                    .shared
                    .ledger
                    .read()
                    .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?;
                ledger.propose_verified(
                    proposal.txs,
                    &verified,
                    proposal.timestamp_ms,
                    proposal.proposer,
                )
            };
            match executed {
                Ok(executed) => {
                    let mut ledger = self
                        .shared
                        .ledger
                        .write()
                        .map_err(|_| DriverError::Fatal("ledger lock poisoned".into()))?;
                    ledger.commit(executed)?;
                }
                Err(LedgerError::Block(e)) => {
                    // Deterministic refusal (over the channel's limits):
                    // every node skips the same entry.
                    tracing::warn!(channel = %self.shared.id, index = item.index, "proposal refused by the ledger: {e}");
                    committed_block = false;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.applied = Applied {
            index: item.index,
            height: if committed_block {
                expected
            } else {
                self.applied.height
            },
        };
        self.durable.set_applied(self.applied)?;
        if committed_block && let Some(head) = self.ledger_head()? {
            self.compaction.applied(LedgerMark {
                index: self.applied.index,
                height: head.height,
                hash: head.hash,
            });
        }
        if committed_block {
            let m = &self.shared.metrics;
            m.blocks_committed.fetch_add(1, Ordering::Relaxed);
            m.txs_committed
                .fetch_add(ids.len() as u64, Ordering::Relaxed);
            // Before the head moves, so the event streams find them.
            self.shared.record_committed_ids(expected, positions);
            self.shared.head.send_replace(expected);
        }
        if let Ok(mut pool) = self.shared.mempool.lock() {
            pool.remove(ids);
        }
        if mine {
            self.inflight_blocks = self.inflight_blocks.saturating_sub(1);
        }
        Ok(())
    }

    fn publish_status(&self) {
        let mut status = self.consensus.status();
        status.applied = self.applied.index;
        if let Ok(mut s) = self.shared.status.lock() {
            *s = status;
        }
    }
}

/// Queues a consensus message for the driver; drops it when the queue is
/// full (the protocol retransmits).
pub fn deliver(shared: &ChannelShared, from: NodeId, bytes: Vec<u8>) {
    match shared.driver.try_send(Input::Message { from, bytes }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            shared
                .metrics
                .messages_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Test fixtures shared by the node's unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::embedded::{genesis_block, native_contracts};
    use productivist_engine::devnet::DevNet;
    use productivist_engine::store::RedbStore;

    /// A channel of `net` on an in-memory ledger holding its genesis block,
    /// with nobody listening on its driver and gossip queues.
    pub(crate) fn shared(net: &DevNet) -> ChannelShared {
        let store: DynStore = Arc::new(RedbStore::in_memory().unwrap());
        let mut ledger = Ledger::open(store, native_contracts()).unwrap();
        let genesis = genesis_block(net, now_ms()).unwrap();
        let executed = ledger.verify(&genesis).unwrap();
        ledger.commit(executed).unwrap();
        let (driver, _) = std::sync::mpsc::sync_channel(1);
        let (gossip, _) = tokio::sync::mpsc::channel(1);
        ChannelShared::new(
            &net.config.channel_id,
            ledger,
            Mempool::new(MEMPOOL_TXS_MAX, MEMPOOL_BYTES_MAX),
            driver,
            gossip,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::shared;
    use super::*;
    use productivist_engine::crypto::KeyPair;
    use productivist_engine::devnet::{DevNet, DevNetSpec};
    use productivist_engine::tx::{encode_tx, sign_tx};

    fn outcome(r: &Result<Submitted, SubmitError>) -> String {
        match r {
            Ok(s) => format!("{s:?}"),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_gossiped_batch_gets_the_results_of_one_submission_at_a_time() {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("gossip-batch"))).unwrap();
        let ch = net.config.channel_id.clone();
        let carla = net.find("carla").unwrap();
        let good = |n: u64| carla.call_bytes(&ch, "token", "balance", vec![], n);
        let honest = decode_tx(&good(3), usize::MAX).unwrap();
        let forged = encode_tx(&sign_tx(
            honest.value().clone(),
            &KeyPair::from_seed("forger"),
        ));
        let mut flipped = good(4);
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let txs = vec![
            good(1),
            forged,
            b"garbage".to_vec(),
            carla.call_bytes("another-channel", "token", "balance", vec![], 5),
            good(2),
            flipped,
            good(1), // a duplicate
            good(6),
        ];
        let one_by_one = shared(&net);
        let batched = shared(&net);
        let expected: Vec<String> = txs
            .iter()
            .map(|t| outcome(&one_by_one.submit(t.clone(), false)))
            .collect();
        let got: Vec<String> = batched
            .submit_batch(txs, false)
            .iter()
            .map(outcome)
            .collect();
        assert_eq!(got, expected);
        // Three distinct good ones admitted, five refused or duplicate.
        assert_eq!(
            expected.iter().filter(|o| o.starts_with("Pending")).count(),
            3
        );
        assert!(expected[1].contains("signature"), "{}", expected[1]);
        assert!(expected[5].starts_with("error"), "{}", expected[5]);
        assert_eq!(
            expected[6],
            format!(
                "AlreadyPending({:?})",
                tx_id(&decode_tx(&good(1), usize::MAX).unwrap())
            )
        );
        let pool = |s: &ChannelShared| s.mempool.lock().unwrap().pending_txs();
        assert_eq!(pool(&batched), 3);
        assert_eq!(pool(&batched), pool(&one_by_one));
        for m in [&one_by_one, &batched] {
            assert_eq!(m.metrics.txs_admitted.load(Ordering::Relaxed), 3);
            assert_eq!(m.metrics.txs_rejected.load(Ordering::Relaxed), 4);
        }
    }
}
