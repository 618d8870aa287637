//! Execution of a block's transactions, sequential or parallel, with one
//! result: the sequential one.
//!
//! [`execute_block`] with one thread is the reference semantics. With more
//! threads ([`crate::parallel`]) admission and a first, optimistic execution
//! of every transaction run in parallel against the committed state, recording
//! what each read; a deterministic pass in block order, overlapped with that,
//! keeps each optimistic result whose reads no earlier transaction of the
//! block wrote, and re-executes the others on the block's current state. Results, events,
//! writes and the state root are identical to sequential execution, for any
//! thread count.

use crate::admission::{AdmitError, Admitted, admit_unsigned, signature_rejection};
use crate::block::{InvalidCode, TxResult, TxStatus};
use crate::block_writes::BlockWrites;
use crate::codec;
use crate::config::ChannelConfig;
use crate::context::TxContext;
use crate::contract::{BlockInfo, Contracts, OUTPUT_BYTES_MAX};
use crate::crypto::{CryptoError, Hash, PreparedKey};
use crate::identity::{CertCache, Certificate};
use crate::state::{BlockView, Overlay, StateView};
use crate::state_root::LtHash;
use crate::store::{Rows, Snapshot, Store, StoreError};
use crate::system::cert_state_key;
use crate::tx::TxId;
use std::collections::HashSet;

/// What executing a block produced.
#[derive(Debug)]
pub struct ExecutionOutput {
    /// One result per transaction.
    pub results: Vec<TxResult>,
    /// Ids of authenticated transactions (valid or not) and their positions:
    /// the replay index.
    pub tx_index: Vec<(TxId, u32)>,
    /// Every write in transaction order (the key history), indexed by key
    /// for each key's final value.
    pub writes: BlockWrites,
    /// Sealing work done during execution (by the parallel path), or `None`
    /// when the sealer must compute it from the output.
    pub sealing: Option<Sealing>,
}

/// The parts of sealing the parallel path computes per transaction while it
/// executes, so that little is left to do on one thread afterwards.
#[derive(Debug)]
pub struct Sealing {
    /// The Merkle leaf of each transaction's bytes, in block order.
    pub tx_leaves: Vec<Hash>,
    /// The Merkle leaf of each result's encoding, in block order.
    pub result_leaves: Vec<Hash>,
    /// Each result's encoding, in block order (the block's bytes are
    /// assembled from them: [`crate::block::Block::encode_with_results`]).
    pub result_bytes: Vec<Vec<u8>>,
    /// The state-root accumulator's change: the sum over written keys of
    /// the final pair's element minus the committed pair's.
    pub state_delta: LtHash,
}

/// Looks up a certificate registered by an earlier block.
pub fn resolve_cert(store: &dyn StateView, id: &Hash) -> Result<Option<Certificate>, StoreError> {
    match store.get(&cert_state_key(id))? {
        None => Ok(None),
        Some(bytes) => codec::decode("certificate", &bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("registered certificate {id}: {e}"))),
    }
}

/// A transaction after the checks that do not depend on the rest of the
/// block: admission and replay against committed blocks.
#[derive(Debug)]
pub enum Prepared {
    /// Refused; its result is final.
    Rejected(TxResult),
    /// Authenticated and not committed before.
    Admitted(Box<Admitted>),
}

/// Admission plus the replay check against committed transactions. Depends
/// only on the bytes, the config, the block time and the committed store, so
/// it runs on any thread in any order. `signature_verified`: see
/// [`crate::admission::admit_checked`].
pub fn prepare(
    store: &dyn Snapshot,
    config: &ChannelConfig,
    block: &BlockInfo,
    bytes: &[u8],
    cache: &CertCache,
    signature_verified: bool,
) -> Result<Prepared, StoreError> {
    match prepare_unsigned(store, config, block, bytes, cache, signature_verified)? {
        Unsigned::Rejected(result) => Ok(Prepared::Rejected(result)),
        Unsigned::Pending(admitted, key) => {
            let signature_ok = key.is_none_or(|k| {
                crate::sigverify::verify_one(&k, &admitted.id, admitted.tx.signature())
            });
            prepare_signed(store, admitted, signature_ok)
        }
    }
}

/// A transaction that passed every admission check but its signature.
pub(crate) enum Unsigned {
    /// Refused; its result is final.
    Rejected(TxResult),
    /// Its signature is verified next with this key, over its id; `None`
    /// when the caller verified these exact bytes before.
    Pending(Box<Admitted>, Option<PreparedKey>),
}

/// [`prepare`] up to the signature, so that the caller can verify a group of
/// signatures at once ([`crate::sigverify::StrictBatch`]) and then finish
/// each with [`prepare_signed`]: the checks run in the same order.
pub(crate) fn prepare_unsigned(
    store: &dyn Snapshot,
    config: &ChannelConfig,
    block: &BlockInfo,
    bytes: &[u8],
    cache: &CertCache,
    signature_verified: bool,
) -> Result<Unsigned, StoreError> {
    let state = SnapshotView(store);
    let resolve = |id: &Hash| resolve_cert(&state, id);
    match admit_unsigned(bytes, config, block.timestamp_ms, &resolve, Some(cache)) {
        Ok((admitted, key)) => Ok(Unsigned::Pending(
            Box::new(admitted),
            (!signature_verified).then_some(key),
        )),
        Err(AdmitError::Rejected(r)) => Ok(Unsigned::Rejected(TxResult::invalid(r.code, r.reason))),
        Err(AdmitError::Store(e)) => Err(e),
    }
}

/// The rest of [`prepare`] after the signature's verdict: the refusal of a
/// bad signature, else the replay check against committed transactions.
pub(crate) fn prepare_signed(
    store: &dyn Snapshot,
    admitted: Box<Admitted>,
    signature_ok: bool,
) -> Result<Prepared, StoreError> {
    if !signature_ok {
        let r = signature_rejection(CryptoError::BadSignature);
        return Ok(Prepared::Rejected(TxResult::invalid(r.code, r.reason)));
    }
    if store.tx_location(&admitted.id)?.is_some() {
        return Ok(Prepared::Rejected(replay(&admitted.id)));
    }
    Ok(Prepared::Admitted(admitted))
}

fn replay(id: &TxId) -> TxResult {
    TxResult::invalid(
        InvalidCode::Replay,
        format!("transaction {id} was already committed"),
    )
}

/// The outcome of running one admitted transaction on some view.
#[derive(Debug)]
pub struct TxOutcome {
    /// Its result.
    pub result: TxResult,
    /// Its writes (empty when invalid).
    pub writes: Overlay,
}

/// Runs one admitted transaction on `view`: authorization, the contract call,
/// limits, and the registration of an embedded certificate.
pub fn run_tx(
    view: &dyn StateView,
    contracts: &Contracts,
    config: &ChannelConfig,
    block: &BlockInfo,
    admitted: &Admitted,
) -> Result<TxOutcome, StoreError> {
    let invalid = |code, reason: String| TxOutcome {
        result: TxResult::invalid(code, reason),
        writes: Overlay::new(),
    };
    let body = admitted.tx.value();
    // System contracts (`_config`, and natives the node registers under a
    // `_` name, such as the WASM lifecycle) enforce their own policies.
    let system = body.contract.starts_with('_');
    if !system && !config.policies.submit.admits(&admitted.identity.roles) {
        return Ok(invalid(
            InvalidCode::NotAuthorized,
            format!(
                "{} may not submit transactions on {:?} (needs one of {:?})",
                admitted.identity.account(),
                config.channel_id,
                config.policies.submit.any_of
            ),
        ));
    }
    let mut ctx = TxContext::new(
        view,
        contracts,
        config,
        block,
        &admitted.identity,
        admitted.id,
        &body.contract,
        false,
    );
    // A panicking contract is a bug in that contract, not a reason to stop
    // the node: the transaction fails as a trap, deterministically, since
    // the same input panics the same way on every node.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(&body.method, &body.args)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(crate::contract::ContractError::Trap(format!(
            "contract panicked: {what}"
        )))
    });
    let mut effects = ctx.finish();
    match outcome {
        Ok(output) if output.len() > OUTPUT_BYTES_MAX => Ok(invalid(
            InvalidCode::LimitExceeded,
            format!("output of {} bytes > {OUTPUT_BYTES_MAX}", output.len()),
        )),
        Ok(output) => {
            if let Some(cert) = admitted.embedded_cert() {
                let key = cert_state_key(&admitted.identity.cert_id);
                if !effects.writes.contains_key(&key) && view.get(&key)?.is_none() {
                    // Sized up front: borsh's length prefix, the signed
                    // bytes and the signature; this runs once per new member.
                    let bytes_len = 4 + cert.bytes().len() + cert.signature().0.len();
                    let encoded = codec::encode_with_capacity(cert, bytes_len);
                    debug_assert_eq!(encoded.len(), bytes_len);
                    effects.writes.insert(key, Some(encoded));
                }
            }
            Ok(TxOutcome {
                result: TxResult {
                    status: TxStatus::Valid,
                    events: effects.events,
                    output,
                },
                writes: effects.writes,
            })
        }
        Err(e) => match e.code() {
            Some(code) => Ok(invalid(code, e.to_string())),
            // The store failed under the contract: stop the block rather than
            // record a result another node would not reproduce.
            None => Err(StoreError::Backend(e.to_string())),
        },
    }
}

/// Executes `txs` in order on top of `store`, under `config`, on `pool`'s
/// threads (`None` = sequential, on the caller's thread). The output does
/// not depend on the pool. `signatures_verified[i]` (missing = false): the
/// caller verified the signature of exactly `txs[i]`'s bytes itself, so
/// execution skips that one check (see
/// [`crate::admission::admit_checked`]).
#[allow(clippy::too_many_arguments)]
pub fn execute_block(
    store: &dyn Snapshot,
    contracts: &Contracts,
    config: &ChannelConfig,
    block: &BlockInfo,
    txs: &[Vec<u8>],
    signatures_verified: &[bool],
    pool: Option<&rayon::ThreadPool>,
    cache: &CertCache,
) -> Result<ExecutionOutput, StoreError> {
    if let Some(pool) = pool
        && txs.len() > 1
    {
        return crate::parallel::execute_block_parallel(
            store,
            contracts,
            config,
            block,
            txs,
            signatures_verified,
            pool,
            cache,
        );
    }
    let state = SnapshotView(store);
    let mut view = BlockView::with_capacity(&state, expected_writes(txs.len()));
    let mut acc = Accumulator::new(txs.len());
    for (i, bytes) in txs.iter().enumerate() {
        let verified = signatures_verified.get(i).copied().unwrap_or(false);
        let prepared = prepare(store, config, block, bytes, cache, verified)?;
        acc.step(
            prepared,
            |admitted, view| run_tx(view, contracts, config, block, admitted),
            &mut view,
        )?;
    }
    Ok(acc.finish(view))
}

/// Room to reserve for a block's writes: a transfer, the common
/// transaction, writes two balances. Only a capacity hint.
pub(crate) fn expected_writes(txs: usize) -> usize {
    txs.saturating_mul(2)
}

/// The in-order part of execution, shared by the sequential and parallel
/// paths so that both apply exactly the same rules in the same order.
pub(crate) struct Accumulator {
    results: Vec<TxResult>,
    tx_index: Vec<(TxId, u32)>,
    /// Ids admitted so far in the block. Clients choose their ids (by
    /// grinding bodies), so the hasher is seeded at random per block; a
    /// fast one, since it hashes every transaction of the block on the
    /// in-order pass.
    seen: HashSet<TxId, foldhash::fast::RandomState>,
}

impl Accumulator {
    pub(crate) fn new(txs: usize) -> Accumulator {
        Accumulator {
            results: Vec::with_capacity(txs),
            tx_index: Vec::with_capacity(txs),
            seen: HashSet::with_capacity_and_hasher(txs, foldhash::fast::RandomState::default()),
        }
    }

    /// Records the next transaction. `run` executes it on the block's current
    /// state when it is admitted and not a replay within the block.
    pub(crate) fn step(
        &mut self,
        prepared: Prepared,
        run: impl FnOnce(&Admitted, &BlockView<'_>) -> Result<TxOutcome, StoreError>,
        view: &mut BlockView<'_>,
    ) -> Result<(), StoreError> {
        let index = u32::try_from(self.results.len())
            .map_err(|_| StoreError::Corrupt("block too long".into()))?;
        let admitted = match prepared {
            Prepared::Rejected(r) => {
                self.results.push(r);
                return Ok(());
            }
            Prepared::Admitted(a) => a,
        };
        if !self.seen.insert(admitted.id) {
            self.results.push(replay(&admitted.id));
            return Ok(());
        }
        self.tx_index.push((admitted.id, index));
        let outcome = run(&admitted, view)?;
        if outcome.result.status.is_valid() {
            view.apply(index, outcome.writes);
        } else {
            debug_assert!(
                outcome.writes.is_empty(),
                "an invalid transaction writes nothing"
            );
        }
        self.results.push(outcome.result);
        Ok(())
    }

    /// The result recorded last.
    pub(crate) fn last_result(&self) -> Option<&TxResult> {
        self.results.last()
    }

    pub(crate) fn finish(self, view: BlockView<'_>) -> ExecutionOutput {
        let writes = view.into_writes();
        ExecutionOutput {
            results: self.results,
            tx_index: self.tx_index,
            writes,
            sealing: None,
        }
    }
}

/// Adapts a `&dyn Snapshot` to a `StateView`.
pub struct SnapshotView<'a>(pub &'a dyn Snapshot);

impl StateView for SnapshotView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        self.0.range(start, end, limit)
    }
}

/// Adapts a `&dyn Store` to a `StateView` (trait objects do not upcast).
pub struct StoreView<'a>(pub &'a dyn Store);

impl StateView for StoreView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        self.0.range(start, end, limit)
    }
}
