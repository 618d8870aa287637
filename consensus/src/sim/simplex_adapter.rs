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
//! Payload validity: the wrapper appends an 8-byte checksum to every
//! payload the harness proposes, the validator accepts only payloads with a
//! correct checksum (or empty filler blocks), and committed payloads are
//! unwrapped before the harness sees them. A Byzantine leader's invalid
//! payload therefore fails validation; if one were ever committed it would
//! reach the harness as bytes nobody proposed (a Validity violation).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use ed25519_dalek::SigningKey;

use crate::sim::byzantine::{Byzantine, WireMessage};
use crate::sim::protocol::{MessageInfo, SimProtocol};
use crate::sim::rng::SplitMix64;
use crate::sim::{SimConfig, SimReport, run_seed};
use crate::simplex::{
    self, DurableState, Message, Persist, Simplex, SimplexConfig, Validator, decode_message,
    encode_message,
};
use crate::{Consensus, Envelope, NodeId, Output};

/// Signature namespace of the simulated channel.
const SIM_NAMESPACE: &[u8] = b"productivist-sim";
/// Bytes of the checksum appended to simulated payloads.
const CHECKSUM_BYTES: usize = 8;
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
    skip_accountability_check: bool,
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
            skip_accountability_check: false,
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
            skip_accountability_check: options.skip_accountability_check,
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

/// Appends the simulation checksum (what the validity rule checks).
pub fn wrap_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = payload.to_vec();
    out.extend_from_slice(&checksum(payload));
    out
}

/// Strips a valid checksum; returns the bytes unchanged if it is invalid.
pub fn unwrap_payload(wrapped: &[u8]) -> Vec<u8> {
    if payload_is_valid(wrapped) && !wrapped.is_empty() {
        return wrapped[..wrapped.len() - CHECKSUM_BYTES].to_vec();
    }
    wrapped.to_vec()
}

/// The simulation's validity rule: empty (a filler block) or carrying a
/// correct checksum.
pub fn payload_is_valid(payload: &[u8]) -> bool {
    if payload.is_empty() {
        return true;
    }
    let Some(split) = payload.len().checked_sub(CHECKSUM_BYTES) else {
        return false;
    };
    let (data, sum) = payload.split_at(split);
    split > 0 && sum == checksum(data)
}

fn checksum(data: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let hash = blake3::derive_key("productivist sim payload checksum v1", data);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(&hash[..CHECKSUM_BYTES]);
    out
}

/// A payload failing the validity rule (a Byzantine leader's).
fn invalid_payload(rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = format!("invalid:{}", rng.next_u64()).into_bytes();
    let mut sum = checksum(&out);
    sum[0] ^= 1;
    out.extend_from_slice(&sum);
    out
}

fn sim_validator() -> Box<dyn Validator> {
    Box::new(|_: Option<&[u8]>, payload: &[u8]| payload_is_valid(payload))
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

/// One simulated Simplex node: the real state machine, plus lies if the
/// node is Byzantine.
#[derive(Debug)]
pub struct SimplexSim {
    inner: Simplex,
    byzantine_ids: Rc<BTreeSet<NodeId>>,
    liar: Option<Byzantine>,
    check_accountability: bool,
    flagged: bool,
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
        let inner = match Simplex::restart(scfg, key.clone(), &participants, sim_validator(), disk)
        {
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
            flagged: false,
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
        let wrapped = wrap_payload(&payload);
        if let Some(liar) = self.liar.as_mut() {
            liar.stash_payload(&wrapped);
        }
        Ok(self.inner.propose(wrapped)?)
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
            mut committed,
        } = self.inner.poll_output();
        for item in &mut committed {
            item.payload = unwrap_payload(&item.payload);
        }
        let messages = match self.liar.as_mut() {
            Some(liar) => liar.corrupt(&self.inner, messages, &invalid_payload),
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
