//! Simplex BFT on a node: the state machine of `productivist_consensus`
//! wrapped for the channel driver ([`NodeConsensus`]).
//!
//! - Votes are signed with the node's key (the consenter's `node_key` in
//!   the channel config); consenter `i` of the config is participant
//!   `i + 1`, and signatures are bound to the channel id.
//! - Before voting, a replica checks the proposal with
//!   `Ledger::check_proposal` ([`LedgerValidator`]): the parent's payload,
//!   the node clock, and, as `known_good`, the transactions whose exact
//!   bytes the mempool admitted (a forged copy shares an id, not bytes), so
//!   each signature is verified once per node. Accepted
//!   transactions are marked proposed in the local mempool, so the next
//!   leader does not order them again while the block finalizes.
//! - Evidence of equivocation the state machine reports is logged, counted
//!   and shown in `/health`.
//! - Block sync beyond the peers' Simplex memory goes through
//!   [`Bft::serve_sync`] and [`Bft::install_synced`] (see `sync.rs`).
//! - A node configured with a fault mode rewrites what it sends
//!   ([`super::fault`]); tests only.

use super::channel::{ChannelShared, ConsensusStatus, EvidenceSummary, NodeConsensus};
use super::fault::FaultInjector;
use super::simplex_store::SimplexStore;
use crate::embedded::now_ms;
use ed25519_dalek::SigningKey;
use productivist_consensus::simplex::{
    self, Block, DurableState, Evidence, Message, Persist, Simplex, SimplexConfig, Validator,
    decode_message, encode_message,
};
use productivist_consensus::{Consensus, Envelope, NodeId, Output};
use productivist_engine::crypto::KeyPair;
use productivist_engine::tx::{TxId, decode_tx, tx_id};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A view without a certificate is abandoned (nullified) after this long.
/// Covers a proposal, its check and a vote round trip on a loaded node.
pub const VIEW_TIMEOUT_MS: u64 = 2_000;
/// An idle leader proposes an empty filler block after this long: the
/// chain advances at most twice a second while idle.
pub const EMPTY_BLOCK_DELAY_MS: u64 = 500;
/// Own votes and latest certificates are re-sent at this period once a
/// view timed out.
pub const RETRANSMIT_MS: u64 = 500;
/// Missing blocks and certificates are asked for again after this long.
pub const FETCH_RETRY_MS: u64 = 400;
/// Finalized blocks in one sync answer.
pub const SYNC_BLOCKS_MAX: usize = 128;
/// Bytes of finalized blocks in one sync answer (well below the transport's
/// 16 MiB frame limit).
pub const SYNC_BYTES_MAX: usize = 4 << 20;

/// Evidence summaries kept for `/health` (the oldest go first).
pub const EVIDENCE_KEPT_MAX: usize = 64;

/// A Simplex message, or bytes a faulty node sends as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BftMessage {
    /// A protocol message.
    Simplex(Message),
    /// Arbitrary bytes (only a fault-injecting node sends these).
    Raw(Vec<u8>),
}

/// Simplex tuned for the node's tick.
pub fn node_simplex_config(id: NodeId, channel: &str, tick_ms: u64) -> SimplexConfig {
    let ticks = |ms: u64| ms.div_ceil(tick_ms.max(1)).max(1);
    let mut cfg = SimplexConfig::new(id, format!("productivist/channel/{channel}").into_bytes());
    cfg.view_timeout_ticks = ticks(VIEW_TIMEOUT_MS).max(3);
    cfg.empty_block_delay_ticks = ticks(EMPTY_BLOCK_DELAY_MS).min(cfg.view_timeout_ticks - 1);
    cfg.retransmit_interval_ticks = ticks(RETRANSMIT_MS);
    cfg.fetch_retry_ticks = ticks(FETCH_RETRY_MS);
    cfg
}

/// Refuses to vote for a proposal the ledger would not accept.
pub struct LedgerValidator {
    shared: Arc<ChannelShared>,
}

impl Validator for LedgerValidator {
    fn validate(&self, parent: Option<&[u8]>, payload: &[u8]) -> bool {
        let shared = &self.shared;
        let Ok(ledger) = shared.ledger.read() else {
            return false;
        };
        // Only the exact bytes the mempool admitted (so verified): a forged
        // copy of a pool transaction shares its id, not its bytes.
        let known_good = |id: &TxId, bytes: &[u8]| {
            shared
                .mempool
                .lock()
                .is_ok_and(|p| p.holds_exact(id, bytes))
        };
        match ledger.check_proposal(parent, payload, Some(now_ms()), &known_good) {
            Ok(Some(proposal)) => {
                let ids: Vec<TxId> = proposal
                    .txs
                    .iter()
                    .filter_map(|b| decode_tx(b, usize::MAX).ok().map(|t| tx_id(&t)))
                    .collect();
                if let Ok(mut pool) = shared.mempool.lock() {
                    pool.mark_proposed(&ids, now_ms());
                }
                true
            }
            Ok(None) => true,
            Err(e) => {
                shared
                    .metrics
                    .proposals_refused
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %shared.id, "proposal refused before voting: {e}");
                false
            }
        }
    }
}

/// One channel's Simplex replica on this node.
pub struct Bft {
    inner: Simplex,
    cfg: SimplexConfig,
    key: SigningKey,
    participants: Vec<(NodeId, [u8; 32])>,
    shared: Arc<ChannelShared>,
    store: Arc<SimplexStore>,
    fault: Option<FaultInjector>,
    evidence_seen: usize,
    evidence: Vec<EvidenceSummary>,
}

impl Bft {
    /// Starts (or restarts from `store`) the replica `id` of a channel
    /// whose consenters' keys are `consenters` (in config order).
    pub fn open(
        cfg: SimplexConfig,
        key: &KeyPair,
        consenters: &[[u8; 32]],
        shared: Arc<ChannelShared>,
        store: Arc<SimplexStore>,
        fault: Option<FaultInjector>,
    ) -> Result<Bft, String> {
        let participants: Vec<(NodeId, [u8; 32])> = consenters
            .iter()
            .enumerate()
            .map(|(i, k)| (i as NodeId + 1, *k))
            .collect();
        let key = SigningKey::from_bytes(&key.secret());
        let durable = store.load().map_err(|e| e.to_string())?;
        let inner = Self::build(&cfg, &key, &participants, &shared, durable)?;
        // Evidence found before a restart stays on record.
        let stored = store.evidence().map_err(|e| e.to_string())?;
        let skip = stored.len().saturating_sub(EVIDENCE_KEPT_MAX);
        let evidence = stored.iter().skip(skip).map(summary).collect();
        Ok(Bft {
            inner,
            cfg,
            key,
            participants,
            shared,
            store,
            fault,
            evidence_seen: 0,
            evidence,
        })
    }

    fn build(
        cfg: &SimplexConfig,
        key: &SigningKey,
        participants: &[(NodeId, [u8; 32])],
        shared: &Arc<ChannelShared>,
        durable: DurableState,
    ) -> Result<Simplex, String> {
        let validator = Box::new(LedgerValidator {
            shared: shared.clone(),
        });
        Simplex::restart(cfg.clone(), key.clone(), participants, validator, durable)
            .map_err(|e| e.to_string())
    }

    /// The state machine.
    pub fn inner(&self) -> &Simplex {
        &self.inner
    }

    /// Logs and counts evidence the state machine recorded since last time.
    fn record_evidence(&mut self) {
        let all = self.inner.evidence();
        if all.len() <= self.evidence_seen {
            return;
        }
        let new = &all[self.evidence_seen..];
        if let Err(e) = self.store.record_evidence(new) {
            tracing::error!(channel = %self.shared.id, "cannot store evidence: {e}");
        }
        for ev in new {
            let s = summary(ev);
            tracing::warn!(
                channel = %self.shared.id,
                offender = s.offender,
                view = s.view,
                offense = %s.offense,
                "equivocation evidence recorded"
            );
            self.shared
                .metrics
                .evidence_recorded
                .fetch_add(1, Ordering::Relaxed);
            if self.evidence.len() >= EVIDENCE_KEPT_MAX {
                self.evidence.remove(0);
            }
            self.evidence.push(s);
        }
        self.evidence_seen = all.len();
    }

    /// Finalized blocks from `from_height`, encoded, for a peer's sync.
    pub fn serve_sync(&self, from_height: u64) -> Vec<Vec<u8>> {
        match self
            .store
            .finalized_range(from_height, SYNC_BLOCKS_MAX, SYNC_BYTES_MAX)
        {
            Ok(blocks) => blocks
                .iter()
                .filter_map(|b| borsh::to_vec(b).ok())
                .collect(),
            Err(e) => {
                tracing::warn!(channel = %self.shared.id, "cannot serve sync: {e}");
                Vec::new()
            }
        }
    }

    /// Installs finalized blocks agreed by enough consenters: they must
    /// extend this replica's finalized chain. They are made durable, then
    /// the state machine restarts from disk, which hands them to the
    /// driver to execute like any committed block. Returns how many.
    pub fn install_synced(&mut self, blocks: &[Vec<u8>]) -> Result<usize, String> {
        let tip = self.inner.tip();
        let mut parent = (tip.height, tip.digest, tip.view);
        let mut decoded = Vec::with_capacity(blocks.len());
        for bytes in blocks {
            let block: Block =
                borsh::from_slice(bytes).map_err(|e| format!("undecodable block: {e}"))?;
            if block.height != parent.0 + 1 || block.parent != parent.1 || block.view <= parent.2 {
                return Err(format!(
                    "synced block at height {} does not extend the chain at {}",
                    block.height, parent.0
                ));
            }
            parent = (block.height, block.digest(), block.view);
            decoded.push(block);
        }
        if decoded.is_empty() {
            return Ok(0);
        }
        // The driver persisted every output already: the store's chain is
        // the state machine's.
        self.store
            .append_finalized(&decoded)
            .map_err(|e| e.to_string())?;
        let durable = self.store.load().map_err(|e| e.to_string())?;
        self.inner = Self::build(
            &self.cfg,
            &self.key,
            &self.participants,
            &self.shared,
            durable,
        )?;
        // A restarted state machine starts its evidence list afresh.
        self.evidence_seen = 0;
        Ok(decoded.len())
    }

    /// Consenters needed to agree on a synced block: f + 1, so at least
    /// one of them is honest.
    pub fn sync_quorum(&self) -> usize {
        self.inner.participants().max_faulty() + 1
    }
}

fn summary(ev: &Evidence) -> EvidenceSummary {
    EvidenceSummary {
        offender: ev.signer(),
        offense: ev
            .offense()
            .map_or_else(|| "unknown".to_string(), |o| format!("{o:?}")),
        view: ev.view(),
    }
}

impl Consensus for Bft {
    type Message = BftMessage;
    type Persist = Persist;
    type Error = simplex::Error;

    fn id(&self) -> NodeId {
        self.inner.id()
    }
    fn tick(&mut self) {
        self.inner.tick();
    }
    fn step(&mut self, from: NodeId, msg: BftMessage) -> Result<(), simplex::Error> {
        let result = match msg {
            BftMessage::Simplex(m) => self.inner.step(from, m),
            BftMessage::Raw(_) => Err(simplex::Error::Decode("raw bytes".into())),
        };
        self.record_evidence();
        result
    }
    fn propose(&mut self, payload: Vec<u8>) -> Result<(), simplex::Error> {
        self.inner.propose(payload)
    }
    fn leader_hint(&self) -> Option<NodeId> {
        Some(self.inner.leader_of(self.inner.view()))
    }
    fn has_output(&self) -> bool {
        self.inner.has_output()
    }
    fn poll_output(&mut self) -> Output<BftMessage, Persist> {
        let out = self.inner.poll_output();
        let messages = match &mut self.fault {
            Some(f) => f.corrupt(out.messages),
            None => out
                .messages
                .into_iter()
                .map(|e| Envelope {
                    to: e.to,
                    msg: BftMessage::Simplex(e.msg),
                })
                .collect(),
        };
        Output {
            persist: out.persist,
            messages,
            snapshot: out.snapshot,
            committed: out.committed,
        }
    }
}

impl NodeConsensus for Bft {
    fn encode(msg: &BftMessage) -> Vec<u8> {
        match msg {
            BftMessage::Simplex(m) => encode_message(m),
            BftMessage::Raw(bytes) => bytes.clone(),
        }
    }
    fn decode(bytes: &[u8]) -> Result<BftMessage, String> {
        decode_message(bytes)
            .map(BftMessage::Simplex)
            .map_err(|e| e.to_string())
    }
    fn is_leader(&self) -> bool {
        self.inner.is_leader()
    }
    fn ready_to_propose(&self) -> bool {
        // One block per leader view: propose only into a view this replica
        // leads and has not voted in yet, so a payload never waits in the
        // state machine for a later view.
        let record = self.inner.vote_record();
        self.inner.is_leader()
            && self.inner.pending_proposals() == 0
            && !(record.view == self.inner.view()
                && (record.notarized.is_some() || record.nullified))
    }
    fn requeue_on_leader_change(&self) -> bool {
        // Leadership rotates every view; a block proposed in an earlier
        // view is usually still finalizing. Lost blocks come back through
        // the stale timer.
        false
    }
    fn max_proposal_bytes(&self) -> u64 {
        self.cfg.max_payload_bytes as u64
    }
    fn inflight_blocks_max(&self) -> usize {
        usize::MAX
    }
    fn proposed_stale_ms(&self) -> u64 {
        // A block still unfinalized after three view timeouts was skipped
        // (its view nullified): order its transactions again.
        3 * VIEW_TIMEOUT_MS
    }
    fn status(&self) -> ConsensusStatus {
        let view = self.inner.view();
        ConsensusStatus {
            kind: "bft",
            id: self.inner.id(),
            role: if self.inner.is_leader() {
                "leader".into()
            } else {
                "replica".into()
            },
            term: view,
            leader: Some(self.inner.leader_of(view)),
            commit: self.inner.tip().height,
            applied: 0,
            evidence: self.evidence.clone(),
            safety_fault: self.inner.safety_fault().map(str::to_string),
            voters: self.inner.participants().ids().to_vec(),
            removed_at: None,
        }
    }
    fn sync_start(&self) -> Option<u64> {
        Some(self.inner.tip().height + 1)
    }
    fn sync_quorum(&self) -> usize {
        Bft::sync_quorum(self)
    }
    fn serve_sync(&self, from_height: u64) -> Vec<Vec<u8>> {
        Bft::serve_sync(self, from_height)
    }
    fn install_synced(&mut self, blocks: &[Vec<u8>]) -> Result<usize, String> {
        Bft::install_synced(self, blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::channel::{SubmitError, Submitted};
    use crate::node::wire::BlockProposal;
    use productivist_engine::block::InvalidCode;
    use productivist_engine::devnet::{DevNet, DevNetSpec};
    use productivist_engine::tx::{encode_tx, sign_tx};

    fn validator(net: &DevNet) -> LedgerValidator {
        LedgerValidator {
            shared: Arc::new(crate::node::channel::fixture::shared(net)),
        }
    }

    #[test]
    fn a_forged_copy_of_a_pool_transaction_is_verified_and_refused() {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("bft-validator"))).unwrap();
        let v = validator(&net);
        let carla = net.find("carla").unwrap();
        let honest = carla.call_bytes(&net.config.channel_id, "token", "balance", vec![], 1);
        let tx = decode_tx(&honest, usize::MAX).unwrap();
        // Same body, hence the same id; another signature.
        let forged = encode_tx(&sign_tx(tx.value().clone(), &KeyPair::from_seed("forger")));
        let id = tx_id(&tx);
        assert_eq!(tx_id(&decode_tx(&forged, usize::MAX).unwrap()), id);
        v.shared
            .mempool
            .lock()
            .unwrap()
            .insert(id, honest.clone(), now_ms())
            .unwrap();
        let proposal = |txs: Vec<Vec<u8>>| {
            BlockProposal {
                txs,
                timestamp_ms: now_ms(),
                proposer: net.nodes[0].2.public(),
            }
            .encode()
        };
        assert!(
            v.validate(None, &proposal(vec![honest])),
            "the pool's own bytes"
        );
        assert!(
            !v.validate(None, &proposal(vec![forged])),
            "a forged copy must not ride on the pool's verdict"
        );
        assert_eq!(
            v.shared.metrics.proposals_refused.load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn a_transaction_no_proposal_can_hold_is_refused_at_submission() {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("bft-too-large"))).unwrap();
        let v = validator(&net);
        let carla = net.find("carla").unwrap();
        let small = carla.call_bytes(&net.config.channel_id, "token", "balance", vec![], 1);
        let large = carla.call_bytes(&net.config.channel_id, "token", "balance", vec![0; 4096], 2);
        // A limit between the two: the large one fits the channel's
        // max_tx_bytes but no proposal.
        v.shared
            .set_max_proposal_bytes(BlockProposal::encoded_len(1, small.len() as u64 + 1024));
        match v.shared.submit(large.clone(), false) {
            Err(SubmitError::Rejected(r)) => {
                assert_eq!(r.code, InvalidCode::TooLarge);
                assert!(r.reason.contains("no block"), "{}", r.reason);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(v.shared.mempool.lock().unwrap().pending_txs(), 0);
        assert!(matches!(
            v.shared.submit(small, false),
            Ok(Submitted::Pending(_))
        ));
        assert_eq!(v.shared.metrics.txs_rejected.load(Ordering::Relaxed), 1);
    }
}
