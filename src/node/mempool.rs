//! A channel's bounded mempool: admitted transactions waiting to be ordered.
//!
//! Transactions enter after admission (decode, channel, certificate,
//! signature: `productivist_engine::admission::admit`), once per id; a full
//! pool refuses with [`MempoolError::Full`] (the API answers "busy"). The
//! leader cuts blocks from the front; cut transactions are "proposed" until
//! their block commits (then they leave) or leadership changes or they go
//! stale (then they return to the front, in order).

use productivist_engine::proposal::BlockProposal;
use productivist_engine::tx::TxId;
use std::collections::{HashMap, VecDeque};

/// Why a transaction was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// Already in the pool.
    #[error("transaction already pending")]
    Duplicate,
    /// The pool is at its bound.
    #[error("mempool full ({txs} transactions, {bytes} bytes): retry later")]
    Full {
        /// Transactions held.
        txs: usize,
        /// Bytes held.
        bytes: u64,
    },
}

struct Entry {
    bytes: Vec<u8>,
    arrived_ms: u64,
    gossiped_ms: u64,
    proposed_at_ms: Option<u64>,
}

/// The pool.
pub struct Mempool {
    txs_max: usize,
    bytes_max: u64,
    entries: HashMap<TxId, Entry>,
    /// Pending ids in order; may hold stale ids (proposed or removed since),
    /// skipped lazily and compacted when they outnumber live ones.
    queue: VecDeque<TxId>,
    bytes: u64,
    pending_txs: usize,
    pending_bytes: u64,
    /// Transactions dropped because alone they exceed a block's byte
    /// budget, so no block could ever hold them.
    unproposable: u64,
}

/// What one block may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBounds {
    /// Most transactions (the channel's `max_txs`).
    pub max_txs: usize,
    /// Most bytes of transactions (the channel's `max_block_bytes`).
    pub max_block_bytes: u64,
    /// Most bytes of the encoded `BlockProposal`: what the consensus
    /// protocol accepts in one proposal, every transaction's length prefix
    /// counted.
    pub max_proposal_bytes: u64,
}

impl BlockBounds {
    /// Whether `txs` transactions of `bytes` bytes in all fit in one block.
    fn fits(&self, txs: usize, bytes: u64) -> bool {
        txs <= self.max_txs
            && bytes <= self.max_block_bytes
            && BlockProposal::encoded_len(txs as u64, bytes) <= self.max_proposal_bytes
    }
}

/// Queue entries kept beyond twice the live ones before compaction.
const QUEUE_SLACK: usize = 1024;

impl Mempool {
    /// A pool of at most `txs_max` transactions and `bytes_max` bytes.
    pub fn new(txs_max: usize, bytes_max: u64) -> Mempool {
        Mempool {
            txs_max: txs_max.max(1),
            bytes_max: bytes_max.max(1),
            entries: HashMap::new(),
            queue: VecDeque::new(),
            bytes: 0,
            unproposable: 0,
            pending_txs: 0,
            pending_bytes: 0,
        }
    }

    /// Transactions held (pending and proposed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Pending (not proposed) transactions.
    pub fn pending_txs(&self) -> usize {
        self.pending_txs
    }

    /// Whether `id` is held.
    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains_key(id)
    }

    /// Whether the pool holds exactly `bytes` under `id`: this node admitted
    /// (and so verified the signature of) these very bytes. A transaction
    /// with the same id (body) but another signature does not match.
    pub fn holds_exact(&self, id: &TxId, bytes: &[u8]) -> bool {
        self.entries.get(id).is_some_and(|e| e.bytes == bytes)
    }

    /// Adds an admitted transaction.
    pub fn insert(&mut self, id: TxId, bytes: Vec<u8>, now_ms: u64) -> Result<(), MempoolError> {
        if self.entries.contains_key(&id) {
            return Err(MempoolError::Duplicate);
        }
        let len = bytes.len() as u64;
        if self.entries.len() >= self.txs_max || self.bytes + len > self.bytes_max {
            return Err(MempoolError::Full {
                txs: self.entries.len(),
                bytes: self.bytes,
            });
        }
        self.entries.insert(
            id,
            Entry {
                bytes,
                arrived_ms: now_ms,
                gossiped_ms: now_ms,
                proposed_at_ms: None,
            },
        );
        self.queue.push_back(id);
        self.bytes += len;
        self.pending_txs += 1;
        self.pending_bytes += len;
        Ok(())
    }

    fn is_pending(&self, id: &TxId) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.proposed_at_ms.is_none())
    }

    fn drop_stale_front(&mut self) {
        while let Some(id) = self.queue.front() {
            if self.is_pending(id) {
                break;
            }
            self.queue.pop_front();
        }
    }

    /// Whether a block should be cut now: full by count or bytes, or the
    /// oldest pending transaction waited `batch_timeout_ms`.
    pub fn ready(&mut self, bounds: &BlockBounds, batch_timeout_ms: u64, now_ms: u64) -> bool {
        if self.pending_txs == 0 {
            return false;
        }
        let full = self.pending_txs >= bounds.max_txs
            || self.pending_bytes >= bounds.max_block_bytes
            || BlockProposal::encoded_len(self.pending_txs as u64, self.pending_bytes)
                >= bounds.max_proposal_bytes;
        if full {
            return true;
        }
        self.drop_stale_front();
        self.queue
            .front()
            .and_then(|id| self.entries.get(id))
            .is_some_and(|e| e.arrived_ms.saturating_add(batch_timeout_ms) <= now_ms)
    }

    /// Takes pending transactions from the front, up to the limits, and
    /// marks them proposed.
    pub fn cut(&mut self, bounds: &BlockBounds, now_ms: u64) -> Vec<(TxId, Vec<u8>)> {
        let mut out = Vec::new();
        let mut out_bytes = 0u64;
        while out.len() < bounds.max_txs {
            self.drop_stale_front();
            let Some(id) = self.queue.front().copied() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&id) else {
                break;
            };
            let len = entry.bytes.len() as u64;
            if !bounds.fits(1, len) {
                // It would stay at the front for ever and stop every block
                // behind it (the consensus's proposal limit can be below
                // the channel's transaction limit).
                self.queue.pop_front();
                self.pending_txs -= 1;
                self.pending_bytes -= len;
                self.bytes -= len;
                self.entries.remove(&id);
                self.unproposable += 1;
                continue;
            }
            if !bounds.fits(out.len() + 1, out_bytes + len) {
                break;
            }
            self.queue.pop_front();
            entry.proposed_at_ms = Some(now_ms);
            out.push((id, entry.bytes.clone()));
            out_bytes += len;
            self.pending_txs -= 1;
            self.pending_bytes -= len;
        }
        out
    }

    /// Transactions dropped so far because no block could hold them.
    pub fn unproposable(&self) -> u64 {
        self.unproposable
    }

    /// Removes committed transactions.
    pub fn remove(&mut self, ids: impl IntoIterator<Item = TxId>) {
        for id in ids {
            if let Some(e) = self.entries.remove(&id) {
                let len = e.bytes.len() as u64;
                self.bytes -= len;
                if e.proposed_at_ms.is_none() {
                    self.pending_txs -= 1;
                    self.pending_bytes -= len;
                }
            }
        }
        if self.queue.len() > 2 * self.pending_txs + QUEUE_SLACK {
            let entries = &self.entries;
            self.queue
                .retain(|id| entries.get(id).is_some_and(|e| e.proposed_at_ms.is_none()));
        }
    }

    /// Marks pending transactions as proposed by someone else (a BFT
    /// leader's block this node voted for), so that this node does not
    /// order them again while that block finalizes. If the block is lost,
    /// the stale timer returns them to the queue. Unknown ids are ignored.
    pub fn mark_proposed(&mut self, ids: &[TxId], now_ms: u64) -> usize {
        let mut marked = 0;
        for id in ids {
            if let Some(e) = self.entries.get_mut(id)
                && e.proposed_at_ms.is_none()
            {
                e.proposed_at_ms = Some(now_ms);
                self.pending_txs -= 1;
                self.pending_bytes -= e.bytes.len() as u64;
                marked += 1;
            }
        }
        marked
    }

    /// Returns these proposed transactions to the front of the queue, in
    /// the given order (a proposal consensus refused).
    pub fn requeue(&mut self, ids: &[TxId]) {
        for id in ids.iter().rev() {
            if let Some(e) = self.entries.get_mut(id)
                && e.proposed_at_ms.is_some()
            {
                e.proposed_at_ms = None;
                self.pending_txs += 1;
                self.pending_bytes += e.bytes.len() as u64;
                self.queue.push_front(*id);
            }
        }
    }

    /// Up to `max` pending transactions last gossiped `after_ms` ago or
    /// earlier, marked as gossiped now.
    pub fn take_for_regossip(&mut self, now_ms: u64, after_ms: u64, max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for e in self.entries.values_mut() {
            if out.len() >= max {
                break;
            }
            if e.proposed_at_ms.is_none() && e.gossiped_ms.saturating_add(after_ms) <= now_ms {
                e.gossiped_ms = now_ms;
                out.push(e.bytes.clone());
            }
        }
        out
    }

    /// Returns proposed transactions to the front of the queue (all of them,
    /// or those proposed before `older_than_ms`), in arrival order. Returns
    /// how many.
    pub fn requeue_proposed(&mut self, older_than_ms: Option<u64>) -> usize {
        let mut back: Vec<(u64, TxId)> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.proposed_at_ms
                    .is_some_and(|at| older_than_ms.is_none_or(|limit| at < limit))
            })
            .map(|(id, e)| (e.arrived_ms, *id))
            .collect();
        back.sort();
        for (_, id) in back.iter().rev() {
            if let Some(e) = self.entries.get_mut(id) {
                e.proposed_at_ms = None;
                self.pending_txs += 1;
                self.pending_bytes += e.bytes.len() as u64;
                self.queue.push_front(*id);
            }
        }
        back.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_engine::crypto::Hash;

    fn id(i: u8) -> TxId {
        Hash::of(&[i])
    }

    fn bounds(max_txs: usize, max_block_bytes: u64) -> BlockBounds {
        BlockBounds {
            max_txs,
            max_block_bytes,
            max_proposal_bytes: u64::MAX,
        }
    }

    #[test]
    fn blocks_fit_the_proposal_limit_with_every_length_prefix_counted() {
        let mut m = Mempool::new(1_000, 1 << 20);
        for i in 0..=255u8 {
            m.insert(id(i), vec![i; 100], 0).unwrap();
        }
        // Room for 10 transactions of 100 bytes and their prefixes, not 11.
        let limit = BlockProposal::encoded_len(10, 1_000);
        let b = BlockBounds {
            // A channel allowing far more transactions than the proposal
            // limit could prefix: the bound follows the block cut, not
            // the count allowed.
            max_txs: 1_000_000,
            max_block_bytes: 16 << 20,
            max_proposal_bytes: limit,
        };
        assert!(m.ready(&b, 1_000, 0), "a full proposal's worth is ready");
        let block = m.cut(&b, 0);
        assert_eq!(block.len(), 10);
        assert_eq!(m.unproposable(), 0);
        let encoded = BlockProposal {
            txs: block.into_iter().map(|(_, t)| t).collect(),
            timestamp_ms: 0,
            proposer: productivist_engine::crypto::PublicKey([0; 32]),
        }
        .encode();
        assert_eq!(encoded.len() as u64, limit);
    }

    #[test]
    fn holds_exact_matches_only_the_admitted_bytes() {
        let mut m = Mempool::new(3, 1_000);
        m.insert(id(1), vec![1, 2, 3], 0).unwrap();
        assert!(m.holds_exact(&id(1), &[1, 2, 3]));
        // Same id (body), other bytes (another signature): not verified here.
        assert!(!m.holds_exact(&id(1), &[1, 2, 4]));
        assert!(!m.holds_exact(&id(2), &[1, 2, 3]));
        m.remove([id(1)]);
        assert!(!m.holds_exact(&id(1), &[1, 2, 3]));
    }

    #[test]
    fn bounded_duplicates_cut_and_requeue() {
        let mut m = Mempool::new(3, 1_000);
        m.insert(id(1), vec![1; 10], 0).unwrap();
        assert_eq!(
            m.insert(id(1), vec![1; 10], 0),
            Err(MempoolError::Duplicate)
        );
        m.insert(id(2), vec![2; 10], 1).unwrap();
        m.insert(id(3), vec![3; 10], 2).unwrap();
        assert!(matches!(
            m.insert(id(4), vec![4; 10], 3),
            Err(MempoolError::Full { .. })
        ));
        assert!(!m.ready(&bounds(10, 1_000), 100, 50));
        assert!(m.ready(&bounds(10, 1_000), 100, 100));
        assert!(m.ready(&bounds(3, 1_000), 100, 0));
        let block = m.cut(&bounds(2, 1_000), 5);
        assert_eq!(block, vec![(id(1), vec![1; 10]), (id(2), vec![2; 10])]);
        assert_eq!(m.pending_txs(), 1);
        m.remove([id(2)]);
        assert_eq!(m.requeue_proposed(None), 1);
        let block = m.cut(&bounds(10, 1_000), 6);
        assert_eq!(block, vec![(id(1), vec![1; 10]), (id(3), vec![3; 10])]);
        m.requeue(&[id(3)]);
        assert_eq!(m.pending_txs(), 1);
        assert_eq!(m.take_for_regossip(2_002, 2_000, 10).len(), 1);
        assert_eq!(m.take_for_regossip(2_003, 2_000, 10).len(), 0);
        m.remove([id(1), id(3)]);
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
        assert_eq!(m.pending_txs(), 0);
        assert!(m.cut(&bounds(10, 1_000), 7).is_empty());
    }

    #[test]
    fn byte_limit_cuts_short() {
        let mut m = Mempool::new(10, 1_000);
        for i in 0..5 {
            m.insert(id(i), vec![i; 100], 0).unwrap();
        }
        assert_eq!(m.cut(&bounds(10, 250), 0).len(), 2);
        assert!(m.ready(&bounds(10, 300), 1_000, 0));
        assert!(!m.ready(&bounds(10, 301), 1_000, 0));
    }

    #[test]
    fn a_transaction_no_block_can_hold_is_dropped_not_left_at_the_front() {
        let mut m = Mempool::new(10, 10_000);
        m.insert(id(1), vec![1; 500], 0).unwrap();
        m.insert(id(2), vec![2; 100], 0).unwrap();
        assert_eq!(m.cut(&bounds(10, 300), 0), vec![(id(2), vec![2; 100])]);
        assert_eq!(m.unproposable(), 1);
        assert!(!m.holds_exact(&id(1), &[1; 500]));
        m.remove([id(2)]);
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn transactions_in_anothers_block_are_not_cut_again_until_stale() {
        let mut m = Mempool::new(10, 1_000);
        for i in 0..3 {
            m.insert(id(i), vec![i; 10], 0).unwrap();
        }
        // Another leader's block holds 0 and 1 (and one we never saw).
        assert_eq!(m.mark_proposed(&[id(0), id(1), id(9)], 10), 2);
        assert_eq!(m.mark_proposed(&[id(0)], 11), 0, "already proposed");
        assert_eq!(m.pending_txs(), 1);
        assert_eq!(m.cut(&bounds(10, 1_000), 12), vec![(id(2), vec![2; 10])]);
        // That block was lost: the stale timer brings them back, once each.
        assert_eq!(m.requeue_proposed(Some(11)), 2);
        let again: Vec<TxId> = m
            .cut(&bounds(10, 1_000), 13)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(again, vec![id(0), id(1)]);
        assert!(m.cut(&bounds(10, 1_000), 14).is_empty());
    }
}
