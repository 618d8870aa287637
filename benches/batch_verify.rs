//! Why signatures are verified one at a time (docs/DECISIONS.md): the cost
//! per signature of `verify_strict`, of dalek's `verify_batch` in batches of
//! 64, and of the check that would make a batch's verdicts agree with
//! `verify_strict` (R torsion-free and not of small order; the signer's key
//! is already checked when its certificate is loaded).
//!
//! Ids: `sigverify_rule/strict`, `sigverify_rule/batch_64`,
//! `sigverify_rule/r_torsion_check`, `sigverify_rule/batch_64_agreeing`
//! (the last two summed per batch), and Productivist's own computation of
//! `verify_strict`'s verdict (`productivist_engine::sigverify`):
//! `sigverify_rule/strict_prepared_one` (keys decompressed beforehand, R
//! never decompressed) and `sigverify_rule/strict_prepared_batched_64` (the
//! same, 64 signatures sharing one field inversion). Run with
//! `cargo bench --bench batch_verify`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use productivist_engine::crypto::{Hash, PreparedKey, PublicKey, SignatureBytes};
use productivist_engine::sigverify;
use std::hint::black_box;

const SIGS: usize = 1_024;
const BATCH: usize = 64;

struct Set {
    keys: Vec<VerifyingKey>,
    msgs: Vec<Vec<u8>>,
    sigs: Vec<Signature>,
}

fn set() -> Set {
    let mut s = Set {
        keys: Vec::new(),
        msgs: Vec::new(),
        sigs: Vec::new(),
    };
    for i in 0..SIGS {
        let key = SigningKey::from_bytes(&seed(i));
        let msg = format!("transfer {i}").into_bytes();
        s.sigs.push(key.sign(&msg));
        s.keys.push(key.verifying_key());
        s.msgs.push(msg);
    }
    s
}

fn seed(i: usize) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed
}

fn r_is_strict(sig: &Signature) -> bool {
    CompressedEdwardsY(*sig.r_bytes())
        .decompress()
        .is_some_and(|r| r.is_torsion_free() && !r.is_small_order())
}

fn batches(s: &Set, check_r: bool) -> bool {
    let mut all = true;
    for c in 0..SIGS / BATCH {
        let range = c * BATCH..(c + 1) * BATCH;
        if check_r {
            all &= s.sigs[range.clone()].iter().all(r_is_strict);
        }
        let msgs: Vec<&[u8]> = s.msgs[range.clone()].iter().map(Vec::as_slice).collect();
        all &= ed25519_dalek::verify_batch(&msgs, &s.sigs[range.clone()], &s.keys[range]).is_ok();
    }
    all
}

fn rules(c: &mut Criterion) {
    let s = set();
    let mut g = c.benchmark_group("sigverify_rule");
    g.throughput(Throughput::Elements(SIGS as u64));
    g.sample_size(10);
    g.bench_function("strict", |b| {
        b.iter(|| {
            let ok = (0..SIGS).all(|i| s.keys[i].verify_strict(&s.msgs[i], &s.sigs[i]).is_ok());
            assert!(black_box(ok));
        })
    });
    g.bench_function("batch_64", |b| {
        b.iter(|| assert!(black_box(batches(&s, false))))
    });
    g.bench_function("r_torsion_check", |b| {
        b.iter(|| assert!(black_box(s.sigs.iter().all(r_is_strict))))
    });
    g.bench_function("batch_64_agreeing", |b| {
        b.iter(|| assert!(black_box(batches(&s, true))))
    });
    // Productivist's own path to verify_strict's verdict (`sigverify`):
    // keys prepared once, R never decompressed, one inversion per 64.
    let prepared: Vec<PreparedKey> = s
        .keys
        .iter()
        .map(|k| PublicKey(k.to_bytes()).prepare().expect("strong key"))
        .collect();
    let digests: Vec<Hash> = s
        .msgs
        .iter()
        .map(|m| {
            let mut d = [0u8; 32];
            d[..m.len().min(32)].copy_from_slice(&m[..m.len().min(32)]);
            Hash(d)
        })
        .collect();
    let sigs: Vec<SignatureBytes> = (0..SIGS)
        .map(|i| {
            let key = SigningKey::from_bytes(&seed(i));
            SignatureBytes(key.sign(&digests[i].0).to_bytes())
        })
        .collect();
    g.bench_function("strict_prepared_one", |b| {
        b.iter(|| {
            let ok = (0..SIGS).all(|i| sigverify::verify_one(&prepared[i], &digests[i], &sigs[i]));
            assert!(black_box(ok));
        })
    });
    g.bench_function("strict_prepared_batched_64", |b| {
        b.iter(|| {
            let mut all = true;
            for c in 0..SIGS / BATCH {
                let mut batch = sigverify::StrictBatch::with_capacity(BATCH);
                for i in c * BATCH..(c + 1) * BATCH {
                    batch.push(&prepared[i], &digests[i], &sigs[i]);
                }
                all &= batch.verdicts().into_iter().all(|v| v);
            }
            assert!(black_box(all));
        })
    });
    g.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
