//! Raft log compaction with real `productivist node` processes: the nodes
//! compact their consensus log every few entries, a follower killed with
//! SIGKILL falls behind the leader's compaction point, and on restart it
//! receives a snapshot, fetches the missing ledger blocks from its peers,
//! verifies them by re-execution and converges, with no acknowledged
//! transaction lost.
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::*;
use productivist::engine::devnet::Member;
use productivist::network::load_network;
use std::time::{Duration, Instant};

const NODES: usize = 3;
/// Small, so that a few seconds of load compact the log many times over.
const COMPACT_EVERY_ENTRIES: u64 = 8;
/// Blocks the others commit while the follower is down.
const BLOCKS_BEHIND: u64 = 30;

#[test]
fn a_follower_behind_the_compacted_log_catches_up_from_peers_ledgers() {
    let t0 = Instant::now();
    let mut cluster = init_cluster(NODES, "raft");
    for i in 0..NODES {
        cluster.set_config(
            i,
            &format!("raft_compact_every_entries = {COMPACT_EVERY_ENTRIES}"),
        );
    }
    cluster.start_all();
    let all = [0, 1, 2];
    let leader = cluster.wait_leader(&all, Duration::from_secs(30));
    let net = load_network(&cluster.dir).expect("network");
    let issuer = net.member("issuer").expect("issuer");
    let accounts: Vec<&Member> = ["carla", "dora", "anna", "ben", "eric"]
        .iter()
        .map(|n| net.member(n).expect("member"))
        .collect();
    fund(&cluster, &all, issuer, &accounts, 200_000);
    let mut acked = load(&cluster, &all, &transfers(&accounts, 40, 1_000));
    for i in all {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(40));
    }

    // A follower goes down; the others commit many blocks (small batches,
    // each waited for, so that every batch is at least one block).
    let down = (leader + 1) % NODES;
    let up: Vec<usize> = all.iter().copied().filter(|&i| i != down).collect();
    cluster.kill9(down);
    let start_height = cluster.clients[leader]
        .latest(CHANNEL)
        .expect("head")
        .height;
    let mut nonce = 10_000;
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.clients[leader]
        .latest(CHANNEL)
        .expect("head")
        .height
        < start_height + BLOCKS_BEHIND
    {
        assert!(
            Instant::now() < deadline,
            "the majority did not commit in time"
        );
        let batch = transfers(&accounts, 3, nonce);
        nonce += 3;
        let ids = load(&cluster, &up, &batch);
        wait_committed(&cluster.clients[leader], &ids, Duration::from_secs(20));
        acked.extend(ids);
    }

    // Restart: the leader's log no longer holds what the follower misses.
    cluster.start(down);
    for i in all {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(60));
    }
    let (height, _, root) = cluster.wait_converged(&all, Duration::from_secs(30));
    let synced = cluster.metric(down, "blocks_synced_total");
    assert!(
        synced > 0,
        "node{down} caught up without ledger sync: the log was not compacted; {}",
        cluster.log_tail(down)
    );
    let reference = balances(&cluster.clients[leader], &accounts);
    assert_eq!(reference.iter().sum::<u64>(), 1_000_000, "tokens conserved");
    assert_eq!(balances(&cluster.clients[down], &accounts), reference);
    eprintln!(
        "node{down} synced {synced} ledger blocks; converged at {height} (root {root}) in {:?}",
        t0.elapsed()
    );
}
