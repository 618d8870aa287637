//! The Simplex state machine: state, constructors, inputs (tick, step,
//! propose), output batching and the [`Consensus`] implementation. Voting
//! lives in `voting.rs`, fetching and committing in `sync.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use ed25519_dalek::SigningKey;

use crate::simplex::config::SimplexConfig;
use crate::simplex::error::Error;
use crate::simplex::evidence::Evidence;
use crate::simplex::message::{Block, Certificate, Digest, MAX_VIEW, Message, View, VoteKind};
use crate::simplex::participants::{Participants, sign_vote};
use crate::simplex::storage::{DurableState, Persist, VoteRecord};
use crate::simplex::view::ViewState;
use crate::simplex::{Validator, mutated};
use crate::{CommitKind, Committed, Consensus, Envelope, NodeId, Output};

/// The last finalized block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// View it was proposed in.
    pub view: View,
    /// Height (= committed index).
    pub height: u64,
    /// Digest.
    pub digest: Digest,
}

/// Retry state of one outstanding fetch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FetchTimer {
    pub(crate) next_tick: u64,
    pub(crate) attempts: u64,
}

/// One Simplex replica. See the crate docs for the driving loop.
pub struct Simplex {
    pub(crate) cfg: SimplexConfig,
    pub(crate) key: SigningKey,
    pub(crate) participants: Participants,
    pub(crate) validator: Box<dyn Validator>,
    /// Current view; only grows (also across restarts).
    pub(crate) view: View,
    pub(crate) view_elapsed_ticks: u64,
    pub(crate) retransmit_elapsed_ticks: u64,
    pub(crate) now_tick: u64,
    /// Views in `[floor, view + max_future_views]`, plus at most one view
    /// beyond, briefly, while a certificate moves us there.
    pub(crate) views: BTreeMap<View, ViewState>,
    /// Own votes in the latest view voted in (persisted before sending).
    pub(crate) record: VoteRecord,
    persisted_record: VoteRecord,
    pub(crate) tip: Tip,
    /// Highest finalization not yet committed (blocks may be missing).
    pub(crate) finalize_target: Option<(View, Digest)>,
    /// Blocks above the finalized height (proposals, fetched ancestors).
    pub(crate) blocks: BTreeMap<Digest, Block>,
    /// The last `max_retained_blocks` finalized blocks (serve lagging peers).
    pub(crate) finalized: BTreeMap<Digest, Block>,
    pub(crate) finalized_order: VecDeque<Digest>,
    /// What the last input found missing; rebuilt on every input.
    pub(crate) wanted_blocks: BTreeSet<Digest>,
    pub(crate) wanted_views: BTreeSet<View>,
    pub(crate) block_fetches: BTreeMap<Digest, FetchTimer>,
    pub(crate) cert_fetch: Option<(View, View, FetchTimer)>,
    /// Payloads waiting for this replica's next leader view.
    pub(crate) mempool: VecDeque<Vec<u8>>,
    /// The certificate that moved us into the current view.
    pub(crate) entry_certificate: Option<Certificate>,
    /// The highest finalization held.
    pub(crate) latest_finalization: Option<Certificate>,
    pub(crate) evidence: Vec<Evidence>,
    pub(crate) messages: Vec<Envelope<Message>>,
    pending_persist_blocks: Vec<Block>,
    pub(crate) pending_persist_certs: Vec<Certificate>,
    pub(crate) pending_persist_voted: Vec<Block>,
    persisted_floor: View,
    pending_commit: VecDeque<Committed>,
    /// Set if this replica saw proof that more than f replicas are faulty
    /// (conflicting certificates); it then stops committing.
    pub(crate) safety_fault: Option<String>,
}

impl fmt::Debug for Simplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simplex")
            .field("id", &self.cfg.id)
            .field("view", &self.view)
            .field("tip", &self.tip)
            .field("record", &self.record)
            .field("evidence", &self.evidence.len())
            .finish_non_exhaustive()
    }
}

impl Simplex {
    /// A brand-new replica. `participants` lists every consenter's id and
    /// ed25519 public key (the same list on every replica, any order);
    /// `key` is this replica's signing key and must match its entry.
    pub fn new(
        cfg: SimplexConfig,
        key: SigningKey,
        participants: &[(NodeId, [u8; 32])],
        validator: Box<dyn Validator>,
    ) -> Result<Self, Error> {
        Self::restart(cfg, key, participants, validator, DurableState::default())
    }

    /// A replica recovering from what it made durable before a crash.
    ///
    /// The first outputs re-deliver every durable finalized block from
    /// height 1, so an application whose state is not durable rebuilds it;
    /// a durable application skips heights it already applied.
    pub fn restart(
        cfg: SimplexConfig,
        key: SigningKey,
        participants: &[(NodeId, [u8; 32])],
        validator: Box<dyn Validator>,
        durable: DurableState,
    ) -> Result<Self, Error> {
        cfg.validate()?;
        let participants = Participants::new(participants)?;
        match participants.key(cfg.id) {
            Some(public) if *public == key.verifying_key() => {}
            Some(_) => {
                return Err(Error::InvalidConfig(
                    "signing key does not match participant key",
                ));
            }
            None => return Err(Error::InvalidConfig("id is not a participant")),
        }
        let DurableState {
            vote_record,
            finalized_blocks,
            voted_blocks,
            certificates,
        } = durable;
        let genesis = Block::genesis();
        let mut tip = Tip {
            view: 0,
            height: 0,
            digest: genesis.digest(),
        };
        let mut pending_commit = VecDeque::with_capacity(finalized_blocks.len());
        let mut finalized = BTreeMap::new();
        let mut finalized_order = VecDeque::new();
        finalized.insert(tip.digest, genesis);
        finalized_order.push_back(tip.digest);
        for block in finalized_blocks {
            if block.height != tip.height + 1
                || block.parent != tip.digest
                || block.view <= tip.view
            {
                return Err(Error::CorruptStorage(
                    "finalized blocks do not form a chain",
                ));
            }
            let digest = block.digest();
            tip = Tip {
                view: block.view,
                height: block.height,
                digest,
            };
            pending_commit.push_back(committed_item(&block));
            finalized.insert(digest, block);
            finalized_order.push_back(digest);
            if finalized_order.len() > cfg.max_retained_blocks
                && let Some(old) = finalized_order.pop_front()
            {
                finalized.remove(&old);
            }
        }
        // Resume in the latest view voted in, unless the record shows we
        // left it (finalized it, or hold a certificate for it): a replica
        // must never nullify a view it finalized.
        let left_record_view = vote_record.finalized.is_some()
            || vote_record
                .certificate
                .as_ref()
                .is_some_and(|c| c.view >= vote_record.view);
        let record_cert_view = vote_record.certificate.as_ref().map_or(0, |c| c.view);
        let view = (vote_record.view + u64::from(left_record_view))
            .max(record_cert_view + 1)
            .max(tip.view + 1);
        if vote_record.view > MAX_VIEW || record_cert_view > MAX_VIEW {
            return Err(Error::CorruptStorage("vote record view out of range"));
        }
        let mut node = Self {
            view,
            view_elapsed_ticks: 0,
            retransmit_elapsed_ticks: 0,
            now_tick: 0,
            views: BTreeMap::new(),
            persisted_record: vote_record.clone(),
            record: vote_record,
            tip,
            finalize_target: None,
            blocks: BTreeMap::new(),
            finalized,
            finalized_order,
            wanted_blocks: BTreeSet::new(),
            wanted_views: BTreeSet::new(),
            block_fetches: BTreeMap::new(),
            cert_fetch: None,
            mempool: VecDeque::new(),
            entry_certificate: None,
            latest_finalization: None,
            evidence: Vec::new(),
            messages: Vec::new(),
            pending_persist_blocks: Vec::new(),
            pending_persist_certs: Vec::new(),
            pending_persist_voted: Vec::new(),
            persisted_floor: 0,
            pending_commit,
            safety_fault: None,
            participants,
            validator,
            key,
            cfg,
        };
        for block in voted_blocks {
            if block.height > node.tip.height && block.view > node.tip.view {
                node.blocks.insert(block.digest(), block);
            }
        }
        node.restore_certificates(certificates);
        node.restore_own_votes();
        Ok(node)
    }

    /// Reloads durable certificates and resumes after the highest one: a
    /// replica that held a certificate of view v had moved past it.
    fn restore_certificates(&mut self, certificates: Vec<Certificate>) {
        let floor = self.tip.view;
        for cert in certificates {
            if cert.view < floor || cert.view > MAX_VIEW {
                continue;
            }
            // Our own durable data, written from verified certificates.
            for (signer, signature) in &cert.signatures {
                self.insert_verified_vote(cert.vote(*signer, *signature), false);
            }
            if cert.kind == VoteKind::Finalize
                && self
                    .latest_finalization
                    .as_ref()
                    .is_none_or(|held| held.view < cert.view)
            {
                self.latest_finalization = Some(cert.clone());
            }
            if cert.view + 1 > self.view {
                self.view = cert.view + 1;
            }
            if self
                .entry_certificate
                .as_ref()
                .is_none_or(|held| held.view < cert.view)
            {
                self.entry_certificate = Some(cert.clone());
            }
            let kind = cert.kind;
            let state = self.views.entry(cert.view).or_default();
            *state.certificate_slot(kind) = Some(cert);
        }
        self.persisted_floor = floor;
    }

    /// Re-creates the votes of the durable record in the view state, so
    /// they are re-sent on retransmission and counted (ed25519 signatures
    /// are deterministic: the bytes are the ones sent before the crash).
    fn restore_own_votes(&mut self) {
        let record = self.record.clone();
        let floor = self.tip.view;
        if let Some(cert) = record.certificate.clone().filter(|c| c.view >= floor) {
            // Our own durable data, written from a verified certificate.
            for (signer, signature) in &cert.signatures {
                self.insert_verified_vote(cert.vote(*signer, *signature), false);
            }
            let state = self.views.entry(cert.view).or_default();
            *state.certificate_slot(cert.kind) = Some(cert.clone());
            if self
                .entry_certificate
                .as_ref()
                .is_none_or(|held| held.view < cert.view)
            {
                self.entry_certificate = Some(cert);
            }
        }
        if record.view < floor.max(1) {
            return;
        }
        let votes = [
            record.notarized.map(|d| (VoteKind::Notarize, d)),
            record.nullified.then_some((VoteKind::Nullify, [0; 32])),
            record.finalized.map(|d| (VoteKind::Finalize, d)),
        ];
        for (kind, digest) in votes.into_iter().flatten() {
            let vote = sign_vote(
                &self.key,
                &self.cfg.namespace,
                self.cfg.id,
                kind,
                record.view,
                digest,
            );
            self.insert_verified_vote(vote, false);
        }
    }

    // ----- observers -----

    /// This replica's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    /// Current view.
    pub fn view(&self) -> View {
        self.view
    }
    /// Leader of `view`.
    pub fn leader_of(&self, view: View) -> NodeId {
        self.participants.leader(view)
    }
    /// Whether this replica leads its current view.
    pub fn is_leader(&self) -> bool {
        self.participants.leader(self.view) == self.cfg.id
    }
    /// The participants.
    pub fn participants(&self) -> &Participants {
        &self.participants
    }
    /// The configuration.
    pub fn config(&self) -> &SimplexConfig {
        &self.cfg
    }
    /// Last finalized block.
    pub fn tip(&self) -> Tip {
        self.tip
    }
    /// Own votes in the latest view voted in (as it will next be persisted).
    pub fn vote_record(&self) -> &VoteRecord {
        &self.record
    }
    /// State of `view`, if held.
    pub fn view_state(&self, view: View) -> Option<&ViewState> {
        self.views.get(&view)
    }
    /// A held block (unfinalized, or finalized and retained).
    pub fn block(&self, digest: &Digest) -> Option<&Block> {
        self.blocks
            .get(digest)
            .or_else(|| self.finalized.get(digest))
    }
    /// Proof of misbehaviour seen so far: at most one record per offender
    /// and offense, at most `max_evidence` in all. Each record is checkable
    /// by anyone with [`Evidence::verify`].
    pub fn evidence(&self) -> &[Evidence] {
        &self.evidence
    }
    /// Set once this replica saw conflicting certificates (more than f
    /// faulty replicas); it then refuses to commit further.
    pub fn safety_fault(&self) -> Option<&str> {
        self.safety_fault.as_deref()
    }
    /// Payloads waiting for this replica's next leader view.
    pub fn pending_proposals(&self) -> usize {
        self.mempool.len()
    }

    // ----- inputs -----

    /// Advances logical time by one tick: view timeout (nullify), then
    /// retransmission and fetch retries.
    pub fn tick(&mut self) {
        self.now_tick += 1;
        self.view_elapsed_ticks += 1;
        if self.view_elapsed_ticks >= self.cfg.view_timeout_ticks {
            let view = self.view;
            let voted_out = self.record.view == view
                && (self.record.nullified || self.record.finalized.is_some());
            if !voted_out {
                self.cast_vote(VoteKind::Nullify, view, [0; 32]);
                self.retransmit_elapsed_ticks = 0;
            } else {
                self.retransmit_elapsed_ticks += 1;
                if self.retransmit_elapsed_ticks >= self.cfg.retransmit_interval_ticks {
                    self.retransmit_elapsed_ticks = 0;
                    self.retransmit();
                }
            }
        }
        self.after_input();
    }

    /// Handles a message from `from` (authenticated by the transport).
    /// Errors mean the message was refused; a correct peer never causes one.
    pub fn step(&mut self, from: NodeId, msg: Message) -> Result<(), Error> {
        if from == self.cfg.id || !self.participants.contains(from) {
            return Err(Error::NotParticipant(from));
        }
        msg.validate()?;
        let result = match msg {
            Message::Propose { block, vote } => self.on_proposal(from, block, vote),
            Message::Vote(vote) => self.on_vote(from, vote),
            Message::Certificate(cert) => self.on_certificate(cert),
            Message::FetchBlocks {
                digest,
                above_height,
            } => {
                self.on_fetch_blocks(from, digest, above_height);
                Ok(())
            }
            Message::Blocks(blocks) => self.on_blocks(&blocks),
            Message::FetchCertificates { from_view, to_view } => {
                self.on_fetch_certificates(from, from_view, to_view);
                Ok(())
            }
        };
        self.after_input();
        result
    }

    /// Queues a payload for this replica's next leader view (now, if it
    /// leads the current view and has not proposed yet). `Ok` is not a
    /// commitment: a leader's block can be skipped (nullified), and the
    /// payload is then lost, so clients retry.
    pub fn propose(&mut self, payload: Vec<u8>) -> Result<(), Error> {
        if payload.is_empty() {
            return Err(Error::EmptyPayload);
        }
        if payload.len() > self.cfg.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                bytes: payload.len(),
                limit_bytes: self.cfg.max_payload_bytes,
            });
        }
        if self.mempool.len() >= self.cfg.max_pending_proposals {
            return Err(Error::Backpressure {
                pending: self.mempool.len(),
                limit: self.cfg.max_pending_proposals,
            });
        }
        self.mempool.push_back(payload);
        self.after_input();
        Ok(())
    }

    /// Work every input ends with: propose if leading, vote on a waiting
    /// proposal, commit what is finalized, ask for what is missing. Each
    /// step runs once per input (a one-replica cluster advances one view
    /// per input, never loops).
    fn after_input(&mut self) {
        self.wanted_blocks.clear();
        self.wanted_views.clear();
        self.try_propose();
        self.try_notarize();
        self.try_commit();
        self.send_fetches();
    }

    // ----- outputs -----

    /// The vote record as persisted (the `VoteNotPersisted` mutation drops
    /// the votes and keeps only the view).
    fn durable_record(&self) -> VoteRecord {
        if mutated!(self.cfg, VoteNotPersisted) {
            return VoteRecord {
                view: self.record.view,
                ..VoteRecord::default()
            };
        }
        self.record.clone()
    }

    /// Whether [`Simplex::poll_output`] has anything to return.
    pub fn has_output(&self) -> bool {
        !self.messages.is_empty()
            || !self.pending_persist_blocks.is_empty()
            || !self.pending_persist_certs.is_empty()
            || !self.pending_persist_voted.is_empty()
            || self.floor() != self.persisted_floor
            || !self.pending_commit.is_empty()
            || self.durable_record() != self.persisted_record
    }

    /// Takes the next batch: persist it, then send, then apply.
    pub fn poll_output(&mut self) -> Output<Message, Persist> {
        let record = self.durable_record();
        let vote_record = (record != self.persisted_record).then(|| {
            self.persisted_record = record.clone();
            record
        });
        let take = self
            .pending_commit
            .len()
            .min(self.cfg.max_committed_per_output);
        let floor = self.floor();
        let prune_below_view = (floor != self.persisted_floor).then(|| {
            self.persisted_floor = floor;
            floor
        });
        Output {
            persist: Persist {
                vote_record,
                finalized_blocks: std::mem::take(&mut self.pending_persist_blocks),
                voted_blocks: std::mem::take(&mut self.pending_persist_voted),
                certificates: std::mem::take(&mut self.pending_persist_certs),
                prune_below_view,
            },
            messages: std::mem::take(&mut self.messages),
            snapshot: None,
            committed: self.pending_commit.drain(..take).collect(),
        }
    }

    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        if self.messages.len() < self.cfg.max_pending_messages {
            self.messages.push(Envelope { to, msg });
        }
    }

    pub(crate) fn broadcast(&mut self, msg: &Message) {
        let me = self.cfg.id;
        for i in 0..self.participants.len() {
            let to = self.participants.ids()[i];
            if to != me {
                self.send(to, msg.clone());
            }
        }
    }

    /// Records a finalized block: durable and handed to the application in
    /// the next output.
    pub(crate) fn commit_block(&mut self, block: Block) {
        let digest = block.digest();
        assert_eq!(block.height, self.tip.height + 1, "commits are contiguous");
        assert_eq!(block.parent, self.tip.digest, "commits extend the tip");
        self.blocks.remove(&digest);
        self.tip = Tip {
            view: block.view,
            height: block.height,
            digest,
        };
        self.pending_commit.push_back(committed_item(&block));
        self.pending_persist_blocks.push(block.clone());
        self.finalized.insert(digest, block);
        self.finalized_order.push_back(digest);
        if self.finalized_order.len() > self.cfg.max_retained_blocks
            && let Some(old) = self.finalized_order.pop_front()
        {
            self.finalized.remove(&old);
        }
    }
}

fn committed_item(block: &Block) -> Committed {
    Committed {
        index: block.height,
        kind: if block.payload.is_empty() {
            CommitKind::Internal
        } else {
            CommitKind::Application
        },
        payload: block.payload.clone(),
    }
}

impl Consensus for Simplex {
    type Message = Message;
    type Persist = Persist;
    type Error = Error;

    fn id(&self) -> NodeId {
        self.cfg.id
    }
    fn tick(&mut self) {
        Simplex::tick(self);
    }
    fn step(&mut self, from: NodeId, msg: Message) -> Result<(), Error> {
        Simplex::step(self, from, msg)
    }
    fn propose(&mut self, payload: Vec<u8>) -> Result<(), Error> {
        Simplex::propose(self, payload)
    }
    fn leader_hint(&self) -> Option<NodeId> {
        Some(self.participants.leader(self.view))
    }
    fn has_output(&self) -> bool {
        Simplex::has_output(self)
    }
    fn poll_output(&mut self) -> Output<Message, Persist> {
        Simplex::poll_output(self)
    }
}
