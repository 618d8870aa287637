//! A private channel among two organizations of a three-node network, with
//! real `productivist node` processes on loopback: it is created from a
//! genesis endorsed by the members' admins, only the members' nodes may
//! join it, it commits transactions, and neither the non-member node nor a
//! non-member identity can read it through the API.
//!
//! Synchronization is bounded polling of the API, never bare sleeps.

mod common;

use common::{bin, free_ports};
use productivist::client::{Client, ClientError};
use productivist::contracts::api::{TOKEN, TransferArgs};
use productivist::network::load_network;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const GUILD: &str = "guild";
const POLL_MS: u64 = 100;
const DEADLINE: Duration = Duration::from_secs(60);

fn run(args: &[&str], path_args: &[&Path]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for p in path_args {
        cmd.arg(p);
    }
    cmd.output().expect("run productivist")
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
}

#[test]
fn a_private_channel_is_hosted_and_read_only_by_its_members() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let quic = free_ports(NODES as u16);
    let http = free_ports(NODES as u16);
    let out = run(
        &[
            "init",
            "--nodes",
            "3",
            "--base-port",
            &quic.to_string(),
            "--http-base-port",
            &http.to_string(),
            "--out",
        ],
        &[&dir],
    );
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nodes belong to organizations in turn: node0 productivist, node1
    // fablab-paris, node2 printshop-lyon.
    let config = |i: usize| dir.join("nodes").join(format!("node{i}.toml"));

    let out = run(
        &[
            "channel",
            "create",
            "--id",
            GUILD,
            "--orgs",
            "fablab-paris,printshop-lyon",
            "--network",
        ],
        &[&dir],
    );
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let genesis: PathBuf = dir.join("channels").join(GUILD).join("genesis.block");
    assert!(genesis.exists());
    // Creating it twice would fork it.
    let again = run(
        &[
            "channel",
            "create",
            "--id",
            GUILD,
            "--orgs",
            "fablab-paris",
            "--network",
        ],
        &[&dir],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // An unknown organization has no admin to endorse.
    let unknown = run(
        &[
            "channel",
            "create",
            "--id",
            "other",
            "--orgs",
            "nobody",
            "--network",
        ],
        &[&dir],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no admin"));

    // The non-member's node may not join.
    let refused = run(
        &["channel", "join", "--config"],
        &[&config(0), Path::new("--genesis"), &genesis],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a consenter"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for i in [1, 2] {
        let out = run(
            &["channel", "join", "--config"],
            &[&config(i), Path::new("--genesis"), &genesis],
        );
        assert!(
            out.status.success(),
            "join: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let twice = run(
        &["channel", "join", "--config"],
        &[&config(1), Path::new("--genesis"), &genesis],
    );
    assert!(!twice.status.success());

    let mut nodes = Nodes(Vec::new());
    for i in 0..NODES {
        let child = Command::new(bin())
            .args(["node", "--config"])
            .arg(config(i))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        nodes.0.push(child);
    }
    let client = |i: usize| {
        Client::with_timeout(
            &format!("http://127.0.0.1:{}", http + i as u16),
            Duration::from_secs(20),
        )
    };
    for i in 0..NODES {
        poll("node ready", || client(i).health().ok());
    }

    let net = load_network(&dir).expect("network");
    let anna = net.member("anna").expect("anna").clone();
    let ben = net.member("ben").expect("ben").clone();
    let carla = net.member("carla").expect("carla").clone();

    // A member's transaction commits on the channel (its result does not
    // matter here: anna has no tokens on this channel yet).
    let tx = anna.call_bytes(
        GUILD,
        TOKEN,
        "transfer",
        borsh::to_vec(&TransferArgs {
            to: ben.account(),
            amount: 1,
            memo: "guild".into(),
        })
        .expect("args"),
        1,
    );
    let state = poll("submission accepted", || {
        client(1).submit(GUILD, &tx, true).ok()
    });
    let member_reader = client(2).signed_by(&ben);
    let (height, _, _) = poll("committed on node2", || {
        member_reader
            .tx(GUILD, &state.id)
            .ok()
            .flatten()
            .and_then(|s| s.committed)
    });
    assert!(height >= 1);

    // Unsigned and non-member reads are refused; a member's are served.
    match client(1).latest(GUILD) {
        Err(ClientError::Api { status: 401, .. }) => {}
        other => panic!("unsigned read of a private channel: {other:?}"),
    }
    match client(1).signed_by(&carla).latest(GUILD) {
        Err(ClientError::Api { status: 401, .. }) => {}
        other => panic!("non-member read of a private channel: {other:?}"),
    }
    let latest = client(1)
        .signed_by(&anna)
        .latest(GUILD)
        .expect("member read");
    assert!(latest.height >= height);

    // The non-member's node does not host the channel and never stored it.
    match client(0).signed_by(&anna).latest(GUILD) {
        Err(ClientError::Api { status: 404, .. }) => {}
        other => panic!("a non-member node answered for the channel: {other:?}"),
    }
    assert!(!dir.join("data/node0/channels").join(GUILD).exists());
    assert!(dir.join("data/node1/channels").join(GUILD).exists());

    // The CLI works through a node as well as on the embedded ledger:
    // register a model on the consortium channel, verify it, and read the
    // private channel as one of its members (keys from the network dir).
    let model = dir.join("bracket.stl");
    std::fs::write(&model, b"solid bracket\nendsolid bracket\n").expect("model file");
    let node0 = format!("http://127.0.0.1:{http}");
    let node1 = format!("http://127.0.0.1:{}", http + 1);
    let out = run(
        &[
            "model",
            "register",
            "--name",
            "Bracket",
            "--as",
            "dora",
            "--node",
            &node0,
            "--network",
        ],
        &[&dir, &model],
    );
    assert!(
        out.status.success(),
        "remote register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Registered"));
    let out = run(
        &["model", "verify", "--node", &node0, "--network"],
        &[&dir, &model],
    );
    assert!(
        out.status.success(),
        "remote verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("AUTHENTIC") && text.contains("dora@design-studio"),
        "{text}"
    );
    let out = run(
        &[
            "contract",
            "query",
            "_wasm",
            "info",
            "--args",
            "none",
            "--channel",
            GUILD,
            "--node",
            &node1,
            "--network",
        ],
        &[&dir],
    );
    assert!(
        out.status.success(),
        "member query: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "None");

    // The consortium channel stays readable by anyone on every node.
    for i in 0..NODES {
        poll("public channel readable", || {
            client(i).latest("public").ok()
        });
    }
}
