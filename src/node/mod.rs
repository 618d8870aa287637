//! The node shell: one process hosting channels, each with its ledger, its
//! consensus (Raft, or Simplex BFT through [`bft::Bft`], both behind
//! [`channel::NodeConsensus`]), a bounded mempool and the HTTP/JSON API,
//! talking to its peers over the QUIC transport. See `docs/NODE.md`.
//!
//! Threads: one OS thread per channel drives consensus and executes
//! blocks; at most two niced threads per channel verify and admit gossiped
//! transactions ([`gossip::Admission`]); tokio runs the transport, the
//! outbound gossip and the API.

pub mod auth;
pub mod bft;
pub mod catchup;
pub mod channel;
pub mod config;
pub mod fault;
pub mod gossip;
pub mod http;
pub mod membership;
pub mod mempool;
pub mod openapi;
pub mod simplex_store;
pub mod storage;
pub mod sync;
pub mod wire;

use crate::embedded::{DynStore, native_contracts};
use channel::{
    ChannelShared, ConsensusStatus, DRIVER_QUEUE_MAX, Driver, GOSSIP_QUEUE_TXS_MAX, Input, deliver,
};
use config::NodeConfig;
use mempool::Mempool;
use productivist_consensus::NodeId;
use productivist_consensus::raft::{Raft, RaftConfig};
use productivist_engine::config::ConsensusKind;
use productivist_engine::crypto::{KeyPair, PublicKey, unhex};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_net::{Allowlist, NetConfig, Network};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{GOSSIP_TXS_PER_FRAME_MAX, Wire};

/// QUIC idle timeout between nodes: how long a silent peer (down, or cut
/// off) keeps its connection. A peer killed and restarted is noticed at
/// once instead (its new process resets the old connections, see
/// `productivist_net::reset`).
pub const NET_IDLE_TIMEOUT_MS: u64 = 10_000;
/// Longest pause between two dials of an unreachable peer.
pub const NET_BACKOFF_MAX_MS: u64 = 1_000;

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The config.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A file.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A ledger.
    #[error("channel {channel}: {reason}")]
    Channel {
        /// The channel.
        channel: String,
        /// Why.
        reason: String,
    },
    /// The transport.
    #[error("network: {0}")]
    Net(String),
    /// The HTTP server.
    #[error("http: {0}")]
    Http(String),
    /// A fault-injection setting the node refuses.
    #[error("fault injection: {0}")]
    FaultInjection(String),
    /// A channel's driver stopped.
    #[error("channel {channel} stopped: {reason}")]
    Fatal {
        /// The channel.
        channel: String,
        /// Why.
        reason: String,
    },
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> NodeError {
    NodeError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads a secret key file (hex of 32 bytes).
pub fn read_key(path: &Path) -> Result<KeyPair, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let secret: [u8; 32] = unhex(text.trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| file_error(path, "not a 32-byte hex secret key"))?;
    Ok(KeyPair::from_secret(secret))
}

/// Sends tracing output to `path` (appending), one file per node.
pub fn init_logging(path: &Path) -> Result<(), NodeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRODUCTIVIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Arc::new(file))
        .try_init();
    Ok(())
}

struct Hosted {
    shared: Arc<ChannelShared>,
    peers: BTreeMap<NodeId, PublicKey>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hosted {
    /// A channel this node no longer orders (a config removed it from the
    /// consenters): reads are served, submissions answered `not_consenter`,
    /// no consensus runs and no peer is contacted for it.
    fn removed(id: &str, ledger: Ledger<DynStore>) -> Hosted {
        let height = ledger.head().map_or(0, |h| h.height);
        // Nobody receives: the driver and gossip queues are closed at once.
        let (driver, _) = std::sync::mpsc::sync_channel(1);
        let (gossip, _) = tokio::sync::mpsc::channel(1);
        let status = ConsensusStatus {
            kind: ledger.config().map_or("raft", |c| c.consensus.kind.name()),
            role: "removed".into(),
            removed_at: Some(height),
            ..ConsensusStatus::default()
        };
        let shared = ChannelShared::new(id, ledger, Mempool::new(1, 1), driver, gossip);
        if let Ok(mut s) = shared.status.lock() {
            *s = status;
        }
        Hosted {
            shared: Arc::new(shared),
            peers: BTreeMap::new(),
            thread: None,
        }
    }
}

fn open_ledger(cfg: &NodeConfig, id: &str, genesis: &Path) -> Result<Ledger<DynStore>, NodeError> {
    let ch_err = |reason: String| NodeError::Channel {
        channel: id.to_string(),
        reason,
    };
    let dir = cfg.data_dir.join("channels").join(id);
    std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
    let store: DynStore =
        Arc::new(RedbStore::open(&dir.join("ledger.redb")).map_err(|e| ch_err(e.to_string()))?);
    let mut ledger = Ledger::open(store, native_contracts()).map_err(|e| ch_err(e.to_string()))?;
    if ledger.head().is_none() {
        let bytes = std::fs::read(genesis).map_err(|e| file_error(genesis, e))?;
        let executed = ledger.verify(&bytes).map_err(|e| file_error(genesis, e))?;
        ledger.commit(executed).map_err(|e| ch_err(e.to_string()))?;
    }
    if ledger.channel() != Some(id) {
        return Err(ch_err(format!(
            "the ledger in {} is for channel {:?}",
            dir.display(),
            ledger.channel()
        )));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    ledger.set_threads(threads);
    Ok(ledger)
}

/// Runs a node until `shutdown` resolves or a channel fails. Must run on a
/// multi-threaded tokio runtime.
pub async fn run(
    cfg: NodeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let key = read_key(&cfg.key_file)?;
    let me = key.public();
    let fault_mode = match &cfg.byzantine {
        None => None,
        Some(mode) => {
            if std::env::var(fault::FAULT_INJECTION_ENV).as_deref() != Ok("1") {
                return Err(NodeError::FaultInjection(format!(
                    "byzantine = {mode:?} is a test-only setting; set {}=1 to allow it",
                    fault::FAULT_INJECTION_ENV
                )));
            }
            let m = fault::FaultMode::parse(mode)
                .ok_or_else(|| NodeError::FaultInjection(format!("unknown mode {mode:?}")))?;
            tracing::warn!(mode = %mode, "FAULT INJECTION ENABLED: this node lies to its peers");
            Some(m)
        }
    };
    let started = Instant::now();

    // Ledgers first: the channel configs say who the peers are.
    let mut ledgers = Vec::new();
    for entry in &cfg.channels {
        ledgers.push((
            entry.id.clone(),
            open_ledger(&cfg, &entry.id, &entry.genesis)?,
        ));
    }
    let configs: Vec<_> = ledgers
        .iter()
        .filter_map(|(_, l)| l.config().cloned())
        .collect();
    let endpoints = membership::wanted_peers(&configs, me);
    let allowed: BTreeSet<PublicKey> = endpoints.keys().copied().collect();
    let mut net_config = NetConfig::new(cfg.listen);
    // Live links never idle (heartbeats every few ticks, QUIC keep-alives).
    net_config.idle_timeout_ms = NET_IDLE_TIMEOUT_MS;
    net_config.backoff_max_ms = NET_BACKOFF_MAX_MS;
    let (net, mut inbound) = Network::start(
        key.clone(),
        Allowlist::new(allowed.iter().copied()),
        net_config,
    )
    .map_err(|e| NodeError::Net(e.to_string()))?;
    // Addresses: the node config first, then the channel config's endpoint.
    let mut addrs: BTreeMap<PublicKey, SocketAddr> = BTreeMap::new();
    for p in &cfg.peers {
        match PublicKey::from_hex(p.key.trim()) {
            Some(k) => {
                addrs.insert(k, p.addr);
            }
            None => tracing::warn!(peer = %p.name, "peer key is not hex; ignored"),
        }
    }
    for k in &allowed {
        let addr = addrs
            .get(k)
            .copied()
            .or_else(|| endpoints.get(k).and_then(|e| e.parse().ok()));
        match addr {
            Some(a) => net.add_peer(*k, a),
            None => tracing::warn!(peer = %k.to_hex(), "no address for consenter"),
        }
    }

    let fatal = Arc::new(tokio::sync::Notify::new());
    let tick = Duration::from_millis(cfg.tick_ms);
    let mut hosted: BTreeMap<String, Hosted> = BTreeMap::new();
    for (id, ledger) in ledgers {
        let ch_err = |reason: String| NodeError::Channel {
            channel: id.clone(),
            reason,
        };
        let config = ledger
            .config()
            .cloned()
            .ok_or_else(|| ch_err("no config".into()))?;
        let consenters = &config.consensus.consenters;
        let genesis = ledger
            .genesis_config()
            .map_err(|e| ch_err(e.to_string()))?
            .ok_or_else(|| ch_err("no genesis".into()))?;
        let members = match membership::members(&genesis, &config, me) {
            Ok(m) => m,
            Err(membership::MembersError::Removed(_)) => {
                // Removed while it was down: serve what it has, read-only.
                tracing::warn!(channel = %id, "a config update removed this node from the consenters: serving the channel read-only");
                hosted.insert(id.clone(), Hosted::removed(&id, ledger));
                continue;
            }
            Err(e) => return Err(ch_err(e.to_string())),
        };
        let my_id = members.me;
        let voters = members.voters.clone();
        let peers = members.peers.clone();
        let (driver_tx, driver_rx) = std::sync::mpsc::sync_channel(DRIVER_QUEUE_MAX);
        let (gossip_tx, gossip_rx) = tokio::sync::mpsc::channel(GOSSIP_QUEUE_TXS_MAX);
        let height = ledger.head().map_or(0, |h| h.height);
        let shared = Arc::new(ChannelShared::new(
            &id,
            ledger,
            Mempool::new(channel::MEMPOOL_TXS_MAX, channel::MEMPOOL_BYTES_MAX),
            driver_tx,
            gossip_tx,
        ));
        let thread = match config.consensus.kind {
            ConsensusKind::Raft => {
                if fault_mode.is_some() {
                    return Err(NodeError::FaultInjection(
                        "byzantine applies to BFT channels only".into(),
                    ));
                }
                let path = cfg.data_dir.join("channels").join(&id).join("raft.redb");
                let store = storage::RaftStore::open(&path).map_err(|e| file_error(&path, e))?;
                let durable = store.load().map_err(|e| file_error(&path, e))?;
                let seed = u64::from_le_bytes(me.0[..8].try_into().unwrap_or([0; 8]))
                    ^ crate::embedded::now_ms();
                let rcfg = RaftConfig::new(my_id, seed);
                let mut raft = if durable.is_empty() {
                    Raft::new(rcfg, &voters)
                } else {
                    Raft::restart(rcfg, durable)
                }
                .map_err(|e| ch_err(e.to_string()))?;
                if raft.membership().voters().len() == 1 {
                    // A sole voter has no one to wait for: let its election
                    // timeout elapse now rather than after 10 to 20 ticks, so
                    // a single-node appliance is ready in milliseconds.
                    for _ in 0..raft.randomized_election_timeout_ticks() {
                        raft.tick();
                    }
                }
                let driver = Driver::new(
                    raft,
                    store,
                    shared.clone(),
                    net.clone(),
                    peers.clone(),
                    me,
                    driver_rx,
                    tick,
                )
                .map_err(|e| ch_err(e.to_string()))?
                .with_compaction(
                    cfg.raft_compact_every_entries
                        .unwrap_or(catchup::COMPACT_EVERY_ENTRIES_DEFAULT),
                )
                .with_members(members.ids.clone());
                let fatal = fatal.clone();
                std::thread::Builder::new()
                    .name(format!("consensus-{id}"))
                    .spawn(move || {
                        if driver.run().is_err() {
                            fatal.notify_one();
                        }
                    })
                    .map_err(|e| ch_err(e.to_string()))?
            }
            ConsensusKind::Bft => {
                let path = cfg.data_dir.join("channels").join(&id).join("simplex.redb");
                let store = Arc::new(
                    simplex_store::SimplexStore::open(&path).map_err(|e| file_error(&path, e))?,
                );
                let mut scfg = bft::node_simplex_config(my_id, &id, cfg.tick_ms);
                if let Some(n) = cfg.bft_retained_blocks {
                    scfg.max_retained_blocks = n;
                }
                let fault = fault_mode.map(|mode| {
                    fault::FaultInjector::new(
                        mode,
                        my_id,
                        ed25519_dalek::SigningKey::from_bytes(&key.secret()),
                        me,
                        scfg.namespace.clone(),
                    )
                });
                let keys: Vec<[u8; 32]> = consenters.iter().map(|n| n.node_key.0).collect();
                let bft = bft::Bft::open(scfg, &key, &keys, shared.clone(), store.clone(), fault)
                    .map_err(ch_err)?;
                let driver = Driver::new(
                    bft,
                    store,
                    shared.clone(),
                    net.clone(),
                    peers.clone(),
                    me,
                    driver_rx,
                    tick,
                )
                .map_err(|e| ch_err(e.to_string()))?
                .with_members(members.ids.clone());
                let fatal = fatal.clone();
                std::thread::Builder::new()
                    .name(format!("consensus-{id}"))
                    .spawn(move || {
                        if driver.run().is_err() {
                            fatal.notify_one();
                        }
                    })
                    .map_err(|e| ch_err(e.to_string()))?
            }
        };
        tokio::spawn(gossip::gossip_loop(
            shared.clone(),
            net.clone(),
            peers.values().copied().collect(),
            gossip_rx,
        ));
        tracing::info!(channel = %id, node_id = my_id, height, "channel open");
        hosted.insert(
            id,
            Hosted {
                shared,
                peers,
                thread: Some(thread),
            },
        );
    }

    tokio::spawn(membership::follow_configs(
        net.clone(),
        hosted.values().map(|h| h.shared.clone()).collect(),
        me,
        addrs.clone(),
        endpoints.clone(),
    ));

    // Inbound frames: consensus to the driver, transactions to the mempool.
    let mut routes: BTreeMap<String, Route> = BTreeMap::new();
    for (id, h) in &hosted {
        let admission = gossip::Admission::for_channel(h.shared.clone(), gossip::admit_threads())
            .map_err(|e| NodeError::Channel {
            channel: id.clone(),
            reason: format!("cannot start the admission threads: {e}"),
        })?;
        let route = Route {
            shared: h.shared.clone(),
            by_key: h.peers.iter().map(|(n, k)| (*k, *n)).collect(),
            admission,
        };
        routes.insert(id.clone(), route);
    }
    let dispatch_net = net.clone();
    let dispatch = tokio::spawn(async move {
        while let Some(frame) = inbound.recv().await {
            let wire = match Wire::decode(&frame.frame) {
                Ok(w) => w,
                Err(e) => {
                    // Framing is intact (length prefix) but the content is
                    // not a frame of ours: that stream cannot be trusted to
                    // be in step. The peer may reconnect.
                    tracing::warn!(from = %frame.from.to_hex(), "malformed frame ({e}); closing the peer's connection");
                    dispatch_net.close_accepted(&frame.from, "malformed frame");
                    continue;
                }
            };
            // A node talks about a channel only with that channel's
            // consenters: anything else is dropped here.
            let Some(r) = routes.get(wire.channel()) else {
                continue;
            };
            let Some(&from) = r.by_key.get(&frame.from) else {
                continue;
            };
            route(wire, r, from, frame.from, &dispatch_net);
        }
    });

    let state = Arc::new(http::NodeState {
        name: cfg.name.clone(),
        node_key: me,
        channels: hosted
            .iter()
            .map(|(id, h)| (id.clone(), h.shared.clone()))
            .collect(),
        started,
        net: Some(net.clone()),
    });
    let listener = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .map_err(|e| NodeError::Http(format!("cannot listen on {}: {e}", cfg.http_listen)))?;
    tracing::info!(node = %cfg.name, http = %cfg.http_listen, quic = %cfg.listen, "node ready");
    let fatal_wait = fatal.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = fatal_wait.notified() => {}
        }
    };
    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(stop)
        .await;

    // Stop: drivers first (they finish the output in hand), then the network.
    for h in hosted.values() {
        let _ = h.shared.driver.try_send(Input::Stop);
    }
    for h in hosted.values_mut() {
        if let Some(t) = h.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
    dispatch.abort();
    net.close().await;
    served.map_err(|e| NodeError::Http(e.to_string()))?;
    for h in hosted.values() {
        if let Some(reason) = h.shared.failure() {
            return Err(NodeError::Fatal {
                channel: h.shared.id.clone(),
                reason,
            });
        }
    }
    tracing::info!(node = %cfg.name, "node stopped");
    Ok(())
}

/// Where the frames of one hosted channel go.
struct Route {
    shared: Arc<ChannelShared>,
    /// The channel's consenters, by node key.
    by_key: BTreeMap<PublicKey, NodeId>,
    /// Gossiped transactions, to the admission threads.
    admission: gossip::Admission,
}

/// Hands one frame from consenter `from` (key `from_key`) of a channel to
/// whoever handles it; oversized batches are dropped.
fn route(wire: Wire, r: &Route, from: NodeId, from_key: PublicKey, net: &Arc<Network>) {
    let shared = &r.shared;
    match wire {
        Wire::Consensus { message, .. } => deliver(shared, from, message),
        Wire::SyncRequest { from_height, .. } => {
            let _ = shared
                .driver
                .try_send(Input::SyncRequest { from, from_height });
        }
        Wire::SyncBlocks {
            from_height,
            blocks,
            ..
        } if blocks.len() <= wire::SYNC_BLOCKS_PER_FRAME_MAX => {
            let _ = shared.driver.try_send(Input::SyncBlocks {
                from,
                from_height,
                blocks,
            });
        }
        Wire::LedgerRequest { from_height, .. } => {
            let (shared, net) = (shared.clone(), net.clone());
            tokio::task::spawn_blocking(move || {
                serve_ledger_blocks(&shared, &net, from_key, from_height)
            });
        }
        Wire::LedgerBlocks {
            from_height,
            blocks,
            ..
        } if blocks.len() <= catchup::LEDGER_BLOCKS_PER_FRAME_MAX => {
            let _ = shared.driver.try_send(Input::LedgerBlocks {
                from,
                from_height,
                blocks,
            });
        }
        Wire::Txs { txs, .. } if txs.len() <= GOSSIP_TXS_PER_FRAME_MAX => {
            let count = txs.len() as u64;
            if !r.admission.offer(txs) {
                // Their first node gossips them again (REGOSSIP_AFTER_MS).
                shared
                    .metrics
                    .gossip_dropped
                    .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(channel = %shared.id, from, count, "gossiped transactions dropped: admission queue full");
            }
        }
        Wire::SyncBlocks { .. } | Wire::LedgerBlocks { .. } | Wire::Txs { .. } => {
            tracing::debug!(channel = %shared.id, from, "oversized batch dropped");
        }
    }
}

/// Answers a peer's ledger catch-up request with committed blocks from
/// `from_height` (bounded in count and bytes).
fn serve_ledger_blocks(shared: &ChannelShared, net: &Network, to: PublicKey, from_height: u64) {
    let mut blocks = Vec::new();
    let mut bytes = 0usize;
    if let Ok(ledger) = shared.ledger.read() {
        let head = ledger.head().map_or(0, |h| h.height);
        let mut height = from_height.max(1);
        while height <= head && blocks.len() < catchup::LEDGER_BLOCKS_PER_FRAME_MAX {
            match ledger.block_bytes(height) {
                Ok(Some(b))
                    if bytes + b.len() <= catchup::LEDGER_FRAME_BYTES_MAX || blocks.is_empty() =>
                {
                    bytes += b.len();
                    blocks.push(b);
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(channel = %shared.id, height, "cannot read a block to serve: {e}");
                    break;
                }
            }
            height += 1;
        }
    }
    let frame = Wire::LedgerBlocks {
        channel: shared.id.clone(),
        from_height,
        blocks,
    }
    .encode();
    if let Err(e) = net.send(&to, frame) {
        tracing::debug!(channel = %shared.id, "ledger blocks for {} dropped: {e}", to.to_hex());
    }
}
