//! The host imports as a contract sees them, and nested calls: errors as
//! statuses, rollback, the call depth bound, one fuel budget per transaction.

mod wasm_common;

use productivist_contracts::register_wasm;
use productivist_engine::block::InvalidCode;
use productivist_engine::tx::tx_id;
use std::sync::Arc;
use wasm_common::mini_token::MiniToken;
use wasm_common::{Chain, assert_invalid, assert_valid, fuel_used, wat_example};

fn chain() -> Chain {
    Chain::new(|c| {
        c.register("minitoken", Arc::new(MiniToken));
        register_wasm(c);
    })
}

fn state(chain: &Chain, contract: &str, key: &str) -> Option<Vec<u8>> {
    chain.ledger.state(contract, key.as_bytes()).expect("state")
}

#[test]
fn every_import_links_and_reports_the_context() {
    let mut chain = chain();
    chain.deploy("probe", wat_example("all_imports.wat"));
    let anna = chain.member("fablab-paris", "anna");
    let tx = anna.call(
        &chain.net.config.channel_id,
        "probe",
        "go",
        Vec::new(),
        4242,
    );
    let id = tx_id(&tx);
    let block = chain.block(vec![productivist_engine::tx::encode_tx(&tx)]);
    let r = &block.results[0];
    assert_valid(r);
    assert_eq!(r.output, id.0);
    let height = block.header.height;
    assert_eq!(
        state(&chain, "probe", "h"),
        Some(height.to_le_bytes().to_vec())
    );
    assert_eq!(
        state(&chain, "probe", "time"),
        Some(block.header.timestamp_ms.to_le_bytes().to_vec())
    );
    assert_eq!(
        state(&chain, "probe", "who"),
        Some(b"anna@fablab-paris".to_vec())
    );
    assert_eq!(
        state(&chain, "probe", "who2"),
        Some(b"anna@fablab-paris".to_vec())
    );
    assert_eq!(
        state(&chain, "probe", "org"),
        Some(b"fablab-paris".to_vec())
    );
    assert_eq!(
        state(&chain, "probe", "cc"),
        Some((-1i32).to_le_bytes().to_vec())
    );
    assert_eq!(state(&chain, "probe", "tx"), Some(id.0.to_vec()));
    assert_eq!(
        state(&chain, "probe", "admin"),
        None,
        "written then deleted"
    );
    // The range saw the transaction's own writes, sorted, without "admin".
    let rows: Vec<(Vec<u8>, Vec<u8>)> =
        borsh::from_slice(&state(&chain, "probe", "range").expect("range")).expect("rows");
    let keys: Vec<&[u8]> = rows.iter().map(|(k, _)| k.as_slice()).collect();
    let expected: Vec<&[u8]> = vec![b"cc", b"h", b"org", b"time", b"tx", b"who", b"who2"];
    assert_eq!(keys, expected);
    let probe = r.events.iter().find(|e| e.name == "probe").expect("event");
    assert_eq!(probe.contract, "probe");
    assert_eq!(probe.data, id.0);
    assert!(fuel_used(r).is_some());
}

#[test]
fn nested_call_errors_come_back_as_statuses_and_roll_back() {
    let mut chain = chain();
    chain.deploy("relay", wat_example("call_other.wat"));
    let anna = chain.member("fablab-paris", "anna");
    // minitoken.go does not exist: BadArguments comes back as -16; the
    // relay refuses with the callee's message.
    let r = chain.run(&anna, "relay", "x", b"minitoken".to_vec());
    assert_invalid(&r, InvalidCode::Refused, "unknown method go");
    // A system contract cannot be called from a contract.
    let r = chain.run(&anna, "relay", "x", b"_wasm".to_vec());
    assert_invalid(&r, InvalidCode::Refused, "cannot be called from a contract");
    // Nor an unknown one.
    let r = chain.run(&anna, "relay", "x", b"nobody".to_vec());
    assert_invalid(&r, InvalidCode::Refused, "unknown contract");
}

#[test]
fn call_depth_is_bounded() {
    let mut chain = chain();
    chain.deploy("relay", wat_example("call_other.wat"));
    let anna = chain.member("fablab-paris", "anna");
    let r = chain.run(&anna, "relay", "x", b"relay".to_vec());
    assert_invalid(&r, InvalidCode::Refused, "call depth above 4");
}

#[test]
fn nested_calls_share_the_transaction_fuel() {
    let mut chain = chain();
    chain.deploy("relay", wat_example("call_other.wat"));
    chain.deploy("spin", wat_example("loop.wat"));
    let anna = chain.member("fablab-paris", "anna");
    // The callee loops: it runs out of the caller's remaining fuel, and that
    // ends the whole transaction (out of fuel is not catchable).
    let r = chain.run(&anna, "relay", "x", b"spin".to_vec());
    assert_invalid(&r, InvalidCode::OutOfFuel, "relay");
}
