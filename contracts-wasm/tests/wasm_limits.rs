//! Whatever a contract does, the node survives: each adversarial module
//! ends its transaction with a clear reason, its writes are discarded, fuel
//! is accounted, and the block goes on.

mod wasm_common;

use productivist_contracts::register_wasm;
use productivist_engine::block::InvalidCode;
use wasm_common::{Chain, assert_invalid, assert_valid, fuel_used, wat_example};

fn chain_with(contracts: &[(&str, &str)]) -> Chain {
    let mut chain = Chain::new(|c| {
        register_wasm(c);
    });
    for (name, file) in contracts {
        chain.deploy(name, wat_example(file));
    }
    chain
}

fn call(chain: &mut Chain, contract: &str, method: &str) -> productivist_engine::block::TxResult {
    let anna = chain.member("fablab-paris", "anna");
    chain.run(&anna, contract, method, Vec::new())
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let mut chain = chain_with(&[("spin", "loop.wat")]);
    let r = call(&mut chain, "spin", "go");
    assert_invalid(&r, InvalidCode::OutOfFuel, "used all 10000000 fuel");
    assert!(r.events.is_empty());
}

#[test]
fn memory_grow_bomb_stops_at_the_page_limit() {
    let mut chain = chain_with(&[("bomb", "memory_bomb.wat")]);
    let r = call(&mut chain, "bomb", "go");
    assert_invalid(&r, InvalidCode::LimitExceeded, "memory or table grown past");
}

#[test]
fn huge_return_is_refused_before_copying() {
    let mut chain = chain_with(&[("huge", "huge_return.wat")]);
    let r = call(&mut chain, "huge", "go");
    assert_invalid(&r, InvalidCode::LimitExceeded, "output of 2147483647 bytes");
}

#[test]
fn unbounded_recursion_traps() {
    let mut chain = chain_with(&[("deep", "recursion.wat")]);
    let r = call(&mut chain, "deep", "go");
    assert_invalid(&r, InvalidCode::Trap, "call stack exhausted");
}

#[test]
fn trap_discards_writes() {
    let mut chain = chain_with(&[("trap", "unreachable.wat")]);
    let r = call(&mut chain, "trap", "go");
    assert_invalid(&r, InvalidCode::Trap, "unreachable");
    assert_eq!(chain.ledger.state("trap", b"written").expect("state"), None);
}

#[test]
fn abort_refuses_with_the_contract_message() {
    let mut chain = chain_with(&[("no", "abort.wat")]);
    let r = call(&mut chain, "no", "go");
    assert_invalid(&r, InvalidCode::Refused, "no way: the batch is closed");
}

#[test]
fn non_zero_status_is_a_trap() {
    let mut chain = chain_with(&[("st", "status.wat")]);
    let r = call(&mut chain, "st", "go");
    assert_invalid(&r, InvalidCode::Trap, "contract returned status 7");
}

#[test]
fn out_of_bounds_pointers_trap_in_the_host() {
    let mut chain = chain_with(&[("oob", "oob_pointer.wat")]);
    for method in ["put", "get", "emit"] {
        let r = call(&mut chain, "oob", method);
        assert_invalid(&r, InvalidCode::Trap, "out-of-bounds pointer");
    }
    // "get" wrote a key before its bad read: discarded.
    assert_eq!(chain.ledger.state("oob", b"k").expect("state"), None);
}

#[test]
fn host_call_spam_is_bounded_by_fuel_and_limits() {
    let mut chain = chain_with(&[("spam", "host_spam.wat")]);
    let r = call(&mut chain, "spam", "height");
    assert_invalid(&r, InvalidCode::OutOfFuel, "fuel");
    let r = call(&mut chain, "spam", "emit");
    assert_invalid(&r, InvalidCode::LimitExceeded, "more than 1024 events");
}

#[test]
fn the_block_goes_on_after_every_failure() {
    let mut chain = chain_with(&[
        ("spin", "loop.wat"),
        ("bomb", "memory_bomb.wat"),
        ("deep", "recursion.wat"),
        ("huge", "huge_return.wat"),
        ("trap", "unreachable.wat"),
        ("probe", "all_imports.wat"),
    ]);
    let anna = chain.member("fablab-paris", "anna");
    let txs = ["spin", "bomb", "deep", "huge", "trap", "probe"]
        .iter()
        .map(|c| chain.tx(&anna, c, "go", Vec::new()))
        .collect();
    let block = chain.block(txs);
    let codes: Vec<_> = block
        .results
        .iter()
        .map(|r| match &r.status {
            productivist_engine::TxStatus::Valid => None,
            productivist_engine::TxStatus::Invalid { code, .. } => Some(*code),
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            Some(InvalidCode::OutOfFuel),
            Some(InvalidCode::LimitExceeded),
            Some(InvalidCode::Trap),
            Some(InvalidCode::LimitExceeded),
            Some(InvalidCode::Trap),
            None
        ]
    );
    assert_valid(&block.results[5]);
}

#[test]
fn fuel_is_reported_and_deterministic() {
    let run = || {
        let mut chain = chain_with(&[("probe", "all_imports.wat")]);
        let r = call(&mut chain, "probe", "go");
        assert_valid(&r);
        (
            fuel_used(&r).expect("fuel event"),
            chain.ledger.state_root(),
        )
    };
    let (fuel_a, root_a) = run();
    let (fuel_b, root_b) = run();
    assert!(fuel_a > 0 && fuel_a < 10_000_000, "fuel {fuel_a}");
    assert_eq!(fuel_a, fuel_b);
    assert_eq!(root_a, root_b);
}

/// The interpreter's dispatch must not grow the native stack per executed
/// instruction (wasmi's tail-call dispatch relies on an LLVM optimization
/// that is not guaranteed; the crate uses the portable loop dispatch). A
/// loop of millions of instructions and deep WASM recursion run on a thread
/// with a 256 KiB stack.
#[test]
fn execution_does_not_grow_the_native_stack() {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let mut chain = chain_with(&[("spin", "loop.wat"), ("deep", "recursion.wat")]);
            let r = call(&mut chain, "spin", "go");
            assert_invalid(&r, InvalidCode::OutOfFuel, "fuel");
            let r = call(&mut chain, "deep", "go");
            assert_invalid(&r, InvalidCode::Trap, "call stack exhausted");
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}
