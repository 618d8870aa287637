//! The load generator against a real local cluster of node processes:
//! `loadgen::run` starts 3 Raft nodes, funds its senders, offers a small
//! open-loop load for a few seconds while killing and restarting the
//! leader, and reports committed transactions, a CSV timeline with the
//! documented columns, and an SVG plot with the kill and restart markers.

use productivist::engine::config::ConsensusKind;
use productivist::loadgen::timeline::CSV_HEADER;
use productivist::loadgen::{Kill, Load, Options, Target, run};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_productivist")
}

#[test]
fn bench_cluster_reports_commits_and_writes_timeline_and_plot() {
    let out = tempfile::tempdir().expect("tempdir");
    let options = Options {
        target: Target::Local {
            exe: bin().into(),
            nodes: 3,
            consensus: ConsensusKind::Raft,
            dir: None,
        },
        load: Load::Rate { per_s: 300 },
        duration_s: 5,
        kill: Some(Kill {
            at_s: 2,
            restart_after_s: 1,
            node: None,
        }),
        out: Some(out.path().to_path_buf()),
        connections: 8,
        batch: 1,
        senders: 50,
        salt: 7,
        channel: "public".into(),
        progress: false,
        title: "3-node raft test".into(),
    };
    let report = run(&options).expect("bench run");
    let s = &report.summary;
    assert!(s.committed > 0, "nothing committed: {s:?}");
    assert_eq!((s.invalid, s.rejected), (0, 0), "{s:?}");
    assert!(s.submitted <= report.presigned);
    assert!(report.committed_tps > 0.0);
    assert!(
        s.p50_ms > 0.0 && s.p50_ms <= s.p99_ms && s.p99_ms <= s.max_ms,
        "{s:?}"
    );
    // Every acknowledged transaction is accounted for.
    assert!(s.committed + s.lost >= s.submitted, "{s:?}");
    let labels: Vec<&str> = report.markers.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels[0].starts_with("kill -9 node"), "{labels:?}");
    assert!(labels[1].starts_with("restart node"), "{labels:?}");
    assert!(report.recovery.is_some());

    let csv = std::fs::read_to_string(report.csv.as_ref().expect("csv path")).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    assert_eq!(CSV_HEADER, "second,submitted,committed,p50_ms,p99_ms");
    let mut committed = 0u64;
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 5, "{line}");
        assert_eq!(cells[0].parse::<usize>().expect("second"), i);
        cells[1].parse::<u64>().expect("submitted");
        committed += cells[2].parse::<u64>().expect("committed");
        let p50: f64 = cells[3].parse().expect("p50");
        let p99: f64 = cells[4].parse().expect("p99");
        assert!(p50 <= p99, "{line}");
        rows += 1;
    }
    assert!(rows >= 5, "{csv}");
    assert_eq!(committed, s.committed, "the timeline sums to the total");

    let svg = std::fs::read_to_string(report.svg.as_ref().expect("svg path")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("kill -9 node") && svg.contains("restart node"));
}

#[test]
fn bench_cluster_submits_batches_and_every_acknowledged_one_commits() {
    let options = Options {
        target: Target::Local {
            exe: bin().into(),
            nodes: 1,
            consensus: ConsensusKind::Raft,
            dir: None,
        },
        // Fewer in flight than a batch: batches of 12 (a batch of 16
        // would wait for permits that never come).
        load: Load::ClosedLoop { inflight: 12 },
        duration_s: 2,
        kill: None,
        out: None,
        connections: 4,
        batch: 16,
        senders: 50,
        salt: 11,
        channel: "public".into(),
        progress: false,
        title: "batched".into(),
    };
    let report = run(&options).expect("bench run");
    let s = &report.summary;
    assert!(s.committed > 0, "nothing committed: {s:?}");
    assert_eq!((s.invalid, s.rejected, s.lost), (0, 0, 0), "{s:?}");
    assert_eq!(s.committed, s.submitted, "{s:?}");
}

#[test]
fn bench_cluster_refuses_bad_arguments_in_one_line() {
    for args in [
        vec!["bench", "cluster", "--duration", "1"],
        vec!["bench", "cluster", "--rate", "10", "--consensus", "paxos"],
        vec!["bench", "cluster", "--rate", "10", "--batch", "0"],
        vec!["bench", "cluster", "--rate", "10", "--batch", "513"],
        vec![
            "bench",
            "cluster",
            "--rate",
            "10",
            "--duration",
            "2",
            "--kill-at",
            "5",
        ],
    ] {
        let out = Command::new(bin()).args(&args).output().expect("run");
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}: no error");
    }
}
