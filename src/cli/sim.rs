//! `productivist sim`: the seeded consensus simulator over a range of seeds.

use super::CliError;
use productivist::sim_ledger::LedgerRules;
use productivist_consensus::sim::{SimConfig, SimReport, run_bft_seed, run_raft_seed};
use productivist_engine::config::ConsensusKind;
use rayon::prelude::*;

/// Parses `A..B` (B exclusive) or a single seed `A`.
pub fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, CliError> {
    let bad = || {
        CliError(format!(
            "--seeds {s:?}: expected A..B (B exclusive) or one seed"
        ))
    };
    match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if b <= a {
                return Err(bad());
            }
            Ok(a..b)
        }
        None => {
            let a: u64 = s.trim().parse().map_err(|_| bad())?;
            Ok(a..a.saturating_add(1))
        }
    }
}

pub fn run(
    protocol: &str,
    nodes: usize,
    byzantine: usize,
    seeds: &str,
    threads: usize,
    payloads: &str,
) -> Result<(), CliError> {
    let range = parse_seeds(seeds)?;
    if !(1..=16).contains(&nodes) {
        return Err(CliError(format!("--nodes must be 1 to 16, not {nodes}")));
    }
    let mut cfg = SimConfig::all_faults();
    let kind = if protocol == "bft" {
        ConsensusKind::Bft
    } else {
        ConsensusKind::Raft
    };
    match payloads {
        "ledger" => {
            cfg.payload_rules =
                LedgerRules::shared(nodes, kind).map_err(|e| CliError(e.to_string()))?;
        }
        "checksum" => {}
        other => {
            return Err(CliError(format!(
                "--payloads must be ledger or checksum, not {other:?}"
            )));
        }
    }
    let runner: Box<dyn Fn(u64) -> SimReport + Sync> = match protocol {
        "raft" => {
            if byzantine > 0 {
                return Err(CliError(
                    "Raft tolerates crash faults only: use --byzantine 0".into(),
                ));
            }
            Box::new(move |seed| run_raft_seed(seed, nodes, &cfg))
        }
        "bft" => {
            // n = 3f + 1 tolerates f Byzantine nodes.
            let f = nodes.saturating_sub(1) / 3;
            if byzantine > f {
                return Err(CliError(format!(
                    "{nodes} nodes tolerate at most {f} Byzantine (n = 3f + 1), not {byzantine}"
                )));
            }
            Box::new(move |seed| run_bft_seed(seed, nodes, byzantine, &cfg))
        }
        other => {
            return Err(CliError(format!(
                "--protocol must be raft or bft, not {other:?}"
            )));
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| CliError(e.to_string()))?;
    let started = std::time::Instant::now();
    // Seeds run in chunks so a violation stops the sweep early and the
    // memory held by reports stays bounded.
    const CHUNK_SEEDS: u64 = 1_000;
    let (mut runs, mut commits, mut messages) = (0u64, 0u64, 0u64);
    let mut start = range.start;
    while start < range.end {
        let end = range.end.min(start + CHUNK_SEEDS);
        let reports: Vec<SimReport> =
            pool.install(|| (start..end).into_par_iter().map(&runner).collect());
        for r in &reports {
            runs += 1;
            commits += r.commits;
            messages += r.messages;
            if !r.is_ok() {
                println!("{r}");
                return Err(CliError(format!(
                    "seed {} violated an invariant (replay: productivist sim --protocol {protocol} --nodes {nodes} --byzantine {byzantine} --payloads {payloads} --seeds {})",
                    r.seed, r.seed
                )));
            }
        }
        start = end;
    }
    println!(
        "{protocol}: {runs} seeds, {nodes} nodes, {byzantine} byzantine, {payloads} payloads: 0 violations; {commits} commits, {:.1} messages per commit, {:.1} s",
        if commits == 0 {
            0.0
        } else {
            messages as f64 / commits as f64
        },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
