//! One benchmark run: set up the cluster (or use the given endpoints),
//! fund the senders, pre-sign the transfers, then offer the load for the
//! given time while watching commits, kill and restart a node if asked,
//! drain, and report.

use super::LoadgenError;
use super::cluster::LocalCluster;
use super::events::watch;
use super::metrics::Summary;
use super::plot::{self, Marker};
use super::schedule::Load;
use super::state::Shared;
use super::submit::Worker;
use super::timeline::{self, Recovery, Row};
use super::transfers::{self, PreSigned};
use crate::client::Client;
use crate::network::load_network;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use productivist_engine::config::ConsensusKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest run.
pub const DURATION_S_MAX: u64 = 3_600;
/// After the load, commits are awaited at most this long.
pub const DRAIN_MS_MAX: u64 = 20_000;
/// A transaction not committed this long after it was sent is given up.
pub const COMMIT_TIMEOUT_MS: u64 = 60_000;
/// Most submission connections.
pub const CONNECTIONS_MAX: usize = 1_024;
/// How long the watchers get to open their streams before the load starts.
pub const WATCH_OPEN_MS: u64 = 5_000;
/// Progress refresh.
const TICK_MS: u64 = 250;

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fresh local cluster of node processes.
    Local {
        /// The `productivist` binary.
        exe: PathBuf,
        /// Nodes.
        nodes: usize,
        /// Consensus.
        consensus: ConsensusKind,
        /// Where the network goes (default: a temporary directory).
        dir: Option<PathBuf>,
    },
    /// Running nodes.
    Remote {
        /// Their HTTP addresses (`127.0.0.1:8400` or `http://...`).
        nodes: Vec<String>,
        /// The network directory written by `productivist init` (for the
        /// issuer's and the customers organization's keys).
        network: PathBuf,
    },
}

/// A kill during the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kill {
    /// Second of the run at which a node is killed with SIGKILL.
    pub at_s: u64,
    /// Seconds later, it is restarted.
    pub restart_after_s: u64,
    /// The node (default: the leader at that time, else the last node).
    pub node: Option<usize>,
}

/// A run's options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The cluster.
    pub target: Target,
    /// The load.
    pub load: Load,
    /// Seconds of load.
    pub duration_s: u64,
    /// A node to kill and restart (local clusters only).
    pub kill: Option<Kill>,
    /// Where the CSV and SVG go (none: not written).
    pub out: Option<PathBuf>,
    /// Submission connections.
    pub connections: usize,
    /// Transactions per request (1: `POST .../transactions` each; more:
    /// `POST .../transactions/batch`), at most [`super::submit::BATCH_MAX`].
    pub batch: usize,
    /// Distinct senders.
    pub senders: usize,
    /// Makes this run's keys and transactions distinct from other runs'.
    pub salt: u64,
    /// The channel.
    pub channel: String,
    /// Show a live progress bar (on a terminal).
    pub progress: bool,
    /// The plot's title.
    pub title: String,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Counts and latency percentiles.
    pub summary: Summary,
    /// Per second.
    pub rows: Vec<Row>,
    /// Seconds of load.
    pub duration_s: u64,
    /// Transactions committed during the load, per second of load.
    pub committed_tps: f64,
    /// Transactions acknowledged during the load, per second of load.
    pub submitted_tps: f64,
    /// Kill and restart markers.
    pub markers: Vec<Marker>,
    /// Dip and recovery after the kill.
    pub recovery: Option<Recovery>,
    /// The CSV timeline written.
    pub csv: Option<PathBuf>,
    /// The SVG plot written.
    pub svg: Option<PathBuf>,
    /// Transactions pre-signed.
    pub presigned: u64,
}

fn setup(e: impl std::fmt::Display) -> LoadgenError {
    LoadgenError::Setup(e.to_string())
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .to_string()
}

/// Funds the senders: mints submitted round-robin, then awaited.
fn fund(nodes: &[String], channel: &str, mints: &[Vec<u8>]) -> Result<(), LoadgenError> {
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Client::with_timeout(&format!("http://{n}"), Duration::from_secs(60)))
        .collect();
    for (k, tx) in mints.iter().enumerate() {
        clients[k % clients.len()]
            .submit_retrying(channel, tx, false)
            .map_err(|e| setup(format!("funding: {e}")))?;
    }
    for (k, tx) in mints.iter().enumerate() {
        let state = clients[k % clients.len()]
            .submit_retrying(channel, tx, true)
            .map_err(|e| setup(format!("funding: {e}")))?;
        match state.committed {
            Some((_, _, r)) if r.status.is_valid() => {}
            Some((_, _, r)) => return Err(setup(format!("funding refused: {}", r.status))),
            None => return Err(setup("funding not committed in time")),
        }
    }
    Ok(())
}

/// Runs a benchmark.
pub fn run(o: &Options) -> Result<Report, LoadgenError> {
    if !(1..=DURATION_S_MAX).contains(&o.duration_s) {
        return Err(setup(format!(
            "--duration must be 1 to {DURATION_S_MAX} s, not {}",
            o.duration_s
        )));
    }
    match o.load {
        Load::Rate { per_s: 0 } | Load::ClosedLoop { inflight: 0 } => {
            return Err(setup("the rate or the closed loop must be positive"));
        }
        _ => {}
    }
    if let Some(k) = &o.kill
        && k.at_s >= o.duration_s
    {
        return Err(setup("--kill-at must fall within the run"));
    }
    let mut cluster = None;
    let (nodes, network) = match &o.target {
        Target::Local {
            exe,
            nodes,
            consensus,
            dir,
        } => {
            let mut c = LocalCluster::create(exe, dir.as_deref(), *nodes, *consensus)?;
            c.start_all()?;
            for i in 0..c.len() {
                c.wait_ready(i)?;
            }
            let nodes = c.http_addrs().to_vec();
            let network = c.dir().to_path_buf();
            cluster = Some(Arc::new(Mutex::new(c)));
            (nodes, network)
        }
        Target::Remote { nodes, network } => {
            if o.kill.is_some() {
                return Err(setup("--kill-at needs a local cluster (no --target)"));
            }
            if nodes.is_empty() {
                return Err(setup("no target nodes"));
            }
            (nodes.iter().map(|n| host_of(n)).collect(), network.clone())
        }
    };
    let result = run_on(o, &nodes, &network, cluster.clone());
    if let Some(c) = cluster {
        let killed = c.lock().map(|mut c| c.stop_all()).unwrap_or_default();
        if !killed.is_empty() {
            eprintln!("nodes {killed:?} did not stop after SIGTERM; killed");
        }
    }
    result
}

/// Runs the load against running nodes (`cluster`: the local cluster, for
/// kills).
pub fn run_on(
    o: &Options,
    nodes: &[String],
    network: &Path,
    cluster: Option<Arc<Mutex<LocalCluster>>>,
) -> Result<Report, LoadgenError> {
    let net = load_network(network).map_err(setup)?;
    let budget = o.load.budget(o.duration_s);
    let senders = transfers::senders(network, o.senders, o.salt)?;
    let per_sender = budget / senders.len() as u64 + 1;
    let mints = transfers::mints(&net, &senders, per_sender, &o.channel, o.salt)?;
    fund(nodes, &o.channel, &mints)?;
    let txs: Arc<Vec<PreSigned>> = Arc::new(transfers::transfers(&senders, budget, &o.channel)?);
    let head = Client::new(&format!("http://{}", nodes[0]))
        .latest(&o.channel)
        .map_err(setup)?
        .height;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(setup)?;
    let report = runtime.block_on(drive(o, nodes, txs, head + 1, cluster))?;
    drop(runtime);
    write_outputs(o, report)
}

fn progress_bar(o: &Options) -> ProgressBar {
    if !o.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(o.duration_s), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:24.cyan/blue}] {pos:>3}/{len}s {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn drive(
    o: &Options,
    nodes: &[String],
    txs: Arc<Vec<PreSigned>>,
    from_height: u64,
    cluster: Option<Arc<Mutex<LocalCluster>>>,
) -> Result<Report, LoadgenError> {
    let presigned = txs.len() as u64;
    let shared = Shared::new(match o.load {
        Load::ClosedLoop { inflight } => Some(inflight),
        Load::Rate { .. } => None,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watchers: Vec<_> = nodes
        .iter()
        .map(|n| {
            tokio::spawn(watch(
                n.clone(),
                o.channel.clone(),
                from_height,
                shared.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    // Bounded wait for the event streams (a node that does not answer is
    // retried by its watcher during the run).
    for _ in 0..WATCH_OPEN_MS / 10 {
        if shared.watching.load(Ordering::SeqCst) >= nodes.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if shared.watching.load(Ordering::SeqCst) == 0 {
        return Err(setup("no node's event stream could be opened"));
    }

    shared.start_load();
    let deadline_us = o.duration_s * 1_000_000;
    let connections = o.connections.clamp(1, CONNECTIONS_MAX);
    let node_list: Arc<Vec<String>> = Arc::new(nodes.to_vec());
    let path: Arc<str> = format!("/v1/channels/{}/transactions", o.channel).into();
    let batch_path: Arc<str> = format!("/v1/channels/{}/transactions/batch", o.channel).into();
    let workers: Vec<_> = (0..connections)
        .map(|index| {
            tokio::spawn(
                Worker {
                    index,
                    shared: shared.clone(),
                    txs: txs.clone(),
                    load: o.load,
                    nodes: node_list.clone(),
                    path: path.clone(),
                    batch_path: batch_path.clone(),
                    batch: o.batch,
                    deadline_us,
                }
                .run(),
            )
        })
        .collect();

    let bar = progress_bar(o);
    let mut markers = Vec::new();
    let mut killed: Option<usize> = None;
    let mut restarted = false;
    let drain_end_us = deadline_us + DRAIN_MS_MAX * 1_000;
    let mut ticker = tokio::time::interval(Duration::from_millis(TICK_MS));
    loop {
        ticker.tick().await;
        let now = shared.now_us();
        let second = (now / 1_000_000) as usize;
        // Progress: the last full second's throughput and p99.
        let (submitted, committed, last) = shared.with_recorder(|r| {
            let last = second
                .checked_sub(1)
                .and_then(|s| r.seconds().get(s))
                .map(|s| {
                    (
                        s.committed,
                        super::metrics::quantile_ms(&s.latency_us, 0.99),
                    )
                });
            (r.submitted_count(), r.committed_count(), last)
        });
        let (tps, p99) = last.unwrap_or((0, 0.0));
        bar.set_position((now / 1_000_000).min(o.duration_s));
        bar.set_message(format!(
            "submitted {submitted}  committed {committed}  {tps} tx/s  p99 {p99:.0} ms"
        ));
        shared.expire(now.saturating_sub(COMMIT_TIMEOUT_MS * 1_000));
        if let (Some(k), Some(c)) = (&o.kill, &cluster) {
            if killed.is_none() && now >= k.at_s * 1_000_000 {
                let c = c.clone();
                let choice = k.node;
                let victim = tokio::task::spawn_blocking(move || {
                    let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
                    let n = c.len();
                    let victim = choice
                        .filter(|i| *i < n)
                        .or_else(|| (0..n).find_map(|ask| c.leader(ask)))
                        .unwrap_or(n - 1);
                    c.kill9(victim);
                    victim
                })
                .await
                .map_err(setup)?;
                markers.push(Marker {
                    at_s: shared.now_us() as f64 / 1e6,
                    label: format!("kill -9 node{victim}"),
                    restart: false,
                });
                killed = Some(victim);
            }
            if let Some(victim) = killed
                && !restarted
                && now >= (k.at_s + k.restart_after_s) * 1_000_000
            {
                let c = c.clone();
                tokio::task::spawn_blocking(move || {
                    c.lock().unwrap_or_else(|p| p.into_inner()).start(victim)
                })
                .await
                .map_err(setup)??;
                markers.push(Marker {
                    at_s: shared.now_us() as f64 / 1e6,
                    label: format!("restart node{victim}"),
                    restart: true,
                });
                restarted = true;
            }
        }
        let loading = now < deadline_us && workers.iter().any(|w| !w.is_finished());
        if loading {
            continue;
        }
        // Drain: the restart, if due, must have happened first.
        let restart_due = killed.is_some() && !restarted;
        if (!restart_due && shared.pending_len() == 0) || now >= drain_end_us {
            break;
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    for w in watchers {
        let _ = w.await;
    }
    let lost = shared.expire(u64::MAX);
    let _ = lost;
    bar.finish_and_clear();

    let (summary, rows, in_window) = shared.with_recorder(|r| {
        let secs = o.duration_s as usize;
        let submitted_in: u64 = r.seconds().iter().take(secs).map(|s| s.submitted).sum();
        (
            r.summary(),
            timeline::rows(r.seconds()),
            (r.committed_between(0, secs), submitted_in),
        )
    });
    // The seconds of load only: the drain after them would read as a dip.
    let load_rows = &rows[..rows.len().min(o.duration_s as usize)];
    let recovery = o.kill.and_then(|k| timeline::recovery(load_rows, k.at_s));
    Ok(Report {
        summary,
        rows,
        duration_s: o.duration_s,
        committed_tps: in_window.0 as f64 / o.duration_s as f64,
        submitted_tps: in_window.1 as f64 / o.duration_s as f64,
        markers,
        recovery,
        csv: None,
        svg: None,
        presigned,
    })
}

fn write_outputs(o: &Options, mut report: Report) -> Result<Report, LoadgenError> {
    let Some(out) = &o.out else {
        return Ok(report);
    };
    std::fs::create_dir_all(out).map_err(|e| setup(format!("{}: {e}", out.display())))?;
    let csv = out.join("timeline.csv");
    timeline::write_csv(&csv, &report.rows)
        .map_err(|e| setup(format!("{}: {e}", csv.display())))?;
    let svg_text = plot::svg(&o.title, &report.rows, &report.markers).map_err(setup)?;
    let svg = out.join("timeline.svg");
    std::fs::write(&svg, svg_text).map_err(|e| setup(format!("{}: {e}", svg.display())))?;
    report.csv = Some(csv);
    report.svg = Some(svg);
    Ok(report)
}
