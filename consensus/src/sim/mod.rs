//! Seeded, deterministic simulation of a cluster under faults.
//!
//! One `u64` seed determines everything: message loss, delay (and so
//! reordering), duplication, partitions that change over time, crashes and
//! restarts (only what a node persisted survives), a slow node, client
//! proposals and administrative actions. The same seed and config replay
//! the same run exactly, so a failing seed is a reproducible bug report.
//!
//! Checked on every event: Agreement, Validity, Durability, Election Safety
//! and gap-free application ([`invariants`]); after the network heals and
//! every node restarted: Liveness within `liveness_ticks`.
//!
//! The harness ([`harness`]) is generic over [`SimProtocol`]; Raft plugs in
//! through [`raft_adapter`], Simplex through [`simplex_adapter`]. Payloads
//! and their validity rule are pluggable ([`PayloadRules`]): the root crate
//! runs the ledger's real proposal check over real signed transactions.

pub mod byzantine;
pub mod harness;
pub mod invariants;
pub mod network;
pub mod payload;
pub mod protocol;
pub mod raft_adapter;
pub mod rng;
pub mod simplex_adapter;
pub mod trace;

use std::fmt;

pub use harness::run_seed;
pub use invariants::{Violation, ViolationKind};
pub use payload::{ChecksumRules, PayloadRules, SharedRules};
pub use protocol::SimProtocol;
pub use simplex_adapter::{BftOptions, run_bft_seed, run_bft_seed_with};

use crate::raft::Raft;

/// Fault profile and protocol tuning of a simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Ticks with faults on; then the network heals and nodes restart.
    pub fault_ticks: u64,
    /// After healing, commits must resume on every node within this bound.
    pub liveness_ticks: u64,
    /// Probability a message is lost (per mille).
    pub loss_per_mille: u32,
    /// Probability a message is delivered twice (per mille).
    pub duplicate_per_mille: u32,
    /// Message delay is uniform in `1..=max_delay_ticks`.
    pub max_delay_ticks: u64,
    /// Extra delay on every link of one slow node (0: no slow node).
    pub slow_node_extra_delay_ticks: u64,
    /// Mean ticks between partition changes (0: never partition).
    pub partition_every_ticks: u64,
    /// Probability per node per tick of a crash (per mille).
    pub crash_per_mille: u32,
    /// Probability per tick that the current leader crashes (per mille):
    /// leader failures mid-replication make the interesting histories
    /// (Raft paper Figure 8).
    pub leader_crash_per_mille: u32,
    /// A crashed node stays down `1..=max_down_ticks`.
    pub max_down_ticks: u64,
    /// Probability per tick of a client proposal (per mille).
    pub propose_per_mille: u32,
    /// Probability per tick of an administrative action on the leader
    /// (membership change, leadership transfer), per mille.
    pub admin_per_mille: u32,
    /// Nodes compact their log every this many applied entries (0: never).
    pub compact_every_entries: u64,
    /// Bound on packets in the network; excess is dropped.
    pub max_in_flight_messages: usize,
    /// Events kept for the failure trace.
    pub trace_events: usize,
    /// Protocol batch bound: entries per replication message. Small values
    /// make acknowledgements advance entry by entry, widening the windows in
    /// which commit-rule bugs show.
    pub max_entries_per_message: usize,
    /// Protocol option: pre-vote before elections.
    pub pre_vote: bool,
    /// Protocol election timeout (minimum).
    pub election_timeout_ticks: u64,
    /// Protocol heartbeat period.
    pub heartbeat_interval_ticks: u64,
    /// What clients propose and the validity rule replicas and the
    /// Validity invariant apply ([`ChecksumRules`] unless a ledger is
    /// plugged in).
    pub payload_rules: SharedRules,
    /// Deliberate Raft bug to check that the simulator catches it.
    #[cfg(feature = "mutations")]
    pub mutation: Option<crate::raft::Mutation>,
}

impl SimConfig {
    /// Every fault on, at rates that still let the cluster make progress.
    pub fn all_faults() -> Self {
        Self {
            fault_ticks: 600,
            liveness_ticks: 600,
            loss_per_mille: 50,
            duplicate_per_mille: 30,
            max_delay_ticks: 4,
            slow_node_extra_delay_ticks: 4,
            partition_every_ticks: 60,
            crash_per_mille: 4,
            leader_crash_per_mille: 10,
            max_down_ticks: 60,
            propose_per_mille: 300,
            admin_per_mille: 15,
            compact_every_entries: 24,
            max_in_flight_messages: 20_000,
            trace_events: 200,
            max_entries_per_message: 8,
            pre_vote: true,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 2,
            payload_rules: std::sync::Arc::new(ChecksumRules),
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    /// A perfect network and no crashes (baseline).
    pub fn no_faults() -> Self {
        Self {
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            max_delay_ticks: 1,
            slow_node_extra_delay_ticks: 0,
            partition_every_ticks: 0,
            crash_per_mille: 0,
            leader_crash_per_mille: 0,
            admin_per_mille: 0,
            ..Self::all_faults()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::all_faults()
    }
}

/// Outcome of one seed.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// The seed (replays this exact run with the same config).
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Ticks simulated.
    pub ticks: u64,
    /// Broken invariants (empty on success); the run stops at the first.
    pub violations: Vec<Violation>,
    /// Highest index committed (applied by some node).
    pub commits: u64,
    /// Payloads proposed (accepted or not).
    pub proposals: u64,
    /// Messages handed to the network.
    pub messages: u64,
    /// Messages delivered to a node.
    pub delivered: u64,
    /// Messages dropped (loss, partition, crash, overflow).
    pub dropped: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Snapshots installed by lagging nodes.
    pub snapshots_installed: u64,
    /// Distinct (epoch, leader) pairs.
    pub leaders_elected: u64,
    /// Ticks from healing until every node applied a fresh commit.
    pub recovery_ticks: Option<u64>,
    /// Last events before the end (filled only when a violation occurred).
    pub trace: Vec<String>,
}

impl SimReport {
    /// Whether every invariant held.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} nodes {}: {} after {} ticks; commits {} proposals {} messages {} delivered {} dropped {} crashes {} snapshots {} leaders {} recovery {:?}",
            self.seed,
            self.nodes,
            if self.is_ok() { "ok" } else { "VIOLATION" },
            self.ticks,
            self.commits,
            self.proposals,
            self.messages,
            self.delivered,
            self.dropped,
            self.crashes,
            self.snapshots_installed,
            self.leaders_elected,
            self.recovery_ticks,
        )?;
        for violation in &self.violations {
            writeln!(f, "  {violation}")?;
        }
        if !self.trace.is_empty() {
            writeln!(f, "  last {} events:", self.trace.len())?;
            for line in &self.trace {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// Runs Raft on `nodes` nodes (ids 1..=nodes) under `cfg` with `seed`.
pub fn run_raft_seed(seed: u64, nodes: usize, cfg: &SimConfig) -> SimReport {
    run_seed::<Raft>(seed, nodes, cfg)
}
