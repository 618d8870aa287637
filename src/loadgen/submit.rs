//! Submission workers: each owns one keep-alive connection, takes the next
//! pre-signed transaction (or the next `batch` of them), waits until it is
//! due (open loop) or until a transaction of the closed loop commits, and
//! POSTs it without waiting for the commit: one transaction per request,
//! or a batch per request to `.../transactions/batch`. A busy node is
//! retried after a pause; a node that does not answer is left for the next
//! one.

use super::http::{Conn, connect};
use super::schedule::{Load, due_us};
use super::state::Shared;
use super::transfers::{PreSigned, batch_body_of};
use hyper::StatusCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Attempts per transaction (busy answers and transport failures) before
/// it is given up.
pub const ATTEMPTS_MAX: u32 = 400;
/// Pause after a "busy" answer.
pub const BUSY_BACKOFF_MS: u64 = 20;
/// Pause after a transport failure, before trying the next node.
pub const FAILOVER_BACKOFF_MS: u64 = 100;

/// What a worker needs.
pub struct Worker {
    /// Worker number (chooses its first node).
    pub index: usize,
    /// The run's state.
    pub shared: Arc<Shared>,
    /// The transactions.
    pub txs: Arc<Vec<PreSigned>>,
    /// The offered load.
    pub load: Load,
    /// Nodes' HTTP addresses.
    pub nodes: Arc<Vec<String>>,
    /// `/v1/channels/CH/transactions`.
    pub path: Arc<str>,
    /// `/v1/channels/CH/transactions/batch`.
    pub batch_path: Arc<str>,
    /// Transactions per request: 1 posts each on its own to `path`, more
    /// posts them together to `batch_path`.
    pub batch: usize,
    /// No transaction is sent at or after this time (µs since the start).
    pub deadline_us: u64,
}

/// The most transactions per request (the node's batch limit).
pub const BATCH_MAX: usize = crate::node::channel::SUBMIT_BATCH_TXS_MAX;

/// The part of a batch answer the load generator reads.
#[derive(serde::Deserialize)]
struct BatchAnswer {
    results: Vec<BatchItem>,
}

#[derive(serde::Deserialize)]
struct BatchItem {
    status: String,
}

enum Outcome {
    Acked,
    Rejected,
    GaveUp,
}

impl Worker {
    /// Sends until the deadline, the end of the transactions, or the stop
    /// flag.
    pub async fn run(self) {
        let nodes = self.nodes.len().max(1);
        let batch = match self.load {
            // A batch larger than the closed loop's permits would wait
            // for ever.
            Load::ClosedLoop { inflight } => self.batch.min(inflight as usize),
            Load::Rate { .. } => self.batch,
        }
        .clamp(1, BATCH_MAX);
        let mut node = self.index % nodes;
        let mut conn: Option<Conn> = None;
        let shared = &self.shared;
        let mut picked: Vec<(&PreSigned, u64)> = Vec::with_capacity(batch);
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            if let Some(permits) = &shared.permits {
                let remaining = self.deadline_us.saturating_sub(shared.now_us());
                match tokio::time::timeout(
                    Duration::from_micros(remaining),
                    permits.acquire_many(batch as u32),
                )
                .await
                {
                    Ok(Ok(p)) => p.forget(),
                    _ => return,
                }
            }
            let first = shared.next.fetch_add(batch, Ordering::Relaxed);
            picked.clear();
            for i in first..(first + batch).min(self.txs.len()) {
                let sent_us = match self.load {
                    // Latency counts from the due time: a client that falls
                    // behind (or waits to fill a batch) shows it instead of
                    // hiding it.
                    Load::Rate { per_s } => due_us(i as u64, per_s),
                    Load::ClosedLoop { .. } => shared.now_us(),
                };
                if sent_us >= self.deadline_us {
                    break;
                }
                picked.push((&self.txs[i], sent_us));
            }
            if let Some(permits) = &shared.permits {
                permits.add_permits(batch - picked.len());
            }
            let Some(&(_, last_due_us)) = picked.last() else {
                return;
            };
            if let Load::Rate { .. } = self.load {
                let at = shared.load_start() + Duration::from_micros(last_due_us);
                tokio::time::sleep_until(at.into()).await;
            }
            for (tx, sent_us) in &picked {
                shared.sent(tx.id, *sent_us);
            }
            let outcomes = if batch == 1 {
                vec![self.submit(&mut conn, &mut node, picked[0].0).await]
            } else {
                self.submit_batch(&mut conn, &mut node, &picked).await
            };
            for ((tx, _), outcome) in picked.iter().zip(outcomes) {
                match outcome {
                    Outcome::Acked => {
                        let now = shared.now_us();
                        shared.with_recorder(|r| r.submitted(now));
                    }
                    Outcome::Rejected => {
                        shared.forget(&tx.id);
                        shared.with_recorder(|r| r.rejected());
                    }
                    Outcome::GaveUp => {
                        if shared.forget(&tx.id) {
                            shared.with_recorder(|r| r.lost(1));
                        }
                    }
                }
            }
        }
    }

    /// Connects to the current node if need be; on failure, moves to the
    /// next node after a pause.
    async fn connected<'c>(
        &self,
        conn: &'c mut Option<Conn>,
        node: &mut usize,
    ) -> Option<&'c mut Conn> {
        if conn.is_none() {
            match connect(&self.nodes[*node]).await {
                Ok(c) => *conn = Some(c),
                Err(_) => {
                    self.fail_over(conn, node).await;
                    return None;
                }
            }
        }
        conn.as_mut()
    }

    /// A failed node (5xx) or a broken connection: the next node.
    async fn fail_over(&self, conn: &mut Option<Conn>, node: &mut usize) {
        self.shared.with_recorder(|r| r.error());
        *conn = None;
        *node = (*node + 1) % self.nodes.len().max(1);
        tokio::time::sleep(Duration::from_millis(FAILOVER_BACKOFF_MS)).await;
    }

    /// Posts `txs` as batches until each is acknowledged or refused: the
    /// busy ones (a full mempool) go again after a pause, alone in the
    /// next batch.
    async fn submit_batch(
        &self,
        conn: &mut Option<Conn>,
        node: &mut usize,
        txs: &[(&PreSigned, u64)],
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = txs.iter().map(|_| Outcome::GaveUp).collect();
        let mut todo: Vec<usize> = (0..txs.len()).collect();
        for _ in 0..ATTEMPTS_MAX {
            if todo.is_empty() || self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let Some(c) = self.connected(conn, node).await else {
                continue;
            };
            let body = batch_body_of(todo.iter().map(|&i| txs[i].0));
            match c.post(&self.batch_path, body).await {
                Ok((StatusCode::OK, answer)) => {
                    let Ok(answer) = serde_json::from_slice::<BatchAnswer>(&answer) else {
                        self.fail_over(conn, node).await;
                        continue;
                    };
                    if answer.results.len() != todo.len() {
                        self.fail_over(conn, node).await;
                        continue;
                    }
                    let mut again = Vec::new();
                    for (&i, item) in todo.iter().zip(&answer.results) {
                        match item.status.as_str() {
                            "pending" | "committed" => outcomes[i] = Outcome::Acked,
                            "rejected" => outcomes[i] = Outcome::Rejected,
                            _ => again.push(i),
                        }
                    }
                    todo = again;
                    if !todo.is_empty() {
                        self.shared.with_recorder(|r| r.busy());
                        tokio::time::sleep(Duration::from_millis(BUSY_BACKOFF_MS)).await;
                    }
                }
                Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                    self.shared.with_recorder(|r| r.busy());
                    tokio::time::sleep(Duration::from_millis(BUSY_BACKOFF_MS)).await;
                }
                Ok((status, _)) if status.is_client_error() => {
                    for &i in &todo {
                        outcomes[i] = Outcome::Rejected;
                    }
                    todo.clear();
                }
                Ok(_) | Err(_) => self.fail_over(conn, node).await,
            }
        }
        outcomes
    }

    async fn submit(&self, conn: &mut Option<Conn>, node: &mut usize, tx: &PreSigned) -> Outcome {
        for _ in 0..ATTEMPTS_MAX {
            if self.shared.stop.load(Ordering::Relaxed) {
                return Outcome::GaveUp;
            }
            let Some(c) = self.connected(conn, node).await else {
                continue;
            };
            match c.post(&self.path, tx.body.clone()).await {
                Ok((StatusCode::OK | StatusCode::ACCEPTED, _)) => return Outcome::Acked,
                Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                    self.shared.with_recorder(|r| r.busy());
                    tokio::time::sleep(Duration::from_millis(BUSY_BACKOFF_MS)).await;
                }
                Ok((status, _)) if status.is_client_error() => return Outcome::Rejected,
                Ok(_) | Err(_) => self.fail_over(conn, node).await,
            }
        }
        Outcome::GaveUp
    }
}
