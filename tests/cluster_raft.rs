//! A real 3-node Raft cluster of `productivist node` processes on loopback:
//! signed token transfers under a bounded load, identical heights and state
//! roots on every node, no acknowledged transaction lost, and a node killed
//! with SIGKILL (the leader) that restarts, catches up and converges.
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::*;
use productivist::client::ClientError;
use productivist::contracts::api::{AccountArgs, TOKEN, TransferArgs};
use productivist::engine::crypto::Hash;
use productivist::engine::devnet::Member;
use productivist::network::load_network;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: usize = 3;

#[test]
fn three_raft_nodes_agree_under_load_and_a_killed_leader_catches_up() {
    let t0 = Instant::now();
    let mut cluster = init_cluster(NODES, "raft");
    cluster.start_all();
    let all = [0, 1, 2];
    cluster.wait_leader(&all, Duration::from_secs(30));

    let net = load_network(&cluster.dir).expect("network");
    let member = |name: &str| net.member(name).expect("member");
    let issuer = member("issuer");
    let accounts: Vec<&Member> = ["carla", "dora", "anna", "ben", "eric"]
        .iter()
        .map(|n| member(n))
        .collect();

    // Fund the accounts (committed before the load starts).
    fund(&cluster, &all, issuer, &accounts, 1_000_000);

    // Phase 1: load on every node.
    let phase1 = transfers(&accounts, 300, 1_000);
    let acked1 = load(&cluster, &all, &phase1);
    assert_eq!(acked1.len(), phase1.len());
    for i in all {
        wait_committed(&cluster.clients[i], &acked1, Duration::from_secs(40));
    }
    let head = cluster.wait_converged(&all, Duration::from_secs(20));
    let expected = balances(&cluster.clients[0], &accounts);
    assert_eq!(
        expected.iter().sum::<u64>(),
        5_000_000,
        "transfers conserve tokens"
    );
    for i in 1..NODES {
        assert_eq!(balances(&cluster.clients[i], &accounts), expected);
    }
    eprintln!("phase 1: height {} after {:?}", head.0, t0.elapsed());

    // Every committed transfer is valid (funded accounts, distinct nonces).
    let block = cluster.clients[0]
        .block(CHANNEL, Some(head.0))
        .expect("block")
        .expect("exists");
    assert!(!block.tx_ids.is_empty() || head.0 > 0);

    // Phase 2: load keeps flowing to the other nodes while the leader is
    // killed with SIGKILL and, later, restarted.
    let leader = cluster.wait_leader(&all, Duration::from_secs(10));
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let phase2 = transfers(&accounts, 300, 100_000);
    let submitted = std::sync::atomic::AtomicUsize::new(0);
    let wait_submitted = |n: usize| {
        let end = Instant::now() + Duration::from_secs(60);
        while submitted.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(Instant::now() < end, "load stalled before {n} submissions");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let clients = cluster.clients.clone();
    let acked2 = std::thread::scope(|s| {
        let loader = s.spawn(|| {
            let mut ids = Vec::new();
            for (k, tx) in phase2.iter().enumerate() {
                let client = &clients[rest[k % rest.len()]];
                let state = client
                    .submit_retrying(CHANNEL, tx, false)
                    .expect("submit during failover");
                ids.push(state.id);
                submitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            ids
        });
        wait_submitted(50);
        cluster.kill9(leader);
        eprintln!("killed node{leader} (the leader) at {:?}", t0.elapsed());
        let new_leader = cluster.wait_leader(&rest, Duration::from_secs(20));
        eprintln!("node{new_leader} leads at {:?}", t0.elapsed());
        wait_submitted(200);
        cluster.start(leader);
        eprintln!("restarted node{leader} at {:?}", t0.elapsed());
        loader.join().expect("loader")
    });
    assert_eq!(acked2.len(), phase2.len());
    for &i in &rest {
        wait_committed(&cluster.clients[i], &acked2, Duration::from_secs(40));
    }
    eprintln!("phase 2 committed on the others at {:?}", t0.elapsed());
    let head = cluster.wait_converged(&all, Duration::from_secs(40));
    wait_committed(&cluster.clients[leader], &acked1, Duration::from_secs(10));
    wait_committed(&cluster.clients[leader], &acked2, Duration::from_secs(10));
    eprintln!("restarted node converged at {:?}", t0.elapsed());
    let expected = balances(&cluster.clients[rest[0]], &accounts);
    assert_eq!(expected.iter().sum::<u64>(), 5_000_000);
    assert_eq!(balances(&cluster.clients[leader], &accounts), expected);
    eprintln!("phase 2: height {} after {:?}", head.0, t0.elapsed());

    // The restarted node serves new work too.
    let tx = transfers(&accounts, 1, 900_000).remove(0);
    let state = cluster.clients[leader]
        .submit_retrying(CHANNEL, &tx, true)
        .expect("submit");
    assert!(
        state.committed.is_some(),
        "committed through the restarted node"
    );
    cluster.wait_converged(&all, Duration::from_secs(20));
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn the_api_answers_bad_input_with_json_errors() {
    let mut cluster = init_cluster(NODES, "raft");
    cluster.start_all();
    cluster.wait_leader(&[0, 1, 2], Duration::from_secs(30));
    let net = load_network(&cluster.dir).expect("network");
    let carla = net.member("carla").expect("carla");
    let c = &cluster.clients[0];
    let api_code = |r: Result<productivist::client::TxState, ClientError>| match r {
        Err(ClientError::Api { status, code, .. }) => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    };
    // Garbage bytes: refused at admission, not a 5xx.
    assert_eq!(
        api_code(c.submit(CHANNEL, b"garbage", false)),
        (422, "malformed".into())
    );
    // A tampered signature.
    let mut tx = call(
        carla,
        TOKEN,
        "transfer",
        &TransferArgs {
            to: "dora@design-studio".into(),
            amount: 1,
            memo: String::new(),
        },
        1,
    );
    let last = tx.len() - 1;
    tx[last] ^= 1;
    assert_eq!(
        api_code(c.submit(CHANNEL, &tx, false)),
        (422, "bad_signature".into())
    );
    // Unknown channel.
    assert_eq!(api_code(c.submit("nope", &tx, false)).0, 404);
    // Unknown tx and block.
    assert_eq!(c.tx(CHANNEL, &Hash::of(b"x")).expect("lookup"), None);
    assert_eq!(c.block(CHANNEL, Some(1_000_000)).expect("lookup"), None);
    // A duplicate submission is idempotent.
    let good = call(
        carla,
        TOKEN,
        "balance",
        &AccountArgs {
            account: carla.account(),
        },
        2,
    );
    let a = c.submit_retrying(CHANNEL, &good, false).expect("first");
    let b = c.submit_retrying(CHANNEL, &good, true).expect("second");
    assert_eq!(a.id, b.id);
    // The CLI reads through the API with --node.
    let out = Command::new(bin())
        .args(["tx", &b.id.to_hex(), "--node", c.base()])
        .output()
        .expect("tx --node");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("block"), "{text}");
    let out = Command::new(bin())
        .args(["verify", "NO-SUCH-SERIAL", "--node", c.base()])
        .output()
        .expect("verify --node");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown"));
    // Raw HTTP: malformed JSON, bad id, metrics, openapi.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = c.base();
    let mut r = agent
        .post(&format!("{base}/v1/channels/public/transactions"))
        .send("{not json")
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(v["code"], "bad_request");
    // A batch: each transaction answered on its own, in order.
    let hex = productivist::engine::crypto::hex;
    let batch_good = call(
        carla,
        TOKEN,
        "balance",
        &AccountArgs {
            account: carla.account(),
        },
        10,
    );
    let body =
        serde_json::json!({"txs": [hex(&batch_good), hex(&tx), hex(b"garbage"), hex(&batch_good)]});
    let mut r = agent
        .post(&format!("{base}/v1/channels/public/transactions/batch"))
        .send(body.to_string())
        .expect("batch");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let statuses: Vec<(&str, &str)> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|i| {
            (
                i["status"].as_str().unwrap_or(""),
                i["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("pending", ""),
            ("rejected", "bad_signature"),
            ("rejected", "malformed"),
            ("pending", "")
        ]
    );
    assert_eq!(v["accepted"], 2);
    let batch_id = Hash::from_hex(v["results"][0]["id"].as_str().expect("id")).expect("hex id");
    assert_eq!(v["results"][3]["id"], v["results"][0]["id"]);
    wait_committed(&cluster.clients[1], &[batch_id], Duration::from_secs(20));
    // Malformed batches are refused whole.
    let too_many: Vec<String> = (0..513).map(|_| hex(b"x")).collect();
    for bad in [
        serde_json::json!({"txs": []}),
        serde_json::json!({"txs": too_many}),
        serde_json::json!({"txs": [hex(&batch_good)], "txs_base64": []}),
        serde_json::json!({"txs": ["zz"]}),
        serde_json::json!({"tx": hex(&batch_good)}),
    ] {
        let r = agent
            .post(&format!("{base}/v1/channels/public/transactions/batch"))
            .send(bad.to_string())
            .expect("batch");
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let r = agent
        .get(&format!("{base}/v1/channels/public/transactions/zz"))
        .call()
        .expect("get");
    assert_eq!(r.status().as_u16(), 400);
    let r = agent
        .get(&format!("{base}/v1/channels/public/blocks/-1"))
        .call()
        .expect("get");
    assert_eq!(r.status().as_u16(), 400);
    let mut r = agent
        .get(&format!("{base}/v1/metrics"))
        .call()
        .expect("metrics");
    let text = r.body_mut().read_to_string().expect("body");
    assert!(
        text.contains("productivist_block_height{channel=\"public\"}"),
        "{text}"
    );
    let mut r = agent
        .get(&format!("{base}/v1/openapi.json"))
        .call()
        .expect("openapi");
    let doc: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(doc["openapi"], "3.0.3");
    let _ = Path::new(base);
}

#[test]
fn up_tells_the_story_through_a_cluster_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quic = free_ports(NODES as u16).to_string();
    let http = free_ports(NODES as u16).to_string();
    let up = || {
        Command::new(bin())
            .args([
                "up",
                "--once",
                "--base-port",
                &quic,
                "--http-base-port",
                &http,
            ])
            .current_dir(dir.path())
            .output()
            .expect("run up")
    };
    let out = up();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "up: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "3 node(s) up",
        "minted 10000 PVT",
        "accredited eric@certilab",
        "Verification of object PVT-0-0003",
        "Committed height 11",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    let again = up();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "up again: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(stdout.contains("Resuming the cluster"), "{stdout}");
    assert!(
        stdout.contains("Verification of object PVT-11-0003"),
        "{stdout}"
    );
    let logs = dir.path().join(".productivist/cluster/logs/node0.log");
    let log = std::fs::read_to_string(&logs).expect("node log");
    assert!(log.contains("node stopped"), "clean stop logged");
}
