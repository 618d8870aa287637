//! Safety invariants checked on every event: Agreement, Validity,
//! Durability, Election Safety and gap-free application. Liveness is checked
//! by the harness after the network heals.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::sim::payload::SharedRules;
use crate::{CommitKind, Committed, NodeId, SnapshotToApply};

/// Which property a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// Two nodes committed different items at the same index.
    Agreement,
    /// A committed application payload was never proposed, or fails the
    /// validity rule.
    Validity,
    /// A node lost or changed committed items across a crash.
    Durability,
    /// Commits did not resume within the bound after healing.
    Liveness,
    /// Two leaders in the same term/view.
    ElectionSafety,
    /// A node applied items out of order or with a gap.
    ApplyOrder,
    /// A node refused an input from a correct peer or produced undecodable
    /// bytes (a protocol bug surfaced by the node itself).
    Protocol,
    /// A node acted on a certificate without 2f + 1 distinct valid signers.
    Quorum,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Simulated tick.
    pub tick: u64,
    /// Property broken.
    pub kind: ViolationKind,
    /// Node that exposed it, if one did.
    pub node: Option<NodeId>,
    /// Human-readable details.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(node) => write!(
                f,
                "t={} {:?} at node {}: {}",
                self.tick, self.kind, node, self.detail
            ),
            None => write!(f, "t={} {:?}: {}", self.tick, self.kind, self.detail),
        }
    }
}

type Digest = [u8; 32];

/// The application each simulated node runs: a hash chain over everything
/// it applied. Equal chains at an index mean equal histories.
#[derive(Clone, Debug, Default)]
pub struct AppState {
    /// Highest applied index.
    pub applied_index: u64,
    /// Chain hash after `applied_index`.
    pub chain: Digest,
    /// Payload of the item at `applied_index` (the parent of the next one,
    /// for rules that judge a payload against its parent).
    pub last_payload: Vec<u8>,
}

impl AppState {
    /// Snapshot bytes: (index, chain).
    pub fn snapshot_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.applied_index.to_le_bytes());
        out.extend_from_slice(&self.chain);
        out
    }

    fn from_snapshot_data(data: &[u8]) -> Option<AppState> {
        let index = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
        let chain: Digest = data.get(8..40)?.try_into().ok()?;
        (data.len() == 40).then_some(AppState {
            applied_index: index,
            chain,
            last_payload: Vec::new(),
        })
    }
}

fn entry_digest(item: &Committed) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[u8::from(item.kind == CommitKind::Application)]);
    hasher.update(&item.payload);
    *hasher.finalize().as_bytes()
}

fn chain_digest(previous: &Digest, entry: &Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(previous);
    hasher.update(entry);
    *hasher.finalize().as_bytes()
}

/// Cluster-wide ground truth built from every node's applications.
#[derive(Debug)]
pub struct Checker {
    /// Index -> (entry digest, chain digest), from the first node to apply it.
    committed: Vec<Option<(Digest, Digest)>>,
    proposed: HashSet<Vec<u8>>,
    leaders: BTreeMap<u64, NodeId>,
    /// The validity rule committed payloads are re-checked with.
    rules: SharedRules,
    /// Whether a payload is judged as a child of the previous item.
    check_parent: bool,
    /// Violations found so far.
    pub violations: Vec<Violation>,
}

impl Checker {
    /// A checker re-checking committed payloads with `rules`; with
    /// `check_parent`, each against the item committed before it.
    pub fn new(rules: SharedRules, check_parent: bool) -> Self {
        Self {
            committed: Vec::new(),
            proposed: HashSet::new(),
            leaders: BTreeMap::new(),
            rules,
            check_parent,
            violations: Vec::new(),
        }
    }

    /// Records a payload handed to `propose` (accepted or not).
    pub fn record_proposal(&mut self, payload: Vec<u8>) {
        self.proposed.insert(payload);
    }

    /// Highest index any node applied.
    pub fn highest_committed(&self) -> u64 {
        self.committed.len() as u64
    }

    /// Records a violation.
    pub fn violate(
        &mut self,
        tick: u64,
        kind: ViolationKind,
        node: Option<NodeId>,
        detail: String,
    ) {
        self.violations.push(Violation {
            tick,
            kind,
            node,
            detail,
        });
    }

    /// Election Safety: returns true if `node` newly leads `epoch`.
    pub fn observe_leader(&mut self, tick: u64, node: NodeId, epoch: u64) -> bool {
        match self.leaders.get(&epoch) {
            Some(existing) if *existing == node => false,
            Some(existing) => {
                let detail = format!("nodes {existing} and {node} both lead epoch {epoch}");
                self.violate(tick, ViolationKind::ElectionSafety, Some(node), detail);
                false
            }
            None => {
                self.leaders.insert(epoch, node);
                true
            }
        }
    }

    /// Number of distinct (epoch, leader) pairs seen.
    pub fn leaders_elected(&self) -> usize {
        self.leaders.len()
    }

    /// A node installs a snapshot: it must summarize the agreed history.
    pub fn install_snapshot(
        &mut self,
        tick: u64,
        node: NodeId,
        app: &mut AppState,
        snapshot: &SnapshotToApply,
    ) {
        let Some(state) = AppState::from_snapshot_data(&snapshot.data) else {
            self.violate(
                tick,
                ViolationKind::Protocol,
                Some(node),
                "undecodable snapshot".into(),
            );
            return;
        };
        if state.applied_index != snapshot.index {
            let detail = format!(
                "snapshot index {} but data for {}",
                snapshot.index, state.applied_index
            );
            self.violate(tick, ViolationKind::Protocol, Some(node), detail);
            return;
        }
        let known = usize::try_from(snapshot.index)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.committed.get(i).copied().flatten());
        match known {
            Some((_, chain)) if chain != state.chain => {
                let detail = format!(
                    "snapshot at {} diverges from the committed history",
                    snapshot.index
                );
                self.violate(tick, ViolationKind::Agreement, Some(node), detail);
            }
            Some(_) => {}
            None => {
                let detail = format!(
                    "snapshot at {} covers indices nobody applied",
                    snapshot.index
                );
                self.violate(tick, ViolationKind::Protocol, Some(node), detail);
            }
        }
        *app = state;
    }

    /// A node applies one committed item.
    pub fn apply(&mut self, tick: u64, node: NodeId, app: &mut AppState, item: &Committed) {
        if item.index != app.applied_index + 1 {
            let detail = format!("applied {} after {}", item.index, app.applied_index);
            self.violate(tick, ViolationKind::ApplyOrder, Some(node), detail);
            return;
        }
        if item.kind == CommitKind::Application && !self.proposed.contains(&item.payload) {
            let detail = format!("index {} carries a payload nobody proposed", item.index);
            self.violate(tick, ViolationKind::Validity, Some(node), detail);
        }
        let digest = entry_digest(item);
        let chain = chain_digest(&app.chain, &digest);
        let Ok(position) = usize::try_from(item.index - 1) else {
            return;
        };
        if position >= self.committed.len() {
            self.committed.resize(position + 1, None);
        }
        match self.committed[position] {
            Some((known_digest, known_chain)) => {
                if known_digest != digest || known_chain != chain {
                    let detail = format!(
                        "index {} differs from what another node committed",
                        item.index
                    );
                    self.violate(tick, ViolationKind::Agreement, Some(node), detail);
                }
            }
            None => {
                // Agreement makes every later copy of this index identical
                // (same chain, so same parent): one re-check per index.
                if item.kind == CommitKind::Application {
                    let parent = (self.check_parent && !app.last_payload.is_empty())
                        .then_some(app.last_payload.as_slice());
                    if let Err(reason) = self.rules.check(parent, &item.payload) {
                        let detail = format!(
                            "index {} carries a payload the validity rule refuses: {reason}",
                            item.index
                        );
                        self.violate(tick, ViolationKind::Validity, Some(node), detail);
                    }
                }
                self.committed[position] = Some((digest, chain));
            }
        }
        app.applied_index = item.index;
        app.chain = chain;
        app.last_payload.clone_from(&item.payload);
    }
}
