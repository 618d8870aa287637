//! The same logic gives the same state whether it runs natively or as WASM.
//!
//! Two ledgers on the same dev network run the same transaction bytes:
//! - ledger N registers the native twin (`wasm_common::counter_native`)
//!   under the name `counter`;
//! - ledger W has only the WASM host.
//!
//! Block 1 deploys `examples/counter.wasm` as `counter` on *both* ledgers,
//! so `_wasm`'s state (code and record) is identical on both. On ledger N
//! the engine resolves natives first, so the deployed module is never run
//! there: every `counter` call runs natively on N and as WASM on W. Hence
//! the full state roots are directly comparable after every block, and the
//! test also compares, per transaction, the status (code and reason), the
//! output and the events. The only difference allowed is the host's
//! `fuel_used` event, which W emits for successful WASM calls; events are
//! not state, so the state roots stay equal (the results roots, and hence
//! block hashes, differ by that event). A third ledger runs the WASM side
//! on 4 threads and must produce identical blocks.

mod wasm_common;

use productivist_contracts::register_wasm;
use productivist_engine::block::{Block, InvalidCode, TxStatus};
use std::sync::Arc;
use wasm_common::counter_native::CounterNative;
use wasm_common::{Chain, contract_events, example, fuel_used};

fn incr(key: &str, by: u64) -> Vec<u8> {
    borsh::to_vec(&(key.to_string(), by)).expect("encode")
}

fn key(key: &str) -> Vec<u8> {
    borsh::to_vec(&key.to_string()).expect("encode")
}

/// A transaction of the script: signer org, signer subject, method, args.
type Step = (&'static str, &'static str, &'static str, Vec<u8>);

/// The script: blocks of steps.
fn script() -> Vec<Vec<Step>> {
    let ben = ("printshop-lyon", "ben");
    let anna = ("fablab-paris", "anna");
    let admin = ("fablab-paris", "admin");
    let long = "k".repeat(65);
    vec![
        vec![
            (ben.0, ben.1, "incr", incr("a", 5)),
            (anna.0, anna.1, "incr", incr("b", 1)),
            (ben.0, ben.1, "incr", incr("a", 7)),
        ],
        vec![
            (anna.0, anna.1, "get", key("a")),
            (anna.0, anna.1, "get", key("nothing")),
            (anna.0, anna.1, "reset", key("a")),
            (ben.0, ben.1, "incr", incr(&long, 1)),
            (ben.0, ben.1, "incr", incr("a", 0)),
            (ben.0, ben.1, "decr", incr("a", 1)),
            (ben.0, ben.1, "incr", vec![1, 2, 3]),
        ],
        vec![
            (ben.0, ben.1, "incr", incr("c", u64::MAX)),
            (ben.0, ben.1, "incr", incr("c", 1)),
            (admin.0, admin.1, "reset", key("b")),
            (ben.0, ben.1, "incr", incr("b", 2)),
        ],
    ]
}

fn run_block(chain: &mut Chain, txs: &[Step]) -> Block {
    let txs = txs
        .iter()
        .map(|(org, subject, method, args)| {
            let who = chain.member(org, subject);
            chain.tx(&who, "counter", method, args.clone())
        })
        .collect();
    chain.block(txs)
}

#[test]
fn native_and_wasm_counters_give_the_same_state() {
    let mut native = Chain::new(|c| {
        c.register("counter", Arc::new(CounterNative));
        register_wasm(c);
    });
    let mut wasm = Chain::new(|c| {
        register_wasm(c);
    });
    // A third ledger runs the WASM side on 4 threads (optimistic parallel
    // execution): its blocks, fuel reports included, must be identical.
    let mut parallel = Chain::new(|c| {
        register_wasm(c);
    });
    parallel.ledger.set_threads(4);
    assert_eq!(native.ledger.state_root(), wasm.ledger.state_root());
    parallel.deploy("counter", example("counter.wasm"));
    native.deploy("counter", example("counter.wasm"));
    wasm.deploy("counter", example("counter.wasm"));
    assert_eq!(native.ledger.state_root(), wasm.ledger.state_root());

    let mut codes = Vec::new();
    for txs in script() {
        let n = run_block(&mut native, &txs);
        let w = run_block(&mut wasm, &txs);
        let p = run_block(&mut parallel, &txs);
        assert_eq!(
            w.header.hash(),
            p.header.hash(),
            "thread count changes nothing"
        );
        assert_eq!(w.results, p.results);
        assert_eq!(n.results.len(), w.results.len());
        for (i, (rn, rw)) in n.results.iter().zip(&w.results).enumerate() {
            let what = format!("block {} tx {i} ({})", n.header.height, txs[i].2);
            assert_eq!(rn.status, rw.status, "{what}");
            assert_eq!(rn.output, rw.output, "{what}");
            assert_eq!(contract_events(rn), contract_events(rw), "{what}");
            assert_eq!(fuel_used(rn), None, "{what}: natives report no fuel");
            assert_eq!(fuel_used(rw).is_some(), rw.status.is_valid(), "{what}");
            codes.push(match &rn.status {
                TxStatus::Valid => None,
                TxStatus::Invalid { code, .. } => Some(*code),
            });
        }
        assert_eq!(
            native.ledger.state_root(),
            wasm.ledger.state_root(),
            "state roots after block {}",
            n.header.height
        );
    }
    // The script exercised successes and every kind of refusal.
    for code in [
        InvalidCode::NotAuthorized,
        InvalidCode::BadArguments,
        InvalidCode::Refused,
    ] {
        assert!(codes.contains(&Some(code)), "script covers {code}");
    }
    assert!(codes.iter().filter(|c| c.is_none()).count() >= 6);
    assert_eq!(
        wasm.ledger.state("counter", b"k/c").expect("state"),
        Some(u64::MAX.to_le_bytes().to_vec())
    );
}
