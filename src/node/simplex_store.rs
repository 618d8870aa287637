//! Durable Simplex state of one BFT channel on one node, in one redb file
//! (`DATA/channels/CH/simplex.redb`): the vote record, the finalized chain,
//! the blocks this node proposed or notarized, the certificates not yet
//! pruned, and the node's applied mark. Every write is one redb transaction
//! with `Durability::Immediate` (fsync) and returns only once durable: the
//! driver calls it before sending the output's messages, as the
//! `Consensus` contract requires (a vote is a promise that survives a
//! crash). The rules are those of `simplex::DurableState::apply`, which the
//! tests check this store against.

use super::storage::{Applied, StorageError, backend, decode, encode, read_applied, write_applied};
use productivist_consensus::simplex::{
    Block, DurableState, Evidence, Persist, View, Vote, VoteKind, VoteRecord,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Finalized blocks by height (from 1, contiguous).
const FINALIZED: TableDefinition<u64, &[u8]> = TableDefinition::new("finalized");
/// Voted blocks by (view big-endian, digest): pruned by view ranges.
const VOTED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("voted");
/// Certificates by (view big-endian, kind tag).
const CERTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("certificates");
/// Equivocation evidence (both signed votes) by (view big-endian, offender
/// big-endian, offense): the same offense found again is stored once.
const EVIDENCE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("evidence");

/// Evidence records kept on disk; past it the oldest views go first.
pub const EVIDENCE_STORED_MAX: usize = 4096;

const META_VOTE_RECORD: &str = "vote_record";

fn kind_tag(kind: VoteKind) -> u8 {
    match kind {
        VoteKind::Notarize => 0,
        VoteKind::Nullify => 1,
        VoteKind::Finalize => 2,
    }
}

fn view_key(view: View, suffix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + suffix.len());
    key.extend_from_slice(&view.to_be_bytes());
    key.extend_from_slice(suffix);
    key
}

fn key_view(key: &[u8]) -> View {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The Simplex store of one channel.
pub struct SimplexStore {
    db: Database,
}

impl SimplexStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<SimplexStore, StorageError> {
        let db = productivist_engine::store::redb::create_database(path).map_err(backend)?;
        let tx = db.begin_write().map_err(backend)?;
        {
            tx.open_table(META).map_err(backend)?;
            tx.open_table(FINALIZED).map_err(backend)?;
            tx.open_table(VOTED).map_err(backend)?;
            tx.open_table(CERTS).map_err(backend)?;
            tx.open_table(EVIDENCE).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(SimplexStore { db })
    }

    /// Everything persisted so far, for `Simplex::restart`.
    pub fn load(&self) -> Result<DurableState, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let vote_record: VoteRecord = match meta.get(META_VOTE_RECORD).map_err(backend)? {
            Some(v) => decode("vote record", v.value())?,
            None => VoteRecord::default(),
        };
        let mut finalized_blocks: Vec<Block> = Vec::new();
        for row in tx
            .open_table(FINALIZED)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (k, v) = row.map_err(backend)?;
            let block: Block = decode("finalized block", v.value())?;
            let expected = finalized_blocks.last().map_or(1, |b| b.height + 1);
            if block.height != k.value() || block.height != expected {
                return Err(StorageError::Corrupt(format!(
                    "finalized block {} found where {expected} was expected",
                    k.value()
                )));
            }
            finalized_blocks.push(block);
        }
        let mut voted_blocks = Vec::new();
        for row in tx
            .open_table(VOTED)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (_, v) = row.map_err(backend)?;
            voted_blocks.push(decode("voted block", v.value())?);
        }
        let mut certificates = Vec::new();
        for row in tx
            .open_table(CERTS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (_, v) = row.map_err(backend)?;
            certificates.push(decode("certificate", v.value())?);
        }
        Ok(DurableState {
            vote_record,
            finalized_blocks,
            voted_blocks,
            certificates,
        })
    }

    /// Height of the durable finalized chain (0: only genesis).
    pub fn finalized_height(&self) -> Result<u64, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(FINALIZED).map_err(backend)?;
        Ok(table.last().map_err(backend)?.map_or(0, |(k, _)| k.value()))
    }

    /// Finalized blocks from `from_height` on, at most `max_blocks` of them
    /// and about `max_bytes` (always at least one if any exists).
    pub fn finalized_range(
        &self,
        from_height: u64,
        max_blocks: usize,
        max_bytes: usize,
    ) -> Result<Vec<Block>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(FINALIZED).map_err(backend)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for row in table.range(from_height.max(1)..).map_err(backend)? {
            let (_, v) = row.map_err(backend)?;
            bytes += v.value().len();
            if out.len() >= max_blocks || (bytes > max_bytes && !out.is_empty()) {
                break;
            }
            out.push(decode("finalized block", v.value())?);
        }
        Ok(out)
    }

    /// Makes one output's `persist` durable, following the rules of
    /// `DurableState::apply`. A finalized block that does not extend the
    /// durable chain is refused (the node must stop: its memory and its
    /// disk disagree).
    pub fn persist(&self, p: &Persist) -> Result<(), StorageError> {
        if p.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut finalized = tx.open_table(FINALIZED).map_err(backend)?;
            let mut height = finalized
                .last()
                .map_err(backend)?
                .map_or(0, |(k, _)| k.value());
            for block in &p.finalized_blocks {
                if block.height != height + 1 {
                    return Err(StorageError::Corrupt(format!(
                        "finalized block {} does not extend the durable chain at {height}",
                        block.height
                    )));
                }
                finalized
                    .insert(block.height, encode(block)?.as_slice())
                    .map_err(backend)?;
                height = block.height;
            }
            let mut certs = tx.open_table(CERTS).map_err(backend)?;
            for cert in &p.certificates {
                certs
                    .insert(
                        view_key(cert.view, &[kind_tag(cert.kind)]).as_slice(),
                        encode(cert)?.as_slice(),
                    )
                    .map_err(backend)?;
            }
            let mut voted = tx.open_table(VOTED).map_err(backend)?;
            for block in &p.voted_blocks {
                voted
                    .insert(
                        view_key(block.view, &block.digest()).as_slice(),
                        encode(block)?.as_slice(),
                    )
                    .map_err(backend)?;
            }
            // Voted blocks at or below the finalized height are done with.
            voted
                .retain(|_, v| borsh::from_slice::<Block>(v).map_or(true, |b| b.height > height))
                .map_err(backend)?;
            if let Some(floor) = p.prune_below_view {
                certs.retain(|k, _| key_view(k) >= floor).map_err(backend)?;
                voted.retain(|k, _| key_view(k) >= floor).map_err(backend)?;
            }
            if let Some(record) = &p.vote_record {
                let mut meta = tx.open_table(META).map_err(backend)?;
                let old: Option<VoteRecord> = match meta.get(META_VOTE_RECORD).map_err(backend)? {
                    Some(v) => Some(decode("vote record", v.value())?),
                    None => None,
                };
                if old.is_some_and(|o| o.view > record.view) {
                    return Err(StorageError::Corrupt(
                        "vote record would go back in views".into(),
                    ));
                }
                meta.insert(META_VOTE_RECORD, encode(record)?.as_slice())
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    /// Appends finalized blocks obtained by block sync (already checked to
    /// extend the durable chain and to be agreed by enough consenters).
    pub fn append_finalized(&self, blocks: &[Block]) -> Result<(), StorageError> {
        self.persist(&Persist {
            finalized_blocks: blocks.to_vec(),
            ..Persist::default()
        })
    }

    /// Stores evidence durably (idempotent per view, offender and offense).
    pub fn record_evidence(&self, evidence: &[Evidence]) -> Result<(), StorageError> {
        if evidence.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut table = tx.open_table(EVIDENCE).map_err(backend)?;
            for ev in evidence {
                let offense = ev.offense().map_or(u8::MAX, |o| o as u8);
                let mut suffix = ev.signer().to_be_bytes().to_vec();
                suffix.push(offense);
                let pair = (ev.first.clone(), ev.second.clone());
                table
                    .insert(
                        view_key(ev.view(), &suffix).as_slice(),
                        encode(&pair)?.as_slice(),
                    )
                    .map_err(backend)?;
            }
            let excess =
                (table.len().map_err(backend)? as usize).saturating_sub(EVIDENCE_STORED_MAX);
            for _ in 0..excess {
                table.pop_first().map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    /// The stored evidence, oldest view first.
    pub fn evidence(&self) -> Result<Vec<Evidence>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(EVIDENCE).map_err(backend)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            let (_, v) = row.map_err(backend)?;
            let (first, second): (Vote, Vote) = decode("evidence", v.value())?;
            out.push(Evidence { first, second });
        }
        Ok(out)
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
    use productivist_consensus::simplex::Certificate;

    /// Durable states compared regardless of row order.
    fn sorted(mut s: DurableState) -> DurableState {
        s.voted_blocks.sort_by_key(|b| (b.view, b.digest()));
        s.certificates
            .sort_by_key(|c: &Certificate| (c.view, kind_tag(c.kind)));
        s
    }

    fn block(view: View, height: u64, parent: &Block, payload: &[u8]) -> Block {
        Block {
            view,
            height,
            parent_view: parent.view,
            parent: parent.digest(),
            payload: payload.to_vec(),
        }
    }

    fn cert(kind: VoteKind, view: View, digest: [u8; 32]) -> Certificate {
        Certificate {
            kind,
            view,
            digest,
            signatures: vec![(1, [1; 64]), (2, [2; 64]), (3, [3; 64])],
        }
    }

    #[test]
    fn persist_follows_the_reference_durable_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("simplex.redb");
        let store = SimplexStore::open(&path).unwrap();
        let g = Block::genesis();
        let b1 = block(1, 1, &g, b"one");
        let b2 = block(2, 2, &b1, b"two");
        let b3 = block(4, 3, &b2, b"");
        let b4 = block(5, 4, &b3, b"four");
        let writes = [
            Persist {
                vote_record: Some(VoteRecord {
                    view: 1,
                    notarized: Some(b1.digest()),
                    ..VoteRecord::default()
                }),
                voted_blocks: vec![b1.clone()],
                certificates: vec![cert(VoteKind::Notarize, 1, b1.digest())],
                ..Persist::default()
            },
            Persist {
                voted_blocks: vec![b2.clone(), b3.clone()],
                certificates: vec![
                    cert(VoteKind::Nullify, 3, [0; 32]),
                    cert(VoteKind::Notarize, 2, b2.digest()),
                ],
                finalized_blocks: vec![b1.clone()],
                ..Persist::default()
            },
            Persist {
                vote_record: Some(VoteRecord {
                    view: 4,
                    finalized: Some(b3.digest()),
                    ..VoteRecord::default()
                }),
                finalized_blocks: vec![b2.clone(), b3.clone()],
                voted_blocks: vec![b4.clone()],
                prune_below_view: Some(3),
                ..Persist::default()
            },
        ];
        let mut reference = DurableState::default();
        for w in &writes {
            store.persist(w).unwrap();
            reference.apply(w);
            assert_eq!(sorted(store.load().unwrap()), sorted(reference.clone()));
        }
        assert_eq!(store.finalized_height().unwrap(), 3);
        assert_eq!(
            store.finalized_range(2, 10, 1 << 20).unwrap(),
            vec![b2.clone(), b3.clone()]
        );
        assert_eq!(store.finalized_range(1, 1, 1 << 20).unwrap(), vec![b1]);
        // A block that does not extend the chain is refused, nothing written.
        let gap = Persist {
            finalized_blocks: vec![block(9, 9, &b4, b"x")],
            ..Persist::default()
        };
        assert!(store.persist(&gap).is_err());
        store
            .set_applied(Applied {
                index: 3,
                height: 2,
            })
            .unwrap();
        let vote = |digest: u8| Vote {
            kind: VoteKind::Notarize,
            view: 7,
            digest: [digest; 32],
            signer: 2,
            signature: [digest; 64],
        };
        let ev = Evidence {
            first: vote(1),
            second: vote(2),
        };
        store.record_evidence(std::slice::from_ref(&ev)).unwrap();
        store.record_evidence(std::slice::from_ref(&ev)).unwrap();
        drop(store);
        let store = SimplexStore::open(&path).unwrap();
        assert_eq!(sorted(store.load().unwrap()), sorted(reference));
        assert_eq!(store.applied().unwrap().height, 2);
        assert_eq!(store.evidence().unwrap(), vec![ev], "stored once, kept");
    }
}
