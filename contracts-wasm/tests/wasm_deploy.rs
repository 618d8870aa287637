//! The `_wasm` lifecycle: deploy under the channel's deploy policy, every
//! deploy-time refusal, upgrade keeping state, freeze.

mod wasm_common;

use productivist_contracts::register_wasm;
use productivist_contracts::wasm::lifecycle::{
    ContractRecord, LifecycleAction, WASM_CONTRACT, deploy_args, freeze_args,
};
use productivist_engine::Hash;
use productivist_engine::block::InvalidCode;
use productivist_engine::codec;
use productivist_engine::system::config_tx;
use wasm_common::{Chain, assert_invalid, assert_valid, example, wat_example};

fn chain() -> Chain {
    Chain::new(|c| {
        register_wasm(c);
    })
}

fn incr(key: &str, by: u64) -> Vec<u8> {
    borsh::to_vec(&(key.to_string(), by)).expect("encode")
}

fn record(chain: &Chain, name: &str) -> ContractRecord {
    let bytes = chain
        .ledger
        .state(WASM_CONTRACT, &[b"c/".as_slice(), name.as_bytes()].concat())
        .expect("state")
        .expect("record");
    codec::decode("record", &bytes).expect("decode")
}

#[test]
fn deploy_stores_code_by_hash_and_calls_resolve() {
    let mut chain = chain();
    let code = example("counter.wasm");
    chain.deploy("counter", code.clone());
    let rec = record(&chain, "counter");
    assert_eq!(rec.code_hash, Hash::of(&code));
    assert_eq!(rec.version, 1);
    assert!(!rec.frozen);
    let mut code_key = b"code/".to_vec();
    code_key.extend_from_slice(&rec.code_hash.0);
    assert_eq!(
        chain.ledger.state(WASM_CONTRACT, &code_key).expect("state"),
        Some(code)
    );
    let ben = chain.member("printshop-lyon", "ben");
    let r = chain.run(&ben, "counter", "incr", incr("a", 5));
    assert_valid(&r);
    assert_eq!(r.output, 5u64.to_le_bytes());
}

#[test]
fn deploy_needs_the_deploy_policy() {
    let mut chain = chain();
    let code = example("counter.wasm");
    let channel = chain.net.config.channel_id.clone();
    let admins = chain.net.admins();
    let anna = chain.member("fablab-paris", "anna");
    // One admin of six: the dev network's policy is a majority.
    let args = deploy_args(
        LifecycleAction::Deploy,
        &channel,
        "counter",
        1,
        code.clone(),
        &admins[..1],
    );
    let r = chain.run(&anna, WASM_CONTRACT, "deploy", args);
    assert_invalid(&r, InvalidCode::PolicyNotSatisfied, "needs 4");
    // Endorsements of other code do not carry over.
    let other = wat_example("abort.wat");
    let mut args: productivist_contracts::wasm::lifecycle::DeployArgs = codec::decode(
        "args",
        &deploy_args(
            LifecycleAction::Deploy,
            &channel,
            "counter",
            1,
            other,
            &admins[..4],
        ),
    )
    .expect("decode");
    args.code = code.clone();
    let r = chain.run(&anna, WASM_CONTRACT, "deploy", codec::encode(&args));
    assert_invalid(&r, InvalidCode::PolicyNotSatisfied, "bad signature");
    // Nor do endorsements for another channel.
    let args = deploy_args(
        LifecycleAction::Deploy,
        "elsewhere",
        "counter",
        1,
        code,
        &admins[..4],
    );
    let r = chain.run(&anna, WASM_CONTRACT, "deploy", args);
    assert_invalid(&r, InvalidCode::PolicyNotSatisfied, "bad signature");
    let r = chain.run(&anna, "counter", "incr", incr("a", 1));
    assert_invalid(&r, InvalidCode::UnknownContract, "counter");
}

#[test]
fn deploy_refuses_bad_modules() {
    let mut chain = chain();
    let cases: [(&str, Vec<u8>, InvalidCode, &str); 7] = [
        (
            "floats",
            wat_example("floats.wat"),
            InvalidCode::BadArguments,
            "floating point is not allowed",
        ),
        (
            "unknown",
            wat_example("unknown_import.wat"),
            InvalidCode::BadArguments,
            "unknown import productivist.wall_clock",
        ),
        (
            "noexport",
            wat_example("missing_export.wat"),
            InvalidCode::BadArguments,
            "missing export \"call\"",
        ),
        (
            "start",
            wat_example("start_function.wat"),
            InvalidCode::BadArguments,
            "start function",
        ),
        (
            "sig",
            wat_example("wrong_signature.wat"),
            InvalidCode::BadArguments,
            "import productivist.state_get has signature",
        ),
        (
            "junk",
            b"\0asm\x01\0\0\0garbage".to_vec(),
            InvalidCode::BadArguments,
            "invalid wasm",
        ),
        (
            "env",
            wat::parse_str(
                r#"(module (import "env" "memcpy" (func (param i32 i32 i32) (result i32)))
                   (memory (export "memory") 1)
                   (func (export "alloc") (param i32) (result i32) i32.const 0)
                   (func (export "call") (param i32 i32 i32 i32) (result i32) i32.const 0))"#,
            )
            .expect("wat"),
            InvalidCode::BadArguments,
            "unknown import env.memcpy",
        ),
    ];
    for (name, code, code_expected, needle) in cases {
        let r = chain.lifecycle(LifecycleAction::Deploy, name, 1, code);
        assert_invalid(&r, code_expected, needle);
    }
    let too_much_memory = wat::parse_str(
        r#"(module (memory (export "memory") 17)
           (func (export "alloc") (param i32) (result i32) i32.const 0)
           (func (export "call") (param i32 i32 i32 i32) (result i32) i32.const 0))"#,
    )
    .expect("wat");
    let r = chain.lifecycle(LifecycleAction::Deploy, "fat", 1, too_much_memory);
    assert_invalid(
        &r,
        InvalidCode::LimitExceeded,
        "initial memory of 17 pages > 16",
    );
    // Reserved and invalid names.
    let r = chain.lifecycle(LifecycleAction::Deploy, "_evil", 1, example("counter.wasm"));
    assert_invalid(
        &r,
        InvalidCode::BadArguments,
        "reserved for system contracts",
    );
    let r = chain.lifecycle(LifecycleAction::Deploy, "a/b", 1, example("counter.wasm"));
    assert_invalid(&r, InvalidCode::BadArguments, "contains");
    // Version 1 only, once.
    let r = chain.lifecycle(
        LifecycleAction::Deploy,
        "counter",
        2,
        example("counter.wasm"),
    );
    assert_invalid(&r, InvalidCode::Refused, "version must be 1");
    chain.deploy("counter", example("counter.wasm"));
    let r = chain.lifecycle(
        LifecycleAction::Deploy,
        "counter",
        1,
        example("counter.wasm"),
    );
    assert_invalid(&r, InvalidCode::Refused, "already deployed");
}

#[test]
fn module_size_limit_comes_from_the_channel_config() {
    let mut chain = chain();
    // Lower module_bytes_max to 1 KiB through a config update.
    let mut config = chain.net.config.clone();
    config.version = 1;
    config.wasm.module_bytes_max = 1024;
    let admins = chain.net.admins();
    let submitter = admins[0].clone();
    let tx = config_tx(
        "update",
        &config,
        &admins[..4],
        (&submitter.0, &submitter.1),
        999,
    );
    let block = chain.block(vec![codec::encode(&tx)]);
    assert_valid(&block.results[0]);
    let code = example("counter.wasm");
    assert!(code.len() > 1024);
    let r = chain.lifecycle(LifecycleAction::Deploy, "counter", 1, code);
    assert_invalid(&r, InvalidCode::LimitExceeded, "bytes > 1024 bytes");
    // A small module still deploys.
    chain.deploy("small", wat_example("abort.wat"));
}

#[test]
fn upgrade_keeps_state_and_freeze_stops_calls() {
    let mut chain = chain();
    chain.deploy("counter", example("counter.wasm"));
    let ben = chain.member("printshop-lyon", "ben");
    assert_valid(&chain.run(&ben, "counter", "incr", incr("a", 5)));

    // Upgrade to a module that refuses everything: state stays under the
    // contract's name, the new code runs.
    let r = chain.lifecycle(
        LifecycleAction::Upgrade,
        "counter",
        3,
        wat_example("abort.wat"),
    );
    assert_invalid(&r, InvalidCode::Refused, "version must be 2");
    let r = chain.lifecycle(
        LifecycleAction::Upgrade,
        "counter",
        2,
        wat_example("abort.wat"),
    );
    assert_valid(&r);
    let r = chain.run(&ben, "counter", "incr", incr("a", 1));
    assert_invalid(&r, InvalidCode::Refused, "no way");
    assert_eq!(
        chain.ledger.state("counter", b"k/a").expect("state"),
        Some(5u64.to_le_bytes().to_vec())
    );
    // Back to the counter (version 3): the old state is there.
    let r = chain.lifecycle(
        LifecycleAction::Upgrade,
        "counter",
        3,
        example("counter.wasm"),
    );
    assert_valid(&r);
    let r = chain.run(&ben, "counter", "incr", incr("a", 1));
    assert_valid(&r);
    assert_eq!(r.output, 6u64.to_le_bytes());

    // Freeze: needs the policy, then calls fail with Frozen.
    let channel = chain.net.config.channel_id.clone();
    let admins = chain.net.admins();
    let hash = record(&chain, "counter").code_hash;
    let anna = chain.member("fablab-paris", "anna");
    let weak = freeze_args(&channel, "counter", 3, hash, &admins[..2]);
    assert_invalid(
        &chain.run(&anna, WASM_CONTRACT, "freeze", weak),
        InvalidCode::PolicyNotSatisfied,
        "needs 4",
    );
    let stale = freeze_args(&channel, "counter", 2, hash, &admins[..4]);
    assert_invalid(
        &chain.run(&anna, WASM_CONTRACT, "freeze", stale),
        InvalidCode::Refused,
        "at version 3",
    );
    let ok = freeze_args(&channel, "counter", 3, hash, &admins[..4]);
    assert_valid(&chain.run(&anna, WASM_CONTRACT, "freeze", ok.clone()));
    assert!(record(&chain, "counter").frozen);
    let r = chain.run(&ben, "counter", "incr", incr("a", 1));
    assert_invalid(&r, InvalidCode::Frozen, "counter");
    assert_invalid(
        &chain.run(&anna, WASM_CONTRACT, "freeze", ok),
        InvalidCode::Refused,
        "already frozen",
    );
    // An upgrade (same policy) brings it back, state intact.
    assert_valid(&chain.lifecycle(
        LifecycleAction::Upgrade,
        "counter",
        4,
        example("counter.wasm"),
    ));
    let r = chain.run(&ben, "counter", "incr", incr("a", 1));
    assert_valid(&r);
    assert_eq!(r.output, 7u64.to_le_bytes());
}

#[test]
fn upgrade_needs_an_existing_contract() {
    let mut chain = chain();
    let r = chain.lifecycle(
        LifecycleAction::Upgrade,
        "ghost",
        2,
        example("counter.wasm"),
    );
    assert_invalid(&r, InvalidCode::Refused, "no contract \"ghost\"");
}
