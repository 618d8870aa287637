//! Private channels: a genesis endorsed by the member organizations'
//! admins (`productivist channel create`), and nodes of those
//! organizations joining it (`productivist channel join`).
//!
//! A private channel has its own members, ledger, consensus and contracts.
//! Its consenters are the member organizations' nodes, so the transport
//! never sends its blocks to anyone else (a node only talks about a channel
//! with that channel's consenters), and its config says `readers =
//! members`, so a node's API serves it only to requests signed by a member.

use crate::embedded::{DynStore, EmbeddedError, native_contracts};
use crate::network::{NetworkError, config_json, load_network};
use crate::node::config::{ChannelEntry, ConfigError, NodeConfig, node_config_path};
use productivist_engine::block::Block;
use productivist_engine::config::{
    ChannelConfig, ConsensusConfig, ConsensusKind, Consenter, Readers,
};
use productivist_engine::crypto::{KeyPair, PublicKey};
use productivist_engine::devnet::development_config;
use productivist_engine::identity::{Certificate, Organization, Role, check_name};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::system::{config_tx, genesis_config};
use productivist_engine::tx::encode_tx;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most organizations in one channel created by this command.
pub const CHANNEL_ORGS_MAX: usize = 64;

/// What to create.
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// Channel id.
    pub id: String,
    /// Member organizations.
    pub orgs: Vec<String>,
    /// Consensus of the channel.
    pub consensus: ConsensusKind,
    /// Who may read it.
    pub readers: Readers,
}

/// Why a channel could not be created or joined.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The network directory.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A node config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Building the genesis block.
    #[error(transparent)]
    Ledger(#[from] EmbeddedError),
    /// The request itself.
    #[error("{0}")]
    Refused(String),
    /// A file.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn refused(msg: impl Into<String>) -> ChannelError {
    ChannelError::Refused(msg.into())
}

fn file(path: &Path, reason: impl std::fmt::Display) -> ChannelError {
    ChannelError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A node of the network directory: name, organization, key, QUIC address.
struct NodeInfo {
    name: String,
    org: String,
    key: PublicKey,
    endpoint: String,
}

fn nodes_of(dir: &Path, keys: &[(String, KeyPair)]) -> Result<Vec<NodeInfo>, ChannelError> {
    let mut out = Vec::new();
    for (name, key) in keys {
        let info = dir.join("nodes").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&info).map_err(|e| file(&info, e))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| file(&info, e))?;
        let org = v
            .get("org")
            .and_then(|o| o.as_str())
            .ok_or_else(|| file(&info, "no \"org\" field"))?
            .to_string();
        let config = NodeConfig::load(&node_config_path(dir, name))?;
        out.push(NodeInfo {
            name: name.clone(),
            org,
            key: key.public(),
            endpoint: config.listen.to_string(),
        });
    }
    Ok(out)
}

/// Creates channel `spec.id` in the network directory `dir`: the genesis
/// config endorsed by every member organization's admin, sealed into
/// `DIR/channels/ID/genesis.block` (plus a readable `config.json`).
/// Returns the genesis block's path.
pub fn create_channel(
    dir: &Path,
    spec: &ChannelSpec,
    timestamp_ms: u64,
) -> Result<PathBuf, ChannelError> {
    check_name("channel", &spec.id).map_err(refused)?;
    if spec.orgs.is_empty() || spec.orgs.len() > CHANNEL_ORGS_MAX {
        return Err(refused(format!(
            "a channel has 1 to {CHANNEL_ORGS_MAX} organizations"
        )));
    }
    let out_dir = dir.join("channels").join(&spec.id);
    if out_dir.join("genesis.block").exists() {
        return Err(refused(format!(
            "channel {:?} already exists in {}",
            spec.id,
            dir.display()
        )));
    }
    let net = load_network(dir)?;
    let mut orgs = Vec::new();
    let mut admins: Vec<(Certificate, KeyPair)> = Vec::new();
    for name in &spec.orgs {
        if orgs.iter().any(|o: &Organization| &o.name == name) {
            return Err(refused(format!("organization {name:?} is listed twice")));
        }
        let admin = net
            .members
            .iter()
            .find(|m| &m.org == name && m.cert.value().roles.contains(&Role::Admin))
            .ok_or_else(|| {
                refused(format!(
                    "no admin of organization {name:?} in {} (its admin must endorse the genesis)",
                    dir.display()
                ))
            })?;
        let root = dir.join("orgs").join(name).join("root.pub");
        let text = std::fs::read_to_string(&root).map_err(|e| file(&root, e))?;
        let root_key =
            PublicKey::from_hex(text.trim()).ok_or_else(|| file(&root, "not a hex public key"))?;
        orgs.push(Organization {
            name: name.clone(),
            root_key,
        });
        admins.push((admin.cert.clone(), admin.key.clone()));
    }
    let nodes = nodes_of(dir, &net.nodes)?;
    let consenters: Vec<Consenter> = nodes
        .iter()
        .filter(|n| spec.orgs.contains(&n.org))
        .map(|n| Consenter {
            name: n.name.clone(),
            org: n.org.clone(),
            node_key: n.key,
            endpoint: n.endpoint.clone(),
        })
        .collect();
    if consenters.is_empty() {
        return Err(refused(format!(
            "none of the organizations {:?} runs a node; a channel needs at least one consenter",
            spec.orgs
        )));
    }
    if spec.consensus == ConsensusKind::Bft && consenters.len() < 4 {
        return Err(refused(format!(
            "BFT needs n = 3f + 1 >= 4 consenters; these organizations run {}",
            consenters.len()
        )));
    }
    let members: Vec<&productivist_engine::devnet::Member> = net
        .members
        .iter()
        .filter(|m| spec.orgs.contains(&m.org))
        .collect();
    let config = development_config(
        &spec.id,
        orgs,
        ConsensusConfig {
            kind: spec.consensus,
            consenters,
        },
        &members,
        spec.readers,
    );
    config.validate().map_err(|e| refused(e.to_string()))?;
    let (first_cert, first_key) = &admins[0];
    let genesis_tx = config_tx("genesis", &config, &admins, (first_cert, first_key), 0);
    // Sealed by the first consenter, as a node would.
    let proposer = config.consensus.consenters[0].node_key;
    let store: DynStore = Arc::new(RedbStore::in_memory().map_err(EmbeddedError::from)?);
    let ledger = Ledger::open(store, native_contracts()).map_err(EmbeddedError::from)?;
    let block = ledger
        .build_genesis(encode_tx(&genesis_tx), timestamp_ms, proposer)
        .map_err(EmbeddedError::from)?
        .bytes;
    std::fs::create_dir_all(&out_dir).map_err(|e| file(&out_dir, e))?;
    let path = out_dir.join("genesis.block");
    std::fs::write(&path, &block).map_err(|e| file(&path, e))?;
    let json = out_dir.join("config.json");
    let text = serde_json::to_string_pretty(&config_json(&config)).map_err(|e| file(&json, e))?;
    std::fs::write(&json, text).map_err(|e| file(&json, e))?;
    Ok(path)
}

/// The config in a genesis block file.
pub fn genesis_config_of(path: &Path) -> Result<ChannelConfig, ChannelError> {
    let bytes = std::fs::read(path).map_err(|e| file(path, e))?;
    let block = Block::decode(&bytes).map_err(|e| file(path, e))?;
    let tx = block
        .block
        .txs
        .first()
        .ok_or_else(|| file(path, "the genesis block has no transaction"))?;
    let tx = productivist_engine::tx::decode_tx(tx, usize::MAX).map_err(|e| file(path, e))?;
    genesis_config(&tx).map_err(|e| file(path, e))
}

/// Adds channel `id` (genesis at `genesis`) to the node config at
/// `config_path`, after checking that the node is one of the channel's
/// consenters. The node hosts it from its next start.
pub fn join_channel(config_path: &Path, genesis: &Path) -> Result<String, ChannelError> {
    let config = genesis_config_of(genesis)?;
    let node = NodeConfig::load(config_path)?;
    let key = crate::node::read_key(&node.key_file).map_err(|e| file(&node.key_file, e))?;
    if !config
        .consensus
        .consenters
        .iter()
        .any(|c| c.node_key == key.public())
    {
        return Err(refused(format!(
            "node {} is not a consenter of channel {:?}: only the member organizations' nodes may host it",
            node.name, config.channel_id
        )));
    }
    if node.channels.iter().any(|c| c.id == config.channel_id) {
        return Err(refused(format!(
            "node {} already hosts channel {:?}",
            node.name, config.channel_id
        )));
    }
    // Edit the file as written (its paths stay relative to it).
    let text = std::fs::read_to_string(config_path).map_err(|e| file(config_path, e))?;
    let mut raw: NodeConfig = toml::from_str(&text).map_err(|e| file(config_path, e))?;
    let genesis = std::fs::canonicalize(genesis).map_err(|e| file(genesis, e))?;
    raw.channels.push(ChannelEntry {
        id: config.channel_id.clone(),
        genesis,
    });
    let text = toml::to_string_pretty(&raw).map_err(|e| file(config_path, e))?;
    // Written aside then renamed: a crash leaves the old or the new file.
    let tmp = config_path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(|e| file(&tmp, e))?;
    std::fs::rename(&tmp, config_path).map_err(|e| file(config_path, e))?;
    Ok(config.channel_id)
}

/// Removes consenter `name` from channel `channel` of a running network:
/// reads the current config from the node at `node_url`, endorses the next
/// version with the admins of every member organization found in the
/// network directory `dir`, submits it and waits until it is committed.
/// Every node then follows it without a restart: the removed node's key is
/// refused at the handshake and loses its connections, and the Raft leader
/// removes it from the voters. Returns the new config version.
pub fn remove_consenter(
    dir: &Path,
    channel: &str,
    name: &str,
    node_url: &str,
    nonce: u64,
) -> Result<u64, ChannelError> {
    let net = load_network(dir)?;
    let admins: Vec<(Certificate, KeyPair)> = net
        .members
        .iter()
        .filter(|m| m.cert.value().roles.contains(&Role::Admin))
        .map(|m| (m.cert.clone(), m.key.clone()))
        .collect();
    let reader = admins
        .first()
        .and_then(|(c, _)| net.members.iter().find(|m| &m.cert == c))
        .ok_or_else(|| refused(format!("no admin in {}", dir.display())))?;
    let client = crate::client::Client::new(node_url).signed_by(reader);
    let api = |e: crate::client::ClientError| refused(format!("{node_url}: {e}"));
    let bytes = client
        .query(
            channel,
            productivist_engine::system::CONFIG_CONTRACT,
            "current",
            &[],
        )
        .map_err(api)?;
    let current: ChannelConfig = borsh::from_slice(&bytes)
        .map_err(|e| refused(format!("the node's config does not decode: {e}")))?;
    let mut next = current.clone();
    let before = next.consensus.consenters.len();
    next.consensus.consenters.retain(|n| n.name != name);
    if next.consensus.consenters.len() == before {
        return Err(refused(format!(
            "{name:?} is not a consenter of channel {channel:?}"
        )));
    }
    next.version = current.version + 1;
    next.validate().map_err(|e| refused(e.to_string()))?;
    current
        .check_transition(&next)
        .map_err(|e| refused(e.to_string()))?;
    let endorsers: Vec<(Certificate, KeyPair)> = admins
        .into_iter()
        .filter(|(c, _)| current.org(&c.value().org).is_some())
        .collect();
    let (first_cert, first_key) = endorsers
        .first()
        .ok_or_else(|| refused("no admin of a member organization in the network directory"))?;
    let tx = config_tx("update", &next, &endorsers, (first_cert, first_key), nonce);
    let state = client.submit(channel, &encode_tx(&tx), true).map_err(api)?;
    match state.committed {
        Some((_, _, r)) if r.status.is_valid() => Ok(next.version),
        Some((_, _, r)) => Err(refused(format!("the update was refused: {}", r.status))),
        None => Err(refused(
            "the update is pending but not committed yet; check the channel's config later",
        )),
    }
}
