//! Seeded fault simulation of Raft: zero violations over a seed budget.

use productivist_consensus::sim::{SimConfig, run_raft_seed};

#[test]
fn smoke_no_faults() {
    let cfg = SimConfig::no_faults();
    for seed in 0..5 {
        let report = run_raft_seed(seed, 3, &cfg);
        println!("{report}");
        assert!(report.is_ok(), "{report}");
    }
}

#[test]
fn smoke_all_faults() {
    let cfg = SimConfig::all_faults();
    for seed in 0..20 {
        let report = run_raft_seed(seed, 5, &cfg);
        println!("{report}");
        assert!(report.is_ok(), "{report}");
    }
}
