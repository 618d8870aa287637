//! A real 4-node Simplex BFT cluster of `productivist node` processes on
//! loopback, under a bounded load of signed token transfers:
//!
//! - a node killed with SIGKILL while clients keep committing transfers
//!   through the others, and restarted once they finalized more blocks
//!   than they keep in memory, catches up by block sync while the load
//!   goes on; every node ends with the same height and state root and no
//!   acknowledged (answered committed) transaction is lost;
//! - a node that signs conflicting proposals and votes (or sends garbage)
//!   does not stop the three honest ones, which agree, commit, and record
//!   its equivocation as evidence;
//! - a backlog larger than one proposal, built while no quorum was up,
//!   commits in several blocks once the quorum is back.
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::*;
use productivist::engine::devnet::Member;
use productivist::network::load_network;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NODES: usize = 4;
/// Finalized blocks each replica keeps in memory: small, so that a node
/// down for a few seconds needs block sync (not the protocol's own fetch).
const RETAINED_BLOCKS: u64 = 4;
const TOTAL: u64 = 5_000_000;
/// Most transfers each phase-2 client submits (it stops earlier, once the
/// restarted node caught up).
const PHASE2_PER_CLIENT: usize = 200;

fn accounts(net: &productivist::network::LoadedNetwork) -> Vec<&Member> {
    ["carla", "dora", "anna", "ben", "eric"]
        .iter()
        .map(|n| net.member(n).expect("member"))
        .collect()
}

/// Starts every node, waits until each answers, and funds the test
/// accounts; returns the network (members and keys).
fn start_funded(cluster: &mut Cluster) -> productivist::network::LoadedNetwork {
    cluster.start_all();
    let all = [0, 1, 2, 3];
    cluster.wait_healthy(&all, Duration::from_secs(30));
    let net = load_network(&cluster.dir).expect("network");
    let issuer = net.member("issuer").expect("issuer");
    fund(cluster, &all, issuer, &accounts(&net), TOTAL / 5);
    net
}

/// Simplex's finalized height at node `i` (from `/health`).
fn finalized(cluster: &Cluster, i: usize) -> Option<u64> {
    cluster.clients[i].health().ok()?["channels"][0]["commit"].as_u64()
}

#[test]
fn four_bft_nodes_agree_under_load_and_a_killed_node_catches_up_by_block_sync() {
    let t0 = Instant::now();
    let mut cluster = init_cluster(NODES, "bft");
    for i in 0..NODES {
        cluster.set_config(i, &format!("bft_retained_blocks = {RETAINED_BLOCKS}"));
    }
    let net = start_funded(&mut cluster);
    let all = [0, 1, 2, 3];
    let accounts = accounts(&net);

    // Phase 1: load on every node.
    let phase1 = transfers(&accounts, 150, 1_000);
    let acked1 = load(&cluster, &all, &phase1);
    assert_eq!(acked1.len(), phase1.len());
    for i in all {
        wait_committed(&cluster.clients[i], &acked1, Duration::from_secs(40));
    }
    let head = cluster.wait_converged(&all, Duration::from_secs(20));
    let expected = balances(&cluster.clients[0], &accounts);
    assert_eq!(
        expected.iter().sum::<u64>(),
        TOTAL,
        "transfers conserve tokens"
    );
    for i in 1..NODES {
        assert_eq!(balances(&cluster.clients[i], &accounts), expected);
    }
    eprintln!("phase 1: height {} after {:?}", head.0, t0.elapsed());

    // Phase 2: three clients keep submitting transfers to three nodes and
    // waiting for each to commit (acknowledged = answered committed) while
    // the fourth is killed with SIGKILL, stays down until the others
    // finalized well past what they keep in memory, restarts and catches
    // up; then the load stops.
    let victim = 3;
    let rest = [0, 1, 2];
    let phase2 = transfers(&accounts, 3 * PHASE2_PER_CLIENT, 100_000);
    let acked = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let wait_acked = |n: usize| {
        let end = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < end, "load stalled before {n} commits");
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    };
    let clients = cluster.clients.clone();
    let (acked2, acked_while_down) = std::thread::scope(|s| {
        let loaders: Vec<_> = rest
            .iter()
            .map(|&i| {
                let (client, mine) = (&clients[i], &phase2);
                let (acked, stop) = (&acked, &stop);
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for tx in mine.iter().skip(i).step_by(rest.len()) {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let state = client
                            .submit_retrying(CHANNEL, tx, true)
                            .expect("submit while a node is down");
                        assert!(state.committed.is_some(), "answered committed");
                        ids.push(state.id);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    ids
                })
            })
            .collect();
        wait_acked(6);
        let before = finalized(&cluster, victim).expect("victim's height");
        cluster.kill9(victim);
        let acked_at_kill = acked.load(Ordering::SeqCst);
        eprintln!(
            "killed node{victim} at finalized height {before} at {:?}",
            t0.elapsed()
        );
        // Bounded wait for the others to move far enough ahead.
        let target = before + 3 * RETAINED_BLOCKS;
        let end = Instant::now() + Duration::from_secs(40);
        while rest
            .iter()
            .any(|&i| finalized(&cluster, i).is_none_or(|h| h < target))
        {
            assert!(
                Instant::now() < end,
                "the others did not reach height {target}"
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
        let acked_while_down = acked.load(Ordering::SeqCst) - acked_at_kill;
        cluster.start(victim);
        eprintln!("restarted node{victim} at {:?}", t0.elapsed());
        // Caught up with the load still going: within a few blocks of the
        // others' finalized height.
        let end = Instant::now() + Duration::from_secs(40);
        loop {
            let others = rest.iter().filter_map(|&i| finalized(&cluster, i)).min();
            if let (Some(mine), Some(others)) = (finalized(&cluster, victim), others)
                && mine + 2 >= others
            {
                break;
            }
            assert!(
                Instant::now() < end,
                "node{victim} did not catch up; {}",
                cluster.log_tail(victim)
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
        eprintln!("node{victim} caught up at {:?}", t0.elapsed());
        stop.store(true, Ordering::SeqCst);
        let ids: Vec<_> = loaders
            .into_iter()
            .flat_map(|l| l.join().expect("loader"))
            .collect();
        (ids, acked_while_down)
    });
    assert!(
        acked_while_down > 0,
        "transactions committed while the node was down"
    );
    eprintln!(
        "{} transfers acknowledged in phase 2, {acked_while_down} while node{victim} was down",
        acked2.len()
    );
    for &i in &rest {
        wait_committed(&cluster.clients[i], &acked2, Duration::from_secs(10));
    }
    let head = cluster.wait_converged(&all, Duration::from_secs(40));
    wait_committed(&cluster.clients[victim], &acked1, Duration::from_secs(10));
    wait_committed(&cluster.clients[victim], &acked2, Duration::from_secs(10));
    let expected = balances(&cluster.clients[0], &accounts);
    assert_eq!(expected.iter().sum::<u64>(), TOTAL);
    assert_eq!(balances(&cluster.clients[victim], &accounts), expected);
    assert!(
        cluster.metric(victim, "blocks_synced_total") > 0,
        "the restarted node caught up by block sync; {}",
        cluster.log_tail(victim)
    );
    eprintln!("phase 2: height {} after {:?}", head.0, t0.elapsed());

    // The restarted node serves new work too.
    let tx = transfers(&accounts, 1, 900_000).remove(0);
    let state = cluster.clients[victim]
        .submit_retrying(CHANNEL, &tx, true)
        .expect("submit");
    assert!(
        state.committed.is_some(),
        "committed through the restarted node"
    );
    cluster.wait_converged(&all, Duration::from_secs(20));
    // No honest node was ever accused.
    for i in all {
        assert_eq!(cluster.metric(i, "evidence_total"), 0, "node{i}");
    }
}

/// A backlog larger than one Simplex proposal (1 MiB) commits once a
/// quorum is back, in several blocks. Before blocks were cut within the
/// protocol's proposal limit, the backlog became one proposal refused at
/// every try and the channel never committed again (seen in
/// `bench cluster --consensus bft --rate 2000 --kill-at 10`).
#[test]
fn a_backlog_larger_than_one_proposal_commits_once_a_quorum_is_back() {
    let mut cluster = init_cluster(NODES, "bft");
    let net = start_funded(&mut cluster);
    let all = [0, 1, 2, 3];
    let accounts = accounts(&net);
    let start = cluster.wait_converged(&all, Duration::from_secs(20)).0;
    let before = balances(&cluster.clients[0], &accounts);

    // Two of four down: no quorum, so everything submitted waits.
    cluster.kill9(2);
    cluster.kill9(3);
    let backlog = transfers(&accounts, 5_000, 500_000);
    let backlog_bytes: usize = backlog.iter().map(Vec::len).sum();
    assert!(
        backlog_bytes > 5 << 18,
        "the backlog ({backlog_bytes} bytes) must exceed one 1 MiB proposal by a quarter"
    );
    let acked = load(&cluster, &[0, 1], &backlog);
    assert_eq!(acked.len(), backlog.len());

    cluster.start(2);
    cluster.start(3);
    wait_committed(&cluster.clients[0], &acked, Duration::from_secs(90));
    let head = cluster.wait_converged(&all, Duration::from_secs(40));
    assert!(
        head.0 >= start + 2,
        "the backlog took more than one block ({start} to {})",
        head.0
    );
    let after = balances(&cluster.clients[0], &accounts);
    assert_eq!(after.iter().sum::<u64>(), before.iter().sum::<u64>());
    assert_ne!(after, before, "the transfers ran");
    for i in 1..NODES {
        assert_eq!(balances(&cluster.clients[i], &accounts), after, "node{i}");
    }
}

/// Three honest nodes and one running `byzantine = MODE`: the honest ones
/// commit the load, agree, and (for equivocation) hold evidence naming the
/// liar.
fn one_faulty_node(mode: &str) {
    let mut cluster = init_cluster(NODES, "bft");
    let liar = 3;
    cluster.set_config(liar, &format!("byzantine = \"{mode}\""));
    // Refused without the explicit switch.
    let out = std::process::Command::new(bin())
        .args(["node", "--config"])
        .arg(&cluster.configs[liar])
        .output()
        .expect("run node");
    assert!(
        !out.status.success(),
        "a byzantine setting needs the switch"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PRODUCTIVIST_FAULT_INJECTION"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.envs[liar] = vec![("PRODUCTIVIST_FAULT_INJECTION".into(), "1".into())];
    cluster.start_all();
    let honest = [0, 1, 2];
    cluster.wait_healthy(&[0, 1, 2, 3], Duration::from_secs(30));
    let net = load_network(&cluster.dir).expect("network");
    let issuer = net.member("issuer").expect("issuer");
    let accounts = accounts(&net);
    fund(&cluster, &honest, issuer, &accounts, TOTAL / 5);
    let txs = transfers(&accounts, 90, 1_000);
    let acked = load(&cluster, &honest, &txs);
    for i in honest {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(40));
    }
    let head = cluster.wait_converged(&honest, Duration::from_secs(20));
    let expected = balances(&cluster.clients[0], &accounts);
    assert_eq!(expected.iter().sum::<u64>(), TOTAL);
    for i in 1..3 {
        assert_eq!(balances(&cluster.clients[i], &accounts), expected);
    }
    eprintln!("{mode}: honest nodes at height {}", head.0);
    if mode == "equivocate" {
        // Every honest node proves the liar (consenter 4) equivocated.
        let end = Instant::now() + Duration::from_secs(20);
        for i in honest {
            loop {
                let h = cluster.clients[i].health().expect("health");
                let evidence = h["channels"][0]["evidence"].as_array().cloned();
                if let Some(ev) = evidence
                    && !ev.is_empty()
                {
                    assert!(
                        ev.iter().all(|e| e["offender"] == liar as u64 + 1),
                        "only the liar is accused: {ev:?}"
                    );
                    break;
                }
                assert!(Instant::now() < end, "node{i} recorded no evidence");
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
            assert!(cluster.metric(i, "evidence_total") > 0);
        }
        // The evidence is durable: with the liar gone, an honest node
        // restarted still shows it.
        cluster.kill9(liar);
        cluster.kill9(0);
        cluster.start(0);
        cluster.wait_healthy(&[0], Duration::from_secs(20));
        // Only its disk can tell it now: no liar is left to lie again.
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let h = cluster.clients[0].health().expect("health");
            let ev = h["channels"][0]["evidence"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !ev.is_empty() {
                assert!(
                    ev.iter().all(|e| e["offender"] == liar as u64 + 1),
                    "only the liar is accused: {ev:?}"
                );
                break;
            }
            assert!(
                Instant::now() < end,
                "evidence lost across a restart; {}",
                cluster.log_tail(0)
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    } else {
        for i in honest {
            assert_eq!(cluster.metric(i, "evidence_total"), 0, "node{i}");
            assert!(
                cluster.metric(i, "consensus_messages_dropped_total") > 0,
                "node{i} received and dropped the garbage"
            );
        }
    }
}

#[test]
fn an_equivocating_node_among_four_is_caught_and_the_others_agree() {
    one_faulty_node("equivocate");
}

#[test]
fn a_node_sending_garbage_among_four_does_not_stop_the_others() {
    one_faulty_node("garbage");
}

#[test]
fn up_tells_the_story_on_a_four_node_bft_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quic = free_ports(NODES as u16).to_string();
    let http = free_ports(NODES as u16).to_string();
    let out = std::process::Command::new(bin())
        .args([
            "up",
            "--once",
            "--nodes",
            "4",
            "--consensus",
            "bft",
            "--base-port",
            &quic,
            "--http-base-port",
            &http,
        ])
        .current_dir(dir.path())
        .output()
        .expect("run up");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "up: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "consensus bft, 4 node(s)",
        "4 node(s) up",
        "Verification of object PVT-0-0003",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    // The story's 11 transactions are committed; a BFT view that timed out
    // while the story paused may add an empty block, so the height is at
    // least 11, not exactly 11.
    let height: u64 = stdout
        .split("Committed height ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|h| h.trim().parse().ok())
        .unwrap_or_else(|| panic!("no committed height in:\n{stdout}"));
    assert!(height >= 11, "committed height {height}:\n{stdout}");
}
