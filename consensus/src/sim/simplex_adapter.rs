//! Simplex plugged into the simulator, with up to f Byzantine nodes.
//!
//! [`SimplexSim`] wraps the real state machine. Honest nodes pass messages
//! through unchanged; Byzantine nodes rewrite what they send
//! ([`crate::sim::byzantine`]). On top of the harness's invariants
//! (Agreement, Validity, Durability, Liveness, Election Safety), the wrapper
//! checks on every step that:
//!
//! - no honest node refuses a message from another honest node;
//! - no honest node ever appears in evidence (accountability: honest
//!   replicas never sign conflicting votes);
//! - no node sees conflicting certificates (safety fault).
//!
//! Any breach surfaces as a `Protocol` violation naming the rule.
//!
//! - every certificate a node acts on (assembles or accepts, and so
//!   persists) carries 2f + 1 distinct participants' valid signatures
//!   (a `Quorum` violation otherwise).
//!
//! Payload validity is [`SimConfig::payload_rules`]: replicas vote only for
//! payloads the rule accepts (as a child of the parent block), Byzantine
//! leaders propose payloads it refuses, and the harness re-checks every
//! committed payload against its parent with the same rule.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::rc::Rc;

use ed25519_dalek::SigningKey;

use crate::sim::byzantine::{Byzantine, WireMessage};
use crate::sim::payload::SharedRules;
use crate::sim::protocol::{MessageInfo, SimProtocol};
use crate::sim::rng::SplitMix64;
use crate::sim::{SimConfig, SimReport, run_seed};
use crate::simplex::{
    self, Block, Certificate, DurableState, Message, Persist, Simplex, SimplexConfig, Validator,
    decode_message, encode_message,
};
use crate::{Consensus, Envelope, NodeId, Output};

/// Signature namespace of the simulated channel.
const SIM_NAMESPACE: &[u8] = b"productivist-sim";
/// First byte of a garbage packet on the simulated wire: no Simplex message
/// starts with it (borsh enum tags are small), so the two never mix up.
const GARBAGE_TAG: u8 = 0xFF;

/// Knobs of one BFT run beyond [`SimConfig`].
#[derive(Clone, Debug, Default)]
pub struct BftOptions {
    /// Number of Byzantine nodes (chosen from the seed).
    pub byzantine: usize,
    /// Skip the accountability check (honest nodes never appear in
    /// evidence), to see which bugs the ledger-level invariants alone catch.
    pub skip_accountability_check: bool,
    /// Skip the certificate audit (every certificate acted on has 2f + 1
    /// distinct valid signers), for the same purpose.
    pub skip_certificate_audit: bool,
    /// Deliberate Simplex bug to check that the simulator catches it.
    #[cfg(feature = "mutations")]
    pub mutation: Option<simplex::Mutation>,
}

/// Per-run parameters the generic harness has no slot for. `run_seed`
/// builds nodes through `SimProtocol::boot(id, cluster, seed, cfg)`, shared
/// with Raft; rather than widen that trait, `run_bft_seed_with` sets these
/// for the current thread for the duration of the run.
#[derive(Clone, Debug)]
struct RunParams {
    byzantine: Rc<BTreeSet<NodeId>>,
    /// Certificates whose signatures were already verified in this run
    /// (keyed by their encoding's hash), shared by the run's nodes.
    verified_certificates: Rc<RefCell<HashSet<[u8; 32]>>>,
    skip_accountability_check: bool,
    skip_certificate_audit: bool,
    #[cfg(feature = "mutations")]
    mutation: Option<simplex::Mutation>,
}

thread_local! {
    static RUN: RefCell<Option<RunParams>> = const { RefCell::new(None) };
}

/// Clears the thread's run parameters even if the run panics.
struct RunGuard;

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUN.with(|run| run.borrow_mut().take());
    }
}

fn run_params() -> RunParams {
    RUN.with(|run| run.borrow().clone())
        .unwrap_or_else(|| RunParams {
            byzantine: Rc::new(BTreeSet::new()),
            verified_certificates: Rc::default(),
            skip_accountability_check: false,
            skip_certificate_audit: false,
            #[cfg(feature = "mutations")]
            mutation: None,
        })
}

/// Runs Simplex on `nodes` nodes (ids 1..=nodes), `byzantine` of them
/// Byzantine (chosen from the seed), under `cfg` with `seed`. The same
/// arguments replay the same run exactly.
pub fn run_bft_seed(seed: u64, nodes: usize, byzantine: usize, cfg: &SimConfig) -> SimReport {
    let options = BftOptions {
        byzantine,
        skip_accountability_check: false,
        skip_certificate_audit: false,
        #[cfg(feature = "mutations")]
        mutation: None,
    };
    run_bft_seed_with(seed, nodes, &options, cfg)
}

/// [`run_bft_seed`] with every BFT option.
pub fn run_bft_seed_with(
    seed: u64,
    nodes: usize,
    options: &BftOptions,
    cfg: &SimConfig,
) -> SimReport {
    assert!(
        options.byzantine <= nodes.saturating_sub(1) / 3,
        "at most f = (n - 1) / 3 Byzantine nodes: {} of {nodes}",
        options.byzantine
    );
    let byzantine = pick_byzantine(seed, nodes, options.byzantine);
    RUN.with(|run| {
        *run.borrow_mut() = Some(RunParams {
            byzantine: Rc::new(byzantine),
            verified_certificates: Rc::default(),
            skip_accountability_check: options.skip_accountability_check,
            skip_certificate_audit: options.skip_certificate_audit,
            #[cfg(feature = "mutations")]
            mutation: options.mutation,
        });
    });
    let _guard = RunGuard;
    run_seed::<SimplexSim>(seed, nodes, cfg)
}

/// The Byzantine node ids of a run: a seeded choice among `1..=nodes`.
pub fn pick_byzantine(seed: u64, nodes: usize, count: usize) -> BTreeSet<NodeId> {
    let mut rng = SplitMix64::new(seed ^ 0x5EED_B12A);
    let mut ids: Vec<NodeId> = (1..=nodes as u64).collect();
    // Fisher-Yates prefix of length `count`.
    for i in 0..count.min(ids.len()) {
        let j = i + rng.below((ids.len() - i) as u64) as usize;
        ids.swap(i, j);
    }
    ids.truncate(count);
    ids.into_iter().collect()
}

/// Deterministic key of simulated node `id`.
pub fn sim_signing_key(id: NodeId) -> SigningKey {
    SigningKey::from_bytes(&blake3::derive_key(
        "productivist sim simplex key v1",
        &id.to_le_bytes(),
    ))
}

fn sim_validator(rules: SharedRules) -> Box<dyn Validator> {
    Box::new(move |parent: Option<&[u8]>, payload: &[u8]| rules.check(parent, payload).is_ok())
}

/// Protocol settings derived from the fault profile: the view timeout must
/// cover a proposal and a vote round trip on the slowest link.
pub fn simplex_config(id: NodeId, cfg: &SimConfig) -> SimplexConfig {
    let mut scfg = SimplexConfig::new(id, SIM_NAMESPACE);
    let hop_ticks = cfg.max_delay_ticks.max(1) + cfg.slow_node_extra_delay_ticks;
    scfg.view_timeout_ticks = (2 * cfg.election_timeout_ticks).max(3 * hop_ticks);
    scfg.empty_block_delay_ticks = cfg
        .heartbeat_interval_ticks
        .min(scfg.view_timeout_ticks - 1);
    scfg.retransmit_interval_ticks = (2 * cfg.heartbeat_interval_ticks).max(hop_ticks);
    scfg.fetch_retry_ticks = 2 * hop_ticks;
    // Small windows so that short runs exercise pruning and fetching.
    scfg.max_future_views = 16;
    scfg.max_past_views = 64;
    scfg.max_pending_proposals = 4;
    scfg.max_committed_per_output = 64;
    scfg.max_retained_blocks = 256;
    scfg.max_unfinalized_blocks = 256;
    scfg.max_blocks_per_message = 8;
    scfg
}

/// Why the wrapper flagged a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The state machine refused an input from an honest node.
    #[error(transparent)]
    Simplex(#[from] simplex::Error),
    /// An honest node appears in evidence.
    #[error("accountability: {0}")]
    HonestEquivocation(String),
    /// A node saw conflicting certificates.
    #[error("safety fault: {0}")]
    SafetyFault(String),
}

/// Checks that `cert` carries 2f + 1 distinct participants of `node` with
/// valid signatures. `verified` memoizes certificates already checked.
pub fn check_certificate(
    node: &Simplex,
    cert: &Certificate,
    verified: &RefCell<HashSet<[u8; 32]>>,
) -> Result<(), String> {
    let participants = node.participants();
    let quorum = participants.quorum();
    let mut signers = BTreeSet::new();
    for (signer, _) in &cert.signatures {
        if !participants.contains(*signer) {
            return Err(format!("signer {signer} is not a participant"));
        }
        if !signers.insert(*signer) {
            return Err(format!("signer {signer} counted twice"));
        }
    }
    if signers.len() < quorum {
        return Err(format!(
            "{:?} certificate of view {} has {} distinct signers, quorum is {quorum}",
            cert.kind,
            cert.view,
            signers.len()
        ));
    }
    let key = *blake3::hash(&borsh::to_vec(cert).unwrap_or_default()).as_bytes();
    if verified.borrow().contains(&key) {
        return Ok(());
    }
    for (signer, signature) in &cert.signatures {
        participants
            .verify_vote(&node.config().namespace, &cert.vote(*signer, *signature))
            .map_err(|e| {
                format!(
                    "{:?} certificate of view {}: signature of {signer}: {e}",
                    cert.kind, cert.view
                )
            })?;
    }
    verified.borrow_mut().insert(key);
    Ok(())
}

/// One simulated Simplex node: the real state machine, plus lies if the
/// node is Byzantine.
#[derive(Debug)]
pub struct SimplexSim {
    inner: Simplex,
    byzantine_ids: Rc<BTreeSet<NodeId>>,
    liar: Option<Byzantine>,
    check_accountability: bool,
    audit_certificates: bool,
    flagged: bool,
    rules: SharedRules,
    verified_certificates: Rc<RefCell<HashSet<[u8; 32]>>>,
    /// A quorum violation found in an output, until the harness takes it.
    violation: Option<String>,
}

impl SimplexSim {
    /// The wrapped state machine.
    pub fn inner(&self) -> &Simplex {
        &self.inner
    }

    /// Whether this node lies.
    pub fn is_byzantine(&self) -> bool {
        self.liar.is_some()
    }

    fn build(
        id: NodeId,
        cluster: &[NodeId],
        seed: u64,
        cfg: &SimConfig,
        disk: DurableState,
    ) -> Self {
        let params = run_params();
        #[allow(unused_mut)]
        let mut scfg = simplex_config(id, cfg);
        #[cfg(feature = "mutations")]
        {
            scfg.unsafe_mutation = params.mutation;
        }
        let participants: Vec<(NodeId, [u8; 32])> = cluster
            .iter()
            .map(|peer| (*peer, sim_signing_key(*peer).verifying_key().to_bytes()))
            .collect();
        let key = sim_signing_key(id);
        let rules = cfg.payload_rules.clone();
        let validator = sim_validator(rules.clone());
        let inner = match Simplex::restart(scfg, key.clone(), &participants, validator, disk) {
            Ok(node) => node,
            // The disk is written only by `persist` from the node's own
            // outputs: a refusal is a bug in the state machine.
            Err(error) => panic!("node {id} cannot start from its own disk: {error}"),
        };
        let liar = params
            .byzantine
            .contains(&id)
            .then(|| Byzantine::new(id, key, SIM_NAMESPACE.to_vec(), seed));
        Self {
            inner,
            byzantine_ids: params.byzantine,
            liar,
            check_accountability: !params.skip_accountability_check,
            audit_certificates: !params.skip_certificate_audit,
            flagged: false,
            rules,
            verified_certificates: params.verified_certificates,
            violation: None,
        }
    }

    /// Every certificate the node persists is one it acts on (moves views,
    /// finalizes, forwards): each must carry a real quorum.
    fn audit_certificates(&mut self, persist: &Persist) {
        if !self.audit_certificates || self.violation.is_some() {
            return;
        }
        let entry = persist
            .vote_record
            .as_ref()
            .and_then(|r| r.certificate.as_ref());
        for cert in persist.certificates.iter().chain(entry) {
            if let Err(why) = check_certificate(&self.inner, cert, &self.verified_certificates) {
                self.violation = Some(format!("acted on a bad certificate: {why}"));
                return;
            }
        }
    }

    /// Checks the accountability and safety rules after an input.
    fn audit(&mut self) -> Result<(), SimError> {
        if self.flagged {
            return Ok(());
        }
        if let Some(fault) = self.inner.safety_fault() {
            self.flagged = true;
            return Err(SimError::SafetyFault(fault.to_string()));
        }
        if !self.check_accountability {
            return Ok(());
        }
        if let Some(evidence) = self
            .inner
            .evidence()
            .iter()
            .find(|e| !self.byzantine_ids.contains(&e.signer()))
        {
            self.flagged = true;
            return Err(SimError::HonestEquivocation(format!(
                "honest node {} committed {:?} in view {}",
                evidence.signer(),
                evidence.offense(),
                evidence.view()
            )));
        }
        Ok(())
    }
}

impl Consensus for SimplexSim {
    type Message = WireMessage;
    type Persist = Persist;
    type Error = SimError;

    fn id(&self) -> NodeId {
        self.inner.id()
    }

    fn tick(&mut self) {
        self.inner.tick();
    }

    fn step(&mut self, from: NodeId, msg: WireMessage) -> Result<(), SimError> {
        let from_liar = self.byzantine_ids.contains(&from);
        let result = match msg {
            WireMessage::Simplex(msg) => self.inner.step(from, msg),
            // Garbage goes through the real decoder: it must refuse it
            // without panicking (or, rarely, decode something the state
            // machine then checks like any other input).
            WireMessage::Garbage(bytes) => {
                decode_message(&bytes).and_then(|msg| self.inner.step(from, msg))
            }
        };
        match result {
            // Refusing a Byzantine node's input is the point.
            Err(_) if from_liar => {}
            Err(error) => return Err(error.into()),
            Ok(()) => {}
        }
        self.audit()
    }

    fn propose(&mut self, payload: Vec<u8>) -> Result<(), SimError> {
        if let Some(liar) = self.liar.as_mut() {
            liar.stash_payload(&payload);
        }
        Ok(self.inner.propose(payload)?)
    }

    fn leader_hint(&self) -> Option<NodeId> {
        self.inner.leader_hint()
    }

    fn has_output(&self) -> bool {
        self.inner.has_output()
    }

    fn poll_output(&mut self) -> Output<WireMessage, Persist> {
        let Output {
            persist,
            messages,
            snapshot,
            committed,
        } = self.inner.poll_output();
        self.audit_certificates(&persist);
        let rules = &self.rules;
        let invalid = |block: &Block, parent: Option<&[u8]>, rng: &mut SplitMix64| {
            rules.make_invalid(self.inner.id(), parent, &block.payload, rng)
        };
        let messages = match self.liar.as_mut() {
            Some(liar) => liar.corrupt(&self.inner, messages, &invalid),
            None => messages
                .into_iter()
                .map(|Envelope { to, msg }| Envelope {
                    to,
                    msg: WireMessage::Simplex(msg),
                })
                .collect(),
        };
        Output {
            persist,
            messages,
            snapshot,
            committed,
        }
    }
}

impl SimProtocol for SimplexSim {
    type Disk = DurableState;

    fn boot(id: NodeId, cluster: &[NodeId], seed: u64, cfg: &SimConfig) -> Self {
        Self::build(id, cluster, seed, cfg, DurableState::default())
    }

    fn restart(
        id: NodeId,
        cluster: &[NodeId],
        seed: u64,
        cfg: &SimConfig,
        disk: &DurableState,
    ) -> Self {
        Self::build(id, cluster, seed, cfg, disk.clone())
    }

    fn disk_is_empty(disk: &DurableState) -> bool {
        disk.is_empty()
    }

    fn persist(disk: &mut DurableState, persist: &Persist) {
        disk.apply(persist);
    }

    fn encode(msg: &WireMessage) -> Vec<u8> {
        match msg {
            WireMessage::Simplex(msg) => encode_message(msg),
            WireMessage::Garbage(bytes) => {
                let mut out = Vec::with_capacity(bytes.len() + 1);
                out.push(GARBAGE_TAG);
                out.extend_from_slice(bytes);
                out
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<WireMessage, SimError> {
        match bytes.split_first() {
            Some((&GARBAGE_TAG, rest)) => Ok(WireMessage::Garbage(rest.to_vec())),
            _ => Ok(WireMessage::Simplex(decode_message(bytes)?)),
        }
    }

    fn describe(msg: &WireMessage) -> MessageInfo {
        match msg {
            WireMessage::Simplex(msg) => MessageInfo {
                kind: msg.kind(),
                epoch: msg.view(),
                index: match msg {
                    Message::Propose { block, .. } => block.height,
                    Message::Blocks(blocks) => blocks.first().map_or(0, |b| b.height),
                    Message::FetchBlocks { above_height, .. } => *above_height,
                    Message::Certificate(cert) => cert.signatures.len() as u64,
                    _ => 0,
                },
            },
            WireMessage::Garbage(bytes) => MessageInfo {
                kind: "Garbage",
                epoch: 0,
                index: bytes.len() as u64,
            },
        }
    }

    fn leadership(&self) -> Option<u64> {
        self.inner.is_leader().then(|| self.inner.view())
    }

    fn validity_checks_parent() -> bool {
        true
    }

    fn take_violation(&mut self) -> Option<String> {
        self.violation.take()
    }

    fn after_apply(&mut self, _applied_index: u64, _snapshot_data: &[u8], _cfg: &SimConfig) {
        // Simplex has no snapshots or compaction yet: every finalized block
        // stays durable and is re-delivered on restart.
    }

    fn chaos_admin(&mut self, _rng: &mut SplitMix64, _cluster: &[NodeId]) -> Option<String> {
        None
    }

    fn heal_admin(&mut self, _cluster: &[NodeId]) -> Option<String> {
        None
    }
}
