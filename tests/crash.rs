//! Crash consistency: a child process commits blocks in a loop and is killed
//! with SIGKILL at seeded random moments. After each kill the ledger must
//! reopen, keep every acknowledged commit, never go backwards, and hold
//! exactly the state that replaying its stored blocks on a fresh store gives.
//!
//! The child is this very test binary re-executed to run [`crash_child`]
//! alone, with [`CHILD_ENV`] naming the ledger directory; without the
//! variable, `crash_child` does nothing.
#![cfg(unix)]

use productivist::engine::codec;
use productivist::engine::contract::{Contracts, decode_args};
use productivist::engine::devnet::{DevNet, DevNetSpec};
use productivist::engine::ledger::Ledger;
use productivist::engine::store::{QUERY_ROWS_MAX, RedbStore, Store};
use productivist::engine::{Context, Contract, ContractError, PublicKey};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Names the ledger directory the child works in.
const CHILD_ENV: &str = "PRODUCTIVIST_CRASH_CHILD_DIR";
/// The most blocks one child commits before giving up on being killed.
const CHILD_BLOCKS_MAX: u64 = 100_000;
/// Kill rounds.
const ROUNDS: usize = 40;
const T0: u64 = 1_700_000_000_000;
const KV: &str = "kv";

/// A tiny key-value/counter contract.
struct Kv;

impl Contract for Kv {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "put" => {
                let (k, v): (Vec<u8>, Vec<u8>) = decode_args(args)?;
                ctx.put(&k, &v)?;
                ctx.emit("put", &k)?;
                Ok(Vec::new())
            }
            "del" => {
                let k: Vec<u8> = decode_args(args)?;
                ctx.delete(&k)?;
                Ok(Vec::new())
            }
            "incr" => {
                let k: Vec<u8> = decode_args(args)?;
                let n = match ctx.get(&k)? {
                    None => 0,
                    Some(b) => u64::from_le_bytes(
                        b.try_into()
                            .map_err(|_| ContractError::Refused("not a counter".into()))?,
                    ),
                } + 1;
                ctx.put(&k, &n.to_le_bytes())?;
                Ok(n.to_le_bytes().to_vec())
            }
            other => Err(ContractError::BadArguments(format!(
                "unknown method {other:?}"
            ))),
        }
    }
}

fn contracts() -> Contracts {
    let mut c = Contracts::new();
    c.register(KV, Arc::new(Kv));
    c
}

fn devnet() -> DevNet {
    DevNet::generate(&DevNetSpec::productivist(Some("crash"))).unwrap()
}

fn proposer(devnet: &DevNet) -> PublicKey {
    devnet.nodes[0].2.public()
}

fn open(path: &Path) -> Ledger<RedbStore> {
    let store = RedbStore::open(path).unwrap();
    Ledger::open(store, contracts()).unwrap()
}

/// The transactions of block `h`: deterministic per height, different
/// across heights, touching shared keys so a torn block shows in the state.
fn block_txs(devnet: &DevNet, h: u64) -> Vec<Vec<u8>> {
    let ch = &devnet.config.channel_id;
    let carla = devnet.member("customers", "carla").unwrap();
    let anna = devnet.member("fablab-paris", "anna").unwrap();
    let put = |k: String, v: String| codec::encode(&(k.into_bytes(), v.into_bytes()));
    let mut txs = vec![
        carla.call_bytes(
            ch,
            KV,
            "put",
            put(format!("k{}", h % 5), format!("{h}")),
            h * 4,
        ),
        anna.call_bytes(ch, KV, "incr", codec::encode(&b"count".to_vec()), h * 4 + 1),
        anna.call_bytes(
            ch,
            KV,
            "put",
            put(format!("h{h}"), "x".repeat(h as usize % 64)),
            h * 4 + 2,
        ),
    ];
    if h.is_multiple_of(3) {
        let k = format!("k{}", (h + 1) % 5).into_bytes();
        txs.push(carla.call_bytes(ch, KV, "del", codec::encode(&k), h * 4 + 3));
    }
    txs
}

/// The child: commits blocks forever (bounded), acknowledging each on stdout
/// after `commit` returns. Does nothing unless [`CHILD_ENV`] is set.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(dir).join("ledger.redb");
    let devnet = devnet();
    let proposer = proposer(&devnet);
    let mut ledger = open(&path);
    let mut out = std::io::stdout().lock();
    if ledger.head().is_none() {
        let genesis = ledger
            .build_genesis(devnet.genesis_bytes(), T0, proposer)
            .unwrap();
        ledger.commit(genesis).unwrap();
        writeln!(out, "ACK 0").unwrap();
        out.flush().unwrap();
    }
    for _ in 0..CHILD_BLOCKS_MAX {
        let h = ledger.head().unwrap().height + 1;
        let executed = ledger
            .propose(block_txs(&devnet, h), T0 + h * 1_000, proposer)
            .unwrap();
        // Executed; the store write starts now.
        writeln!(out, "BEGIN {h}").unwrap();
        out.flush().unwrap();
        ledger.commit(executed).unwrap();
        writeln!(out, "ACK {h}").unwrap();
        out.flush().unwrap();
    }
}

/// splitmix64: a seeded generator, so every run kills at the same points in
/// the child's output.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Reopens the ledger the child left and checks it; returns its height.
fn check_after_kill(
    path: &Path,
    devnet: &DevNet,
    last_ack: Option<u64>,
    last_seen: Option<u64>,
) -> Option<u64> {
    let ledger = open(path);
    let height = ledger.head().map(|h| h.height);
    assert!(
        height >= last_seen,
        "height went back: {height:?} < {last_seen:?}"
    );
    assert!(
        height >= last_ack,
        "acknowledged commit lost: {height:?} < {last_ack:?}"
    );

    // Replay the stored blocks from genesis on a fresh store.
    let dir = tempfile::tempdir().unwrap();
    let mut replica = open(&dir.path().join("replica.redb"));
    for h in 0..=height.unwrap_or(0) {
        let Some(bytes) = ledger.block_bytes(h).unwrap() else {
            assert!(height.is_none(), "block {h} missing below head {height:?}");
            break;
        };
        // The stored block is exactly what the child would commit there.
        let block = ledger.block(h).unwrap().unwrap();
        if h > 0 {
            assert_eq!(block.txs, block_txs(devnet, h), "block {h}");
        }
        let executed = replica.verify(&bytes).unwrap();
        replica.commit(executed).unwrap();
    }
    assert_eq!(replica.head(), ledger.head());
    assert_eq!(replica.state_root(), ledger.state_root());
    // The whole state, row by row, not only its root.
    let rows = |s: &RedbStore| s.range(b"", None, QUERY_ROWS_MAX).unwrap();
    assert_eq!(rows(replica.store()), rows(ledger.store()));
    if let Some(h) = height {
        let count = ledger.state(KV, b"count").unwrap();
        assert_eq!(count, (h > 0).then(|| h.to_le_bytes().to_vec()));
    }
    height
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let exe = std::env::current_exe().unwrap();
    let devnet = devnet();
    let mut rng = Rng(0x5eed_c0de);
    let mut last_ack: Option<u64> = None;
    let mut last_seen: Option<u64> = None;
    let mut kills = 0;
    for round in 0..ROUNDS {
        // 0: kill at once (during exec or open); 1: once the harness has
        // started (open or genesis); else after 1 to 8 acknowledged commits,
        // half of the time then also once the next commit has begun (so the
        // kill lands inside the store write).
        let mode = rng.below(6);
        let want_acks = if mode < 2 { 0 } else { 1 + rng.below(8) };
        let mid_commit = mode >= 2 && rng.below(2) == 0;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acks = 0;
        let mut ended = false;
        if mode == 1 {
            ended = lines.next().is_none();
        }
        while acks < want_acks && !ended {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(h) = line.strip_prefix("ACK ") {
                        let h: u64 = h.trim().parse().unwrap();
                        assert!(Some(h) > last_ack, "ack {h} not after {last_ack:?}");
                        last_ack = Some(h);
                        acks += 1;
                    }
                }
                _ => ended = true,
            }
        }
        while mid_commit && !ended {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("BEGIN ") => break,
                Some(Ok(_)) => {}
                _ => ended = true,
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        drop(lines);
        assert!(
            !ended,
            "round {round}: the child stopped by itself: {status}"
        );
        assert_eq!(status.signal(), Some(9), "round {round}: {status}");
        kills += 1;
        last_seen = check_after_kill(&path, &devnet, last_ack, last_seen);
        eprintln!(
            "round {round}: killed after {acks} acks (mode {mode}, mid-commit {mid_commit}); \
             last ack {last_ack:?}, reopened at {last_seen:?}"
        );
    }
    assert!(kills >= 20);
    assert!(last_seen >= last_ack);
    // The children got somewhere: acknowledged commits were checked.
    assert!(last_ack.is_some_and(|h| h >= 10), "last ack {last_ack:?}");
}
