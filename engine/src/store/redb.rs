//! The default store: redb, a pure-Rust copy-on-write B-tree with
//! crash-safe, fsync'd commits (`Durability::Immediate`).

use super::{
    BlockCommit, Head, HistoryEntry, QUERY_ROWS_MAX, Rows, Snapshot, Store, StoreError, TxLocation,
    check_order, decode_history_value, encode_history_value,
};
use crate::codec;
use crate::crypto::Hash;
use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("block_hashes");
const TXS: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("txs");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const HISTORY: TableDefinition<(&[u8], u64, u32), &[u8]> = TableDefinition::new("history");

const META_HEAD: &str = "head";
const META_LTHASH: &str = "lthash";

/// A redb-backed store in one file.
pub struct RedbStore {
    db: Database,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Self::init(Database::create(path).map_err(backend)?)
    }

    /// A store held in memory only (tests, building a genesis block).
    pub fn in_memory() -> Result<RedbStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(::redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<RedbStore, StoreError> {
        // Create every table up front so read transactions never meet a
        // missing table.
        let tx = db.begin_write().map_err(backend)?;
        {
            tx.open_table(META).map_err(backend)?;
            tx.open_table(BLOCKS).map_err(backend)?;
            tx.open_table(BLOCK_HASHES).map_err(backend)?;
            tx.open_table(TXS).map_err(backend)?;
            tx.open_table(STATE).map_err(backend)?;
            tx.open_table(HISTORY).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(RedbStore { db })
    }
}

/// One redb read transaction's tables.
struct RedbSnapshot {
    state: ::redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    txs: ::redb::ReadOnlyTable<&'static [u8], (u64, u32)>,
}

impl Snapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .state
            .get(key)
            .map_err(backend)?
            .map(|v| v.value().to_vec()))
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => self.state.range(start..end).map_err(backend)?,
            None => self.state.range(start..).map_err(backend)?,
        };
        let mut out = Vec::new();
        for row in iter.take(limit) {
            let (k, v) = row.map_err(backend)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        Ok(self.txs.get(id.0.as_slice()).map_err(backend)?.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }
}

impl Store for RedbStore {
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        Ok(Box::new(RedbSnapshot {
            state: tx.open_table(STATE).map_err(backend)?,
            txs: tx.open_table(TXS).map_err(backend)?,
        }))
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        match meta.get(META_HEAD).map_err(backend)? {
            None => Ok(None),
            Some(v) => codec::decode("head", v.value())
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }

    fn commit_block(&self, c: &BlockCommit) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            let head = match meta.get(META_HEAD).map_err(backend)? {
                None => None,
                Some(v) => Some(
                    codec::decode::<Head>("head", v.value())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
            };
            check_order(head, c)?;
            let mut blocks = tx.open_table(BLOCKS).map_err(backend)?;
            blocks
                .insert(c.height, c.block.as_slice())
                .map_err(backend)?;
            let mut hashes = tx.open_table(BLOCK_HASHES).map_err(backend)?;
            hashes
                .insert(c.hash.0.as_slice(), c.height)
                .map_err(backend)?;
            let mut txs = tx.open_table(TXS).map_err(backend)?;
            for (id, index) in &c.txs {
                txs.insert(id.0.as_slice(), (c.height, *index))
                    .map_err(backend)?;
            }
            let mut state = tx.open_table(STATE).map_err(backend)?;
            let mut history = tx.open_table(HISTORY).map_err(backend)?;
            for w in &c.writes {
                match &w.value {
                    Some(v) => state
                        .insert(w.key.as_slice(), v.as_slice())
                        .map_err(backend)?,
                    None => state.remove(w.key.as_slice()).map_err(backend)?,
                };
                let hv = encode_history_value(w.value.as_deref());
                history
                    .insert((w.key.as_slice(), c.height, w.tx_index), hv.as_slice())
                    .map_err(backend)?;
            }
            let head = codec::encode(&Head {
                height: c.height,
                hash: c.hash,
            });
            meta.insert(META_HEAD, head.as_slice()).map_err(backend)?;
            meta.insert(META_LTHASH, c.lthash.as_slice())
                .map_err(backend)?;
        }
        // redb's default durability is Immediate: commit returns after fsync.
        tx.commit().map_err(backend)
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
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(TXS).map_err(backend)?;
        Ok(t.get(id.0.as_slice()).map_err(backend)?.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(STATE).map_err(backend)?;
        Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(STATE).map_err(backend)?;
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => t.range(start..end).map_err(backend)?,
            None => t.range(start..).map_err(backend)?,
        };
        let mut out = Vec::new();
        for row in iter.take(limit) {
            let (k, v) = row.map_err(backend)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(HISTORY).map_err(backend)?;
        let iter = t
            .range((key, 0u64, 0u32)..=(key, u64::MAX, u32::MAX))
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in iter.rev().take(limit) {
            let (k, v) = row.map_err(backend)?;
            let (_, height, tx_index) = k.value();
            out.push(HistoryEntry {
                height,
                tx_index,
                value: decode_history_value(v.value())?,
            });
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
