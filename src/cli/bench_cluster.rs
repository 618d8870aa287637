//! `productivist bench cluster` and `productivist bench footprint`: thin
//! wrappers over `productivist::loadgen`.

use super::CliError;
use productivist::loadgen::{self, Kill, Load, Options, Target, footprint};
use productivist_engine::config::ConsensusKind;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `bench cluster`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Nodes of the local cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Consensus of the local cluster: raft or bft.
    #[arg(long, default_value = "raft")]
    consensus: String,
    /// Open loop: transactions per second offered.
    #[arg(
        long,
        conflicts_with = "closed_loop",
        required_unless_present = "closed_loop"
    )]
    rate: Option<u64>,
    /// Closed loop: transactions kept in flight.
    #[arg(long)]
    closed_loop: Option<u64>,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Kill one node with SIGKILL at this second (local cluster only).
    #[arg(long)]
    kill_at: Option<u64>,
    /// Restart the killed node this many seconds later.
    #[arg(long, default_value_t = 3)]
    restart_after: u64,
    /// The node to kill (default: the leader at that time).
    #[arg(long)]
    kill_node: Option<usize>,
    /// Where the timeline CSV and SVG plot go.
    #[arg(long, default_value = ".productivist/bench")]
    out: PathBuf,
    /// Where the local cluster's network goes (default: a temporary
    /// directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Load running nodes instead: their API URLs, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "network")]
    target: Vec<String>,
    /// With --target: the network directory written by `productivist init`.
    #[arg(long)]
    network: Option<PathBuf>,
    /// Submission connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Transactions per request: 1 posts each on its own; more (at most
    /// 512) posts them together to `.../transactions/batch`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=512))]
    batch: u64,
    /// Distinct sending accounts.
    #[arg(long, default_value_t = loadgen::transfers::SENDERS_DEFAULT)]
    senders: usize,
    /// Seed of the senders' keys (default: the clock, so runs never collide).
    #[arg(long)]
    seed: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn cluster(a: ClusterArgs) -> Result<(), CliError> {
    let load = match (a.rate, a.closed_loop) {
        (Some(per_s), None) => Load::Rate { per_s },
        (None, Some(inflight)) => Load::ClosedLoop { inflight },
        _ => return Err(CliError("give --rate R or --closed-loop C".into())),
    };
    let consensus = ConsensusKind::parse(&a.consensus).ok_or_else(|| {
        CliError(format!(
            "--consensus must be raft or bft, not {:?}",
            a.consensus
        ))
    })?;
    let target = if a.target.is_empty() {
        Target::Local {
            exe: std::env::current_exe().map_err(|e| CliError(format!("own executable: {e}")))?,
            nodes: a.nodes,
            consensus,
            dir: a.dir.clone(),
        }
    } else {
        Target::Remote {
            nodes: a.target.clone(),
            network: a.network.clone().unwrap_or_default(),
        }
    };
    let shape = match load {
        Load::Rate { per_s } => format!("{per_s} tx/s offered"),
        Load::ClosedLoop { inflight } => format!("closed loop, {inflight} in flight"),
    };
    let title = match &target {
        Target::Local { nodes, .. } => format!("{nodes}-node {}, {shape}", consensus.name()),
        Target::Remote { nodes, .. } => format!("{} target node(s), {shape}", nodes.len()),
    };
    let options = Options {
        target,
        load,
        duration_s: a.duration,
        kill: a.kill_at.map(|at_s| Kill {
            at_s,
            restart_after_s: a.restart_after,
            node: a.kill_node,
        }),
        out: Some(a.out.clone()),
        connections: a.connections,
        batch: a.batch as usize,
        senders: a.senders,
        salt: a.seed.unwrap_or_else(productivist::embedded::now_ms),
        channel: "public".into(),
        progress: !a.quiet && std::io::stderr().is_terminal(),
        title: title.clone(),
    };
    eprintln!("{title}, {} s: starting ...", a.duration);
    let r = loadgen::run(&options).map_err(|e| CliError(e.to_string()))?;
    let s = &r.summary;
    println!("{title}, {} s of load:", r.duration_s);
    println!(
        "  committed  {:>9.0} tx/s   (submitted {:.0} tx/s; {} committed, {} invalid, of {} acknowledged)",
        r.committed_tps, r.submitted_tps, s.committed, s.invalid, s.submitted
    );
    println!(
        "  latency    p50 {:.1} ms   p95 {:.1} ms   p99 {:.1} ms   max {:.1} ms   (submit to committed event)",
        s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
    );
    println!(
        "  busy answers {}   rejected {}   transport errors {}   unconfirmed {} (not seen committed before the run ended)",
        s.busy, s.rejected, s.errors, s.lost
    );
    for m in &r.markers {
        println!("  {} at {:.1} s", m.label, m.at_s);
    }
    if let Some(rec) = &r.recovery {
        println!(
            "  before the kill {:.0} tx/s; dip to {} tx/s; recovered (>= 90% for 2 s) {}",
            rec.baseline_tps,
            rec.dip_tps,
            rec.recovery_s
                .map_or("not within the run".to_string(), |s| format!(
                    "{s} s after the kill"
                ))
        );
        if let Some(min) = rec.relapse_min_tps {
            println!(
                "  then {} s below 90% again (lowest {min} tx/s): see the timeline",
                rec.relapse_seconds
            );
        }
    }
    if let (Some(csv), Some(svg)) = (&r.csv, &r.svg) {
        println!("  timeline   {}", csv.display());
        println!("  plot       {}", svg.display());
    }
    Ok(())
}

pub fn footprint(transfers: u64, rate: u64) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError(format!("own executable: {e}")))?;
    eprintln!("one node, one channel; {transfers} transfers at {rate} tx/s ...");
    let f = footprint::measure(&exe, transfers, rate).map_err(|e| CliError(e.to_string()))?;
    println!("Footprint of {}:", exe.display());
    println!(
        "  binary size                 {} ({} bytes)",
        mb(f.binary_bytes),
        f.binary_bytes
    );
    println!("  start to API answering      {:.0} ms", f.api_ms);
    println!("  start to ready (leader)     {:.0} ms", f.ready_ms);
    println!("  idle RSS, one channel       {}", mb(f.idle_rss_bytes));
    println!(
        "  data dir                    {} before, {} after {} transfers",
        mb(f.data_before_bytes),
        mb(f.data_after_bytes),
        f.transfers
    );
    println!(
        "  data growth per 10k         {}",
        mb(f.growth_per_10k_bytes())
    );
    println!(
        "  RSS under load              {} max sampled, {} peak (VmHWM), at {:.0} tx/s",
        mb(f.load_rss_max_bytes),
        mb(f.peak_rss_bytes),
        f.load_tps
    );
    Ok(())
}
