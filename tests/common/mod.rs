//! Helpers shared by the real-process cluster tests: free loopback ports,
//! a cluster of `productivist node` processes made by `productivist init`,
//! SIGKILL and restart, signed transfers, bounded load, and polling with
//! deadlines (never bare sleeps as synchronization).
#![allow(dead_code)] // each test binary uses a different subset

use productivist::client::{Client, ClientError};
use productivist::contracts::api::{AccountArgs, Balance, MintArgs, TOKEN, TransferArgs};
use productivist::engine::crypto::Hash;
use productivist::engine::devnet::Member;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHANNEL: &str = "public";
pub const POLL_MS: u64 = 100;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_productivist")
}

/// Port ranges handed out in this process, so parallel tests never pick
/// the same range.
static NEXT_RANGE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A base port such that base..base+count is free for both TCP and UDP.
pub fn free_ports(count: u16) -> u16 {
    let start = 20_000 + (u64::from(std::process::id()) * 131) % 20_000;
    for _ in 0..500 {
        let k = NEXT_RANGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = (start + k * 16) % 40_000 + 20_000;
        let base = base as u16;
        let all_free = (base..base + count).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no free port range found");
}

pub struct Cluster {
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub configs: Vec<PathBuf>,
    pub clients: Vec<Client>,
    children: Vec<Option<Child>>,
    /// Extra environment per node (fault injection).
    pub envs: Vec<Vec<(String, String)>>,
}

impl Cluster {
    pub fn nodes(&self) -> usize {
        self.configs.len()
    }

    pub fn start(&mut self, i: usize) {
        let log = self.dir.join(format!("node{i}.stderr"));
        let child = Command::new(bin())
            .args(["node", "--config"])
            .arg(&self.configs[i])
            .envs(self.envs[i].iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("stderr file"))
            .spawn()
            .expect("spawn node");
        self.children[i] = Some(child);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes() {
            self.start(i);
        }
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().expect("SIGKILL"); // std's kill is SIGKILL on unix
            c.wait().expect("reap");
        }
    }

    pub fn log_tail(&self, i: usize) -> String {
        let log =
            std::fs::read_to_string(self.dir.join(format!("logs/node{i}.log"))).unwrap_or_default();
        let err =
            std::fs::read_to_string(self.dir.join(format!("node{i}.stderr"))).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!(
            "stderr: {err}\nlog tail:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Polls until every listed node is healthy and knows a leader; returns
    /// the leader's index (Raft: all agree; BFT: the first node's view
    /// leader, which rotates).
    pub fn wait_leader(&self, nodes: &[usize], deadline: Duration) -> usize {
        let end = Instant::now() + deadline;
        loop {
            let mut leaders = Vec::new();
            for &i in nodes {
                if let Ok(h) = self.clients[i].health()
                    && let Some(l) = h["channels"][0]["leader"].as_u64()
                    && h["channels"][0]["role"] != "precandidate"
                {
                    leaders.push(l);
                }
            }
            if leaders.len() == nodes.len() && leaders.iter().all(|l| *l == leaders[0]) {
                let idx = leaders[0] as usize - 1;
                if nodes.contains(&idx) {
                    return idx;
                }
            }
            assert!(
                Instant::now() < end,
                "no common leader among {nodes:?} in time; {}",
                self.log_tail(nodes[0])
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    /// Polls until every listed node answers `/health` with status ok.
    pub fn wait_healthy(&self, nodes: &[usize], deadline: Duration) {
        let end = Instant::now() + deadline;
        for &i in nodes {
            loop {
                if let Ok(h) = self.clients[i].health()
                    && h["status"] == "ok"
                {
                    break;
                }
                assert!(
                    Instant::now() < end,
                    "node{i} not healthy in time; {}",
                    self.log_tail(i)
                );
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
        }
    }

    /// Polls until the listed nodes have the same head (height, hash, state
    /// root); returns it.
    pub fn wait_converged(&self, nodes: &[usize], deadline: Duration) -> (u64, String, String) {
        let end = Instant::now() + deadline;
        loop {
            let heads: Vec<_> = nodes
                .iter()
                .filter_map(|&i| self.clients[i].latest(CHANNEL).ok())
                .map(|b| (b.height, b.hash, b.state_root))
                .collect();
            if heads.len() == nodes.len() && heads.iter().all(|h| *h == heads[0]) {
                return heads[0].clone();
            }
            assert!(
                Instant::now() < end,
                "nodes {nodes:?} did not converge: {heads:?}; {}",
                self.log_tail(nodes[nodes.len() - 1])
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    /// A Prometheus counter of node `i` for the channel (0 if absent).
    pub fn metric(&self, i: usize, name: &str) -> u64 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let Ok(mut r) = agent
            .get(&format!("{}/v1/metrics", self.clients[i].base()))
            .call()
        else {
            return 0;
        };
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let prefix = format!("productivist_{name}{{channel=\"{CHANNEL}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sets a top-level key of node `i`'s TOML config (before its tables).
    pub fn set_config(&self, i: usize, line: &str) {
        let path = &self.configs[i];
        let text = std::fs::read_to_string(path).expect("config");
        std::fs::write(path, format!("{line}\n{text}")).expect("write config");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill9(i);
        }
    }
}

/// `productivist init --nodes N --consensus KIND` in a temporary directory
/// on free loopback ports; nothing started yet.
pub fn init_cluster(nodes: usize, consensus: &str) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let quic = free_ports(nodes as u16);
    let http = free_ports(nodes as u16);
    let out = Command::new(bin())
        .args([
            "init",
            "--nodes",
            &nodes.to_string(),
            "--consensus",
            consensus,
            "--out",
        ])
        .arg(&path)
        .args([
            "--base-port",
            &quic.to_string(),
            "--http-base-port",
            &http.to_string(),
        ])
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let configs: Vec<PathBuf> = (0..nodes)
        .map(|i| path.join("nodes").join(format!("node{i}.toml")))
        .collect();
    for c in &configs {
        assert!(c.exists(), "{} written by init", c.display());
    }
    let clients = (0..nodes)
        .map(|i| {
            Client::with_timeout(
                &format!("http://127.0.0.1:{}", http + i as u16),
                Duration::from_secs(20),
            )
        })
        .collect();
    Cluster {
        _dir: dir,
        dir: path,
        configs,
        clients,
        children: (0..nodes).map(|_| None).collect(),
        envs: vec![Vec::new(); nodes],
    }
}

pub fn call(
    m: &Member,
    contract: &str,
    method: &str,
    args: &impl borsh::BorshSerialize,
    nonce: u64,
) -> Vec<u8> {
    m.call_bytes(
        CHANNEL,
        contract,
        method,
        borsh::to_vec(args).expect("args"),
        nonce,
    )
}

/// Mints `amount` to each account through the listed nodes, waiting for
/// each mint to commit.
pub fn fund(
    cluster: &Cluster,
    nodes: &[usize],
    issuer: &Member,
    accounts: &[&Member],
    amount: u64,
) {
    for (k, m) in accounts.iter().enumerate() {
        let tx = call(
            issuer,
            TOKEN,
            "mint",
            &MintArgs {
                to: m.account(),
                amount,
                reference: format!("SEPA-{k}"),
            },
            k as u64,
        );
        let state = cluster.clients[nodes[k % nodes.len()]]
            .submit_retrying(CHANNEL, &tx, true)
            .expect("mint");
        let (_, _, result) = state.committed.expect("mint committed");
        assert!(result.status.is_valid(), "mint: {:?}", result.status);
    }
}

/// Submits `txs` round-robin over `nodes` without waiting (retrying "busy"
/// and transport errors of a node by moving to the next one); returns the
/// acknowledged ids.
pub fn load(cluster: &Cluster, nodes: &[usize], txs: &[Vec<u8>]) -> Vec<Hash> {
    let mut acked = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let client = &cluster.clients[i];
                let mine: Vec<&Vec<u8>> = txs.iter().skip(k).step_by(nodes.len()).collect();
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for tx in mine {
                        match client.submit_retrying(CHANNEL, tx, false) {
                            Ok(state) => ids.push(state.id),
                            Err(e) => panic!("submission to node{i} failed: {e}"),
                        }
                    }
                    ids
                })
            })
            .collect();
        for h in handles {
            acked.extend(h.join().expect("load thread"));
        }
    });
    acked
}

pub fn wait_committed(client: &Client, ids: &[Hash], deadline: Duration) {
    let end = Instant::now() + deadline;
    for id in ids {
        loop {
            match client.tx(CHANNEL, id) {
                Ok(Some(s)) if s.committed.is_some() => break,
                Ok(_) | Err(ClientError::Transport { .. }) => {}
                Err(e) => panic!("tx {id}: {e}"),
            }
            assert!(
                Instant::now() < end,
                "{id} not committed at {} in time",
                client.base()
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }
}

pub fn balances(client: &Client, members: &[&Member]) -> Vec<u64> {
    members
        .iter()
        .map(|m| {
            let args = borsh::to_vec(&AccountArgs {
                account: m.account(),
            })
            .expect("args");
            let out = client
                .query(CHANNEL, TOKEN, "balance", &args)
                .expect("balance query");
            borsh::from_slice::<Balance>(&out).expect("balance").amount
        })
        .collect()
}

pub fn transfers(members: &[&Member], count: usize, nonce_base: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|k| {
            let from = members[k % members.len()];
            let to = members[(k + 1) % members.len()];
            call(
                from,
                TOKEN,
                "transfer",
                &TransferArgs {
                    to: to.account(),
                    amount: 1 + (k % 3) as u64,
                    memo: format!("load {k}"),
                },
                nonce_base + k as u64,
            )
        })
        .collect()
}
