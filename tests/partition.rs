//! Network partitions with real `productivist node` processes: every QUIC
//! packet between two nodes goes through a test-only UDP relay that can
//! drop a link's traffic. The minority side stalls, the majority side goes
//! on committing, and after the partition heals every node converges to the
//! same head and state root with no acknowledged transaction lost.
//! Raft (3 nodes, the leader isolated) and Simplex BFT (4 nodes, one
//! isolated).
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::*;
use productivist::engine::crypto::Hash;
use productivist::engine::devnet::Member;
use productivist::network::load_network;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A relay thread wakes this often to notice it should stop.
const RELAY_POLL_MS: u64 = 20;
/// Largest UDP datagram a relay forwards.
const DATAGRAM_BYTES_MAX: usize = 65_536;
const TOTAL: u64 = 1_000_000;

/// One direction of node-to-node traffic: node `from` dials `front`, the
/// relay forwards to node `to`'s real address from `back`, and answers
/// coming back to `back` return to whoever dialed `front`.
struct Link {
    from: usize,
    to: usize,
    front: Arc<UdpSocket>,
}

/// The relays of a cluster, with a cut flag per unordered pair of nodes.
struct Relay {
    nodes: usize,
    cut: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    /// Datagrams forwarded and dropped (so the test can tell that traffic
    /// really goes through the relay, and that the cut really cuts).
    forwarded: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    links: Vec<Link>,
    threads: Vec<JoinHandle<()>>,
}

/// Two relay sockets on ports handed out by `free_ports`, never an
/// ephemeral port: the OS could give a relay the QUIC port a node of this
/// or a concurrent test is about to bind.
fn relay_sockets() -> (UdpSocket, UdpSocket) {
    for _ in 0..20 {
        let base = free_ports(2);
        if let (Ok(front), Ok(back)) = (
            UdpSocket::bind(("127.0.0.1", base)),
            UdpSocket::bind(("127.0.0.1", base + 1)),
        ) {
            return (front, back);
        }
    }
    panic!("no free ports for a relay");
}

impl Relay {
    /// Relays for every ordered pair of `targets` (the nodes' real QUIC
    /// addresses).
    fn start(targets: &[SocketAddr]) -> Relay {
        let n = targets.len();
        let cut: Arc<Vec<AtomicBool>> =
            Arc::new((0..n * n).map(|_| AtomicBool::new(false)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut links = Vec::new();
        let mut threads = Vec::new();
        for from in 0..n {
            for (to, &target) in targets.iter().enumerate() {
                if from == to {
                    continue;
                }
                let (front, back) = relay_sockets();
                let (front, back) = (Arc::new(front), Arc::new(back));
                let timeout = Some(Duration::from_millis(RELAY_POLL_MS));
                front.set_read_timeout(timeout).expect("timeout");
                back.set_read_timeout(timeout).expect("timeout");
                let dialer: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
                let pair = from.min(to) * n + from.max(to);
                // Dialer to target.
                {
                    let (front, back, dialer, cut, stop) = (
                        front.clone(),
                        back.clone(),
                        dialer.clone(),
                        cut.clone(),
                        stop.clone(),
                    );
                    let (forwarded, dropped) = (forwarded.clone(), dropped.clone());
                    threads.push(std::thread::spawn(move || {
                        let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
                        while !stop.load(Ordering::Relaxed) {
                            let Ok((len, src)) = front.recv_from(&mut buf) else {
                                continue;
                            };
                            if let Ok(mut d) = dialer.lock() {
                                *d = Some(src);
                            }
                            if cut[pair].load(Ordering::Relaxed) {
                                dropped.fetch_add(1, Ordering::Relaxed);
                            } else if back.send_to(&buf[..len], target).is_ok() {
                                forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                // Target back to the dialer.
                {
                    let (front, back, dialer, cut, stop) =
                        (front.clone(), back, dialer, cut.clone(), stop.clone());
                    let (forwarded, dropped) = (forwarded.clone(), dropped.clone());
                    threads.push(std::thread::spawn(move || {
                        let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
                        while !stop.load(Ordering::Relaxed) {
                            let Ok((len, _)) = back.recv_from(&mut buf) else {
                                continue;
                            };
                            let to = dialer.lock().ok().and_then(|d| *d);
                            if cut[pair].load(Ordering::Relaxed) {
                                dropped.fetch_add(1, Ordering::Relaxed);
                            } else if let Some(to) = to
                                && front.send_to(&buf[..len], to).is_ok()
                            {
                                forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                links.push(Link { from, to, front });
            }
        }
        Relay {
            nodes: n,
            cut,
            stop,
            forwarded,
            dropped,
            links,
            threads,
        }
    }

    /// The address node `from` must use to reach node `to`.
    fn address(&self, from: usize, to: usize) -> SocketAddr {
        self.links
            .iter()
            .find(|l| l.from == from && l.to == to)
            .and_then(|l| l.front.local_addr().ok())
            .expect("relay link")
    }

    /// Cuts every link between `side` and the other nodes.
    fn isolate(&self, side: &[usize]) {
        for a in 0..self.nodes {
            for b in 0..self.nodes {
                if a < b && side.contains(&a) != side.contains(&b) {
                    self.cut[a * self.nodes + b].store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn heal(&self) {
        for c in self.cut.iter() {
            c.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Points every node's peers at the relay.
fn route_through(cluster: &Cluster, relay: &Relay) {
    for (i, path) in cluster.configs.iter().enumerate() {
        let text = std::fs::read_to_string(path).expect("config");
        let mut config: toml::Table = toml::from_str(&text).expect("toml");
        let peers = config
            .get_mut("peers")
            .and_then(|p| p.as_array_mut())
            .expect("peers");
        for peer in peers {
            let name = peer["name"].as_str().expect("peer name").to_string();
            let j: usize = name.trim_start_matches("node").parse().expect("node index");
            peer.as_table_mut().expect("peer table").insert(
                "addr".into(),
                toml::Value::String(relay.address(i, j).to_string()),
            );
        }
        std::fs::write(path, toml::to_string(&config).expect("toml")).expect("write config");
    }
}

fn quic_addresses(cluster: &Cluster) -> Vec<SocketAddr> {
    cluster
        .configs
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("config");
            let config: toml::Table = toml::from_str(&text).expect("toml");
            config["listen"]
                .as_str()
                .expect("listen")
                .parse()
                .expect("address")
        })
        .collect()
}

fn accounts(net: &productivist::network::LoadedNetwork) -> Vec<&Member> {
    ["carla", "dora", "anna", "ben", "eric"]
        .iter()
        .map(|n| net.member(n).expect("member"))
        .collect()
}

fn height(cluster: &Cluster, i: usize) -> Option<u64> {
    cluster.clients[i].latest(CHANNEL).ok().map(|b| b.height)
}

/// Submits to `node` and returns the acknowledged id without waiting.
fn submit_one(cluster: &Cluster, node: usize, tx: &[u8]) -> Hash {
    cluster.clients[node]
        .submit_retrying(CHANNEL, tx, false)
        .expect("submission acknowledged")
        .id
}

fn partition_then_heal(nodes: usize, consensus: &str, isolated_is_leader: bool) {
    let t0 = Instant::now();
    let mut cluster = init_cluster(nodes, consensus);
    let relay = Relay::start(&quic_addresses(&cluster));
    route_through(&cluster, &relay);
    cluster.start_all();
    let all: Vec<usize> = (0..nodes).collect();
    cluster.wait_healthy(&all, Duration::from_secs(30));
    let net = load_network(&cluster.dir).expect("network");
    let issuer = net.member("issuer").expect("issuer");
    let accounts = accounts(&net);
    fund(&cluster, &all, issuer, &accounts, TOTAL / 5);

    // Before: everyone commits.
    let before = transfers(&accounts, 60, 1_000);
    let mut acked = load(&cluster, &all, &before);
    for &i in &all {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(40));
    }

    assert!(
        relay.forwarded.load(Ordering::Relaxed) > 0,
        "node traffic does not go through the relay"
    );
    // Every node reports its peers connected (`/v1/health`, the explorer).
    for &i in &all {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let health = cluster.clients[i].health().expect("health");
            let peers = health["peers"].as_array().cloned().unwrap_or_default();
            if peers.len() == nodes - 1 && peers.iter().all(|p| p["connected"] == true) {
                break;
            }
            assert!(Instant::now() < end, "node{i} peers: {peers:?}");
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    // Partition one node away (Raft: the leader, so the others must elect).
    let isolated = if isolated_is_leader {
        cluster.wait_leader(&all, Duration::from_secs(30))
    } else {
        nodes - 1
    };
    let majority: Vec<usize> = all.iter().copied().filter(|&i| i != isolated).collect();
    relay.isolate(&[isolated]);
    let stalled_at = height(&cluster, isolated).expect("isolated node answers");
    // A client of the isolated node is acknowledged (pending) but cannot
    // commit there; it must not be lost.
    let stranded = transfers(&accounts, 1, 5_000);
    acked.push(submit_one(&cluster, isolated, &stranded[0]));

    // The majority goes on: new transactions commit on its side.
    let during = transfers(&accounts, 60, 2_000);
    let acked_during = load(&cluster, &majority, &during);
    for &i in &majority {
        wait_committed(&cluster.clients[i], &acked_during, Duration::from_secs(60));
    }
    acked.extend(acked_during.iter().copied());
    let majority_height = height(&cluster, majority[0]).expect("majority answers");
    // The minority stalls: at most the blocks that were already being
    // decided when the link was cut, never the majority's new ones.
    let minority_height = height(&cluster, isolated).expect("isolated node answers");
    assert!(
        minority_height < majority_height,
        "isolated node{isolated} at {minority_height} (from {stalled_at}) kept up with the majority at {majority_height}"
    );
    assert!(
        cluster.clients[isolated]
            .tx(CHANNEL, &acked_during[0])
            .expect("tx query")
            .is_none_or(|s| s.committed.is_none()),
        "the isolated node committed a transaction of the majority's side"
    );

    assert!(
        relay.dropped.load(Ordering::Relaxed) > 0,
        "the partition dropped nothing"
    );

    // Heal: everyone converges, and nothing acknowledged is lost (the
    // stranded transaction is gossiped again and committed).
    relay.heal();
    let after = transfers(&accounts, 30, 3_000);
    acked.extend(load(&cluster, &all, &after));
    for &i in &all {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(90));
    }
    let (h, _, root) = cluster.wait_converged(&all, Duration::from_secs(60));
    let dropped = relay.dropped.load(Ordering::Relaxed);
    assert!(h > majority_height);
    let reference = balances(&cluster.clients[0], &accounts);
    assert_eq!(reference.iter().sum::<u64>(), TOTAL, "tokens conserved");
    for &i in &all[1..] {
        assert_eq!(balances(&cluster.clients[i], &accounts), reference);
    }
    eprintln!(
        "{consensus}: {nodes} nodes, node{isolated} isolated at height {stalled_at} ({dropped} datagrams dropped); converged at {h} (root {root}) in {:?}",
        t0.elapsed()
    );
}

#[test]
fn raft_leader_cut_off_stalls_the_majority_elects_and_all_converge_after_healing() {
    partition_then_heal(3, "raft", true);
}

#[test]
fn bft_node_cut_off_stalls_the_other_three_go_on_and_all_converge_after_healing() {
    partition_then_heal(4, "bft", false);
}
