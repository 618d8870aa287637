//! Seeded fault simulation of Raft: every fault on, zero violations over a
//! fixed seed budget; runs replay exactly.

use productivist_consensus::sim::{SimConfig, run_raft_seed};

/// 250 seeds on 3 nodes and 250 on 5 nodes (a few seconds in the test
/// profile).
const SEEDS_PER_SIZE: u64 = 250;

#[test]
fn test_sim_all_faults_zero_violations() {
    let cfg = SimConfig::all_faults();
    let mut total_commits = 0;
    let mut total_snapshots = 0;
    let mut total_crashes = 0;
    for nodes in [3usize, 5] {
        for seed in 0..SEEDS_PER_SIZE {
            let report = run_raft_seed(seed, nodes, &cfg);
            assert!(
                report.is_ok(),
                "replay with run_raft_seed({seed}, {nodes}, &SimConfig::all_faults()):\n{report}"
            );
            assert!(report.recovery_ticks.is_some());
            total_commits += report.commits;
            total_snapshots += report.snapshots_installed;
            total_crashes += report.crashes;
        }
    }
    // The faults must actually have been exercised.
    assert!(total_commits > 10_000, "commits {total_commits}");
    assert!(total_snapshots > 100, "snapshots {total_snapshots}");
    assert!(total_crashes > 1_000, "crashes {total_crashes}");
}

#[test]
fn test_sim_no_faults_commits_steadily() {
    let cfg = SimConfig::no_faults();
    for seed in 0..20 {
        let report = run_raft_seed(seed, 3, &cfg);
        assert!(report.is_ok(), "{report}");
        assert_eq!(
            report.leaders_elected, 1,
            "one stable leader without faults"
        );
        assert!(report.commits > 100, "{report}");
    }
}

#[test]
fn test_sim_liveness_small_and_large_clusters() {
    let cfg = SimConfig::all_faults();
    for nodes in [1usize, 2, 4, 7] {
        for seed in 0..20 {
            let report = run_raft_seed(seed, nodes, &cfg);
            assert!(report.is_ok(), "run_raft_seed({seed}, {nodes}):\n{report}");
        }
    }
}

#[test]
fn test_sim_replays_exactly() {
    let mut cfg = SimConfig::all_faults();
    cfg.trace_events = 50;
    for seed in [7u64, 42, 1234] {
        let a = run_raft_seed(seed, 5, &cfg);
        let b = run_raft_seed(seed, 5, &cfg);
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(
            (a.commits, a.messages, a.delivered, a.dropped, a.crashes),
            (b.commits, b.messages, b.delivered, b.dropped, b.crashes)
        );
    }
    let other = run_raft_seed(8, 5, &cfg);
    let first = run_raft_seed(7, 5, &cfg);
    assert_ne!(
        (other.messages, other.dropped),
        (first.messages, first.dropped)
    );
}
