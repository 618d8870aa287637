//! Durable storage behind one small trait.
//!
//! A block commits in one atomic, durable write: the block, its state
//! writes, its transaction ids, the key history and the head together (a
//! backend may fold the ids into its lookup index later, as redb does in
//! batches, as long as every lookup answers as if it had not waited).
//! After a crash the store reopens at the last committed block, never a
//! torn state.
//! redb is the default backend; sled sits behind the `sled` cargo feature.
//! Both pass [`conformance`].

use crate::block_writes::BlockWrites;
use crate::crypto::Hash;
use borsh::{BorshDeserialize, BorshSerialize};

pub mod conformance;
pub mod pending;
mod recent;
pub mod redb;
#[cfg(feature = "sled")]
pub mod sled;

pub use self::redb::RedbStore;
#[cfg(feature = "sled")]
pub use self::sled::SledStore;

/// The most rows one range or history query returns; callers page.
pub const QUERY_ROWS_MAX: usize = 10_000;

/// Key-value rows returned by range queries.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// The last committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Head {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
}

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
}

/// One write by one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    /// The full state key.
    pub key: Vec<u8>,
    /// The new value, or `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// The writing transaction's position in the block.
    pub tx_index: u32,
}

/// One entry of a key's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Block height of the write.
    pub height: u64,
    /// Position of the writing transaction in its block.
    pub tx_index: u32,
    /// The value written, or `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// Everything one block commits, written atomically.
#[derive(Clone, Debug, Default)]
pub struct BlockCommit {
    /// The block's height: must be the head's height + 1 (0 on an empty store).
    pub height: u64,
    /// The block's hash.
    pub hash: Hash,
    /// The block's encoded bytes.
    pub block: Vec<u8>,
    /// Ids of the block's authenticated transactions and their positions.
    pub txs: Vec<(Hash, u32)>,
    /// State writes in transaction order; a later write to a key wins in the
    /// state, and every write is kept in the key's history.
    pub writes: BlockWrites,
    /// The state-root accumulator after the block.
    pub lthash: Vec<u8>,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, ...).
    #[error("storage backend: {0}")]
    Backend(String),
    /// A block was committed out of order.
    #[error("commit out of order: expected height {expected}, got {got}")]
    OutOfOrder {
        /// The height the store expects next.
        expected: u64,
        /// The height offered.
        got: u64,
    },
    /// Stored bytes are not what was written.
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

/// A read view of the committed state, shared by every thread executing one
/// block (one read transaction instead of one per read). The ledger commits
/// while a snapshot is in use only in a pipelined commit (block N's write
/// beside block N+1's execution, which reads N from memory through
/// `pending::PendingSnapshot`); a backend whose reads are not isolated
/// relies on that. redb's is a true read transaction, whatever commits.
pub trait Snapshot: Send + Sync {
    /// The value of a state key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys in `[start, end)`, ascending, at most `limit`.
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError>;
    /// Where a committed transaction is.
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError>;
}

/// A snapshot that reads through to the store (for backends without
/// cheaper snapshots).
pub struct Direct<'a, S: Store + ?Sized>(pub &'a S);

impl<S: Store + ?Sized> Snapshot for Direct<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        self.0.range(start, end, limit)
    }
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.0.tx_location(id)
    }
}

/// The storage interface of one channel's ledger.
pub trait Store: Send + Sync + 'static {
    /// A consistent read view of the committed state as of now.
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>, StoreError> {
        Ok(Box::new(Direct(self)))
    }
    /// The last committed block, or `None` on an empty store.
    fn head(&self) -> Result<Option<Head>, StoreError>;
    /// Commits a block atomically and durably: when this returns `Ok`, the
    /// block survives a crash; when it returns `Err` or the process dies
    /// midway, none of it is visible.
    fn commit_block(&self, commit: &BlockCommit) -> Result<(), StoreError>;
    /// The encoded block at `height`.
    fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// The height of the block with this hash.
    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError>;
    /// Where the transaction with this id was committed.
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError>;
    /// The current value of a state key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys in `[start, end)` (`end = None`: unbounded) in ascending order,
    /// at most `limit` (capped at [`QUERY_ROWS_MAX`]).
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError>;
    /// The latest `limit` writes to `key` (capped at [`QUERY_ROWS_MAX`]),
    /// oldest first.
    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError>;
    /// The state-root accumulator after the head block.
    fn lthash(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Checks a commit's height against the head.
pub(crate) fn check_order(head: Option<Head>, commit: &BlockCommit) -> Result<(), StoreError> {
    let expected = head.map_or(0, |h| h.height + 1);
    if commit.height != expected {
        return Err(StoreError::OutOfOrder {
            expected,
            got: commit.height,
        });
    }
    Ok(())
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>, StoreError> {
        (**self).snapshot()
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        (**self).head()
    }
    fn commit_block(&self, commit: &BlockCommit) -> Result<(), StoreError> {
        (**self).commit_block(commit)
    }
    fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).block(height)
    }
    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        (**self).height_of(hash)
    }
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        (**self).tx_location(id)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        (**self).range(start, end, limit)
    }
    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        (**self).history(key, limit)
    }
    fn lthash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).lthash()
    }
}
