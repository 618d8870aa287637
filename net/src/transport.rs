//! The node-to-node network: one QUIC endpoint per node, a bounded outbound
//! queue and a dialing task per peer, and an accept loop feeding one bounded
//! inbound queue.

use crate::allowlist::Allowlist;
use crate::frame::{FRAME_BYTES_MAX_DEFAULT, FrameError, PREFIX_BYTES};
use crate::tls::{SERVER_NAME, TlsError, client_crypto, public_key_of, server_crypto};
use productivist_engine::crypto::{KeyPair, PublicKey};
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest frame accepted or sent.
    pub frame_bytes_max: usize,
    /// Frames queued per peer before `send` reports `Busy`.
    pub peer_queue_frames: usize,
    /// Frames received and not yet taken by the node before readers pause
    /// (QUIC flow control then slows the senders).
    pub inbound_queue_frames: usize,
    /// First reconnection delay.
    pub backoff_min_ms: u64,
    /// Largest reconnection delay.
    pub backoff_max_ms: u64,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout_ms: u64,
}

impl NetConfig {
    /// Defaults for a node listening on `listen`.
    pub fn new(listen: SocketAddr) -> NetConfig {
        NetConfig {
            listen,
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            peer_queue_frames: 1024,
            inbound_queue_frames: 4096,
            backoff_min_ms: 50,
            backoff_max_ms: 5_000,
            idle_timeout_ms: 30_000,
        }
    }
}

/// A frame received from a peer.
#[derive(Debug)]
pub struct Inbound {
    /// The sending node's key (proven by the TLS handshake).
    pub from: PublicKey,
    /// The frame's payload.
    pub frame: Vec<u8>,
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such peer was added.
    #[error("unknown peer {0}")]
    UnknownPeer(PublicKey),
    /// The peer's queue is full: slow down.
    #[error("peer {0} is busy (queue full)")]
    Busy(PublicKey),
    /// The frame is over the size limit.
    #[error(transparent)]
    TooLarge(#[from] FrameError),
}

/// Application error codes on streams and connections.
const CODE_FRAME_TOO_LARGE: u32 = 1;
const CODE_SHUTDOWN: u32 = 2;
const CODE_REMOVED: u32 = 3;
const CODE_MALFORMED: u32 = 4;
/// The byte a server sends to confirm it accepted a client.
const ACK: u8 = 0x06;

struct Peer {
    tx: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
    /// Whether the dialer holds an accepted connection right now.
    connected: Arc<AtomicBool>,
}

/// A node's network.
pub struct Network {
    endpoint: Endpoint,
    key: KeyPair,
    config: NetConfig,
    peers: Mutex<HashMap<PublicKey, Peer>>,
    accept_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The keys allowed to connect; shared with the TLS verifier.
    allow: Allowlist,
    /// Accepted connections by peer, so that a key removed from the
    /// allowlist loses the connections it already has, not only new ones.
    accepted: Arc<Mutex<HashMap<PublicKey, Vec<Connection>>>>,
}

impl Network {
    /// Binds the endpoint and starts accepting peers in `allow`. Returns the
    /// network and the queue of received frames.
    pub fn start(
        key: KeyPair,
        allow: Allowlist,
        config: NetConfig,
    ) -> Result<(Arc<Network>, mpsc::Receiver<Inbound>), NetError> {
        let server_crypto = server_crypto(&key, allow.clone())?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(Arc::new(transport_config(&config)));
        let bind = |source| NetError::Bind {
            addr: config.listen,
            source,
        };
        let socket = std::net::UdpSocket::bind(config.listen).map_err(bind)?;
        let endpoint = Endpoint::new(
            crate::reset::endpoint_config(&key),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind)?;
        let (inbound_tx, inbound_rx) = mpsc::channel(config.inbound_queue_frames.max(1));
        let net = Arc::new(Network {
            endpoint: endpoint.clone(),
            key,
            config: config.clone(),
            peers: Mutex::new(HashMap::new()),
            accept_task: Mutex::new(None),
            allow: allow.clone(),
            accepted: Arc::new(Mutex::new(HashMap::new())),
        });
        let task = tokio::spawn(accept_loop(
            endpoint,
            inbound_tx,
            config.frame_bytes_max,
            allow,
            net.accepted.clone(),
        ));
        if let Ok(mut t) = net.accept_task.lock() {
            *t = Some(task);
        }
        Ok((net, inbound_rx))
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// This node's key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    /// Adds (or re-addresses) a peer: a task dials it, with backoff, and
    /// sends what [`Network::send`] queues for it.
    pub fn add_peer(&self, peer: PublicKey, addr: SocketAddr) {
        let (tx, rx) = mpsc::channel(self.config.peer_queue_frames.max(1));
        let connected = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(peer_loop(
            self.endpoint.clone(),
            self.key.clone(),
            peer,
            addr,
            rx,
            self.config.clone(),
            connected.clone(),
        ));
        if let Ok(mut peers) = self.peers.lock()
            && let Some(old) = peers.insert(
                peer,
                Peer {
                    tx,
                    task,
                    connected,
                },
            )
        {
            old.task.abort();
        }
    }

    /// One handshake with `peer` at `addr`, reported rather than retried:
    /// tells whether the peer is up and is who the channel says it is.
    pub async fn probe(&self, peer: PublicKey, addr: SocketAddr) -> Result<(), String> {
        let (conn, _stream) = connect(&self.endpoint, &self.key, peer, addr, &self.config).await?;
        conn.close(VarInt::from_u32(CODE_SHUTDOWN), b"probe");
        Ok(())
    }

    /// Every peer with whether this node holds a live connection to it now
    /// (for health pages), sorted by key.
    pub fn peer_connections(&self) -> Vec<(PublicKey, bool)> {
        let mut out: Vec<(PublicKey, bool)> = self
            .peers
            .lock()
            .map(|p| {
                p.iter()
                    .map(|(k, p)| (*k, p.connected.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(k, _)| *k);
        out
    }

    /// Makes `keys` the whole set of peers allowed to connect (after a
    /// committed config update): a key no longer allowed is refused at its
    /// next handshake. Returns the keys that lost access. Their current
    /// connections stay until [`Network::disconnect_unallowed`], so that the
    /// caller can let the removed peer learn of its removal first.
    pub fn set_allowed(&self, keys: &BTreeSet<PublicKey>) -> Vec<PublicKey> {
        let before: BTreeSet<PublicKey> = self
            .peers
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default();
        let accepted: BTreeSet<PublicKey> = self
            .accepted
            .lock()
            .map(|a| a.keys().copied().collect())
            .unwrap_or_default();
        self.allow.replace(keys.iter().copied());
        before
            .union(&accepted)
            .filter(|k| !keys.contains(k))
            .copied()
            .collect()
    }

    /// Closes every connection of a key the allowlist no longer holds (with
    /// a reason), and stops dialing it.
    pub fn disconnect_unallowed(&self) -> Vec<PublicKey> {
        let mut lost: BTreeSet<PublicKey> = BTreeSet::new();
        let dialed: Vec<PublicKey> = self
            .peers
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default();
        for k in dialed {
            if !self.allow.contains(&k) {
                self.remove_peer(&k);
                lost.insert(k);
            }
        }
        if let Ok(mut accepted) = self.accepted.lock() {
            accepted.retain(|k, conns| {
                if self.allow.contains(k) {
                    return true;
                }
                for c in conns.drain(..) {
                    c.close(VarInt::from_u32(CODE_REMOVED), b"removed from the channel");
                }
                lost.insert(*k);
                false
            });
        }
        for k in &lost {
            tracing::info!(peer = %k, "peer no longer allowed: connections closed");
        }
        lost.into_iter().collect()
    }

    /// Closes the connections `peer` opened to this node, with `reason`:
    /// for a peer that sent a frame the node could not decode. The peer
    /// stays allowed and may dial again (after its backoff), so a version
    /// mismatch or a corrupted stream costs a reconnection, not the node.
    pub fn close_accepted(&self, peer: &PublicKey, reason: &str) {
        let conns = self
            .accepted
            .lock()
            .map(|mut a| a.remove(peer).unwrap_or_default())
            .unwrap_or_default();
        for c in conns {
            c.close(VarInt::from_u32(CODE_MALFORMED), reason.as_bytes());
        }
    }

    /// Stops talking to a peer (removed from the channel).
    pub fn remove_peer(&self, peer: &PublicKey) {
        if let Ok(mut peers) = self.peers.lock()
            && let Some(old) = peers.remove(peer)
        {
            old.task.abort();
        }
    }

    /// Queues a frame for a peer without waiting. A full queue is
    /// [`SendError::Busy`]: the caller decides whether to drop or retry.
    pub fn send(&self, to: &PublicKey, frame: Vec<u8>) -> Result<(), SendError> {
        if frame.len() > self.config.frame_bytes_max {
            return Err(FrameError::TooLarge {
                len_bytes: frame.len(),
                limit_bytes: self.config.frame_bytes_max,
            }
            .into());
        }
        let tx = self
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(to).map(|p| p.tx.clone()))
            .ok_or(SendError::UnknownPeer(*to))?;
        tx.try_send(frame).map_err(|_| SendError::Busy(*to))
    }

    /// Closes every connection, stops every task, and waits until the
    /// endpoint has told its peers.
    pub async fn close(&self) {
        self.shutdown();
        self.endpoint.wait_idle().await;
    }

    /// Closes every connection and stops every task.
    pub fn shutdown(&self) {
        if let Ok(mut peers) = self.peers.lock() {
            for (_, p) in peers.drain() {
                p.task.abort();
            }
        }
        if let Ok(mut t) = self.accept_task.lock()
            && let Some(t) = t.take()
        {
            t.abort();
        }
        self.endpoint
            .close(VarInt::from_u32(CODE_SHUTDOWN), b"shutdown");
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn transport_config(config: &NetConfig) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_millis(config.idle_timeout_ms)) {
        t.max_idle_timeout(Some(idle));
    }
    t.keep_alive_interval(Some(Duration::from_millis(config.idle_timeout_ms / 3)));
    // A node opens one stream per connection and keeps it; a few spare allow
    // a reconnecting peer's new stream before the old one is reaped.
    t.max_concurrent_uni_streams(VarInt::from_u32(16));
    t.max_concurrent_bidi_streams(VarInt::from_u32(0));
    t
}

/// Most accepted connections remembered per peer: a peer holds one, plus
/// the stale ones of its earlier runs until they are reaped.
const ACCEPTED_PER_PEER_MAX: usize = 8;

type Accepted = Arc<Mutex<HashMap<PublicKey, Vec<Connection>>>>;

async fn accept_loop(
    endpoint: Endpoint,
    inbound: mpsc::Sender<Inbound>,
    frame_bytes_max: usize,
    allow: Allowlist,
    accepted: Accepted,
) {
    while let Some(incoming) = endpoint.accept().await {
        let inbound = inbound.clone();
        let allow = allow.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "refused an incoming connection");
                    return;
                }
            };
            let Some(peer) = peer_key(&conn) else {
                conn.close(VarInt::from_u32(CODE_SHUTDOWN), b"no certificate");
                return;
            };
            if let Ok(mut a) = accepted.lock() {
                let conns = a.entry(peer).or_default();
                conns.retain(|c| c.close_reason().is_none());
                if conns.len() >= ACCEPTED_PER_PEER_MAX {
                    conns
                        .remove(0)
                        .close(VarInt::from_u32(CODE_SHUTDOWN), b"superseded");
                }
                conns.push(conn.clone());
            }
            // The allowlist may have changed between the handshake and the
            // registration above; checked again so that no removal is missed.
            if !allow.contains(&peer) {
                conn.close(VarInt::from_u32(CODE_REMOVED), b"removed from the channel");
                return;
            }
            // In TLS 1.3 the client finishes its handshake before the server
            // has judged the client's certificate; this acknowledgement tells
            // the dialer it was accepted.
            if send_ack(&conn).await.is_err() {
                return;
            }
            read_connection(conn, peer, inbound, frame_bytes_max).await;
        });
    }
}

async fn send_ack(conn: &Connection) -> Result<(), String> {
    let mut s = conn.open_uni().await.map_err(|e| e.to_string())?;
    s.write_all(&[ACK]).await.map_err(|e| e.to_string())?;
    s.finish().map_err(|e| e.to_string())
}

fn peer_key(conn: &Connection) -> Option<PublicKey> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    public_key_of(certs.first()?).ok()
}

async fn read_connection(
    conn: Connection,
    peer: PublicKey,
    inbound: mpsc::Sender<Inbound>,
    frame_bytes_max: usize,
) {
    loop {
        let stream = match conn.accept_uni().await {
            Ok(s) => s,
            Err(_) => return, // closed: the peer's dialer will reconnect
        };
        let inbound = inbound.clone();
        tokio::spawn(read_stream(stream, peer, inbound, frame_bytes_max));
    }
}

/// Reads frames until the stream ends. An oversized frame stops this stream
/// with a logged reason; the connection and the node go on.
async fn read_stream(
    mut stream: RecvStream,
    peer: PublicKey,
    inbound: mpsc::Sender<Inbound>,
    frame_bytes_max: usize,
) {
    loop {
        let mut len = [0u8; PREFIX_BYTES];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > frame_bytes_max {
            tracing::warn!(%peer, len, limit = frame_bytes_max, "oversized frame; closing the stream");
            let _ = stream.stop(VarInt::from_u32(CODE_FRAME_TOO_LARGE));
            return;
        }
        let mut frame = vec![0u8; len];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        if inbound.send(Inbound { from: peer, frame }).await.is_err() {
            return; // the node stopped listening
        }
    }
}

/// Dials `peer` (with exponential backoff) and writes its queued frames on
/// one stream; on any failure, reconnects. The frame being written when a
/// connection fails is lost: consensus protocols retransmit what matters.
async fn peer_loop(
    endpoint: Endpoint,
    key: KeyPair,
    peer: PublicKey,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
    config: NetConfig,
    connected: Arc<AtomicBool>,
) {
    let mut backoff_ms = config.backoff_min_ms.max(1);
    loop {
        match connect(&endpoint, &key, peer, addr, &config).await {
            Ok((conn, mut stream)) => {
                backoff_ms = config.backoff_min_ms.max(1);
                connected.store(true, Ordering::Relaxed);
                tracing::debug!(%peer, %addr, "connected");
                loop {
                    // Watching the connection too: a peer that closes it
                    // (restart, or this node removed from its channel) is
                    // noticed now, not at the next frame.
                    let next = tokio::select! {
                        f = rx.recv() => f,
                        reason = conn.closed() => {
                            tracing::debug!(%peer, %addr, %reason, "connection closed by peer");
                            break;
                        }
                    };
                    let Some(frame) = next else {
                        connected.store(false, Ordering::Relaxed);
                        conn.close(VarInt::from_u32(CODE_SHUTDOWN), b"peer removed");
                        return;
                    };
                    if write_frame(&mut stream, &frame).await.is_err() {
                        break;
                    }
                }
                connected.store(false, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(%peer, %addr, error = %e, backoff_ms, "cannot reach peer");
            }
        }
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        backoff_ms = (backoff_ms * 2).min(config.backoff_max_ms.max(1));
    }
}

async fn connect(
    endpoint: &Endpoint,
    key: &KeyPair,
    peer: PublicKey,
    addr: SocketAddr,
    config: &NetConfig,
) -> Result<(Connection, SendStream), String> {
    let crypto = client_crypto(key, peer).map_err(|e| e.to_string())?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(Arc::new(transport_config(config)));
    let conn = endpoint
        .connect_with(client, addr, SERVER_NAME)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    // Wait for the server's acknowledgement: a refused client learns it here.
    let mut ack_stream = conn.accept_uni().await.map_err(|e| e.to_string())?;
    let mut ack = [0u8; 1];
    ack_stream
        .read_exact(&mut ack)
        .await
        .map_err(|e| e.to_string())?;
    if ack[0] != ACK {
        return Err("peer sent a bad acknowledgement".into());
    }
    let stream = conn.open_uni().await.map_err(|e| e.to_string())?;
    Ok((conn, stream))
}

async fn write_frame(stream: &mut SendStream, frame: &[u8]) -> Result<(), quinn::WriteError> {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(frame).await
}
