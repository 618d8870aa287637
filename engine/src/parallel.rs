//! Parallel validation and execution with the result of sequential
//! execution (optimistic execution with read sets and deterministic
//! re-execution, in the spirit of Block-STM).
//!
//! Phase 1, on all threads: each transaction is admitted (decode,
//! certificate, `verify_strict` signature, replay against committed blocks)
//! and executed once against the committed state, recording every key and
//! range it read.
//!
//! Phase 2, in block order on one thread: the rules that depend on earlier
//! transactions (replay within the block) are applied exactly as in
//! sequential execution; then a transaction's optimistic outcome is kept if
//! no earlier transaction of the block wrote anything it read, which means it
//! saw exactly the values sequential execution would have shown it, and
//! contracts are deterministic. Otherwise it is re-executed on the block's
//! current state. A conflict costs a re-execution, never an invalidation.
//!
//! Signature verification is `verify_strict` one signature at a time, so a
//! verdict cannot depend on grouping or thread count (see docs/DECISIONS.md on
//! batch verification).

use crate::config::ChannelConfig;
use crate::contract::{BlockInfo, Contracts};
use crate::executor::{
    Accumulator, ExecutionOutput, Prepared, SnapshotView, TxOutcome, prepare, run_tx,
};
use crate::identity::CertCache;
use crate::state::{BlockView, StateView};
use crate::store::{Rows, Snapshot, StoreError};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// What one optimistic execution read.
#[derive(Debug, Default)]
struct ReadSet {
    keys: Vec<Vec<u8>>,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl ReadSet {
    /// Whether any key in `written` falls in this read set.
    fn conflicts(&self, written: &BTreeSet<Vec<u8>>) -> bool {
        if written.is_empty() {
            return false;
        }
        self.keys.iter().any(|k| written.contains(k))
            || self.ranges.iter().any(|(start, end)| {
                let mut hit = written.range(start.clone()..);
                match (hit.next(), end) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(k), Some(e)) => k < e,
                }
            })
    }
}

/// A view of the committed state that records what is read.
struct RecordingView<'a> {
    inner: &'a dyn StateView,
    reads: RefCell<ReadSet>,
}

impl StateView for RecordingView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.borrow_mut().keys.push(key.to_vec());
        self.inner.get(key)
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

struct Optimistic {
    prepared: Prepared,
    outcome: Option<(TxOutcome, ReadSet)>,
}

/// Parallel execution; see the module documentation.
pub fn execute_block_parallel(
    store: &dyn Snapshot,
    contracts: &Contracts,
    config: &ChannelConfig,
    block: &BlockInfo,
    txs: &[Vec<u8>],
    pool: &rayon::ThreadPool,
    cache: &CertCache,
) -> Result<ExecutionOutput, StoreError> {
    let committed = SnapshotView(store);
    let optimistic: Vec<Optimistic> = pool.install(|| {
        txs.par_iter()
            .map(|bytes| -> Result<Optimistic, StoreError> {
                let prepared = prepare(store, config, block, bytes, cache)?;
                let outcome = match &prepared {
                    Prepared::Rejected(_) => None,
                    Prepared::Admitted(a) => {
                        let view = RecordingView {
                            inner: &committed,
                            reads: RefCell::new(ReadSet::default()),
                        };
                        let outcome = run_tx(&view, contracts, config, block, a)?;
                        Some((outcome, view.reads.into_inner()))
                    }
                };
                Ok(Optimistic { prepared, outcome })
            })
            .collect::<Result<Vec<_>, StoreError>>()
    })?;
    debug_assert_eq!(optimistic.len(), txs.len());

    let mut view = BlockView::new(&committed);
    let mut acc = Accumulator::new(txs.len());
    let mut written: BTreeSet<Vec<u8>> = BTreeSet::new();
    for item in optimistic {
        let Optimistic { prepared, outcome } = item;
        let mut keys_written: Vec<Vec<u8>> = Vec::new();
        acc.step(
            prepared,
            |admitted, view| {
                let outcome = match outcome {
                    Some((outcome, reads)) if !reads.conflicts(&written) => outcome,
                    // It read something an earlier transaction of this block
                    // wrote: run it again on the block's current state.
                    _ => run_tx(view, contracts, config, block, admitted)?,
                };
                if outcome.result.status.is_valid() {
                    keys_written.extend(outcome.writes.keys().cloned());
                }
                Ok(outcome)
            },
            &mut view,
        )?;
        written.extend(keys_written);
    }
    Ok(acc.finish(view))
}
