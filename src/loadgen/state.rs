//! The state one run shares between its submission workers, its event
//! watchers and its ticker: the uncommitted transactions with their send
//! times, the recorder, the block heights already seen, and the closed
//! loop's permits.

use super::metrics::Recorder;
use productivist_engine::crypto::Hash;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Semaphore;

/// Shared by the tasks of one run.
pub struct Shared {
    origin: Instant,
    /// µs after `origin` at which the load started (0 until then).
    t0_us: AtomicU64,
    /// Uncommitted transactions: id → send time (µs since the load start).
    pending: Mutex<HashMap<Hash, u64>>,
    recorder: Mutex<Recorder>,
    /// Heights whose block event was handled (events come from every node).
    heights: Mutex<HashSet<u64>>,
    /// Closed loop: one permit per transaction that may be sent.
    pub permits: Option<Arc<Semaphore>>,
    /// Index of the next transaction to send.
    pub next: AtomicUsize,
    /// Set when submission must stop.
    pub stop: AtomicBool,
    /// Watchers whose stream is open.
    pub watching: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking task cannot leave these maps half-updated in a way that
    // matters for measurement; keep going with the data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Fresh state; `closed_loop` is the number of transactions in flight.
    pub fn new(closed_loop: Option<u64>) -> Arc<Shared> {
        Arc::new(Shared {
            origin: Instant::now(),
            t0_us: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
            recorder: Mutex::new(Recorder::new()),
            heights: Mutex::new(HashSet::new()),
            permits: closed_loop.map(|n| {
                Arc::new(Semaphore::new(
                    usize::try_from(n)
                        .unwrap_or(Semaphore::MAX_PERMITS)
                        .min(Semaphore::MAX_PERMITS),
                ))
            }),
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            watching: AtomicUsize::new(0),
        })
    }

    /// Marks now as the start of the load.
    pub fn start_load(&self) {
        let now = self.origin.elapsed().as_micros() as u64;
        self.t0_us.store(now.max(1), Ordering::SeqCst);
    }

    /// The load's start, as an instant.
    pub fn load_start(&self) -> Instant {
        self.origin + std::time::Duration::from_micros(self.t0_us.load(Ordering::SeqCst))
    }

    /// µs since the load started.
    pub fn now_us(&self) -> u64 {
        (self.origin.elapsed().as_micros() as u64).saturating_sub(self.t0_us.load(Ordering::SeqCst))
    }

    /// Records that `id` was sent at `sent_us` (before sending: its commit
    /// may be seen before the submission is answered).
    pub fn sent(&self, id: Hash, sent_us: u64) {
        lock(&self.pending).insert(id, sent_us);
    }

    /// Forgets an unsent or refused transaction; returns whether it was
    /// still pending (then a closed-loop permit is given back).
    pub fn forget(&self, id: &Hash) -> bool {
        let was = lock(&self.pending).remove(id).is_some();
        if was {
            self.release(1);
        }
        was
    }

    fn release(&self, n: usize) {
        if let Some(p) = &self.permits
            && n > 0
        {
            p.add_permits(n);
        }
    }

    /// Uncommitted transactions.
    pub fn pending_len(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Gives up transactions sent before `older_than_us`; returns how many.
    pub fn expire(&self, older_than_us: u64) -> usize {
        let n = {
            let mut p = lock(&self.pending);
            let before = p.len();
            p.retain(|_, sent| *sent >= older_than_us);
            before - p.len()
        };
        lock(&self.recorder).lost(n as u64);
        self.release(n);
        n
    }

    /// Handles a block event's JSON: records the commit of every pending
    /// transaction it lists, once per height whichever node told first.
    /// Returns the transactions of this run it committed.
    pub fn on_block(&self, height: u64, data: &str) -> usize {
        let now = self.now_us();
        if !lock(&self.heights).insert(height) {
            return 0;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            return 0;
        };
        let Some(txs) = v.get("txs").and_then(|t| t.as_array()) else {
            return 0;
        };
        let mut found = Vec::new();
        {
            let mut p = lock(&self.pending);
            for t in txs {
                let Some(id) = t
                    .get("id")
                    .and_then(|i| i.as_str())
                    .and_then(Hash::from_hex)
                else {
                    continue;
                };
                if let Some(sent) = p.remove(&id) {
                    let valid = t.get("valid").and_then(|b| b.as_bool()).unwrap_or(false);
                    found.push((sent, valid));
                }
            }
        }
        {
            let mut r = lock(&self.recorder);
            for (sent, valid) in &found {
                r.committed(*sent, now, *valid);
            }
        }
        self.release(found.len());
        found.len()
    }

    /// Runs `f` on the recorder.
    pub fn with_recorder<T>(&self, f: impl FnOnce(&mut Recorder) -> T) -> T {
        f(&mut lock(&self.recorder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u8) -> Hash {
        Hash::of(&[i])
    }

    #[test]
    fn blocks_commit_pending_transactions_once() {
        let s = Shared::new(Some(2));
        s.start_load();
        s.sent(id(1), 0);
        s.sent(id(2), 0);
        let data = serde_json::json!({
            "height": 5,
            "txs": [
                {"id": id(1).to_hex(), "valid": true, "code": null},
                {"id": id(9).to_hex(), "valid": true, "code": null},
                {"id": id(2).to_hex(), "valid": false, "code": "replay"},
            ],
        })
        .to_string();
        assert_eq!(s.on_block(5, &data), 2);
        // The same height from another node counts nothing.
        assert_eq!(s.on_block(5, &data), 0);
        assert_eq!(s.pending_len(), 0);
        let sum = s.with_recorder(|r| r.summary());
        assert_eq!((sum.committed, sum.invalid), (2, 1));
        // Two permits given back.
        assert_eq!(s.permits.as_ref().map(|p| p.available_permits()), Some(4));
        // Garbage is ignored.
        assert_eq!(s.on_block(6, "not json"), 0);
    }

    #[test]
    fn expired_transactions_are_lost() {
        let s = Shared::new(None);
        s.sent(id(1), 10);
        s.sent(id(2), 20);
        assert_eq!(s.expire(15), 1);
        assert_eq!(s.pending_len(), 1);
        assert!(s.forget(&id(2)));
        assert!(!s.forget(&id(2)));
        assert_eq!(s.with_recorder(|r| r.summary().lost), 1);
    }
}
