//! Sequential, deterministic execution of a block's transactions.
//!
//! This is the reference semantics: parallel execution must produce exactly
//! these results, events, writes and state root.

use crate::admission::{AdmitError, admit};
use crate::block::{InvalidCode, TxResult, TxStatus};
use crate::codec;
use crate::config::ChannelConfig;
use crate::context::TxContext;
use crate::contract::{BlockInfo, Contracts, OUTPUT_BYTES_MAX};
use crate::crypto::Hash;
use crate::identity::Certificate;
use crate::state::{BlockView, Overlay, StateView};
use crate::store::{Rows, StateWrite, Store, StoreError};
use crate::system::{CONFIG_CONTRACT, cert_state_key};
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
    /// Final value per key written by the block.
    pub overlay: Overlay,
    /// Every write in transaction order (the key history).
    pub log: Vec<StateWrite>,
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

/// Executes `txs` in order on top of `store`, under `config`.
pub fn execute_block(
    store: &dyn Store,
    contracts: &Contracts,
    config: &ChannelConfig,
    block: &BlockInfo,
    txs: &[Vec<u8>],
) -> Result<ExecutionOutput, StoreError> {
    let state: &dyn StateView = &StoreView(store);
    let mut view = BlockView::new(state);
    let mut results = Vec::with_capacity(txs.len());
    let mut tx_index = Vec::new();
    let mut seen: HashSet<TxId> = HashSet::with_capacity(txs.len());
    let resolve = |id: &Hash| resolve_cert(state, id);
    for (i, bytes) in txs.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| StoreError::Corrupt("block too long".into()))?;
        let admitted = match admit(bytes, config, block.timestamp_ms, &resolve) {
            Ok(a) => a,
            Err(AdmitError::Rejected(r)) => {
                results.push(TxResult::invalid(r.code, r.reason));
                continue;
            }
            Err(AdmitError::Store(e)) => return Err(e),
        };
        if seen.contains(&admitted.id) || store.tx_location(&admitted.id)?.is_some() {
            results.push(TxResult::invalid(
                InvalidCode::Replay,
                format!("transaction {} was already committed", admitted.id),
            ));
            continue;
        }
        seen.insert(admitted.id);
        tx_index.push((admitted.id, index));
        let body = admitted.tx.value();
        let system = body.contract.starts_with('_');
        if system && body.contract != CONFIG_CONTRACT {
            results.push(TxResult::invalid(
                InvalidCode::NotAuthorized,
                format!(
                    "system contract {:?} cannot be called by a transaction",
                    body.contract
                ),
            ));
            continue;
        }
        if !system && !config.policies.submit.admits(&admitted.identity.roles) {
            results.push(TxResult::invalid(
                InvalidCode::NotAuthorized,
                format!(
                    "{} may not submit transactions on {:?} (needs one of {:?})",
                    admitted.identity.account(),
                    config.channel_id,
                    config.policies.submit.any_of
                ),
            ));
            continue;
        }
        let mut ctx = TxContext::new(
            &view,
            contracts,
            config,
            block,
            &admitted.identity,
            admitted.id,
            &body.contract,
            false,
        );
        let outcome = ctx.run(&body.method, &body.args);
        let mut effects = ctx.finish();
        match outcome {
            Ok(output) if output.len() > OUTPUT_BYTES_MAX => {
                results.push(TxResult::invalid(
                    InvalidCode::LimitExceeded,
                    format!("output of {} bytes > {OUTPUT_BYTES_MAX}", output.len()),
                ));
            }
            Ok(output) => {
                if let Some(cert) = &admitted.embedded_cert {
                    let key = cert_state_key(&admitted.identity.cert_id);
                    if !effects.writes.contains_key(&key) && view.get(&key)?.is_none() {
                        effects.writes.insert(key, Some(codec::encode(cert)));
                    }
                }
                view.apply(index, effects.writes.into_iter().collect());
                results.push(TxResult {
                    status: TxStatus::Valid,
                    events: effects.events,
                    output,
                });
            }
            Err(e) => match e.code() {
                Some(code) => results.push(TxResult::invalid(code, e.to_string())),
                // The store failed under the contract: stop the block rather
                // than record a result another node would not reproduce.
                None => return Err(StoreError::Backend(e.to_string())),
            },
        }
    }
    let (overlay, log) = view.into_parts();
    debug_assert_eq!(results.len(), txs.len());
    Ok(ExecutionOutput {
        results,
        tx_index,
        overlay,
        log,
    })
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
