//! Channel configuration: members, policies, consensus, limits and the
//! parameters of the Productivist applications.
//!
//! The genesis block carries the first config; later configs are
//! transactions to the `_config` system contract endorsed according to the
//! current config's `config_update` policy (see [`crate::system`]).

use crate::crypto::{Hash, PublicKey, domain};
use crate::identity::{Organization, Revocation, check_name};
use crate::policy::{Policy, RoleRule};
use borsh::{BorshDeserialize, BorshSerialize};

/// Bounds that keep a config (and the work to check it) small.
pub const ORGS_MAX: usize = 256;
/// Most revocations listed in one config.
pub const REVOCATIONS_MAX: usize = 100_000;
/// Most consenters of one channel.
pub const CONSENTERS_MAX: usize = 64;

/// Which consensus orders the channel's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum ConsensusKind {
    /// Raft: crash faults, one organization's cluster.
    Raft = 0,
    /// Simplex BFT: Byzantine faults, n = 3f + 1.
    Bft = 1,
}

impl ConsensusKind {
    /// `raft` or `bft`.
    pub fn name(self) -> &'static str {
        match self {
            ConsensusKind::Raft => "raft",
            ConsensusKind::Bft => "bft",
        }
    }

    /// Parses `raft` or `bft`.
    pub fn parse(s: &str) -> Option<ConsensusKind> {
        match s {
            "raft" => Some(ConsensusKind::Raft),
            "bft" => Some(ConsensusKind::Bft),
            _ => None,
        }
    }
}

/// A node that takes part in the channel's consensus.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Consenter {
    /// Node name, unique in the channel.
    pub name: String,
    /// The organization running it.
    pub org: String,
    /// The node's key: it signs votes, and its TLS certificate is pinned to it.
    pub node_key: PublicKey,
    /// `host:port` where peers reach it.
    pub endpoint: String,
}

/// Consensus settings.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusConfig {
    /// Raft or BFT.
    pub kind: ConsensusKind,
    /// The consenter set.
    pub consenters: Vec<Consenter>,
}

/// Block cutting and size limits.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockLimits {
    /// Most transactions in a block.
    pub max_txs: u32,
    /// Most bytes of transactions in a block.
    pub max_block_bytes: u64,
    /// Most bytes of one transaction.
    pub max_tx_bytes: u32,
    /// A block is cut after this long even if not full.
    pub batch_timeout_ms: u64,
}

impl Default for BlockLimits {
    fn default() -> Self {
        BlockLimits {
            max_txs: 10_000,
            max_block_bytes: 16 << 20,
            max_tx_bytes: 1 << 20,
            batch_timeout_ms: 200,
        }
    }
}

/// Who may do what.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Policies {
    /// Endorsements needed to change the channel config.
    pub config_update: Policy,
    /// Endorsements needed to deploy, upgrade or freeze a contract.
    pub deploy: Policy,
    /// Roles that may submit transactions.
    pub submit: RoleRule,
}

/// The fiat-pegged service token.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TokenParams {
    /// The token's symbol, for example `PVT`.
    pub unit: String,
    /// What one token is worth off-chain, for example `0.01 EUR`.
    pub peg: String,
    /// Accounts (`subject@org`) that may mint and burn; they must also hold
    /// the `issuer` role.
    pub issuers: Vec<String>,
}

/// Marketplace parameters.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MarketParams {
    /// After production is reported, receipt is assumed after this long.
    pub receipt_timeout_ms: u64,
    /// Platform fee in basis points of the price (0 to 10 000).
    pub platform_fee_bps: u32,
    /// The account receiving the platform fee, if any.
    pub platform_account: Option<String>,
}

/// Limits for WASM user contracts.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WasmLimits {
    /// Fuel per transaction.
    pub fuel_per_tx: u64,
    /// Most linear-memory pages (64 KiB each).
    pub memory_pages_max: u32,
    /// Most bytes of one module.
    pub module_bytes_max: u32,
    /// Deepest chain of contract-to-contract calls.
    pub call_depth_max: u32,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            fuel_per_tx: 10_000_000,
            memory_pages_max: 16,
            module_bytes_max: 1 << 20,
            call_depth_max: 4,
        }
    }
}

/// The configuration of one channel.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChannelConfig {
    /// The channel's id, for example `public`.
    pub channel_id: String,
    /// 0 at genesis, +1 at each update.
    pub version: u64,
    /// Member organizations.
    pub orgs: Vec<Organization>,
    /// Revoked certificates.
    pub revocations: Vec<Revocation>,
    /// Who may do what.
    pub policies: Policies,
    /// Consensus kind and consenters.
    pub consensus: ConsensusConfig,
    /// Block limits.
    pub limits: BlockLimits,
    /// The service token.
    pub token: TokenParams,
    /// The marketplace.
    pub market: MarketParams,
    /// WASM contract limits.
    pub wasm: WasmLimits,
    /// Who may read the channel's blocks, transactions and state through a
    /// node's API.
    pub readers: Readers,
}

/// Who may read a channel through a node's API. Writing always needs a
/// member's signature; the consortium channel is usually readable by
/// anyone (a customer scanning a part's label has no certificate), a
/// private channel only by its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Readers {
    /// Anyone, without signing.
    Anyone = 0,
    /// Only requests signed by a member of one of the channel's
    /// organizations.
    Members = 1,
}

impl Readers {
    /// `anyone` or `members`.
    pub fn name(self) -> &'static str {
        match self {
            Readers::Anyone => "anyone",
            Readers::Members => "members",
        }
    }

    /// Parses `anyone` or `members`.
    pub fn parse(s: &str) -> Option<Readers> {
        match s {
            "anyone" => Some(Readers::Anyone),
            "members" => Some(Readers::Members),
            _ => None,
        }
    }
}

/// Why a config is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A structural rule is broken.
    #[error("invalid channel config: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

impl ChannelConfig {
    /// The digest endorsers sign for this config's exact encoding.
    pub fn endorsement_digest(config_bytes: &[u8]) -> Hash {
        Hash::tagged(domain::CONFIG, config_bytes)
    }

    /// The organization named `name`.
    pub fn org(&self, name: &str) -> Option<&Organization> {
        self.orgs.iter().find(|o| o.name == name)
    }

    /// The names of all member organizations.
    pub fn org_names(&self) -> Vec<String> {
        self.orgs.iter().map(|o| o.name.clone()).collect()
    }

    /// Checks that `next` may follow this config on a running channel, on top
    /// of [`ChannelConfig::validate`]. Running nodes follow the consenter set
    /// of the latest committed config, so a change must be one the consensus
    /// can follow without a restart:
    /// - the consensus kind never changes;
    /// - Raft: consenters may be removed, one per update (Raft changes its
    ///   membership one server at a time), endpoints and names may change;
    ///   adding a consenter to a running channel is not supported yet;
    /// - BFT: the consenter keys stay the same, in the same order (Simplex
    ///   numbers its replicas by position; a new set needs an epoch change,
    ///   which is not supported yet); endpoints and names may change.
    pub fn check_transition(&self, next: &ChannelConfig) -> Result<(), ConfigError> {
        if next.consensus.kind != self.consensus.kind {
            return Err(invalid(format!(
                "the consensus of a running channel cannot change ({} to {})",
                self.consensus.kind.name(),
                next.consensus.kind.name()
            )));
        }
        let keys = |c: &ChannelConfig| -> Vec<PublicKey> {
            c.consensus.consenters.iter().map(|n| n.node_key).collect()
        };
        let (now, then) = (keys(self), keys(next));
        if let Some(added) = then.iter().find(|k| !now.contains(k)) {
            return Err(invalid(format!(
                "consenter {} is new: adding a consenter to a running channel is not supported yet",
                added.to_hex()
            )));
        }
        match self.consensus.kind {
            ConsensusKind::Bft => {
                if now != then {
                    return Err(invalid(
                        "the consenters of a BFT channel cannot change (an epoch change is not supported yet)",
                    ));
                }
            }
            ConsensusKind::Raft => {
                let removed = now.len() - then.len();
                if removed > 1 {
                    return Err(invalid(format!(
                        "{removed} consenters removed at once: Raft removes one per config update"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the structural rules. Run on genesis and on every update.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("channel id", &self.channel_id).map_err(invalid)?;
        if self.orgs.is_empty() || self.orgs.len() > ORGS_MAX {
            return Err(invalid(format!(
                "a channel has 1 to {ORGS_MAX} organizations"
            )));
        }
        for (i, org) in self.orgs.iter().enumerate() {
            check_name("organization", &org.name).map_err(invalid)?;
            if self.orgs[..i].iter().any(|o| o.name == org.name) {
                return Err(invalid(format!("organization {:?} listed twice", org.name)));
            }
            org.root_key
                .check_strong()
                .map_err(|e| invalid(format!("root key of {:?}: {e}", org.name)))?;
        }
        if self.revocations.len() > REVOCATIONS_MAX {
            return Err(invalid("too many revocations"));
        }
        for (name, policy) in [
            ("config_update", &self.policies.config_update),
            ("deploy", &self.policies.deploy),
        ] {
            if policy.threshold == 0 || policy.threshold as usize > policy.orgs.len() {
                return Err(invalid(format!(
                    "policy {name}: threshold {} must be 1..={}",
                    policy.threshold,
                    policy.orgs.len()
                )));
            }
            for o in &policy.orgs {
                if self.org(o).is_none() {
                    return Err(invalid(format!("policy {name} names unknown org {o:?}")));
                }
            }
        }
        let c = &self.consensus.consenters;
        if c.is_empty() || c.len() > CONSENTERS_MAX {
            return Err(invalid(format!(
                "a channel has 1 to {CONSENTERS_MAX} consenters"
            )));
        }
        for (i, n) in c.iter().enumerate() {
            check_name("consenter", &n.name).map_err(invalid)?;
            if self.org(&n.org).is_none() {
                return Err(invalid(format!(
                    "consenter {:?} of unknown org {:?}",
                    n.name, n.org
                )));
            }
            n.node_key
                .check_strong()
                .map_err(|e| invalid(format!("node key of {:?}: {e}", n.name)))?;
            if c[..i]
                .iter()
                .any(|m| m.name == n.name || m.node_key == n.node_key)
            {
                return Err(invalid(format!("consenter {:?} listed twice", n.name)));
            }
        }
        let l = &self.limits;
        if l.max_txs == 0
            || l.max_block_bytes == 0
            || l.max_tx_bytes == 0
            || l.batch_timeout_ms == 0
        {
            return Err(invalid("block limits must be positive"));
        }
        if u64::from(l.max_tx_bytes) > l.max_block_bytes {
            return Err(invalid("max_tx_bytes exceeds max_block_bytes"));
        }
        let member_account = |what: &str, account: &str| -> Result<(), ConfigError> {
            let org = account.split_once('@').map(|(_, o)| o).unwrap_or_default();
            if self.org(org).is_none() {
                return Err(invalid(format!(
                    "{what} {account:?} is not an account of a member organization"
                )));
            }
            Ok(())
        };
        for issuer in &self.token.issuers {
            member_account("token issuer", issuer)?;
        }
        if let Some(p) = &self.market.platform_account {
            member_account("platform account", p)?;
        }
        if self.market.platform_fee_bps > 10_000 {
            return Err(invalid("platform_fee_bps must be at most 10000"));
        }
        let w = &self.wasm;
        if w.fuel_per_tx == 0 || w.memory_pages_max == 0 || w.module_bytes_max == 0 {
            return Err(invalid("wasm limits must be positive"));
        }
        Ok(())
    }
}
