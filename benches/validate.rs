//! Validation and execution throughput (issue: parallel validation).
//!
//! Ids are stable so results compare over time:
//! - `validate/transfers/threads_1`, `validate/transfers/threads_2`: a block
//!   of 10,000 signed token transfers between 10,000 distinct accounts;
//! - `validate/hot/threads_2`: the same with half of them paying one account;
//! - `sigverify/raw/threads_2`: only the 10,000 signature checks under
//!   `verify_strict`'s rule, as validation computes them
//!   (`productivist_engine::sigverify`, chunks of 64), each decompressing
//!   its public key;
//! - `sigverify/raw_prepared/threads_2`: the same with the keys decompressed
//!   beforehand, as admission does for members it has seen (`CertCache`);
//! - `pipeline/commit/threads_2`: validate, execute and durably commit.
//! - `pipeline/sequential/threads_2` and `pipeline/overlapped/threads_2`:
//!   commit a validated block N, then validate block N+1 (the same
//!   transactions again, so every one is verified and then refused as a
//!   replay of N): one after the other, or with N's store write overlapped
//!   with N+1's validation (`Ledger::commit_and_propose`).
//!
//! "Validate" is `Ledger::propose`: admission (decode, certificate, signature,
//! replay), execution and sealing (state root, Merkle roots), without commit.
//! The measured routine owns its input (a copy of the block's transactions,
//! made before timing, as a node hands over the bytes it holds), and the
//! executed block is freed after timing (criterion's `iter_batched`): a node
//! commits the block, then frees it, and neither copy nor free is validation.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use productivist::embedded::DynStore;
use productivist::workload;
use productivist_engine::store::RedbStore;
use std::hint::black_box;
use std::sync::Arc;

/// The allocator of the `productivist` binary, so that the figures are the
/// node's (see docs/DECISIONS.md, "The allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TXS: usize = 10_000;

fn memory_store() -> DynStore {
    Arc::new(RedbStore::in_memory().expect("in-memory store"))
}

/// Measures `Ledger::propose` of the workload's block under `id`.
fn bench_propose(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    w: &workload::TransferWorkload,
) {
    // One run first: it fills the certificate cache, as a running node's
    // would be for members who transacted before.
    let first = w
        .ledger
        .propose(w.txs.clone(), w.timestamp_ms, w.proposer)
        .expect("propose");
    assert!(first.block.results.iter().all(|r| r.status.is_valid()));
    g.bench_function(id, |b| {
        b.iter_batched(
            || w.txs.clone(),
            |txs| {
                black_box(
                    w.ledger
                        .propose(txs, w.timestamp_ms, w.proposer)
                        .expect("propose"),
                )
            },
            BatchSize::PerIteration,
        )
    });
}

fn validate(c: &mut Criterion) {
    // As the binary does first thing (`src/main.rs`), under the same
    // `PRODUCTIVIST_HUGE_PAGES` setting.
    productivist::memory::apply_page_policy();
    let mut w = workload::transfers(memory_store(), TXS, false).expect("workload");
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    for threads in [1usize, 2] {
        w.ledger.set_threads(threads);
        bench_propose(&mut g, &format!("transfers/threads_{threads}"), &w);
    }
    let mut hot = workload::transfers(memory_store(), TXS, true).expect("workload");
    hot.ledger.set_threads(2);
    bench_propose(&mut g, "hot/threads_2", &hot);
    g.finish();

    let sigs = workload::signatures(&w.txs);
    assert_eq!(sigs.len(), TXS);
    let pool = workload::pool(2).expect("pool");
    let mut g = c.benchmark_group("sigverify");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    g.bench_function("raw/threads_2", |b| {
        b.iter(|| assert_eq!(workload::verify_all(black_box(&sigs), &pool), TXS))
    });
    let prepared = workload::prepared_signatures(&sigs);
    g.bench_function("raw_prepared/threads_2", |b| {
        b.iter(|| {
            assert_eq!(
                workload::verify_all_prepared(black_box(&prepared), &pool),
                TXS
            )
        })
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    productivist::memory::apply_page_policy();
    // A funded ledger on disk, copied afresh for every measured commit.
    let dir = tempfile::tempdir().expect("tempdir");
    let template = dir.path().join("template.redb");
    let txs = {
        let store: DynStore = Arc::new(RedbStore::open(&template).expect("store"));
        let w = workload::transfers(store, TXS, false).expect("workload");
        (w.txs, w.timestamp_ms, w.proposer)
    };
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    let mut n = 0u32;
    let mut fresh = |threads: usize| {
        n += 1;
        let path = dir.path().join(format!("run{n}.redb"));
        std::fs::copy(&template, &path).expect("copy");
        let store: DynStore = Arc::new(RedbStore::open(&path).expect("store"));
        let mut ledger = productivist_engine::ledger::Ledger::open(
            store,
            productivist::embedded::native_contracts(),
        )
        .expect("open");
        ledger.set_threads(threads);
        ledger
    };
    g.bench_function("commit/threads_2", |b| {
        b.iter_batched(
            || fresh(2),
            |mut ledger| {
                let executed = ledger
                    .propose(txs.0.clone(), txs.1, txs.2)
                    .expect("propose");
                ledger.commit(executed).expect("commit");
                ledger
            },
            BatchSize::PerIteration,
        )
    });
    // Block N validated outside the measurement; measured: its commit and
    // the validation of block N+1.
    let with_block_n = |ledger: productivist_engine::ledger::Ledger<DynStore>| {
        let executed = ledger
            .propose(txs.0.clone(), txs.1, txs.2)
            .expect("propose");
        (ledger, executed)
    };
    g.bench_function("sequential/threads_2", |b| {
        b.iter_batched(
            || with_block_n(fresh(2)),
            |(mut ledger, executed)| {
                ledger.commit(executed).expect("commit");
                let next = ledger
                    .propose(txs.0.clone(), txs.1 + 1, txs.2)
                    .expect("propose");
                (ledger, next)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("overlapped/threads_2", |b| {
        b.iter_batched(
            || with_block_n(fresh(2)),
            |(mut ledger, executed)| {
                let p = ledger
                    .commit_and_propose(executed, txs.0.clone(), txs.1 + 1, txs.2)
                    .expect("commit");
                let next = p.next.expect("propose");
                (ledger, next)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, validate, pipeline);
criterion_main!(benches);
