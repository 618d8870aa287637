//! A node's TOML config (`DIR/nodes/NODE.toml`, written by
//! `productivist init`). Relative paths are relative to the config file's
//! directory, so a network directory can be moved as a whole.
//!
//! ```toml
//! name = "node0"
//! key_file = "node0.key"
//! data_dir = "../data/node0"
//! log_file = "../logs/node0.log"
//! listen = "127.0.0.1:7400"        # QUIC, node to node
//! http_listen = "127.0.0.1:8400"   # HTTP/JSON API
//! tick_ms = 50
//!
//! [[peers]]
//! name = "node1"
//! key = "<hex ed25519 public key>"
//! addr = "127.0.0.1:7401"
//!
//! [[channels]]
//! id = "public"
//! genesis = "../channels/public/genesis.block"
//! ```

use productivist_engine::devnet::DevNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default consensus tick.
pub const TICK_MS_DEFAULT: u64 = 50;

/// A peer node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    /// Its name.
    pub name: String,
    /// Its node key, hex.
    pub key: String,
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Its HTTP address (informational; clients may use it).
    #[serde(default)]
    pub http: Option<SocketAddr>,
}

/// A channel this node hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelEntry {
    /// Channel id.
    pub id: String,
    /// Its genesis block file.
    pub genesis: PathBuf,
}

/// One node's config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Node name (as in the channel's consenters).
    pub name: String,
    /// The node's secret key file (hex).
    pub key_file: PathBuf,
    /// Where ledgers and consensus state live.
    pub data_dir: PathBuf,
    /// The node's log file.
    pub log_file: PathBuf,
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Consensus tick length.
    #[serde(default = "tick_default")]
    pub tick_ms: u64,
    /// Other nodes.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Hosted channels.
    pub channels: Vec<ChannelEntry>,
    /// Fault injection for tests of BFT channels: `"equivocate"` (sign
    /// conflicting proposals and votes) or `"garbage"` (send garbage
    /// frames). Refused unless the environment variable
    /// `PRODUCTIVIST_FAULT_INJECTION` is `1`. Never set it in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<String>,
    /// BFT channels: finalized blocks each replica keeps in memory to serve
    /// lagging peers (default 1024). A peer further behind catches up by
    /// block sync from the durable chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bft_retained_blocks: Option<usize>,
    /// Raft channels: compact the consensus log every this many applied
    /// entries (default 4096; 0: never). A follower behind the compaction
    /// point catches up by fetching ledger blocks from its peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_compact_every_entries: Option<u64>,
}

fn tick_default() -> u64 {
    TICK_MS_DEFAULT
}

/// Why a config could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File access.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a valid config.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl NodeConfig {
    /// Reads a config and makes its paths absolute (relative to the file).
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut c: NodeConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        c.key_file = abs(&c.key_file);
        c.data_dir = abs(&c.data_dir);
        c.log_file = abs(&c.log_file);
        for ch in &mut c.channels {
            ch.genesis = abs(&ch.genesis);
        }
        if c.channels.is_empty() {
            return Err(invalid("a node hosts at least one channel".into()));
        }
        if let Some(mode) = &c.byzantine
            && super::fault::FaultMode::parse(mode).is_none()
        {
            return Err(invalid(format!(
                "byzantine must be \"equivocate\" or \"garbage\", not {mode:?}"
            )));
        }
        if c.bft_retained_blocks
            .is_some_and(|n| !(1..=1_000_000).contains(&n))
        {
            return Err(invalid("bft_retained_blocks must be 1 to 1000000".into()));
        }
        if !(1..=10_000).contains(&c.tick_ms) {
            return Err(invalid("tick_ms must be 1 to 10000".into()));
        }
        Ok(c)
    }
}

/// The path of node `name`'s config in a network directory.
pub fn node_config_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("nodes").join(format!("{name}.toml"))
}

/// Writes `DIR/nodes/NODE.toml` for every node of a generated network: node
/// `i` listens on `127.0.0.1:quic_base+i` (QUIC) and `127.0.0.1:http_base+i`
/// (HTTP), and hosts the network's channel. Returns the files written.
pub fn write_node_configs(
    dir: &Path,
    net: &DevNet,
    quic_base: u16,
    http_base: u16,
) -> Result<Vec<PathBuf>, ConfigError> {
    let n = net.nodes.len();
    if quic_base as usize + n > u16::MAX as usize || http_base as usize + n > u16::MAX as usize {
        return Err(ConfigError::Invalid {
            path: dir.to_path_buf(),
            reason: format!("ports {quic_base}/{http_base} + {n} nodes overflow"),
        });
    }
    let addr = |base: u16, i: usize| SocketAddr::from(([127, 0, 0, 1], base + i as u16));
    let channel = &net.config.channel_id;
    let mut written = Vec::new();
    for (i, (name, _org, _key)) in net.nodes.iter().enumerate() {
        let peers = net
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, (pname, _, pkey))| PeerConfig {
                name: pname.clone(),
                key: pkey.public().to_hex(),
                addr: addr(quic_base, j),
                http: Some(addr(http_base, j)),
            })
            .collect();
        let config = NodeConfig {
            name: name.clone(),
            key_file: PathBuf::from(format!("{name}.key")),
            data_dir: PathBuf::from(format!("../data/{name}")),
            log_file: PathBuf::from(format!("../logs/{name}.log")),
            listen: addr(quic_base, i),
            http_listen: addr(http_base, i),
            tick_ms: TICK_MS_DEFAULT,
            peers,
            channels: vec![ChannelEntry {
                id: channel.clone(),
                genesis: PathBuf::from(format!("../channels/{channel}/genesis.block")),
            }],
            byzantine: None,
            bft_retained_blocks: None,
            raft_compact_every_entries: None,
        };
        let path = node_config_path(dir, name);
        let text = toml::to_string_pretty(&config).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ConfigError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
