//! Native vs WASM on the same simple method: `counter.incr` (one state read,
//! one write, one event, an 8-byte output), called directly through the
//! `Contract` trait on an in-memory context, so the figures are the contract
//! call itself (for WASM: instantiation, fuel, host calls), not the ledger.
//!
//! `cargo bench -p productivist-contracts --bench wasm_vs_native`

#[path = "../tests/wasm_common/counter_native.rs"]
mod counter_native;

use counter_native::CounterNative;
use criterion::{Criterion, criterion_group, criterion_main};
use productivist_contracts::register_wasm;
use productivist_contracts::wasm::lifecycle::{LifecycleAction, WASM_CONTRACT, deploy_args};
use productivist_contracts::wasm::{WasmContract, WasmHost};
use productivist_engine::block::Event;
use productivist_engine::config::ChannelConfig;
use productivist_engine::contract::Contracts;
use productivist_engine::contract::{BlockInfo, Context, Contract, ContractError};
use productivist_engine::crypto::Hash;
use productivist_engine::devnet::{DevNet, DevNetSpec};
use productivist_engine::identity::{Identity, check_certificate};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::store::Rows;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

/// A context over a map: the smallest honest `Context`.
struct MapContext {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    events: Vec<Event>,
    caller: Identity,
    config: ChannelConfig,
    block: BlockInfo,
    tx_id: Hash,
}

impl Context for MapContext {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ContractError> {
        Ok(self.state.get(key).cloned())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ContractError> {
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), ContractError> {
        self.state.remove(key);
        Ok(())
    }
    fn range(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Rows, ContractError> {
        Ok(self
            .state
            .range(start.to_vec()..)
            .take_while(|(k, _)| end.is_none_or(|e| k.as_slice() < e))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn caller(&self) -> &Identity {
        &self.caller
    }
    fn calling_contract(&self) -> Option<&str> {
        None
    }
    fn block(&self) -> &BlockInfo {
        &self.block
    }
    fn config(&self) -> &ChannelConfig {
        &self.config
    }
    fn tx_id(&self) -> &Hash {
        &self.tx_id
    }
    fn emit(&mut self, name: &str, data: &[u8]) -> Result<(), ContractError> {
        self.events.push(Event {
            contract: "counter".into(),
            name: name.into(),
            data: data.to_vec(),
        });
        Ok(())
    }
    fn call(&mut self, contract: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, ContractError> {
        Err(ContractError::UnknownContract(contract.into()))
    }
}

fn context() -> MapContext {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("bench"))).expect("devnet");
    let ben = net.member("printshop-lyon", "ben").expect("ben");
    let caller = check_certificate(&ben.cert, &net.config.orgs, &[], 1_000).expect("identity");
    MapContext {
        state: BTreeMap::new(),
        events: Vec::new(),
        caller,
        block: BlockInfo {
            channel: net.config.channel_id.clone(),
            height: 1,
            timestamp_ms: 1_000,
        },
        config: net.config,
        tx_id: Hash::ZERO,
    }
}

fn bench(c: &mut Criterion) {
    let code = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/counter.wasm"
    ))
    .expect("examples/counter.wasm");
    let host = WasmHost::default();
    let mut ctx = context();
    let module = host
        .validate(&code, &ctx.config.wasm)
        .expect("valid module");
    let wasm = WasmContract::new("counter", Arc::new(module));
    let native = CounterNative;
    let args = borsh::to_vec(&("a".to_string(), 1u64)).expect("encode");

    // Both give the same answer before being timed.
    let a = native.call(&mut ctx, "incr", &args).expect("native");
    let b = wasm.call(&mut ctx, "incr", &args).expect("wasm");
    assert_eq!(
        u64::from_le_bytes(a.try_into().expect("u64")) + 1,
        u64::from_le_bytes(b.try_into().expect("u64"))
    );

    let mut group = c.benchmark_group("contract_call");
    group.bench_function("native", |bench| {
        bench.iter(|| {
            ctx.events.clear();
            black_box(
                native
                    .call(&mut ctx, "incr", black_box(&args))
                    .expect("native"),
            )
        })
    });
    group.bench_function("wasm", |bench| {
        bench.iter(|| {
            ctx.events.clear();
            black_box(wasm.call(&mut ctx, "incr", black_box(&args)).expect("wasm"))
        })
    });
    group.finish();
}

/// A ledger (redb in memory) with `counter` native, or deployed as WASM,
/// and `a` = 1.
fn ledger(wasm: bool) -> (Ledger<RedbStore>, Identity) {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("bench"))).expect("devnet");
    let mut contracts = Contracts::new();
    if wasm {
        register_wasm(&mut contracts);
    } else {
        contracts.register("counter", Arc::new(CounterNative));
    }
    let mut ledger = Ledger::open(RedbStore::in_memory().expect("store"), contracts).expect("open");
    let proposer = net.nodes[0].2.public();
    let g = ledger
        .build_genesis(net.genesis_bytes(), 1_000, proposer)
        .expect("genesis");
    ledger.commit(g).expect("commit");
    let ben = net.member("printshop-lyon", "ben").expect("ben");
    let channel = net.config.channel_id.clone();
    let mut txs = Vec::new();
    if wasm {
        let code = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/counter.wasm"
        ))
        .expect("examples/counter.wasm");
        let args = deploy_args(
            LifecycleAction::Deploy,
            &channel,
            "counter",
            1,
            code,
            &net.admins()[..4],
        );
        txs.push(ben.call_bytes(&channel, WASM_CONTRACT, "deploy", args, 1));
    }
    let incr = borsh::to_vec(&("a".to_string(), 1u64)).expect("encode");
    txs.push(ben.call_bytes(&channel, "counter", "incr", incr, 2));
    let block = ledger.submit_block(txs, 2_000, proposer).expect("block");
    assert!(block.results.iter().all(|r| r.status.is_valid()));
    let caller = check_certificate(&ben.cert, &net.config.orgs, &[], 1_000).expect("identity");
    (ledger, caller)
}

/// The same read-only call through the whole engine path: `Ledger::query`
/// (a transaction context over the committed redb state, resolution, call).
fn bench_ledger(c: &mut Criterion) {
    let args = borsh::to_vec(&"a".to_string()).expect("encode");
    let mut group = c.benchmark_group("ledger_query");
    for (name, wasm) in [("native", false), ("wasm", true)] {
        let (ledger, caller) = ledger(wasm);
        let out = ledger
            .query(&caller, "counter", "get", &args)
            .expect("query");
        assert_eq!(out, 1u64.to_le_bytes());
        group.bench_function(name, |bench| {
            bench.iter(|| {
                black_box(
                    ledger
                        .query(&caller, "counter", "get", black_box(&args))
                        .expect("query"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_ledger);
criterion_main!(benches);
