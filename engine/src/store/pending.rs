//! A snapshot of the committed store with one more block laid over it: the
//! block whose store write is still in flight.
//!
//! Pipelined commits execute block N+1 while block N is being written. Every
//! read of N+1 must then see N's final writes and N's transactions (for the
//! replay rule) whether or not the write has landed yet; this view gives
//! N's pending values precedence over whatever the store shows, so the answer
//! does not depend on how far the write has got.

use super::{Rows, Snapshot, StoreError, TxLocation};
use crate::block_writes::BlockWrites;
use crate::crypto::Hash;
use crate::executor::SnapshotView;
use crate::state::merged_range;
use std::collections::HashMap;

/// `base` with a pending block's writes and transactions on top.
pub struct PendingSnapshot<'a> {
    base: &'a dyn Snapshot,
    overlay: &'a BlockWrites,
    height: u64,
    txs: HashMap<Hash, u32>,
}

impl<'a> PendingSnapshot<'a> {
    /// Lays the block at `height`, with final writes `overlay` and
    /// authenticated transactions `txs` (id and position), over `base`.
    pub fn new(
        base: &'a dyn Snapshot,
        overlay: &'a BlockWrites,
        height: u64,
        txs: &[(Hash, u32)],
    ) -> PendingSnapshot<'a> {
        PendingSnapshot {
            base,
            overlay,
            height,
            txs: txs.iter().copied().collect(),
        }
    }
}

impl Snapshot for PendingSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        merged_range(&SnapshotView(self.base), self.overlay, start, end, limit)
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        match self.txs.get(id) {
            Some(&index) => Ok(Some(TxLocation {
                height: self.height,
                index,
            })),
            None => self.base.tx_location(id),
        }
    }
}
