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

impl RedbStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Self::init(create_database(path).map_err(backend)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
