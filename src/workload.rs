//! Signed token-transfer workloads for benchmarks: the criterion benches in
//! `benches/` and `productivist bench validate` build the same blocks here.

use crate::embedded::{DynStore, genesis_block};
use productivist_contracts::api::{MintArgs, TOKEN, TransferArgs};
use productivist_engine::crypto::{Hash, KeyPair, PreparedKey, PublicKey, SignatureBytes};
use productivist_engine::devnet::{DEV_NOT_AFTER_MS, DevNet, DevNetSpec, Member};
use productivist_engine::identity::{CertBody, Role, issue_certificate};
use productivist_engine::ledger::{Ledger, LedgerError};
use productivist_engine::tx::{decode_tx, tx_id};
use std::sync::Arc;

/// A funded ledger and a block of transfers ready to validate.
pub struct TransferWorkload {
    /// The ledger (genesis and funding committed).
    pub ledger: Ledger<DynStore>,
    /// The transfer block's transactions.
    pub txs: Vec<Vec<u8>>,
    /// The proposing node's key.
    pub proposer: PublicKey,
    /// Block time of the transfer block.
    pub timestamp_ms: u64,
}

/// Why a workload could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The ledger refused something.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Setup failed.
    #[error("{0}")]
    Setup(String),
}

const CHANNEL: &str = "public";

/// `senders` distinct members of the `customers` organization.
fn senders(net: &DevNet, count: usize) -> Result<Vec<Member>, WorkloadError> {
    let org = net
        .orgs
        .iter()
        .find(|o| o.name == "customers")
        .ok_or_else(|| WorkloadError::Setup("no customers organization".into()))?;
    (0..count)
        .map(|i| {
            let key = KeyPair::from_seed(&format!("bench/sender/{i}"));
            let cert = issue_certificate(
                &org.root,
                CertBody {
                    subject: format!("s{i}"),
                    org: org.name.clone(),
                    roles: vec![Role::Customer],
                    public_key: key.public(),
                    not_before_ms: 0,
                    not_after_ms: DEV_NOT_AFTER_MS,
                    serial: 1_000_000 + i as u64,
                },
            )
            .map_err(|e| WorkloadError::Setup(e.to_string()))?;
            Ok(Member {
                name: format!("s{i}"),
                org: org.name.clone(),
                key,
                cert,
            })
        })
        .collect()
}

/// Builds a ledger over `store` with `count` funded senders and a block of
/// `count` transfers to distinct recipients; with `hot`, every other
/// transfer goes to one hot account instead.
pub fn transfers(
    store: DynStore,
    count: usize,
    hot: bool,
) -> Result<TransferWorkload, WorkloadError> {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("bench")))
        .map_err(|e| WorkloadError::Setup(e.to_string()))?;
    let proposer = net.nodes[0].2.public();
    let mut contracts = productivist_engine::contract::Contracts::new();
    productivist_contracts::register_natives(&mut contracts);
    let mut ledger = Ledger::open(store, contracts)?;
    let genesis = genesis_block(&net, 1_000).map_err(|e| WorkloadError::Setup(e.to_string()))?;
    let g = ledger.verify(&genesis)?;
    ledger.commit(g)?;
    let issuer = net
        .find("issuer")
        .ok_or_else(|| WorkloadError::Setup("no issuer".into()))?;
    let senders = senders(&net, count)?;
    let max_txs = ledger
        .config()
        .map_or(10_000, |c| c.limits.max_txs as usize);
    let mints: Vec<Vec<u8>> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let args = borsh::to_vec(&MintArgs {
                to: s.account(),
                amount: 1_000,
                reference: format!("bench-funding-{i}"),
            })
            .unwrap_or_default();
            issuer.call_bytes(CHANNEL, TOKEN, "mint", args, i as u64)
        })
        .collect();
    for (n, chunk) in mints.chunks(max_txs.max(1)).enumerate() {
        let block = ledger.submit_block(chunk.to_vec(), 2_000 + n as u64, proposer)?;
        if let Some(bad) = block.results.iter().find(|r| !r.status.is_valid()) {
            return Err(WorkloadError::Setup(format!(
                "funding failed: {}",
                bad.status
            )));
        }
    }
    let txs = senders
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let to = if hot && i % 2 == 0 {
                "hot@customers".to_string()
            } else {
                format!("r{i}@customers")
            };
            let args = borsh::to_vec(&TransferArgs {
                to,
                amount: 1,
                memo: String::new(),
            })
            .unwrap_or_default();
            s.call_bytes(CHANNEL, TOKEN, "transfer", args, 7)
        })
        .collect();
    Ok(TransferWorkload {
        ledger,
        txs,
        proposer,
        timestamp_ms: 10_000,
    })
}

/// The signature checks of a block, alone: `(key, digest, signature)`.
pub fn signatures(txs: &[Vec<u8>]) -> Vec<(PublicKey, Hash, SignatureBytes)> {
    txs.iter()
        .filter_map(|b| decode_tx(b, usize::MAX).ok())
        .filter_map(|tx| match &tx.value().signer {
            productivist_engine::tx::SignerRef::Certificate(c) => {
                Some((c.value().public_key, tx_id(&tx), *tx.signature()))
            }
            productivist_engine::tx::SignerRef::CertId(_) => None,
        })
        .collect()
}

/// Signatures verified together in [`verify_all`] and
/// [`verify_all_prepared`]: the chunk size of parallel validation.
const VERIFY_CHUNK: usize = 64;

/// Verifies every signature on `threads` threads, with `verify_strict`'s
/// verdicts computed as validation computes them (chunks of 64 sharing one
/// field inversion, `productivist_engine::sigverify`), each key
/// decompressed; returns how many verified.
pub fn verify_all(sigs: &[(PublicKey, Hash, SignatureBytes)], pool: &rayon::ThreadPool) -> usize {
    verify_in_chunks(sigs, pool, |b, (k, d, s)| b.push_key(k, d, s))
}

/// [`verify_all`] with every key decompressed beforehand, as admission
/// does for a member whose certificate it has seen (`CertCache`): only the
/// signature checks are timed. Keys that cannot be prepared count as
/// failures.
pub fn verify_all_prepared(
    sigs: &[(PreparedKey, Hash, SignatureBytes)],
    pool: &rayon::ThreadPool,
) -> usize {
    verify_in_chunks(sigs, pool, |b, (k, d, s)| b.push(k, d, s))
}

/// Counts the signatures that verify, [`VERIFY_CHUNK`] to a batch, on
/// `pool`'s threads; `push` adds one item to a batch.
fn verify_in_chunks<T: Sync>(
    items: &[T],
    pool: &rayon::ThreadPool,
    push: impl Fn(&mut productivist_engine::sigverify::StrictBatch, &T) + Sync,
) -> usize {
    use productivist_engine::sigverify::StrictBatch;
    use rayon::prelude::*;
    pool.install(|| {
        items
            .par_chunks(VERIFY_CHUNK)
            .map(|chunk| {
                let mut batch = StrictBatch::with_capacity(chunk.len());
                for item in chunk {
                    push(&mut batch, item);
                }
                batch.verdicts().into_iter().filter(|v| *v).count()
            })
            .sum()
    })
}

/// [`signatures`] with the keys decompressed, for [`verify_all_prepared`].
pub fn prepared_signatures(
    sigs: &[(PublicKey, Hash, SignatureBytes)],
) -> Vec<(PreparedKey, Hash, SignatureBytes)> {
    sigs.iter()
        .filter_map(|(k, d, s)| Some((k.prepare().ok()?, *d, *s)))
        .collect()
}

/// A thread pool of `threads` threads.
pub fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, WorkloadError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map(Arc::new)
        .map_err(|e| WorkloadError::Setup(e.to_string()))
}
