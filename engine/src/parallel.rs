//! Parallel validation and execution with the result of sequential
//! execution (optimistic execution with read sets and deterministic
//! re-execution, in the spirit of Block-STM).
//!
//! The block is cut into chunks of consecutive transactions. Every pool
//! thread claims chunks in order and, for each transaction, does everything
//! that does not depend on the rest of the block: admission (decode,
//! certificate, `verify_strict` signature, replay against committed blocks),
//! a first optimistic execution against the committed state recording what it
//! read, and the transaction's share of sealing: its Merkle leaf, its result's
//! leaf and its state-root delta (the accumulator is a group, so per
//! transaction deltas add up to the block's).
//!
//! The in-order pass (the "committer") runs while other chunks are still
//! being admitted: whichever thread finishes a chunk and finds the committer
//! free takes it and consumes every finished chunk in block order. For each
//! transaction it applies the rules that depend on earlier transactions
//! (replay within the block) exactly as sequential execution does; it keeps
//! the optimistic outcome if no earlier transaction of the block wrote
//! anything it read, which means it saw exactly the values sequential
//! execution would have shown it, and contracts are deterministic. Otherwise
//! it re-executes it on the block's current state. A conflict costs a
//! re-execution, never an invalidation. Where the optimistic state-root delta
//! assumed a value that an earlier transaction of the block changed, the
//! committer records element corrections, hashed on all threads at the end.
//!
//! Nothing here depends on which thread did what or when: each chunk's
//! content is fixed by the block, and the committer consumes chunks strictly
//! in order, so the output is the same for any thread count and schedule.
//!
//! Signature verification gives `verify_strict`'s verdict on each signature;
//! the signatures of a chunk share one field inversion (`sigverify`), which
//! is exact arithmetic, so a verdict cannot depend on grouping or thread
//! count (see docs/DECISIONS.md on batch verification).

use crate::admission::Admitted;
use crate::block::TxResult;
use crate::block_writes::BlockWrites;
use crate::codec;
use crate::config::ChannelConfig;
use crate::contract::{BlockInfo, Contracts};
use crate::crypto::Hash;
use crate::executor::{
    Accumulator, ExecutionOutput, Prepared, Sealing, SnapshotView, TxOutcome, Unsigned,
    expected_writes, prepare_signed, prepare_unsigned, run_tx,
};
use crate::identity::CertCache;
use crate::merkle;
use crate::sigverify::StrictBatch;
use crate::state::{BlockView, StateView};
use crate::state_root::LtHash;
use crate::store::{Rows, Snapshot, StoreError};
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Most transactions per chunk: small enough that the committer trails the
/// admission threads closely (little serial work left at the end), large
/// enough that claiming a chunk and handing it over cost nothing in
/// comparison.
const CHUNK_TXS_MAX: usize = 64;
/// Chunks per thread at least, so that small blocks still spread.
const CHUNKS_PER_THREAD_MIN: usize = 4;
/// The last chunks are cut this many times smaller: when the block runs
/// out, the other threads wait for whoever holds the last chunk, on
/// average half a chunk's work each.
const TAIL_SPLIT: usize = 4;
/// Chunks per thread at the end of the block cut into smaller ones.
const TAIL_CHUNKS_PER_THREAD: usize = 2;
/// Corrections hashed per task in the final state-root pass.
const CORRECTIONS_PER_TASK: usize = 64;

/// The `[start, end)` bounds of the chunks of a block of `txs` transactions
/// run on `threads` threads: `chunk_txs`-sized chunks, then smaller ones for
/// the last `TAIL_CHUNKS_PER_THREAD` chunks' worth per thread.
fn chunk_bounds(txs: usize, threads: usize) -> Vec<(usize, usize)> {
    let chunk_txs = txs
        .div_ceil(threads.max(1) * CHUNKS_PER_THREAD_MIN)
        .clamp(1, CHUNK_TXS_MAX);
    let tail_txs = (chunk_txs * threads * TAIL_CHUNKS_PER_THREAD).min(txs);
    let small_txs = (chunk_txs / TAIL_SPLIT).max(1);
    let body_end = txs - tail_txs;
    let mut bounds = Vec::with_capacity(txs.div_ceil(chunk_txs) + tail_txs.div_ceil(small_txs));
    // Both loops are bounded by `txs`: each round advances by at least one.
    let mut start = 0;
    while start < body_end {
        let end = (start + chunk_txs).min(body_end);
        bounds.push((start, end));
        start = end;
    }
    while start < txs {
        let end = (start + small_txs).min(txs);
        bounds.push((start, end));
        start = end;
    }
    debug_assert!(bounds.iter().all(|(a, b)| a < b));
    debug_assert_eq!(bounds.last().map_or(0, |b| b.1), txs);
    bounds
}

/// A 64-bit digest of a state key, computed on the parallel threads, so
/// that the in-order pass can rule out most conflicts with one probe of a
/// hash set instead of an ordered-map search over long keys. Collisions only
/// cost an exact check; they never change an outcome.
fn key_digest(key: &[u8]) -> u64 {
    use std::hash::BuildHasher as _;
    // Seeded at random once per process (contracts choose their keys, and
    // the digests are hashed by identity below), the same on every thread.
    static KEY_HASHER: std::sync::OnceLock<foldhash::fast::RandomState> =
        std::sync::OnceLock::new();
    KEY_HASHER.get_or_init(Default::default).hash_one(key)
}

/// Hashes [`key_digest`] values, which are uniform already, by identity.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Digests of the keys written so far in the block.
type WrittenDigests = std::collections::HashSet<u64, std::hash::BuildHasherDefault<DigestHasher>>;

/// A key read with `get`: its digest, the key, and the committed value.
type KeyRead = (u64, Vec<u8>, Option<Vec<u8>>);

/// What one optimistic execution read.
#[derive(Debug, Default)]
struct ReadSet {
    keys: Vec<KeyRead>,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl ReadSet {
    /// Whether any key in `written` (whose digests are `digests`) falls in
    /// this read set.
    fn conflicts(&self, written: &BlockWrites, digests: &WrittenDigests) -> bool {
        if written.is_empty() {
            return false;
        }
        self.keys
            .iter()
            .any(|(d, k, _)| digests.contains(d) && written.contains_key(k))
            || self.ranges.iter().any(|(start, end)| {
                match (written.range_from(start).next(), end) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some((k, _)), Some(e)) => k < e.as_slice(),
                }
            })
    }

    /// The committed value of `key` if this execution read it.
    fn value_of(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.keys
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, v)| v)
    }
}

/// A view of the committed state that records what is read.
struct RecordingView<'a> {
    inner: &'a dyn StateView,
    reads: RefCell<ReadSet>,
}

impl StateView for RecordingView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.inner.get(key)?;
        self.reads
            .borrow_mut()
            .keys
            .push((key_digest(key), key.to_vec(), value.clone()));
        Ok(value)
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        // The whole requested interval counts as read, not only the rows
        // returned: a write anywhere in it could change what the range saw.
        self.reads
            .borrow_mut()
            .ranges
            .push((start.to_vec(), end.map(<[u8]>::to_vec)));
        self.inner.range(start, end, limit)
    }
}

/// A transaction's optimistic execution against the committed state.
struct Speculation {
    outcome: TxOutcome,
    reads: ReadSet,
    /// The committed value of each key of `outcome.writes`, in the same
    /// order; its state-root delta (in the chunk's sum) assumed these.
    before: Vec<Option<Vec<u8>>>,
    /// [`key_digest`] of each key of `outcome.writes`, in the same order.
    write_digests: Vec<u64>,
    /// The result's encoding and Merkle leaf.
    encoded: EncodedResult,
}

/// A result's encoding, kept for the block's bytes (so that the whole block
/// is not encoded again on one thread when it is sealed), and its leaf.
struct EncodedResult {
    leaf: Hash,
    bytes: Vec<u8>,
}

fn encode_result(result: &TxResult) -> EncodedResult {
    let bytes = codec::encode(result);
    EncodedResult {
        leaf: merkle::leaf(&bytes),
        bytes,
    }
}

enum Item {
    /// Refused at admission: the result and its leaf are final.
    Rejected {
        result: TxResult,
        encoded: EncodedResult,
    },
    /// Admitted, executed once optimistically.
    Admitted {
        admitted: Box<Admitted>,
        spec: Speculation,
    },
}

/// One chunk after the parallel phase.
struct Chunk {
    items: Vec<Item>,
    tx_leaves: Vec<Hash>,
    /// Sum of the state-root deltas of the chunk's optimistically valid
    /// transactions, against committed values.
    delta: LtHash,
}

/// One state-root element to add (`+1`) or remove (`-1`).
struct Correction {
    key: Vec<u8>,
    value: Vec<u8>,
    sign: i8,
}

/// The in-order pass's state.
struct Committer<'v> {
    /// Index of the next chunk to consume.
    next_chunk: usize,
    view: BlockView<'v>,
    acc: Accumulator,
    tx_leaves: Vec<Hash>,
    result_leaves: Vec<Hash>,
    /// Each result's encoding, in block order.
    result_bytes: Vec<Vec<u8>>,
    delta: LtHash,
    corrections: Vec<Correction>,
    /// Digests of every key in `view`'s overlay.
    written: WrittenDigests,
}

/// What the in-order step needs besides the committer.
struct Env<'e> {
    contracts: &'e Contracts,
    config: &'e ChannelConfig,
    block: &'e BlockInfo,
}

/// Queues the removal of a speculative delta: `-after + before` per key.
fn cancel_speculation(spec: &Speculation, out: &mut Vec<(Vec<u8>, Vec<u8>, i8)>) {
    for ((key, after), before) in spec.outcome.writes.iter().zip(&spec.before) {
        if let Some(v) = after {
            out.push((key.clone(), v.clone(), -1));
        }
        if let Some(v) = before {
            out.push((key.clone(), v.clone(), 1));
        }
    }
}

impl Committer<'_> {
    /// Adds element operations, netting out pairs that cancel (the common
    /// case when a re-execution wrote what the speculation wrote).
    fn correct(&mut self, mut ops: Vec<(Vec<u8>, Vec<u8>, i8)>) {
        ops.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut i = 0;
        // Each pass of the outer loop consumes at least one op.
        while i < ops.len() {
            let mut j = i;
            let mut net: i32 = 0;
            while j < ops.len() && ops[j].0 == ops[i].0 && ops[j].1 == ops[i].1 {
                net += i32::from(ops[j].2);
                j += 1;
            }
            let sign = if net > 0 { 1 } else { -1 };
            for _ in 0..net.unsigned_abs() {
                self.corrections.push(Correction {
                    key: ops[i].0.clone(),
                    value: ops[i].1.clone(),
                    sign,
                });
            }
            i = j;
        }
    }

    /// Consumes one chunk in block order.
    fn consume(&mut self, chunk: Chunk, env: &Env<'_>) -> Result<(), StoreError> {
        self.delta.combine(&chunk.delta);
        self.tx_leaves.extend(chunk.tx_leaves);
        for item in chunk.items {
            match item {
                Item::Rejected { result, encoded } => {
                    self.acc
                        .step(Prepared::Rejected(result), no_run, &mut self.view)?;
                    self.push_result(encoded);
                }
                Item::Admitted { admitted, spec } => self.consume_admitted(admitted, spec, env)?,
            }
        }
        Ok(())
    }

    fn consume_admitted(
        &mut self,
        admitted: Box<Admitted>,
        spec: Speculation,
        env: &Env<'_>,
    ) -> Result<(), StoreError> {
        let mut ops: Vec<(Vec<u8>, Vec<u8>, i8)> = Vec::new();
        let mut kept = None;
        let mut unused = Some(spec);
        let written = &mut self.written;
        self.acc.step(
            Prepared::Admitted(admitted),
            |admitted, view| {
                let spec = unused.take().ok_or_else(|| {
                    StoreError::Corrupt("a transaction ran twice in the in-order pass".into())
                })?;
                if !spec.reads.conflicts(view.writes(), written) {
                    // Same reads as sequential execution, so the same outcome.
                    // Its delta assumed committed values; correct it for
                    // keys an earlier transaction of the block wrote:
                    // `-before_now + before_committed` (the new value's
                    // element stays).
                    for (((key, _), committed), digest) in spec
                        .outcome
                        .writes
                        .iter()
                        .zip(&spec.before)
                        .zip(&spec.write_digests)
                    {
                        if !written.contains(digest) {
                            continue;
                        }
                        if let Some(now) = view.writes().get(key) {
                            if let Some(v) = now {
                                ops.push((key.clone(), v.clone(), -1));
                            }
                            if let Some(v) = committed {
                                ops.push((key.clone(), v.clone(), 1));
                            }
                        }
                    }
                    if spec.outcome.result.status.is_valid() {
                        written.extend(spec.write_digests.iter().copied());
                    }
                    kept = Some(spec.encoded);
                    return Ok(spec.outcome);
                }
                // It read something an earlier transaction of this block
                // wrote: run it again on the block's current state.
                cancel_speculation(&spec, &mut ops);
                let outcome = run_tx(view, env.contracts, env.config, env.block, admitted)?;
                for (key, after) in &outcome.writes {
                    if let Some(v) = view.get(key)? {
                        ops.push((key.clone(), v, -1));
                    }
                    if let Some(v) = after {
                        ops.push((key.clone(), v.clone(), 1));
                    }
                }
                if outcome.result.status.is_valid() {
                    written.extend(outcome.writes.keys().map(|k| key_digest(k)));
                }
                Ok(outcome)
            },
            &mut self.view,
        )?;
        if let Some(spec) = &unused {
            // A replay within the block: nothing of the speculation stays.
            cancel_speculation(spec, &mut ops);
        }
        self.correct(ops);
        let encoded =
            match kept {
                Some(encoded) => encoded,
                None => self.acc.last_result().map(encode_result).ok_or_else(|| {
                    StoreError::Corrupt("in-order pass recorded no result".into())
                })?,
            };
        self.push_result(encoded);
        Ok(())
    }

    fn push_result(&mut self, encoded: EncodedResult) {
        self.result_leaves.push(encoded.leaf);
        self.result_bytes.push(encoded.bytes);
    }
}

fn no_run(_: &Admitted, _: &BlockView<'_>) -> Result<TxOutcome, StoreError> {
    Err(StoreError::Corrupt(
        "a rejected transaction cannot run".into(),
    ))
}

/// Admits and optimistically executes one chunk.
#[allow(clippy::too_many_arguments)]
fn run_chunk(
    store: &dyn Snapshot,
    committed: &SnapshotView<'_>,
    env: &Env<'_>,
    cache: &CertCache,
    txs: &[Vec<u8>],
    signatures_verified: &[bool],
) -> Result<Chunk, StoreError> {
    let mut items = Vec::with_capacity(txs.len());
    let mut tx_leaves = Vec::with_capacity(txs.len());
    let mut delta = LtHash::zero();
    // Admission up to the signature, then the chunk's signatures verified
    // together (one field inversion for all, the same verdicts as one at a
    // time: see `sigverify`), then the rest in order.
    let mut unsigned = Vec::with_capacity(txs.len());
    let mut batch = StrictBatch::with_capacity(txs.len());
    for (i, bytes) in txs.iter().enumerate() {
        tx_leaves.push(merkle::leaf(bytes));
        let verified = signatures_verified.get(i).copied().unwrap_or(false);
        let u = prepare_unsigned(store, env.config, env.block, bytes, cache, verified)?;
        if let Unsigned::Pending(admitted, Some(key)) = &u {
            batch.push(key, &admitted.id, admitted.tx.signature());
        }
        unsigned.push(u);
    }
    let mut verdicts = batch.verdicts().into_iter();
    for u in unsigned {
        let prepared = match u {
            Unsigned::Rejected(result) => Prepared::Rejected(result),
            Unsigned::Pending(admitted, key) => {
                let signature_ok = match key {
                    None => true,
                    Some(_) => verdicts.next().ok_or_else(|| {
                        StoreError::Corrupt("a signature of the chunk has no verdict".into())
                    })?,
                };
                prepare_signed(store, admitted, signature_ok)?
            }
        };
        let admitted = match prepared {
            Prepared::Rejected(result) => {
                let encoded = encode_result(&result);
                items.push(Item::Rejected { result, encoded });
                continue;
            }
            Prepared::Admitted(a) => a,
        };
        let view = RecordingView {
            inner: committed,
            reads: RefCell::new(ReadSet::default()),
        };
        let outcome = run_tx(&view, env.contracts, env.config, env.block, &admitted)?;
        let reads = view.reads.into_inner();
        let mut before = Vec::with_capacity(outcome.writes.len());
        let mut write_digests = Vec::with_capacity(outcome.writes.len());
        for (key, after) in &outcome.writes {
            write_digests.push(key_digest(key));
            let old = match reads.value_of(key) {
                Some(v) => v.clone(),
                // A blind write: the committed value was not read.
                None => committed.get(key)?,
            };
            if let Some(v) = &old {
                delta.remove(key, v);
            }
            if let Some(v) = after {
                delta.insert(key, v);
            }
            before.push(old);
        }
        let encoded = encode_result(&outcome.result);
        items.push(Item::Admitted {
            admitted,
            spec: Speculation {
                outcome,
                reads,
                before,
                write_digests,
                encoded,
            },
        });
    }
    Ok(Chunk {
        items,
        tx_leaves,
        delta,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; the data is
    // still only what that thread finished writing, and the panic itself
    // reaches the caller through the pool.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Consumes finished chunks in order until the next one is not ready.
fn drain(
    committer: &mut Committer<'_>,
    slots: &[Mutex<Option<Result<Chunk, StoreError>>>],
    env: &Env<'_>,
) -> Result<(), StoreError> {
    // Bounded by the number of chunks: each round consumes one.
    while let Some(slot) = slots.get(committer.next_chunk) {
        let Some(chunk) = lock(slot).take() else {
            return Ok(());
        };
        committer.next_chunk += 1;
        committer.consume(chunk?, env)?;
    }
    Ok(())
}

/// Parallel execution; see the module documentation.
#[allow(clippy::too_many_arguments)]
pub fn execute_block_parallel(
    store: &dyn Snapshot,
    contracts: &Contracts,
    config: &ChannelConfig,
    block: &BlockInfo,
    txs: &[Vec<u8>],
    signatures_verified: &[bool],
    pool: &rayon::ThreadPool,
    cache: &CertCache,
) -> Result<ExecutionOutput, StoreError> {
    let committed = SnapshotView(store);
    let env = Env {
        contracts,
        config,
        block,
    };
    let threads = pool.current_num_threads().max(1);
    let bounds = chunk_bounds(txs.len(), threads);
    let slots: Vec<Mutex<Option<Result<Chunk, StoreError>>>> =
        bounds.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let committer = Mutex::new(Committer {
        next_chunk: 0,
        view: BlockView::with_capacity(&committed, expected_writes(txs.len())),
        acc: Accumulator::new(txs.len()),
        tx_leaves: Vec::with_capacity(txs.len()),
        result_leaves: Vec::with_capacity(txs.len()),
        result_bytes: Vec::with_capacity(txs.len()),
        delta: LtHash::zero(),
        corrections: Vec::new(),
        written: WrittenDigests::with_capacity_and_hasher(
            expected_writes(txs.len()),
            Default::default(),
        ),
    });
    let commit_error: Mutex<Option<StoreError>> = Mutex::new(None);
    pool.broadcast(|_| {
        // Each round claims a distinct chunk; bounded by their number.
        while !failed.load(Ordering::Relaxed) {
            let c = next.fetch_add(1, Ordering::Relaxed);
            let Some((first, txs)) = bounds
                .get(c)
                .and_then(|&(first, end)| Some((first, txs.get(first..end)?)))
            else {
                break;
            };
            let verified = signatures_verified
                .get(first..)
                .map_or(&[][..], |v| &v[..v.len().min(txs.len())]);
            let out = run_chunk(store, &committed, &env, cache, txs, verified);
            if out.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            *lock(&slots[c]) = Some(out);
            // Take the in-order pass if nobody has it; otherwise its holder
            // or a later finisher will consume this chunk.
            if let Ok(mut com) = committer.try_lock()
                && let Err(e) = drain(&mut com, &slots, &env)
            {
                failed.store(true, Ordering::Relaxed);
                lock(&commit_error).get_or_insert(e);
            }
        }
    });
    if let Some(e) = lock(&commit_error).take() {
        return Err(e);
    }
    let mut com = committer
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Every chunk is finished now; consume the ones nobody took yet.
    drain(&mut com, &slots, &env)?;
    if com.next_chunk != bounds.len() {
        return Err(StoreError::Corrupt(format!(
            "in-order pass stopped at chunk {} of {}",
            com.next_chunk,
            bounds.len()
        )));
    }
    let Committer {
        view,
        acc,
        tx_leaves,
        result_leaves,
        result_bytes,
        mut delta,
        corrections,
        ..
    } = com;
    // Corrections are only needed when transactions of the block touched
    // the same keys; hash them on every thread.
    if !corrections.is_empty() {
        let parts: Vec<LtHash> = pool.install(|| {
            corrections
                .par_chunks(CORRECTIONS_PER_TASK)
                .map(|part| {
                    let mut d = LtHash::zero();
                    for c in part {
                        if c.sign > 0 {
                            d.insert(&c.key, &c.value);
                        } else {
                            d.remove(&c.key, &c.value);
                        }
                    }
                    d
                })
                .collect()
        });
        for p in &parts {
            delta.combine(p);
        }
    }
    let mut out = acc.finish(view);
    debug_assert_eq!(out.results.len(), txs.len());
    debug_assert_eq!(tx_leaves.len(), txs.len());
    debug_assert_eq!(result_leaves.len(), txs.len());
    debug_assert_eq!(result_bytes.len(), txs.len());
    out.sealing = Some(Sealing {
        tx_leaves,
        result_leaves,
        result_bytes,
        state_delta: delta,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_block_in_order_with_a_finer_tail() {
        for txs in [1usize, 2, 7, 63, 64, 65, 500, 1_000, 10_000, 10_007] {
            for threads in [1usize, 2, 3, 4, 8] {
                let b = chunk_bounds(txs, threads);
                assert_eq!(b[0].0, 0);
                assert_eq!(b[b.len() - 1].1, txs);
                assert!(b.windows(2).all(|w| w[0].1 == w[1].0));
                assert!(b.iter().all(|(s, e)| s < e && e - s <= CHUNK_TXS_MAX));
                let last = b[b.len() - 1].1 - b[b.len() - 1].0;
                assert!(last <= b[0].1 - b[0].0);
            }
        }
        // A large block: full chunks, then chunks a quarter of their size.
        let b = chunk_bounds(10_000, 2);
        assert_eq!(b[0], (0, CHUNK_TXS_MAX));
        assert_eq!(
            b[b.len() - 1].1 - b[b.len() - 1].0,
            CHUNK_TXS_MAX / TAIL_SPLIT
        );
    }
}
