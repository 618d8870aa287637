//! Pipelined commits (block N written while block N+1 executes on top of
//! it) give exactly the blocks and state of one-at-a-time commits, and what
//! they acknowledge is durable.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{
    Context, Contract, ContractError, Contracts, decode_args, refuse,
};
use productivist_engine::crypto::Hash;
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::{
    BlockCommit, Head, HistoryEntry, RedbStore, Rows, Snapshot, Store, StoreError, TxLocation,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(BorshSerialize, BorshDeserialize)]
enum Op {
    /// Moves `amount` from one key to another; refused when short.
    Move {
        from: String,
        to: String,
        amount: u64,
    },
    /// Writes the sum of every key under `acct/` to `total` (a range read).
    Total,
    /// Deletes a key.
    Delete { key: String },
}

struct Bank;

fn balance(ctx: &mut dyn Context, key: &str) -> Result<u64, ContractError> {
    Ok(ctx
        .get(key.as_bytes())?
        .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
        .unwrap_or(100))
}

impl Contract for Bank {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        if method != "op" {
            return refuse("unknown method");
        }
        match decode_args::<Op>(args)? {
            Op::Move { from, to, amount } => {
                let f = balance(ctx, &from)?;
                if f < amount {
                    return refuse(format!("{from} has {f} < {amount}"));
                }
                ctx.put(from.as_bytes(), &(f - amount).to_le_bytes())?;
                let t = balance(ctx, &to)?;
                ctx.put(to.as_bytes(), &(t + amount).to_le_bytes())?;
            }
            Op::Total => {
                let rows = ctx.range(b"acct/", Some(b"acct0"), 1000)?;
                let total: u64 = rows
                    .iter()
                    .map(|(_, v)| u64::from_le_bytes(v.clone().try_into().unwrap_or([0; 8])))
                    .sum();
                ctx.put(b"total", &total.to_le_bytes())?;
            }
            Op::Delete { key } => ctx.delete(key.as_bytes())?,
        }
        Ok(Vec::new())
    }
}

fn open<S: Store>(store: S, net: &DevNet, threads: usize) -> Ledger<S> {
    let mut contracts = Contracts::new();
    contracts.register("bank", Arc::new(Bank));
    let mut l = Ledger::open(store, contracts).unwrap();
    l.set_threads(threads);
    if l.head().is_none() {
        let g = l
            .build_genesis(net.genesis_bytes(), 1_000, net.nodes[0].2.public())
            .unwrap();
        l.commit(g).unwrap();
    }
    l
}

fn signers(net: &DevNet) -> Vec<&Member> {
    ["carla", "anna", "ben", "dora"]
        .iter()
        .map(|n| net.find(n).unwrap())
        .collect()
}

/// Four blocks in which each reads what the previous one wrote: moves over
/// a few hot accounts (some refused for lack of funds), range reads,
/// deletes, and replays of the previous block's transactions.
fn blocks(net: &DevNet) -> Vec<Vec<Vec<u8>>> {
    let who = signers(net);
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut nonce = 0u64;
    for b in 0..4u64 {
        let mut txs: Vec<Vec<u8>> = (0..40u64)
            .map(|i| {
                nonce += 1;
                let op = match (i + b) % 7 {
                    5 => Op::Total,
                    6 => Op::Delete {
                        key: format!("acct/{}", (i * 3 + b) % 5),
                    },
                    _ => Op::Move {
                        from: format!("acct/{}", (i + b) % 5),
                        to: format!("acct/{}", (i * 7 + 1) % 5),
                        amount: 30 + (i * 13 + b) % 50,
                    },
                };
                who[(i % 4) as usize].call_bytes(
                    "public",
                    "bank",
                    "op",
                    borsh::to_vec(&op).unwrap(),
                    nonce,
                )
            })
            .collect();
        if let Some(prev) = out.last() {
            // Replays of the previous block, still in flight when this one
            // executes: refused exactly as if it were committed.
            txs.insert(3, prev[0].clone());
            txs.push(prev[10].clone());
        }
        out.push(txs);
    }
    out
}

#[test]
fn pipelined_commits_equal_one_at_a_time_commits() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("pipeline"))).unwrap();
    let proposer = net.nodes[0].2.public();
    let blocks = blocks(&net);
    for threads in [1usize, 2] {
        let mut one = open(RedbStore::in_memory().unwrap(), &net, threads);
        let mut reference = Vec::new();
        for (i, txs) in blocks.iter().enumerate() {
            let block = one
                .submit_block(txs.clone(), 2_000 + i as u64, proposer)
                .unwrap();
            reference.push(block);
        }
        assert!(
            reference[1]
                .results
                .iter()
                .any(|r| r.status.to_string().contains("replay")),
            "the blocks replay earlier transactions"
        );

        let mut piped = open(RedbStore::in_memory().unwrap(), &net, threads);
        let mut executed = piped.propose(blocks[0].clone(), 2_000, proposer).unwrap();
        for (i, txs) in blocks.iter().enumerate().skip(1) {
            assert_eq!(
                executed.block,
                reference[i - 1],
                "block {i} threads={threads}"
            );
            let p = piped
                .commit_and_propose(executed, txs.clone(), 2_000 + i as u64, proposer)
                .unwrap();
            assert_eq!(p.head.height, reference[i - 1].header.height);
            executed = p.next.unwrap();
        }
        assert_eq!(executed.block, *reference.last().unwrap());
        piped.commit(executed).unwrap();
        assert_eq!(piped.head(), one.head());
        assert_eq!(piped.state_root(), one.state_root());
        for h in 0..=one.head().unwrap().height {
            assert_eq!(piped.block_bytes(h).unwrap(), one.block_bytes(h).unwrap());
        }
    }
}

#[test]
fn pipelined_verification_equals_one_at_a_time_verification() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("pipeline"))).unwrap();
    let proposer = net.nodes[0].2.public();
    let blocks = blocks(&net);
    let mut leader = open(RedbStore::in_memory().unwrap(), &net, 2);
    let mut encoded = Vec::new();
    for (i, txs) in blocks.iter().enumerate() {
        let e = leader
            .propose(txs.clone(), 2_000 + i as u64, proposer)
            .unwrap();
        encoded.push(e.bytes.clone());
        leader.commit(e).unwrap();
    }
    let mut follower = open(RedbStore::in_memory().unwrap(), &net, 2);
    let mut executed = follower.verify(&encoded[0]).unwrap();
    for next in &encoded[1..] {
        executed = follower
            .commit_and_verify(executed, next)
            .unwrap()
            .next
            .unwrap();
    }
    follower.commit(executed).unwrap();
    assert_eq!(follower.head(), leader.head());
    assert_eq!(follower.state_root(), leader.state_root());

    // A tampered next block is refused without harming the committed one.
    let mut tampered = encoded[1].clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut follower = open(RedbStore::in_memory().unwrap(), &net, 2);
    let first = follower.verify(&encoded[0]).unwrap();
    let p = follower.commit_and_verify(first, &tampered).unwrap();
    assert!(p.next.is_err());
    assert_eq!(follower.head(), Some(p.head));
}

#[test]
fn an_acknowledged_pipelined_commit_survives_a_crash() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("pipeline"))).unwrap();
    let proposer = net.nodes[0].2.public();
    let blocks = blocks(&net);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let (acked, root, next_bytes) = {
        let mut l = open(RedbStore::open(&path).unwrap(), &net, 2);
        let e = l.propose(blocks[0].clone(), 2_000, proposer).unwrap();
        let p = l
            .commit_and_propose(e, blocks[1].clone(), 2_001, proposer)
            .unwrap();
        // The process stops here: block 1 was executed, never committed.
        (p.head, l.state_root(), p.next.unwrap().bytes)
    };
    let mut l = open(RedbStore::open(&path).unwrap(), &net, 2);
    assert_eq!(l.head(), Some(acked));
    assert_eq!(l.state_root(), root);
    // Executing the next block again gives what the pipeline had computed.
    let again = l.propose(blocks[1].clone(), 2_001, proposer).unwrap();
    assert_eq!(again.bytes, next_bytes);
    l.commit(again).unwrap();
}

/// A redb store whose commits fail while `failing` is set.
struct Flaky {
    inner: RedbStore,
    failing: Arc<AtomicBool>,
}

impl Store for Flaky {
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>, StoreError> {
        self.inner.snapshot()
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head()
    }
    fn commit_block(&self, commit: &BlockCommit) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk full".into()));
        }
        self.inner.commit_block(commit)
    }
    fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.block(height)
    }
    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.inner.height_of(hash)
    }
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.inner.tx_location(id)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        self.inner.range(start, end, limit)
    }
    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(key, limit)
    }
    fn lthash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.lthash()
    }
}

#[test]
fn a_failed_pipelined_commit_acknowledges_nothing() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("pipeline"))).unwrap();
    let proposer = net.nodes[0].2.public();
    let blocks = blocks(&net);
    let failing = Arc::new(AtomicBool::new(false));
    let store = Flaky {
        inner: RedbStore::in_memory().unwrap(),
        failing: failing.clone(),
    };
    let mut l = open(store, &net, 2);
    let head = l.head();
    let root = l.state_root();
    let e = l.propose(blocks[0].clone(), 2_000, proposer).unwrap();
    failing.store(true, Ordering::SeqCst);
    assert!(
        l.commit_and_propose(e, blocks[1].clone(), 2_001, proposer)
            .is_err()
    );
    assert_eq!(l.head(), head);
    assert_eq!(l.state_root(), root);
    assert_eq!(l.store().head().unwrap(), head);
    // Once the store works again, the same blocks commit as usual.
    failing.store(false, Ordering::SeqCst);
    let e = l.propose(blocks[0].clone(), 2_000, proposer).unwrap();
    let p = l
        .commit_and_propose(e, blocks[1].clone(), 2_001, proposer)
        .unwrap();
    l.commit(p.next.unwrap()).unwrap();
    assert_eq!(l.head().map(|h| h.height), head.map(|h| h.height + 2));
}
