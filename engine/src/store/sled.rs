//! The optional sled store (cargo feature `sled`).
//!
//! Everything lives in one tree under one-byte prefixes, so a block commits
//! with one atomic `apply_batch`, made durable by `flush`. redb stays the
//! default: sled 0.34 has open crash-recovery issues (see docs/DECISIONS.md).

use super::{
    BlockCommit, Head, HistoryEntry, QUERY_ROWS_MAX, Rows, Store, StoreError, TxLocation,
    check_order,
};
use crate::codec;
use crate::crypto::Hash;
use std::path::Path;

const META_HEAD: &[u8] = b"m/head";
const META_LTHASH: &[u8] = b"m/lthash";
const BLOCK: u8 = b'b';
const BLOCK_HASH: u8 = b'h';
const TX: u8 = b't';
const STATE: u8 = b's';
const HISTORY: u8 = b'k';

/// A sled-backed store in one directory.
pub struct SledStore {
    db: ::sled::Db,
    // sled batches are atomic but not isolated from a concurrent committer
    // reading the head; commits are serialized.
    commit_lock: std::sync::Mutex<()>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 1);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// Encodes a history value: a tag byte (0 = deleted, 1 = value) then bytes.
fn encode_history_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(1);
            out.extend_from_slice(v);
            out
        }
    }
}

/// Decodes a history value written by [`encode_history_value`].
fn decode_history_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, v)) => Ok(Some(v.to_vec())),
        _ => Err(StoreError::Corrupt("bad history value tag".into())),
    }
}

fn history_prefix(key: &[u8]) -> Vec<u8> {
    // The length prefix keeps one key's history apart from a longer key that
    // starts with the same bytes.
    let mut k = Vec::with_capacity(key.len() + 5);
    k.push(HISTORY);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

impl SledStore {
    /// Opens (or creates) the store directory at `path`.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        // No background flusher: every commit flushes itself, so
        // durability never waits on a timer.
        let config = ::sled::Config::new().path(path).flush_every_ms(None);
        // sled releases its file lock only when its last background I/O task
        // lets go of the file, which can be a moment after the previous
        // handle was dropped (sled's own test suite blocks on the lock for
        // that reason). Reopening at once, as a restart or the conformance
        // suite does, then fails on the lock; wait for it, within a bound.
        let mut attempt = 0u32;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(::sled::Error::Io(e))
                    if attempt < LOCK_RETRIES_MAX
                        && e.to_string().contains("could not acquire lock") =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(LOCK_RETRY_DELAY_MS));
                }
                Err(e) => return Err(backend(e)),
            }
        };
        Ok(SledStore {
            db,
            commit_lock: std::sync::Mutex::new(()),
        })
    }
}

/// Attempts to take sled's file lock after the first, and the pause between
/// them: at most 5 s in all, then the lock error is returned.
const LOCK_RETRIES_MAX: u32 = 50;
const LOCK_RETRY_DELAY_MS: u64 = 100;

impl Store for SledStore {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        match self.db.get(META_HEAD).map_err(backend)? {
            None => Ok(None),
            Some(v) => codec::decode("head", &v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }

    fn commit_block(&self, c: &BlockCommit) -> Result<(), StoreError> {
        let _guard = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::Backend("commit lock poisoned".into()))?;
        check_order(self.head()?, c)?;
        let mut batch = ::sled::Batch::default();
        batch.insert(prefixed(BLOCK, &c.height.to_be_bytes()), c.block.as_slice());
        batch.insert(prefixed(BLOCK_HASH, &c.hash.0), &c.height.to_be_bytes()[..]);
        for (id, index) in &c.txs {
            let mut loc = c.height.to_be_bytes().to_vec();
            loc.extend_from_slice(&index.to_be_bytes());
            batch.insert(prefixed(TX, &id.0), loc);
        }
        for w in c.writes.log() {
            let k = prefixed(STATE, &w.key);
            match &w.value {
                Some(v) => batch.insert(k, v.as_slice()),
                None => batch.remove(k),
            }
            let mut hk = history_prefix(&w.key);
            hk.extend_from_slice(&c.height.to_be_bytes());
            hk.extend_from_slice(&w.tx_index.to_be_bytes());
            batch.insert(hk, encode_history_value(w.value.as_deref()));
        }
        let head = codec::encode(&Head {
            height: c.height,
            hash: c.hash,
        });
        batch.insert(META_HEAD, head);
        batch.insert(META_LTHASH, c.lthash.as_slice());
        self.db.apply_batch(batch).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(prefixed(BLOCK, &height.to_be_bytes()))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        match self
            .db
            .get(prefixed(BLOCK_HASH, &hash.0))
            .map_err(backend)?
        {
            None => Ok(None),
            Some(v) => {
                let b: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("block hash index".into()))?;
                Ok(Some(u64::from_be_bytes(b)))
            }
        }
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        match self.db.get(prefixed(TX, &id.0)).map_err(backend)? {
            None => Ok(None),
            Some(v) if v.len() == 12 => {
                let mut h = [0u8; 8];
                h.copy_from_slice(&v[..8]);
                let mut i = [0u8; 4];
                i.copy_from_slice(&v[8..]);
                Ok(Some(TxLocation {
                    height: u64::from_be_bytes(h),
                    index: u32::from_be_bytes(i),
                }))
            }
            Some(_) => Err(StoreError::Corrupt("tx index entry".into())),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(prefixed(STATE, key))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let lo = prefixed(STATE, start);
        let hi = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => prefixed(STATE, end),
            None => vec![STATE + 1],
        };
        let mut out = Vec::new();
        for row in self.db.range(lo..hi).take(limit) {
            let (k, v) = row.map_err(backend)?;
            out.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.min(QUERY_ROWS_MAX);
        let prefix = history_prefix(key);
        let mut out = Vec::new();
        for row in self.db.scan_prefix(&prefix).rev().take(limit) {
            let (k, v) = row.map_err(backend)?;
            let tail = &k[prefix.len()..];
            if tail.len() != 12 {
                return Err(StoreError::Corrupt("history key".into()));
            }
            let mut h = [0u8; 8];
            h.copy_from_slice(&tail[..8]);
            let mut i = [0u8; 4];
            i.copy_from_slice(&tail[8..]);
            out.push(HistoryEntry {
                height: u64::from_be_bytes(h),
                tx_index: u32::from_be_bytes(i),
                value: decode_history_value(&v)?,
            });
        }
        out.reverse();
        Ok(out)
    }

    fn lthash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(META_LTHASH)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }
}
