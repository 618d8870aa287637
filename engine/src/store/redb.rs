//! The default store: redb, a pure-Rust copy-on-write B-tree with
//! crash-safe, fsync'd commits (`Durability::Immediate`).
//!
//! The layout keeps a block's writes on few B-tree pages, since a commit
//! costs about one 4 KiB page write per distinct leaf it touches (measured
//! in docs/BENCHMARKS.md, "The store's layout"):
//! - a key's history is a chain through an append-only log of writes keyed
//!   by (height, position), each record pointing at the key's previous
//!   write; the head of the chain rides in the key's state row (or, once
//!   the key is deleted, in a tombstone row). Appending the log touches the
//!   last leaves only, where a table keyed by (key, height) touched one
//!   leaf per key written;
//! - the tx-id index takes the ids of many blocks at once
//!   ([`super::recent`]); each block's id list is written with the block,
//!   so nothing acknowledged depends on the index being current.

use super::recent::RecentTxs;
use super::{
    BlockCommit, Head, HistoryEntry, QUERY_ROWS_MAX, Rows, Snapshot, Store, StoreError, TxLocation,
    check_order,
};
use crate::codec;
use crate::crypto::Hash;
use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("block_hashes");
/// Each block's transaction ids and positions, 36 bytes each, until the
/// tx-id index holds them.
const BLOCK_TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_txs");
/// The tx-id index: every id of every block not listed in `BLOCK_TXS`.
const TXS: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("txs");
/// State rows: the value, then the position of the key's last write.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Deleted keys: the position of their last write (the delete).
const TOMBSTONES: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("tombstones");
/// Every write, keyed by (height, position in the block's writes).
const WRITES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("writes");

const META_HEAD: &str = "head";
const META_LTHASH: &str = "lthash";
const META_LAYOUT: &str = "layout";

/// This file's layout; a file of another layout is refused, not misread.
const LAYOUT: &[u8] = b"2: write log, batched tx index";

/// How many transaction ids wait in memory before the index takes them: a
/// batch is written with the block that reaches it. About 2.5 MB of memory
/// (two batches), and one block commit in so many ids pays for the batch.
pub const TX_INDEX_BATCH_IDS: usize = 16_384;

/// The bytes a state row adds after the value: (height u64, position u32),
/// little-endian.
const POINTER_BYTES: usize = 12;

/// A write's place in the write log.
type Pointer = (u64, u32);

/// A key's last write in a block being written: its place, and the value
/// (`None`: deleted).
type LastWrite<'a> = (Pointer, Option<&'a [u8]>);

/// One write in the log.
#[derive(BorshDeserialize)]
struct WriteRecord {
    key: Vec<u8>,
    tx_index: u32,
    value: Option<Vec<u8>>,
    /// The key's previous write.
    prev: Option<Pointer>,
}

/// [`WriteRecord`] borrowing its bytes, for writing: borsh encodes a slice
/// as it encodes a `Vec`, so the bytes are the same.
#[derive(BorshSerialize)]
struct WriteRecordRef<'a> {
    key: &'a [u8],
    tx_index: u32,
    value: Option<&'a [u8]>,
    prev: Option<Pointer>,
}

/// A redb-backed store in one file.
pub struct RedbStore {
    db: Database,
    recent: RwLock<RecentTxs>,
    batch_ids: usize,
    /// Held for the whole of a commit: redb's own write lock ends inside
    /// `commit`, before the recent ids are updated, and two committers
    /// interleaving there could lose a batch.
    commit_lock: std::sync::Mutex<()>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn poisoned() -> StoreError {
    StoreError::Backend("the recent transactions lock is poisoned".into())
}

/// Opens the redb file at `path`, creating it if it is missing. A new file
/// is created under a temporary name and renamed into place once redb has
/// written its header, so a crash during creation never leaves a
/// half-written file at `path` (which redb would refuse to open: "not a
/// redb database"); a leftover temporary file is simply replaced.
pub fn create_database(path: &Path) -> Result<Database, ::redb::DatabaseError> {
    if path.exists() {
        return Database::create(path);
    }
    let mut creating = path.as_os_str().to_owned();
    creating.push(".creating");
    let creating = std::path::PathBuf::from(creating);
    if creating.exists() {
        std::fs::remove_file(&creating)?;
    }
    drop(Database::create(&creating)?);
    std::fs::File::open(&creating)?.sync_all()?;
    std::fs::rename(&creating, path)?;
    // The rename itself must be durable before anything is written.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Database::create(path)
}

/// Splits a state row into the value and the key's last write.
fn split_row(row: &[u8]) -> Result<(&[u8], Pointer), StoreError> {
    let Some(at) = row.len().checked_sub(POINTER_BYTES) else {
        return Err(corrupt("state row shorter than its write pointer"));
    };
    let (value, ptr) = row.split_at(at);
    let mut h = [0u8; 8];
    let mut p = [0u8; 4];
    h.copy_from_slice(&ptr[..8]);
    p.copy_from_slice(&ptr[8..]);
    Ok((value, (u64::from_le_bytes(h), u32::from_le_bytes(p))))
}

fn value_of(row: &[u8]) -> Result<Vec<u8>, StoreError> {
    Ok(split_row(row)?.0.to_vec())
}

fn state_row(value: &[u8], at: Pointer) -> Vec<u8> {
    let mut row = Vec::with_capacity(value.len() + POINTER_BYTES);
    row.extend_from_slice(value);
    row.extend_from_slice(&at.0.to_le_bytes());
    row.extend_from_slice(&at.1.to_le_bytes());
    row
}

fn encode_ids(txs: &[(Hash, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(txs.len() * 36);
    for (id, index) in txs {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&index.to_le_bytes());
    }
    out
}

fn decode_ids(height: u64, bytes: &[u8]) -> Result<Vec<(Hash, TxLocation)>, StoreError> {
    if !bytes.len().is_multiple_of(36) {
        return Err(corrupt(format!(
            "block {height}: tx id list of {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(36)
        .map(|c| {
            let mut id = [0u8; 32];
            id.copy_from_slice(&c[..32]);
            let mut index = [0u8; 4];
            index.copy_from_slice(&c[32..]);
            (
                Hash(id),
                TxLocation {
                    height,
                    index: u32::from_le_bytes(index),
                },
            )
        })
        .collect())
}

fn read_head<T: ReadableTable<&'static str, &'static [u8]>>(
    meta: &T,
) -> Result<Option<Head>, StoreError> {
    match meta.get(META_HEAD).map_err(backend)? {
        None => Ok(None),
        Some(v) => codec::decode("head", v.value()).map(Some).map_err(corrupt),
    }
}

fn rows<'a>(
    iter: impl Iterator<
        Item = Result<
            (
                ::redb::AccessGuard<'a, &'static [u8]>,
                ::redb::AccessGuard<'a, &'static [u8]>,
            ),
            ::redb::StorageError,
        >,
    >,
    limit: usize,
) -> Result<Rows, StoreError> {
    let mut out = Vec::new();
    for row in iter.take(limit) {
        let (k, v) = row.map_err(backend)?;
        out.push((k.value().to_vec(), value_of(v.value())?));
    }
    Ok(out)
}

fn range_of<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Rows, StoreError> {
    let limit = limit.min(QUERY_ROWS_MAX);
    match end {
        Some(end) if end <= start => Ok(Vec::new()),
        Some(end) => rows(t.range(start..end).map_err(backend)?, limit),
        None => rows(t.range(start..).map_err(backend)?, limit),
    }
}

impl RedbStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Self::init(create_database(path).map_err(backend)?, TX_INDEX_BATCH_IDS)
    }

    /// Opens the store at `path` with tx-id index batches of `batch_ids`
    /// ids (tests use small batches to cross batch boundaries often).
    pub fn open_with_batch(path: &Path, batch_ids: usize) -> Result<RedbStore, StoreError> {
        Self::init(create_database(path).map_err(backend)?, batch_ids)
    }

    /// A store held in memory only (tests, building a genesis block).
    pub fn in_memory() -> Result<RedbStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(::redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        Self::init(db, TX_INDEX_BATCH_IDS)
    }

    fn init(db: Database, batch_ids: usize) -> Result<RedbStore, StoreError> {
        assert!(batch_ids > 0, "a tx index batch holds at least one id");
        // Create every table up front so read transactions never meet a
        // missing table.
        let tx = db.begin_write().map_err(backend)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            let layout = meta
                .get(META_LAYOUT)
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            match layout {
                Some(l) if l == LAYOUT => {}
                Some(l) => {
                    return Err(corrupt(format!(
                        "store layout {:?} is not this version's ({:?}); recreate the data directory",
                        String::from_utf8_lossy(&l),
                        String::from_utf8_lossy(LAYOUT)
                    )));
                }
                None if read_head(&meta)?.is_some() => {
                    return Err(corrupt(
                        "store written by an older version (layout 1); recreate the data directory",
                    ));
                }
                None => {
                    meta.insert(META_LAYOUT, LAYOUT).map_err(backend)?;
                }
            }
            tx.open_table(BLOCKS).map_err(backend)?;
            tx.open_table(BLOCK_HASHES).map_err(backend)?;
            tx.open_table(BLOCK_TXS).map_err(backend)?;
            tx.open_table(TXS).map_err(backend)?;
            tx.open_table(STATE).map_err(backend)?;
            tx.open_table(TOMBSTONES).map_err(backend)?;
            tx.open_table(WRITES).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        // The ids the index does not hold yet: the blocks after its last
        // batch (the only rows left in BLOCK_TXS).
        let read = db.begin_read().map_err(backend)?;
        let mut unindexed = Vec::new();
        for row in read
            .open_table(BLOCK_TXS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (h, ids) = row.map_err(backend)?;
            unindexed.extend(decode_ids(h.value(), ids.value())?);
        }
        drop(read);
        let recent = RecentTxs::open(unindexed);
        Ok(RedbStore {
            db,
            recent: RwLock::new(recent),
            batch_ids,
            commit_lock: std::sync::Mutex::new(()),
        })
    }

    /// The previous write of `key`, from its state row or tombstone.
    fn last_write(
        state: &::redb::Table<&[u8], &[u8]>,
        tombstones: &::redb::Table<&[u8], (u64, u32)>,
        key: &[u8],
    ) -> Result<Option<Pointer>, StoreError> {
        if let Some(row) = state.get(key).map_err(backend)? {
            return Ok(Some(split_row(row.value())?.1));
        }
        Ok(tombstones.get(key).map_err(backend)?.map(|v| v.value()))
    }

    fn write_block(
        &self,
        tx: &::redb::WriteTransaction,
        c: &BlockCommit,
        index_batch: Option<&[(Hash, TxLocation)]>,
    ) -> Result<(), StoreError> {
        let mut meta = tx.open_table(META).map_err(backend)?;
        tx.open_table(BLOCKS)
            .map_err(backend)?
            .insert(c.height, c.block.as_slice())
            .map_err(backend)?;
        tx.open_table(BLOCK_HASHES)
            .map_err(backend)?
            .insert(c.hash.0.as_slice(), c.height)
            .map_err(backend)?;
        let mut block_txs = tx.open_table(BLOCK_TXS).map_err(backend)?;
        if let Some(batch) = index_batch {
            let mut txs = tx.open_table(TXS).map_err(backend)?;
            for (id, loc) in batch {
                txs.insert(id.0.as_slice(), (loc.height, loc.index))
                    .map_err(backend)?;
            }
            // The lists of the indexed blocks are no longer needed.
            block_txs.retain(|_, _| false).map_err(backend)?;
        } else if !c.txs.is_empty() {
            block_txs
                .insert(c.height, encode_ids(&c.txs).as_slice())
                .map_err(backend)?;
        }
        self.write_state(tx, c)?;
        let head = codec::encode(&Head {
            height: c.height,
            hash: c.hash,
        });
        meta.insert(META_HEAD, head.as_slice()).map_err(backend)?;
        meta.insert(META_LTHASH, c.lthash.as_slice())
            .map_err(backend)?;
        Ok(())
    }

    /// Appends the block's writes to the log, chained per key, and sets
    /// each written key's state row (or tombstone) to its final write.
    fn write_state(
        &self,
        tx: &::redb::WriteTransaction,
        c: &BlockCommit,
    ) -> Result<(), StoreError> {
        let mut state = tx.open_table(STATE).map_err(backend)?;
        let mut tombstones = tx.open_table(TOMBSTONES).map_err(backend)?;
        let mut writes = tx.open_table(WRITES).map_err(backend)?;
        let count = u32::try_from(c.writes.log().len())
            .map_err(|_| corrupt("more than 2^32 writes in a block"))?;
        // Each key's last write in this block so far: the chain's next link
        // and, at the end, the row to store.
        let mut last: HashMap<&[u8], LastWrite<'_>> = HashMap::with_capacity(c.writes.log().len());
        for (w, position) in c.writes.log().iter().zip(0..count) {
            let prev = match last.get(w.key.as_slice()) {
                Some((p, _)) => Some(*p),
                None => Self::last_write(&state, &tombstones, &w.key)?,
            };
            let record = codec::encode(&WriteRecordRef {
                key: &w.key,
                tx_index: w.tx_index,
                value: w.value.as_deref(),
                prev,
            });
            let at = (c.height, position);
            writes.insert(at, record.as_slice()).map_err(backend)?;
            last.insert(w.key.as_slice(), (at, w.value.as_deref()));
        }
        let mut finals: Vec<(&[u8], LastWrite<'_>)> = last.into_iter().collect();
        finals.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, (at, value)) in finals {
            match value {
                Some(v) => {
                    state
                        .insert(key, state_row(v, at).as_slice())
                        .map_err(backend)?;
                    tombstones.remove(key).map_err(backend)?;
                }
                None => {
                    state.remove(key).map_err(backend)?;
                    tombstones.insert(key, at).map_err(backend)?;
                }
            }
        }
        Ok(())
    }
}

/// One redb read transaction's tables.
struct RedbSnapshot<'a> {
    store: &'a RedbStore,
    state: ::redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    txs: ::redb::ReadOnlyTable<&'static [u8], (u64, u32)>,
    /// The head as of this read transaction (`None`: empty store).
    height: Option<u64>,
    /// Index batches written before this read transaction began (at least).
    batches: u64,
}

impl Snapshot for RedbSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.state.get(key).map_err(backend)? {
            None => Ok(None),
            Some(row) => value_of(row.value()).map(Some),
        }
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        range_of(&self.state, start, end, limit)
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some(height) = self.height else {
            return Ok(None);
        };
        let recent = self.store.recent.read().map_err(|_| poisoned())?;
        if let Some(loc) = recent.lookup(id, height) {
            return Ok(Some(loc));
        }
        if recent.batches() >= self.batches + 2 {
            // Ids of a batch written after this read transaction began have
            // left memory: the index as it is now has them (it only grows),
            // and this snapshot sees those of its own blocks only.
            drop(recent);
            let now = self.store.db.begin_read().map_err(backend)?;
            let found = location(&now.open_table(TXS).map_err(backend)?, id)?;
            return Ok(found.filter(|loc| loc.height <= height));
        }
        location(&self.txs, id)
    }
}

fn location(
    t: &::redb::ReadOnlyTable<&'static [u8], (u64, u32)>,
    id: &Hash,
) -> Result<Option<TxLocation>, StoreError> {
    Ok(t.get(id.0.as_slice()).map_err(backend)?.map(|v| {
        let (height, index) = v.value();
        TxLocation { height, index }
    }))
}

impl Store for RedbStore {
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>, StoreError> {
        // The batch count before the read transaction: a batch written in
        // between is in the index this snapshot reads.
        let batches = self.recent.read().map_err(|_| poisoned())?.batches();
        let tx = self.db.begin_read().map_err(backend)?;
        let height = read_head(&tx.open_table(META).map_err(backend)?)?.map(|h| h.height);
        Ok(Box::new(RedbSnapshot {
            store: self,
            state: tx.open_table(STATE).map_err(backend)?,
            txs: tx.open_table(TXS).map_err(backend)?,
            height,
            batches,
        }))
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        read_head(&tx.open_table(META).map_err(backend)?)
    }

    fn commit_block(&self, c: &BlockCommit) -> Result<(), StoreError> {
        let _only_committer = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::Backend("the commit lock is poisoned".into()))?;
        let tx = self.db.begin_write().map_err(backend)?;
        check_order(read_head(&tx.open_table(META).map_err(backend)?)?, c)?;
        let index_batch = {
            let mut recent = self.recent.write().map_err(|_| poisoned())?;
            // Staged before the write: once the store shows the block, a
            // reader finds its ids (a reader whose head is older does not).
            recent.stage(c.height, &c.txs);
            (recent.pending() >= self.batch_ids).then(|| recent.batch())
        };
        let written = self
            .write_block(&tx, c, index_batch.as_deref())
            // redb's default durability is Immediate: commit returns after fsync.
            .and_then(|()| tx.commit().map_err(backend));
        let mut recent = self.recent.write().map_err(|_| poisoned())?;
        match written {
            Ok(()) => {
                if index_batch.is_some() {
                    recent.indexed();
                }
                Ok(())
            }
            Err(e) => {
                recent.unstage(c.height, &c.txs);
                Err(e)
            }
        }
    }

    fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(BLOCKS).map_err(backend)?;
        Ok(t.get(height).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(BLOCK_HASHES).map_err(backend)?;
        Ok(t.get(hash.0.as_slice())
            .map_err(backend)?
            .map(|v| v.value()))
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        // The read transaction begins while the recent ids cannot change,
        // and they are taken as of its head: an id of a block the store
        // shows is then either among them (staged before its write, and it
        // leaves them only through a batch this transaction's index holds)
        // or in that index.
        let recent = self.recent.read().map_err(|_| poisoned())?;
        let tx = self.db.begin_read().map_err(backend)?;
        let Some(head) = read_head(&tx.open_table(META).map_err(backend)?)? else {
            return Ok(None);
        };
        if let Some(loc) = recent.lookup(id, head.height) {
            return Ok(Some(loc));
        }
        drop(recent);
        location(&tx.open_table(TXS).map_err(backend)?, id)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(STATE).map_err(backend)?;
        match t.get(key).map_err(backend)? {
            None => Ok(None),
            Some(row) => value_of(row.value()).map(Some),
        }
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        range_of(&tx.open_table(STATE).map_err(backend)?, start, end, limit)
    }

    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let tx = self.db.begin_read().map_err(backend)?;
        let state = tx.open_table(STATE).map_err(backend)?;
        let mut next = match state.get(key).map_err(backend)? {
            Some(row) => Some(split_row(row.value())?.1),
            None => tx
                .open_table(TOMBSTONES)
                .map_err(backend)?
                .get(key)
                .map_err(backend)?
                .map(|v| v.value()),
        };
        let writes = tx.open_table(WRITES).map_err(backend)?;
        let mut out = Vec::new();
        // Bounded by `limit`; each step goes strictly back in the log.
        while let Some(at) = next.filter(|_| out.len() < limit) {
            let bytes = writes
                .get(at)
                .map_err(backend)?
                .ok_or_else(|| corrupt(format!("write {at:?} of a history chain is missing")))?;
            let record: WriteRecord =
                codec::decode("write record", bytes.value()).map_err(corrupt)?;
            if record.key != key || record.prev.is_some_and(|p| p >= at) {
                return Err(corrupt(format!("write {at:?} is not in this key's chain")));
            }
            out.push(HistoryEntry {
                height: at.0,
                tx_index: record.tx_index,
                value: record.value,
            });
            next = record.prev;
        }
        out.reverse();
        Ok(out)
    }

    fn lthash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(META).map_err(backend)?;
        Ok(t.get(META_LTHASH)
            .map_err(backend)?
            .map(|v| v.value().to_vec()))
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    use crate::store::{BlockCommit, StateWrite};

    fn id(height: u64, i: u32) -> Hash {
        Hash::of(format!("tx {height}/{i}").as_bytes())
    }

    /// Block `height` with `txs` transactions, each writing `acct/{i % 3}`
    /// (so keys are rewritten within and across blocks), and the last tx
    /// of every third block deleting `acct/0` after its write (so the key
    /// ends the block deleted, and the next block writes it again).
    fn block(height: u64, txs: u32) -> BlockCommit {
        let mut writes = Vec::new();
        for i in 0..txs {
            writes.push(StateWrite {
                key: format!("acct/{}", i % 3).into_bytes(),
                value: Some(format!("{height}.{i}").into_bytes()),
                tx_index: i,
            });
            if i == txs - 1 && height % 3 == 2 {
                writes.push(StateWrite {
                    key: b"acct/0".to_vec(),
                    value: None,
                    tx_index: i,
                });
            }
        }
        BlockCommit {
            height,
            hash: Hash::of(&height.to_le_bytes()),
            block: format!("block {height}").into_bytes(),
            txs: (0..txs).map(|i| (id(height, i), i)).collect(),
            writes: writes.into_iter().collect(),
            lthash: vec![height as u8],
        }
    }

    /// What the history of `key` must be after blocks `0..=last`.
    fn expected_history(key: &[u8], last: u64, txs: u32) -> Vec<HistoryEntry> {
        let mut out = Vec::new();
        for c in (0..=last).map(|h| block(h, txs)) {
            for w in c.writes.log().iter().filter(|w| w.key == key) {
                // Two writes of one transaction to one key: both kept, in order.
                out.push(HistoryEntry {
                    height: c.height,
                    tx_index: w.tx_index,
                    value: w.value.clone(),
                });
            }
        }
        out
    }

    #[test]
    fn ids_are_found_across_batches_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        const TXS: u32 = 4;
        for height in 0..12u64 {
            // A batch of 10 ids: the index takes them every third block,
            // and the store is reopened in between batches.
            let store = RedbStore::open_with_batch(&path, 10).unwrap();
            for h in 0..height {
                for i in 0..TXS {
                    assert_eq!(
                        store.tx_location(&id(h, i)).unwrap(),
                        Some(TxLocation {
                            height: h,
                            index: i
                        }),
                        "tx {h}/{i} after reopening at {height}"
                    );
                }
            }
            assert_eq!(store.tx_location(&id(height, 0)).unwrap(), None);
            store.commit_block(&block(height, TXS)).unwrap();
            let snap = store.snapshot().unwrap();
            assert_eq!(
                snap.tx_location(&id(height, TXS - 1)).unwrap(),
                Some(TxLocation {
                    height,
                    index: TXS - 1
                })
            );
        }
    }

    #[test]
    fn one_store_finds_every_id_through_many_batch_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open_with_batch(&dir.path().join("ledger.redb"), 3).unwrap();
        for height in 0..10u64 {
            store.commit_block(&block(height, 2)).unwrap();
            for h in 0..=height {
                for i in 0..2 {
                    assert_eq!(
                        store.tx_location(&id(h, i)).unwrap(),
                        Some(TxLocation {
                            height: h,
                            index: i
                        }),
                        "tx {h}/{i} after block {height}"
                    );
                }
            }
            assert!(store.recent.read().unwrap().pending() < 3 + 2);
        }
    }

    #[test]
    fn a_snapshot_keeps_finding_ids_across_one_batch_write() {
        let store = {
            let db = Database::builder()
                .create_with_backend(::redb::backends::InMemoryBackend::new())
                .unwrap();
            RedbStore::init(db, 6).unwrap()
        };
        store.commit_block(&block(0, 4)).unwrap();
        let snap = store.snapshot().unwrap();
        // Block 1 takes the pending ids (8 >= 6) into the index, after the
        // snapshot's read transaction began.
        store.commit_block(&block(1, 4)).unwrap();
        assert_eq!(store.recent.read().unwrap().pending(), 0);
        assert!(snap.tx_location(&id(0, 3)).unwrap().is_some());
        assert!(
            snap.tx_location(&id(1, 0)).unwrap().is_none(),
            "a block after the snapshot stays invisible to it"
        );
        assert!(store.tx_location(&id(1, 0)).unwrap().is_some());
        // Two more batches: block 0's ids have left memory, and the
        // snapshot's own index predates them; it reads the index afresh.
        store.commit_block(&block(2, 6)).unwrap();
        store.commit_block(&block(3, 6)).unwrap();
        assert_eq!(store.recent.read().unwrap().batches(), 3);
        assert!(store.recent.read().unwrap().lookup(&id(0, 3), 3).is_none());
        assert_eq!(
            snap.tx_location(&id(0, 3)).unwrap(),
            Some(TxLocation {
                height: 0,
                index: 3
            })
        );
        assert!(snap.tx_location(&id(1, 0)).unwrap().is_none());
        assert!(snap.tx_location(&id(3, 5)).unwrap().is_none());
    }

    #[test]
    fn history_follows_each_key_across_blocks_deletes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        const TXS: u32 = 5;
        // The reference: every block's writes replayed into a map.
        let mut model = std::collections::BTreeMap::new();
        let mut ended_deleted = 0;
        for height in 0..8u64 {
            let store = RedbStore::open_with_batch(&path, 7).unwrap();
            let c = block(height, TXS);
            for w in c.writes.log() {
                match &w.value {
                    Some(v) => model.insert(w.key.clone(), v.clone()),
                    None => model.remove(&w.key),
                };
            }
            store.commit_block(&c).unwrap();
            ended_deleted += usize::from(!model.contains_key(&b"acct/0"[..]));
            for key in [&b"acct/0"[..], b"acct/1", b"acct/2"] {
                let want = expected_history(key, height, TXS);
                assert_eq!(store.history(key, 1_000).unwrap(), want);
                let latest = want.len().saturating_sub(3);
                assert_eq!(
                    store.history(key, 3).unwrap(),
                    want[latest..].to_vec(),
                    "the latest writes, oldest first"
                );
                assert_eq!(store.get(key).unwrap().as_ref(), model.get(key));
            }
            let rows = store.range(b"acct/", None, 10).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
            assert_eq!(rows, want, "range strips the write pointers");
            assert_eq!(
                *store.snapshot().unwrap().range(b"acct/", None, 10).unwrap(),
                want
            );
        }
        assert_eq!(
            ended_deleted, 2,
            "the test covers keys deleted, then written again"
        );
        assert!(
            RedbStore::open(&path)
                .unwrap()
                .get(b"acct/0")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_file_of_the_previous_layout_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        {
            // What layout 1 left: a head and no layout marker.
            let db = create_database(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut meta = tx.open_table(META).unwrap();
                let head = codec::encode(&Head {
                    height: 3,
                    hash: Hash::ZERO,
                });
                meta.insert(META_HEAD, head.as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        let err = RedbStore::open(&path).err().expect("refused");
        assert!(err.to_string().contains("older version"), "{err}");
    }

    #[test]
    fn creation_is_atomic_and_a_crash_leftover_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        // What a kill during an earlier creation leaves behind.
        std::fs::write(dir.path().join("ledger.redb.creating"), b"half a header").unwrap();
        let store = RedbStore::open(&path).unwrap();
        assert!(store.head().unwrap().is_none());
        drop(store);
        assert!(path.exists());
        assert!(!dir.path().join("ledger.redb.creating").exists());
        // Reopening an existing file does not go through creation.
        RedbStore::open(&path).unwrap();
    }

    #[test]
    fn a_half_written_file_at_the_final_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        std::fs::write(&path, b"not redb").unwrap();
        let err = RedbStore::open(&path).err().expect("refused");
        assert!(!err.to_string().is_empty());
    }
}
