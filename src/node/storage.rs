//! Durable consensus state of one channel on one node: Raft's hard state,
//! log entries and snapshot, plus the node's own applied mark (which
//! consensus index the ledger has applied, and at which ledger height), in
//! one redb file (`DATA/channels/CH/raft.redb`). Every write is one redb
//! transaction with `Durability::Immediate` (fsync) and returns only once
//! durable: the driver calls it before sending the output's messages.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_consensus::raft::{DurableState, Entry, HardState, Persist, Snapshot};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");

const META_HARD_STATE: &str = "hard_state";
const META_SNAPSHOT: &str = "snapshot";
const META_APPLIED: &str = "applied";

/// Why the consensus store failed. Always fatal for the channel: a node
/// that cannot make its promises durable must stop.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("consensus store: {0}")]
    Backend(String),
    /// The file holds data we cannot read.
    #[error("consensus store is corrupt: {0}")]
    Corrupt(String),
}

pub(super) fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// What the ledger has applied: the last consensus index handed to the
/// application and the ledger height after it. Written after each ledger
/// commit, so after a crash the ledger head is at most one block past it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Applied {
    /// Last applied consensus index.
    pub index: u64,
    /// Ledger height after applying it.
    pub height: u64,
}

/// The consensus store of one channel.
pub struct RaftStore {
    db: Database,
}

pub(super) fn decode<T: BorshDeserialize>(what: &str, bytes: &[u8]) -> Result<T, StorageError> {
    borsh::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn encode<T: BorshSerialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    borsh::to_vec(value).map_err(backend)
}

/// The applied mark in a consensus store's `meta` table (both stores keep
/// it under the same table and key).
pub(super) fn read_applied(db: &Database) -> Result<Applied, StorageError> {
    let tx = db.begin_read().map_err(backend)?;
    let meta = tx.open_table(META).map_err(backend)?;
    match meta.get(META_APPLIED).map_err(backend)? {
        Some(v) => decode("applied mark", v.value()),
        None => Ok(Applied::default()),
    }
}

/// Records the applied mark durably (one fsync'd transaction).
pub(super) fn write_applied(db: &Database, applied: Applied) -> Result<(), StorageError> {
    let tx = db.begin_write().map_err(backend)?;
    {
        let mut meta = tx.open_table(META).map_err(backend)?;
        meta.insert(META_APPLIED, encode(&applied)?.as_slice())
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

impl RaftStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<RaftStore, StorageError> {
        let db = productivist_engine::store::redb::create_database(path).map_err(backend)?;
        let tx = db.begin_write().map_err(backend)?;
        {
            tx.open_table(META).map_err(backend)?;
            tx.open_table(ENTRIES).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(RaftStore { db })
    }

    /// Everything persisted so far, for `Raft::restart`.
    pub fn load(&self) -> Result<DurableState, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let hard_state: HardState = match meta.get(META_HARD_STATE).map_err(backend)? {
            Some(v) => decode("hard state", v.value())?,
            None => HardState::default(),
        };
        let snapshot: Snapshot = match meta.get(META_SNAPSHOT).map_err(backend)? {
            Some(v) => decode("snapshot", v.value())?,
            None => Snapshot::default(),
        };
        let table = tx.open_table(ENTRIES).map_err(backend)?;
        let mut entries = Vec::new();
        for row in table.range(snapshot.index + 1..).map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let entry: Entry = decode("entry", v.value())?;
            let expected = entries
                .last()
                .map_or(snapshot.index + 1, |e: &Entry| e.index + 1);
            if entry.index != k.value() || entry.index != expected {
                return Err(StorageError::Corrupt(format!(
                    "log entry {} found where {expected} was expected",
                    k.value()
                )));
            }
            entries.push(entry);
        }
        Ok(DurableState {
            hard_state,
            snapshot,
            entries,
        })
    }

    /// Makes one output's `persist` durable, following the rules of
    /// [`Persist`]: snapshot, truncation, appended entries, hard state.
    pub fn persist(&self, p: &Persist) -> Result<(), StorageError> {
        if p.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            let mut entries = tx.open_table(ENTRIES).map_err(backend)?;
            if let Some(s) = &p.snapshot {
                meta.insert(META_SNAPSHOT, encode(s)?.as_slice())
                    .map_err(backend)?;
                entries
                    .retain_in(..=s.index, |_, _| false)
                    .map_err(backend)?;
            }
            if let Some(from) = p.truncate_from {
                entries.retain_in(from.., |_, _| false).map_err(backend)?;
            }
            for e in &p.entries {
                entries
                    .insert(e.index, encode(e)?.as_slice())
                    .map_err(backend)?;
            }
            if let Some(h) = &p.hard_state {
                meta.insert(META_HARD_STATE, encode(h)?.as_slice())
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    /// The applied mark.
    pub fn applied(&self) -> Result<Applied, StorageError> {
        read_applied(&self.db)
    }

    /// Records the applied mark durably.
    pub fn set_applied(&self, applied: Applied) -> Result<(), StorageError> {
        write_applied(&self.db, applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_consensus::raft::EntryPayload;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            payload: EntryPayload::Normal(vec![index as u8]),
        }
    }

    #[test]
    fn persist_follows_the_durable_state_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let store = RaftStore::open(&path).unwrap();
        let mut reference = DurableState::default();
        let writes = [
            Persist {
                entries: (1..=5).map(|i| entry(i, 1)).collect(),
                hard_state: Some(HardState {
                    term: 1,
                    vote: Some(1),
                    commit: 2,
                }),
                ..Persist::default()
            },
            Persist {
                truncate_from: Some(4),
                entries: vec![entry(4, 2), entry(5, 2), entry(6, 2)],
                hard_state: Some(HardState {
                    term: 2,
                    vote: None,
                    commit: 5,
                }),
                ..Persist::default()
            },
            Persist {
                snapshot: Some(Snapshot {
                    index: 3,
                    term: 1,
                    membership: Default::default(),
                    data: b"summary".to_vec(),
                }),
                ..Persist::default()
            },
        ];
        for w in &writes {
            store.persist(w).unwrap();
            reference.apply(w);
            assert_eq!(store.load().unwrap(), reference);
        }
        store
            .set_applied(Applied {
                index: 5,
                height: 3,
            })
            .unwrap();
        drop(store);
        let store = RaftStore::open(&path).unwrap();
        assert_eq!(store.load().unwrap(), reference);
        assert_eq!(store.applied().unwrap().index, 5);
    }
}
