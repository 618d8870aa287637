//! Seeded BFT simulation of Simplex: n = 4 with f = 1 Byzantine node
//! (equivocating leader, double votes, withheld votes and certificates,
//! garbage bytes, invalid proposals) under every network fault (loss,
//! delay and reordering, duplication, changing partitions, crash and
//! restart from persisted state only, a slow node). Zero violations over a
//! fixed seed budget; runs replay exactly.

use std::thread;

use productivist_consensus::sim::{SimConfig, SimReport, run_bft_seed};

/// Seeds of the main run (n = 4, f = 1).
const SEEDS: u64 = 500;

/// Runs `seeds` on all cores; each seed is independent and deterministic,
/// so threads change only the wall time.
fn run_parallel(
    seeds: std::ops::Range<u64>,
    nodes: usize,
    byzantine: usize,
    cfg: &SimConfig,
) -> Vec<SimReport> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8) as u64;
    let seeds: Vec<u64> = seeds.collect();
    let chunk = seeds.len().div_ceil(threads as usize).max(1);
    thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| run_bft_seed(*s, nodes, byzantine, cfg))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("seed thread"))
            .collect()
    })
}

#[test]
fn test_bft_sim_all_faults_one_byzantine_zero_violations() {
    let cfg = SimConfig::all_faults();
    let reports = run_parallel(0..SEEDS, 4, 1, &cfg);
    let mut commits = 0;
    let mut crashes = 0;
    let mut dropped = 0;
    let mut worst_recovery = 0;
    for report in &reports {
        assert!(
            report.is_ok(),
            "replay with run_bft_seed({}, 4, 1, &SimConfig::all_faults()):\n{report}",
            report.seed
        );
        let recovery = report.recovery_ticks.expect("liveness probe committed");
        worst_recovery = worst_recovery.max(recovery);
        commits += report.commits;
        crashes += report.crashes;
        dropped += report.dropped;
    }
    assert_eq!(reports.len() as u64, SEEDS);
    // The faults must actually have been exercised.
    assert!(commits > 5_000, "commits {commits}");
    assert!(crashes > 2_000, "crashes {crashes}");
    assert!(dropped > 100_000, "dropped {dropped}");
    assert!(worst_recovery <= cfg.liveness_ticks);
}

#[test]
fn test_bft_sim_no_faults_commits_steadily() {
    let cfg = SimConfig::no_faults();
    for byzantine in [0, 1] {
        for seed in 0..4 {
            let report = run_bft_seed(seed, 4, byzantine, &cfg);
            assert!(report.is_ok(), "{report}");
            assert!(report.commits > 50, "{report}");
        }
    }
}

#[test]
fn test_bft_sim_other_cluster_sizes() {
    let cfg = SimConfig::all_faults();
    for (nodes, byzantine, seeds) in [(1usize, 0usize, 10u64), (3, 0, 10), (7, 2, 10)] {
        for report in run_parallel(0..seeds, nodes, byzantine, &cfg) {
            assert!(
                report.is_ok(),
                "run_bft_seed({}, {nodes}, {byzantine}):\n{report}",
                report.seed
            );
        }
    }
}

#[test]
fn test_bft_sim_replays_exactly() {
    let mut cfg = SimConfig::all_faults();
    cfg.trace_events = 50;
    for seed in [7u64, 42, 1234] {
        let a = run_bft_seed(seed, 4, 1, &cfg);
        let b = run_bft_seed(seed, 4, 1, &cfg);
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(
            (a.commits, a.messages, a.delivered, a.dropped, a.crashes),
            (b.commits, b.messages, b.delivered, b.dropped, b.crashes)
        );
    }
    let first = run_bft_seed(7, 4, 1, &cfg);
    let other = run_bft_seed(8, 4, 1, &cfg);
    assert_ne!(
        (other.messages, other.dropped),
        (first.messages, first.dropped)
    );
}

#[test]
#[should_panic(expected = "at most f")]
fn test_bft_sim_refuses_more_than_f_byzantine() {
    run_bft_seed(0, 4, 2, &SimConfig::all_faults());
}
