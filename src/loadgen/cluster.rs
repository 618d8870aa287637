//! A local cluster of real `productivist node` processes on 127.0.0.1 for
//! benchmarks: a fresh network in a directory, nodes started, killed with
//! SIGKILL, restarted, and stopped with SIGTERM (SIGKILL after a bound).

use super::LoadgenError;
use crate::client::Client;
use crate::embedded::{genesis_block, now_ms};
use crate::network::write_network;
use crate::node::config::{NodeConfig, node_config_path, write_node_configs};
use productivist_engine::config::ConsensusKind;
use productivist_engine::devnet::{DevNet, DevNetSpec};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Health polls while waiting for a node.
pub const READY_POLL_MS: u64 = 20;
/// How long a node gets to become ready.
pub const READY_TIMEOUT_MS: u64 = 60_000;
/// How long nodes get to stop after SIGTERM before SIGKILL.
pub const STOP_WAIT_MS: u64 = 10_000;
/// Port ranges tried when looking for free ports.
const PORT_TRIES_MAX: u32 = 500;

fn setup(reason: impl std::fmt::Display) -> LoadgenError {
    LoadgenError::Setup(reason.to_string())
}

/// A base port such that `base..base + count` is free for TCP and UDP on
/// 127.0.0.1 (a race with other programs remains possible).
pub fn free_ports(count: u16, salt: u64) -> Result<u16, LoadgenError> {
    // Each call in a process starts 64 ports further: two clusters created
    // at once in one process (parallel tests) would otherwise both find
    // the same range free before either binds it.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = 20_000 + (u64::from(std::process::id()) * 131 + salt * 977 + call * 64) % 20_000;
    for k in 0..u64::from(PORT_TRIES_MAX) {
        let base = ((start + k * 16) % 40_000 + 20_000) as u16;
        let free = (base..base.saturating_add(count)).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if free {
            return Ok(base);
        }
    }
    Err(setup(format!("no free range of {count} ports found")))
}

/// A local cluster.
pub struct LocalCluster {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    exe: PathBuf,
    configs: Vec<PathBuf>,
    http: Vec<String>,
    children: Vec<Option<Child>>,
}

impl LocalCluster {
    /// Writes a fresh network of `nodes` nodes (free ports) into `dir`, or
    /// into a temporary directory removed on drop. `exe` is the
    /// `productivist` binary. No node is started yet.
    pub fn create(
        exe: &Path,
        dir: Option<&Path>,
        nodes: usize,
        kind: ConsensusKind,
    ) -> Result<LocalCluster, LoadgenError> {
        if !(1..=16).contains(&nodes) {
            return Err(setup(format!("--nodes must be 1 to 16, not {nodes}")));
        }
        if kind == ConsensusKind::Bft && nodes < 4 {
            return Err(setup(format!("BFT needs at least 4 nodes, not {nodes}")));
        }
        let (temp, dir) = match dir {
            Some(d) => {
                if crate::network::exists(d) {
                    return Err(setup(format!(
                        "{} already holds a network; give an empty directory",
                        d.display()
                    )));
                }
                (None, d.to_path_buf())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("productivist-bench-")
                    .tempdir()
                    .map_err(setup)?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let n = nodes as u16;
        let quic = free_ports(n, 0)?;
        let mut http = free_ports(n, 1)?;
        if http < quic + n && quic < http + n {
            http = free_ports(n, 7)?;
        }
        let mut spec = DevNetSpec::productivist(None);
        spec.consensus = kind;
        spec.nodes = nodes;
        spec.base_port = quic;
        let net = DevNet::generate(&spec).map_err(setup)?;
        let genesis = genesis_block(&net, now_ms()).map_err(setup)?;
        write_network(&dir, &net, &genesis, false).map_err(setup)?;
        let configs = write_node_configs(&dir, &net, quic, http).map_err(setup)?;
        let http = (0..n).map(|i| format!("127.0.0.1:{}", http + i)).collect();
        Ok(LocalCluster {
            dir,
            _temp: temp,
            exe: exe.to_path_buf(),
            children: configs.iter().map(|_| None).collect(),
            configs,
            http,
        })
    }

    /// The network directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Node `i`'s HTTP address (`127.0.0.1:PORT`).
    pub fn http_addrs(&self) -> &[String] {
        &self.http
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Whether the cluster has no nodes (never, once created).
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> Result<PathBuf, LoadgenError> {
        let c =
            NodeConfig::load(&node_config_path(&self.dir, &format!("node{i}"))).map_err(setup)?;
        Ok(c.data_dir)
    }

    /// Node `i`'s process id, if running.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children.get(i)?.as_ref().map(Child::id)
    }

    /// Starts node `i` (stderr to `DIR/logs/nodeI.stderr`).
    pub fn start(&mut self, i: usize) -> Result<(), LoadgenError> {
        let config = self
            .configs
            .get(i)
            .ok_or_else(|| setup(format!("no node {i}")))?;
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(setup)?;
        let stderr = std::fs::File::create(logs.join(format!("node{i}.stderr"))).map_err(setup)?;
        let child = Command::new(&self.exe)
            .arg("node")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| setup(format!("starting node{i} ({}): {e}", self.exe.display())))?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), LoadgenError> {
        for i in 0..self.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// Kills node `i` with SIGKILL and reaps it.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children.get_mut(i).and_then(Option::take) {
            // std's kill is SIGKILL on unix.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Polls node `i`'s health until it answers and knows a leader (Raft),
    /// or answers (other protocols); returns the time waited.
    pub fn wait_ready(&mut self, i: usize) -> Result<Duration, LoadgenError> {
        let started = Instant::now();
        let client = Client::with_timeout(
            &format!("http://{}", self.http[i]),
            Duration::from_millis(1_000),
        );
        let deadline = started + Duration::from_millis(READY_TIMEOUT_MS);
        loop {
            if let Some(c) = self.children.get_mut(i).and_then(Option::as_mut)
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(setup(format!(
                    "node{i} exited ({status}) while starting; see {}",
                    self.dir.join("logs").display()
                )));
            }
            if let Ok(h) = client.health()
                && h["channels"].as_array().is_some_and(|chs| {
                    chs.iter()
                        .all(|c| !c["leader"].is_null() || c["consensus"] != "raft")
                })
            {
                return Ok(started.elapsed());
            }
            if Instant::now() >= deadline {
                return Err(setup(format!(
                    "node{i} not ready after {READY_TIMEOUT_MS} ms; see {}",
                    self.dir.join("logs").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(READY_POLL_MS));
        }
    }

    /// The index of the node that node `ask` reports as leader.
    pub fn leader(&self, ask: usize) -> Option<usize> {
        let client = Client::with_timeout(
            &format!("http://{}", self.http.get(ask)?),
            Duration::from_millis(2_000),
        );
        let h = client.health().ok()?;
        let id = h["channels"][0]["leader"].as_u64()?;
        // Consensus ids are consenter positions + 1, in node order.
        let idx = usize::try_from(id).ok()?.checked_sub(1)?;
        (idx < self.len()).then_some(idx)
    }

    /// Stops every running node: SIGTERM, then SIGKILL after
    /// [`STOP_WAIT_MS`]. Returns the nodes that had to be killed.
    pub fn stop_all(&mut self) -> Vec<usize> {
        for c in self.children.iter().flatten() {
            terminate(c);
        }
        let deadline = Instant::now() + Duration::from_millis(STOP_WAIT_MS);
        let mut killed = Vec::new();
        for (i, slot) in self.children.iter_mut().enumerate() {
            let Some(mut c) = slot.take() else { continue };
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        killed.push(i);
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        killed
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = child;
    }
}

/// Resident set size of process `pid`, bytes (Linux: `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size of process `pid`, bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|k| k * 1024)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Total size of the files under `dir`, bytes.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
