//! The embedded footprint of one node (`productivist bench footprint`):
//! binary size, time from process start to a serving API and to an
//! elected leader, idle resident memory with one channel, data-directory
//! growth per 10,000 transfers, and resident memory under load.

use super::LoadgenError;
use super::cluster::{LocalCluster, dir_bytes, peak_rss_bytes, rss_bytes};
use super::run::{Options, Target, run_on};
use super::schedule::Load;
use crate::client::Client;
use productivist_engine::config::ConsensusKind;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Readiness polls are this far apart (the resolution of the start time).
pub const READY_POLL_MS: u64 = 2;
/// How long a node gets to become ready.
pub const READY_TIMEOUT_MS: u64 = 30_000;
/// Idle time before the idle memory is read.
pub const IDLE_WAIT_MS: u64 = 3_000;
/// Memory samples under load are this far apart.
pub const RSS_SAMPLE_MS: u64 = 50;
/// Senders of the load (few, so funding adds little to the data).
pub const SENDERS: usize = 100;

/// What was measured.
#[derive(Clone, Debug)]
pub struct Footprint {
    /// Size of the binary, bytes.
    pub binary_bytes: u64,
    /// Process start to the API answering, ms.
    pub api_ms: f64,
    /// Process start to a known leader (able to commit), ms.
    pub ready_ms: f64,
    /// Resident memory after [`IDLE_WAIT_MS`] idle, bytes.
    pub idle_rss_bytes: u64,
    /// Data directory before the load (genesis, empty Raft log), bytes.
    pub data_before_bytes: u64,
    /// Data directory after the load, bytes.
    pub data_after_bytes: u64,
    /// Transfers committed by the load.
    pub transfers: u64,
    /// Largest resident memory sampled under load, bytes.
    pub load_rss_max_bytes: u64,
    /// The kernel's peak resident memory of the process, bytes.
    pub peak_rss_bytes: u64,
    /// Committed tx/s of the load.
    pub load_tps: f64,
}

impl Footprint {
    /// Data-directory growth per 10,000 committed transfers, bytes.
    pub fn growth_per_10k_bytes(&self) -> u64 {
        let grown = self.data_after_bytes.saturating_sub(self.data_before_bytes);
        grown.saturating_mul(10_000) / self.transfers.max(1)
    }
}

fn setup(e: impl std::fmt::Display) -> LoadgenError {
    LoadgenError::Setup(e.to_string())
}

/// Measures a single node started from `exe`, loaded with `transfers`
/// transfers offered at `rate` per second.
pub fn measure(exe: &Path, transfers: u64, rate: u64) -> Result<Footprint, LoadgenError> {
    let binary_bytes = std::fs::metadata(exe)
        .map_err(|e| setup(format!("{}: {e}", exe.display())))?
        .len();
    let mut cluster = LocalCluster::create(exe, None, 1, ConsensusKind::Raft)?;
    let url = format!("http://{}", cluster.http_addrs()[0]);
    let client = Client::with_timeout(&url, Duration::from_millis(500));
    let started = Instant::now();
    cluster.start(0)?;
    let deadline = started + Duration::from_millis(READY_TIMEOUT_MS);
    let mut api_ms = None;
    let ready_ms = loop {
        if let Ok(h) = client.health() {
            api_ms.get_or_insert(started.elapsed().as_secs_f64() * 1e3);
            if h["channels"]
                .as_array()
                .is_some_and(|c| c.iter().all(|c| !c["leader"].is_null()))
            {
                break started.elapsed().as_secs_f64() * 1e3;
            }
        }
        if Instant::now() >= deadline {
            return Err(setup("the node did not become ready in time"));
        }
        std::thread::sleep(Duration::from_millis(READY_POLL_MS));
    };
    let pid = cluster
        .pid(0)
        .ok_or_else(|| setup("the node is not running"))?;
    std::thread::sleep(Duration::from_millis(IDLE_WAIT_MS));
    let idle_rss_bytes = rss_bytes(pid).ok_or_else(|| setup("cannot read /proc/PID/status"))?;
    let data_dir = cluster.data_dir(0)?;
    let data_before_bytes = dir_bytes(&data_dir);

    // Sample memory while the load runs.
    let sampling = Arc::new(AtomicBool::new(true));
    let rss_max = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, rss_max) = (sampling.clone(), rss_max.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(r) = rss_bytes(pid) {
                    rss_max.fetch_max(r, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(RSS_SAMPLE_MS));
            }
        })
    };
    let rate = rate.max(1);
    let options = Options {
        target: Target::Remote {
            nodes: cluster.http_addrs().to_vec(),
            network: cluster.dir().to_path_buf(),
        },
        load: Load::Rate { per_s: rate },
        duration_s: transfers.div_ceil(rate).max(1),
        kill: None,
        out: None,
        connections: 32,
        batch: 1,
        senders: SENDERS,
        salt: crate::embedded::now_ms(),
        channel: "public".into(),
        progress: false,
        title: String::new(),
    };
    let nodes = cluster.http_addrs().to_vec();
    let network = cluster.dir().to_path_buf();
    let cluster = Arc::new(Mutex::new(cluster));
    let report = run_on(&options, &nodes, &network, None);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let report = report?;
    let peak_rss_bytes = peak_rss_bytes(pid).unwrap_or(0);
    // Stop cleanly so the sizes are those of a closed store.
    cluster.lock().map(|mut c| c.stop_all()).unwrap_or_default();
    let data_after_bytes = dir_bytes(&data_dir);
    Ok(Footprint {
        binary_bytes,
        api_ms: api_ms.unwrap_or(ready_ms),
        ready_ms,
        idle_rss_bytes,
        data_before_bytes,
        data_after_bytes,
        transfers: report.summary.committed,
        load_rss_max_bytes: rss_max.load(Ordering::Relaxed),
        peak_rss_bytes,
        load_tps: report.committed_tps,
    })
}
