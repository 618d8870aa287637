//! Submission workers: each owns one keep-alive connection, takes the next
//! pre-signed transaction, waits until it is due (open loop) or until a
//! transaction of the closed loop commits, and POSTs it without waiting
//! for the commit. A busy node is retried after a pause; a node that does
//! not answer is left for the next one.

use super::http::{Conn, connect};
use super::schedule::{Load, due_us};
use super::state::Shared;
use super::transfers::PreSigned;
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
    /// No transaction is sent at or after this time (µs since the start).
    pub deadline_us: u64,
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
        let mut node = self.index % nodes;
        let mut conn: Option<Conn> = None;
        let shared = &self.shared;
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            if let Some(permits) = &shared.permits {
                let remaining = self.deadline_us.saturating_sub(shared.now_us());
                match tokio::time::timeout(Duration::from_micros(remaining), permits.acquire())
                    .await
                {
                    Ok(Ok(p)) => p.forget(),
                    _ => return,
                }
            }
            let i = shared.next.fetch_add(1, Ordering::Relaxed);
            let Some(tx) = self.txs.get(i) else {
                return;
            };
            let sent_us = match self.load {
                Load::Rate { per_s } => {
                    let due = due_us(i as u64, per_s);
                    if due >= self.deadline_us {
                        return;
                    }
                    let at = shared.load_start() + Duration::from_micros(due);
                    tokio::time::sleep_until(at.into()).await;
                    // Latency counts from the due time: a client that falls
                    // behind shows it instead of hiding it.
                    due
                }
                Load::ClosedLoop { .. } => {
                    let now = shared.now_us();
                    if now >= self.deadline_us {
                        return;
                    }
                    now
                }
            };
            shared.sent(tx.id, sent_us);
            match self.submit(&mut conn, &mut node, tx).await {
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

    async fn submit(&self, conn: &mut Option<Conn>, node: &mut usize, tx: &PreSigned) -> Outcome {
        let nodes = self.nodes.len().max(1);
        for _ in 0..ATTEMPTS_MAX {
            if self.shared.stop.load(Ordering::Relaxed) {
                return Outcome::GaveUp;
            }
            if conn.is_none() {
                match connect(&self.nodes[*node]).await {
                    Ok(c) => *conn = Some(c),
                    Err(_) => {
                        self.shared.with_recorder(|r| r.error());
                        *node = (*node + 1) % nodes;
                        tokio::time::sleep(Duration::from_millis(FAILOVER_BACKOFF_MS)).await;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            match c.post(&self.path, tx.body.clone()).await {
                Ok((StatusCode::OK | StatusCode::ACCEPTED, _)) => return Outcome::Acked,
                Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                    self.shared.with_recorder(|r| r.busy());
                    tokio::time::sleep(Duration::from_millis(BUSY_BACKOFF_MS)).await;
                }
                Ok((status, _)) if status.is_client_error() => return Outcome::Rejected,
                Ok(_) | Err(_) => {
                    // A failed node (5xx) or a broken connection: next node.
                    self.shared.with_recorder(|r| r.error());
                    *conn = None;
                    *node = (*node + 1) % nodes;
                    tokio::time::sleep(Duration::from_millis(FAILOVER_BACKOFF_MS)).await;
                }
            }
        }
        Outcome::GaveUp
    }
}
