//! A running 3-node Raft cluster follows a committed config update that
//! removes a consenter (the leader, the harder case), without any restart:
//! the removed node's key is
//! refused at the QUIC handshake by the others, its connections are closed,
//! the Raft leader removes it from the voters, it stops taking part and
//! says so, and the two remaining nodes go on committing.
//!
//! Before that, a frame that is not one of the node's, sent from an allowed
//! key, makes the receiver close that connection with a logged reason and
//! keep running.
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::*;
use productivist::client::ClientError;
use productivist::engine::devnet::Member;
use productivist::net::{Allowlist, NetConfig, Network};
use productivist::network::load_network;
use productivist::node::config::NodeConfig;
use productivist::node::read_key;
use std::process::Command;
use std::time::{Duration, Instant};

/// Polls `check` on node `i`'s health until it holds.
fn wait_health(
    cluster: &Cluster,
    i: usize,
    what: &str,
    deadline: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = Instant::now() + deadline;
    loop {
        if let Ok(h) = cluster.clients[i].health()
            && check(&h)
        {
            return h;
        }
        assert!(
            Instant::now() < end,
            "node{i}: {what} not seen in time; {}",
            cluster.log_tail(i)
        );
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
}

#[test]
fn a_consenter_removed_by_a_config_update_is_cut_off_without_a_restart() {
    let mut cluster = init_cluster(3, "raft");
    cluster.start_all();
    let all = [0, 1, 2];
    let gone = cluster.wait_leader(&all, Duration::from_secs(30));
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != gone).collect();
    let (a, b) = (rest[0], rest[1]);
    let net = load_network(&cluster.dir).expect("network");
    let member = |name: &str| net.member(name).expect("member");
    let issuer = member("issuer");
    let accounts: Vec<&Member> = ["carla", "dora", "anna"]
        .iter()
        .map(|n| member(n))
        .collect();
    fund(&cluster, &all, issuer, &accounts, 1_000);

    let node_cfg = |i: usize| NodeConfig::load(&cluster.configs[i]).expect("node config");
    let removed_key = read_key(&node_cfg(gone).key_file).expect("removed node's key");
    let node0_key = read_key(&node_cfg(a).key_file)
        .expect("survivor key")
        .public();
    let node0_quic = node_cfg(a).listen;
    // A client holding the leader's key: a survivor accepts it before the
    // update.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // An endpoint of our own holding the leader's key (call inside `rt`).
    let endpoint = || {
        Network::start(
            removed_key.clone(),
            Allowlist::new([node0_key]),
            NetConfig::new("127.0.0.1:0".parse().expect("addr")),
        )
        .expect("endpoint")
        .0
    };
    let probe = || {
        rt.block_on(async {
            let me = endpoint();
            let r = me.probe(node0_key, node0_quic).await;
            me.close().await;
            r
        })
    };
    assert_eq!(probe(), Ok(()), "the leader's key is a consenter's key");

    // A frame of the right size but not one of ours, from an allowed key:
    // the survivor closes that connection with a logged reason and runs on.
    rt.block_on(async {
        let me = endpoint();
        me.add_peer(node0_key, node0_quic);
        me.send(&node0_key, vec![0xff; 64]).expect("queued");
        let end = Instant::now() + Duration::from_secs(20);
        while !cluster.log_tail(a).contains("malformed frame") {
            assert!(Instant::now() < end, "no malformed-frame log line");
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
        me.close().await;
    });
    cluster.wait_healthy(&[a], Duration::from_secs(10));

    // The admins remove the leader through another node's API.
    let out = Command::new(bin())
        .args(["channel", "remove-consenter", "--network"])
        .arg(&cluster.dir)
        .args([
            "--id",
            CHANNEL,
            "--consenter",
            &format!("node{gone}"),
            "--node",
        ])
        .arg(cluster.clients[a].base())
        .output()
        .expect("run channel remove-consenter");
    assert!(
        out.status.success(),
        "remove-consenter: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config version 1 committed"));

    // A survivor leads, their Raft voters drop the old leader (consensus
    // ids are genesis positions, 1-based), and their transport neither
    // dials nor accepts it.
    let new_leader = cluster.wait_leader(&rest, Duration::from_secs(30));
    assert_ne!(new_leader, gone);
    let voters = serde_json::json!([a + 1, b + 1]);
    for i in [a, b] {
        wait_health(
            &cluster,
            i,
            "voters without the old leader",
            Duration::from_secs(30),
            |h| h["channels"][0]["voters"] == voters,
        );
        wait_health(
            &cluster,
            i,
            "the old leader gone from peers",
            Duration::from_secs(10),
            |h| {
                h["peers"]
                    .as_array()
                    .is_some_and(|p| p.len() == 1 && p[0]["key"] != removed_key.public().to_hex())
            },
        );
    }
    let err = probe().expect_err("the removed key is refused at the handshake");
    eprintln!("handshake refused as expected: {err}");

    // The removed node keeps running, says it was removed, and refuses
    // submissions.
    let h = wait_health(
        &cluster,
        gone,
        "role removed",
        Duration::from_secs(30),
        |h| h["channels"][0]["role"] == "removed",
    );
    assert_eq!(h["status"], "ok", "a removed node is not a failed node");
    assert!(h["channels"][0]["removed_at"].as_u64().is_some());
    let tx = transfers(&accounts, 1, 500).remove(0);
    match cluster.clients[gone].submit(CHANNEL, &tx, false) {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (503, "not_consenter"))
        }
        other => panic!("expected not_consenter, got {other:?}"),
    }

    // The two remaining nodes (a majority of the new voter set) commit.
    let more = transfers(&accounts, 30, 1_000);
    let acked = load(&cluster, &rest, &more);
    for &i in &rest {
        wait_committed(&cluster.clients[i], &acked, Duration::from_secs(40));
    }
    cluster.wait_converged(&rest, Duration::from_secs(20));
    let (h0, h2) = (
        cluster.clients[a]
            .latest(CHANNEL)
            .expect("survivor head")
            .height,
        cluster.clients[gone]
            .latest(CHANNEL)
            .expect("removed head")
            .height,
    );
    assert!(
        h2 < h0,
        "the removed node receives no new blocks ({h2} vs {h0})"
    );

    // Restarted (after SIGKILL), the removed node comes up and serves what
    // it has, read-only, instead of refusing to start.
    cluster.kill9(gone);
    cluster.start(gone);
    let h = wait_health(
        &cluster,
        gone,
        "restarted, removed",
        Duration::from_secs(30),
        |h| h["channels"][0]["role"] == "removed",
    );
    assert_eq!(h["status"], "ok");
    assert!(h["peers"].as_array().is_some_and(|p| p.is_empty()), "{h}");
    assert_eq!(
        cluster.clients[gone].latest(CHANNEL).expect("reads").height,
        h2
    );
    match cluster.clients[gone].submit(CHANNEL, &tx, false) {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (503, "not_consenter"))
        }
        other => panic!("expected not_consenter after the restart, got {other:?}"),
    }
}
