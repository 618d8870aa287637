//! Parallel execution gives exactly the sequential result: same results,
//! events, writes and state root, for 1, 2 and 4 threads, over seeded random
//! blocks with controlled conflict rates.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{
    Context, Contract, ContractError, Contracts, decode_args, refuse,
};
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use proptest::prelude::*;
use std::sync::Arc;

#[derive(BorshSerialize, BorshDeserialize, Clone, Debug)]
enum Op {
    Set {
        key: String,
        value: u64,
    },
    Transfer {
        from: String,
        to: String,
        amount: u64,
    },
    /// Sums every balance under a prefix (a range read) into `out`.
    Sum {
        prefix: String,
        out: String,
    },
    Delete {
        key: String,
    },
}

/// A bank whose transfers fail on insufficient funds, so validity depends
/// on order, plus range reads and deletes.
struct Bank;

fn get(ctx: &mut dyn Context, key: &str) -> Result<u64, ContractError> {
    Ok(ctx
        .get(key.as_bytes())?
        .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
        .unwrap_or(0))
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
            Op::Set { key, value } => ctx.put(key.as_bytes(), &value.to_le_bytes())?,
            Op::Transfer { from, to, amount } => {
                let f = get(ctx, &from)?;
                if f < amount {
                    return refuse(format!("{from} has {f} < {amount}"));
                }
                ctx.put(from.as_bytes(), &(f - amount).to_le_bytes())?;
                let t = get(ctx, &to)?;
                ctx.put(to.as_bytes(), &(t + amount).to_le_bytes())?;
                ctx.emit("moved", &amount.to_le_bytes())?;
            }
            Op::Sum { prefix, out } => {
                let mut end = prefix.clone().into_bytes();
                end.push(0xff);
                let rows = ctx.range(prefix.as_bytes(), Some(&end), 1000)?;
                let total: u64 = rows
                    .iter()
                    .map(|(_, v)| u64::from_le_bytes(v.clone().try_into().unwrap_or([0; 8])))
                    .sum();
                ctx.put(out.as_bytes(), &total.to_le_bytes())?;
                return Ok(total.to_le_bytes().to_vec());
            }
            Op::Delete { key } => ctx.delete(key.as_bytes())?,
        }
        Ok(Vec::new())
    }
}

fn ledger(net: &DevNet) -> Ledger<RedbStore> {
    let mut contracts = Contracts::new();
    contracts.register("bank", Arc::new(Bank));
    let mut l = Ledger::open(RedbStore::in_memory().unwrap(), contracts).unwrap();
    let g = l
        .build_genesis(net.genesis_bytes(), 1_000, net.nodes[0].2.public())
        .unwrap();
    l.commit(g).unwrap();
    l
}

/// Conflict profiles: disjoint accounts, a few hot accounts, one key, and
/// reads of keys written later in the block.
fn op_strategy(profile: u8) -> impl Strategy<Value = Op> {
    let accounts = match profile {
        0 => 200u32,
        1 => 4,
        2 => 1,
        _ => 20,
    };
    let acct = move || (0..accounts).prop_map(|i| format!("acct/{i:03}"));
    prop_oneof![
        3 => (acct(), acct(), 0u64..50).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (acct(), 0u64..100).prop_map(|(key, value)| Op::Set { key, value }),
        1 => (0u32..5).prop_map(|i| Op::Sum { prefix: "acct/".into(), out: format!("sum/{i}") }),
        1 => acct().prop_map(|key| Op::Delete { key }),
    ]
}

fn block_strategy() -> impl Strategy<Value = (u8, Vec<(usize, Op)>, Vec<usize>)> {
    (0u8..4).prop_flat_map(|profile| {
        (
            Just(profile),
            proptest::collection::vec((0usize..4, op_strategy(profile)), 1..60),
            // Positions to duplicate (in-block replays).
            proptest::collection::vec(0usize..60, 0..3),
        )
    })
}

fn signers(net: &DevNet) -> Vec<&Member> {
    ["carla", "anna", "ben", "dora"]
        .iter()
        .map(|n| net.find(n).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn parallel_equals_sequential((profile, ops, dups) in block_strategy()) {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("parallel"))).unwrap();
        let mut ledger = ledger(&net);
        let who = signers(&net);
        // A first block funds accounts so transfers can succeed.
        let funding: Vec<Vec<u8>> = (0..20u32)
            .map(|i| {
                let op = Op::Set { key: format!("acct/{i:03}"), value: 100 };
                who[0].call_bytes("public", "bank", "op", borsh::to_vec(&op).unwrap(), 1_000 + u64::from(i))
            })
            .collect();
        ledger.submit_block(funding, 2_000, net.nodes[0].2.public()).unwrap();

        let mut txs: Vec<Vec<u8>> = ops
            .iter()
            .enumerate()
            .map(|(i, (s, op))| who[*s].call_bytes("public", "bank", "op", borsh::to_vec(op).unwrap(), i as u64))
            .collect();
        for d in dups {
            if let Some(t) = txs.get(d % txs.len()).cloned() {
                txs.push(t);
            }
        }
        if profile == 3 {
            // A malformed transaction in the middle.
            txs.insert(txs.len() / 2, vec![1, 2, 3]);
        }
        let mut reference = None;
        for threads in [1usize, 2, 4] {
            ledger.set_threads(threads);
            let executed = ledger.propose(txs.clone(), 3_000, net.nodes[0].2.public()).unwrap();
            match &reference {
                None => reference = Some(executed),
                Some(r) => {
                    // Results first: a readable diff when they differ.
                    prop_assert_eq!(&r.block.results, &executed.block.results, "threads={}", threads);
                    prop_assert_eq!(r.block.header.state_root, executed.block.header.state_root);
                    prop_assert_eq!(&r.bytes, &executed.bytes, "threads={}", threads);
                }
            }
        }
    }
}

#[test]
fn the_same_block_twice_gives_identical_bytes() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("twice"))).unwrap();
    let ledger_a = ledger(&net);
    let mut ledger_b = ledger(&net);
    ledger_b.set_threads(2);
    let who = signers(&net);
    let txs: Vec<Vec<u8>> = (0..50u64)
        .map(|i| {
            let op = Op::Transfer {
                from: format!("acct/{:03}", i % 3),
                to: format!("acct/{:03}", i % 7),
                amount: i,
            };
            who[(i % 4) as usize].call_bytes("public", "bank", "op", borsh::to_vec(&op).unwrap(), i)
        })
        .collect();
    let a1 = ledger_a
        .propose(txs.clone(), 5_000, net.nodes[0].2.public())
        .unwrap();
    let a2 = ledger_a
        .propose(txs.clone(), 5_000, net.nodes[0].2.public())
        .unwrap();
    let b = ledger_b
        .propose(txs, 5_000, net.nodes[0].2.public())
        .unwrap();
    assert_eq!(a1.bytes, a2.bytes);
    assert_eq!(a1.bytes, b.bytes);
}

#[test]
fn a_large_block_seals_identically_on_any_thread_count() {
    // Above the size where sealing hashes Merkle leaves and state-root
    // deltas on the pool.
    let net = DevNet::generate(&DevNetSpec::productivist(Some("large"))).unwrap();
    let mut ledger = ledger(&net);
    let who = signers(&net);
    let txs: Vec<Vec<u8>> = (0..600u64)
        .map(|i| {
            let op = Op::Set {
                key: format!("acct/{i:04}"),
                value: i,
            };
            who[(i % 4) as usize].call_bytes("public", "bank", "op", borsh::to_vec(&op).unwrap(), i)
        })
        .collect();
    ledger.set_threads(1);
    let one = ledger
        .propose(txs.clone(), 5_000, net.nodes[0].2.public())
        .unwrap();
    assert!(one.block.results.iter().all(|r| r.status.is_valid()));
    for threads in [2usize, 4] {
        ledger.set_threads(threads);
        let many = ledger
            .propose(txs.clone(), 5_000, net.nodes[0].2.public())
            .unwrap();
        assert_eq!(one.bytes, many.bytes, "threads={threads}");
    }
}
