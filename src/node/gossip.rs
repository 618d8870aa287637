//! Gossip of pending transactions between a channel's consenters: frames
//! out ([`gossip_loop`]), and the admission of frames in ([`Admission`]),
//! on a fixed number of threads behind a bounded queue.
//!
//! Why not the tokio blocking pool for the frames in: it grows to 512
//! threads, and nothing bounds the frames waiting for it. A node restarted
//! under load receives a burst of frames, each of hundreds of signatures to
//! verify. Here verification takes at most `ADMIT_THREADS_MAX` threads, at
//! a lower priority than consensus, behind a queue bounded in frames and
//! transactions; a frame that finds it full is dropped (and counted in
//! `gossip_dropped_total`): its transactions stay in their first node's
//! mempool, which gossips them again after `REGOSSIP_AFTER_MS`. (The bound
//! alone did not end the seconds without a commit measured after a restart;
//! their cause was in Raft, see `consensus/src/raft/progress.rs` and
//! docs/BENCHMARKS.md.)

use super::channel::ChannelShared;
use super::wire::{GOSSIP_TXS_PER_FRAME_MAX, Wire};
use productivist_engine::crypto::PublicKey;
use productivist_net::Network;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Transaction bytes batched into one gossip frame (below the transport's
/// 16 MiB frame limit, with room for one more maximal transaction).
pub const GOSSIP_FRAME_BYTES_MAX: usize = 8 << 20;
/// How long the gossip loop holds a frame open for more transactions
/// after the first. Each frame costs a QUIC send per peer and, on the
/// receiving side, a hand-off to an admission thread: frames of one or two
/// transactions made that per-transaction. A millisecond is small beside
/// a block's batch timeout (200 ms by default).
pub const GOSSIP_LINGER_MS: u64 = 1;
/// A frame with this many transactions goes at once, without lingering.
pub const GOSSIP_LINGER_TXS: usize = 128;
/// Received transactions waiting for admission (queued or being admitted),
/// per channel: a few blocks' worth. Beyond it frames are dropped.
pub const ADMIT_QUEUE_TXS_MAX: usize = 16_384;
/// Received frames waiting for admission, per channel (a second bound, for
/// floods of small frames).
pub const ADMIT_QUEUE_FRAMES_MAX: usize = 1_024;
/// Admission threads per channel, at most (fewer on fewer cores).
pub const ADMIT_THREADS_MAX: usize = 2;
/// The admission threads' nice value, above the default 0 of the consensus
/// driver and the network: under a burst, consensus goes first.
pub const ADMIT_NICE: i32 = 5;

/// Sends the channel's queued transactions to its peers, a frame at a time.
pub async fn gossip_loop(
    shared: Arc<ChannelShared>,
    net: Arc<Network>,
    peers: Vec<PublicKey>,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    while let Some(first) = rx.recv().await {
        let txs = gather_frame(first, &mut rx).await;
        let frame = Wire::Txs {
            channel: shared.id.clone(),
            txs,
        }
        .encode();
        for p in &peers {
            if let Err(e) = net.send(p, frame.clone()) {
                // Re-gossip after REGOSSIP_AFTER_MS covers the loss.
                tracing::debug!(channel = %shared.id, "gossip to {} dropped: {e}", p.to_hex());
            }
        }
    }
}

/// The transactions of one gossip frame: `first`, then whatever arrives
/// until the frame is full (count or bytes), or holds `GOSSIP_LINGER_TXS`
/// and nothing more is queued, or `GOSSIP_LINGER_MS` have passed.
pub async fn gather_frame(
    first: Vec<u8>,
    rx: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> Vec<Vec<u8>> {
    use tokio::sync::mpsc::error::TryRecvError;
    let mut frame_bytes = first.len();
    let mut txs = vec![first];
    let linger_until = tokio::time::Instant::now() + Duration::from_millis(GOSSIP_LINGER_MS);
    while txs.len() < GOSSIP_TXS_PER_FRAME_MAX && frame_bytes < GOSSIP_FRAME_BYTES_MAX {
        let tx = match rx.try_recv() {
            Ok(tx) => tx,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if txs.len() >= GOSSIP_LINGER_TXS {
                    break;
                }
                match tokio::time::timeout_at(linger_until, rx.recv()).await {
                    Ok(Some(tx)) => tx,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        frame_bytes += tx.len();
        txs.push(tx);
    }
    txs
}

/// What an admission thread does with a frame.
pub type AdmitFn = dyn Fn(Vec<Vec<u8>>) + Send + Sync;

/// Received gossip frames on their way to admission: a bounded queue and a
/// fixed set of threads. The threads end when the `Admission` is dropped
/// and the frames queued before are admitted.
pub struct Admission {
    frames: crossbeam_channel::Sender<Vec<Vec<u8>>>,
    /// Transactions queued or being admitted: a frame counts until its
    /// admission ends, so the bound covers the work in hand too.
    queued_txs: Arc<AtomicUsize>,
    queue_txs_max: usize,
}

impl Admission {
    /// Admission of `shared`'s gossiped frames, on `threads` threads (at
    /// least one) named after the channel.
    pub fn for_channel(shared: Arc<ChannelShared>, threads: usize) -> std::io::Result<Self> {
        let name = format!("admit-{}", shared.id);
        let admit = move |txs: Vec<Vec<u8>>| {
            for r in shared.submit_batch(txs, false) {
                if let Err(e) = r {
                    tracing::debug!(channel = %shared.id, "gossiped transaction refused: {e}");
                }
            }
        };
        Self::start(
            &name,
            threads,
            ADMIT_QUEUE_FRAMES_MAX,
            ADMIT_QUEUE_TXS_MAX,
            Arc::new(admit),
        )
    }

    /// `threads` threads (at least one) running `admit` on each frame
    /// offered, with at most `queue_frames_max` frames and
    /// `queue_txs_max` transactions waiting or in hand.
    pub fn start(
        name: &str,
        threads: usize,
        queue_frames_max: usize,
        queue_txs_max: usize,
        admit: Arc<AdmitFn>,
    ) -> std::io::Result<Self> {
        assert!(queue_frames_max > 0 && queue_txs_max > 0);
        let (frames, rx) = crossbeam_channel::bounded::<Vec<Vec<u8>>>(queue_frames_max);
        let queued_txs = Arc::new(AtomicUsize::new(0));
        for n in 0..threads.max(1) {
            let (rx, queued, admit) = (rx.clone(), queued_txs.clone(), admit.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    lower_priority();
                    // Ends when the sender is dropped and the queue is empty.
                    for txs in rx.iter() {
                        let count = txs.len();
                        admit(txs);
                        let before = queued.fetch_sub(count, Ordering::AcqRel);
                        debug_assert!(before >= count);
                    }
                })?;
        }
        Ok(Self {
            frames,
            queued_txs,
            queue_txs_max,
        })
    }

    /// Queues a frame for admission. False when it was dropped: the queue
    /// is full, or the frame alone is over the bound.
    pub fn offer(&self, txs: Vec<Vec<u8>>) -> bool {
        let count = txs.len();
        // Reserve room for the frame's transactions first, so concurrent
        // offers never overshoot the bound together.
        let reserved =
            self.queued_txs
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                    (queued + count <= self.queue_txs_max).then_some(queued + count)
                });
        if reserved.is_err() {
            return false;
        }
        match self.frames.try_send(txs) {
            Ok(()) => true,
            Err(_) => {
                self.queued_txs.fetch_sub(count, Ordering::AcqRel);
                false
            }
        }
    }

    /// Transactions queued or being admitted now.
    pub fn queued_txs(&self) -> usize {
        self.queued_txs.load(Ordering::Acquire)
    }
}

/// Admission threads per channel on this machine.
pub fn admit_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ADMIT_THREADS_MAX)
}

/// Lowers the calling thread's scheduling priority to `ADMIT_NICE`. On
/// Linux, nice applies per thread. Best effort: without it admission runs
/// at the default priority, as before.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own
        // thread id only changes this thread's nice value.
        let done = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, ADMIT_NICE)
        };
        if done != 0 {
            tracing::debug!("admission thread keeps the default priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn tx(n: u8) -> Vec<u8> {
        vec![n; 100]
    }

    // Paused time: the runtime advances the clock only when every task
    // waits, so the linger deadline is exact and the test does not sleep.
    #[tokio::test(start_paused = true)]
    async fn a_frame_gathers_what_arrives_within_the_linger_and_no_more() {
        let (send, mut rx) = mpsc::channel(1024);
        let sender = tokio::spawn(async move {
            // The gatherer waits between these (the timer's resolution
            // is a millisecond, the linger's length).
            for n in 1..=3u8 {
                tokio::task::yield_now().await;
                send.send(tx(n)).await.unwrap();
            }
            // After the linger: the next frame's.
            tokio::time::sleep(Duration::from_millis(GOSSIP_LINGER_MS * 5)).await;
            send.send(tx(4)).await.unwrap();
        });
        let first = rx.recv().await.unwrap();
        let start = tokio::time::Instant::now();
        let frame = gather_frame(first, &mut rx).await;
        assert_eq!(frame, vec![tx(1), tx(2), tx(3)]);
        assert!(start.elapsed() <= Duration::from_millis(GOSSIP_LINGER_MS));
        let next = rx.recv().await.unwrap();
        assert_eq!(gather_frame(next, &mut rx).await, vec![tx(4)]);
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_enough_frame_goes_without_waiting() {
        let (send, mut rx) = mpsc::channel(4 * GOSSIP_TXS_PER_FRAME_MAX);
        for n in 0..GOSSIP_LINGER_TXS {
            send.send(tx(n as u8)).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        let start = tokio::time::Instant::now();
        let frame = gather_frame(first, &mut rx).await;
        assert_eq!(frame.len(), GOSSIP_LINGER_TXS);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // A queue longer than a frame is cut at the frame's limit.
        for n in 0..(2 * GOSSIP_TXS_PER_FRAME_MAX) {
            send.send(tx(n as u8)).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        assert_eq!(
            gather_frame(first, &mut rx).await.len(),
            GOSSIP_TXS_PER_FRAME_MAX
        );
    }

    /// An admission whose threads wait for the test's word before each
    /// frame, and record what they admitted.
    struct Held {
        admission: Admission,
        go: crossbeam_channel::Sender<()>,
        admitted: crossbeam_channel::Receiver<Vec<Vec<u8>>>,
    }

    fn held(threads: usize, frames_max: usize, txs_max: usize) -> Held {
        let (go, wait) = crossbeam_channel::unbounded::<()>();
        let (done, admitted) = crossbeam_channel::unbounded();
        let admit = move |txs: Vec<Vec<u8>>| {
            wait.recv().unwrap();
            done.send(txs).unwrap();
        };
        let admission =
            Admission::start("test", threads, frames_max, txs_max, Arc::new(admit)).unwrap();
        Held {
            admission,
            go,
            admitted,
        }
    }

    /// Waits for the admission threads to reach `done`, for 10 s at most:
    /// a bound, so a regression fails the test instead of hanging it.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::yield_now();
        }
    }

    fn frame(first: u8, len: usize) -> Vec<Vec<u8>> {
        (0..len).map(|n| tx(first.wrapping_add(n as u8))).collect()
    }

    #[test]
    fn admission_drops_what_is_over_the_transaction_bound_and_admits_the_rest() {
        let h = held(2, 64, 300);
        assert!(h.admission.offer(frame(0, 128)));
        assert!(h.admission.offer(frame(1, 128)));
        // 256 in hand: one more frame of 128 would be 384.
        assert!(!h.admission.offer(frame(2, 128)));
        assert!(h.admission.offer(frame(3, 44)));
        assert!(!h.admission.offer(frame(4, 1)));
        assert_eq!(h.admission.queued_txs(), 300);
        // Admitting frees room, which a later frame can take. The queue is
        // first in, first out, and two threads hold at most frames 0 and
        // 1: the first admitted is one of those.
        h.go.send(()).unwrap();
        let first = h.admitted.recv().unwrap();
        assert!(first == frame(0, 128) || first == frame(1, 128));
        wait_for("a frame's room freed", || {
            h.admission.queued_txs() <= 300 - 128
        });
        assert!(h.admission.offer(frame(5, 128)));
        assert!(!h.admission.offer(frame(6, 1)));
        for _ in 0..3 {
            h.go.send(()).unwrap();
        }
        let mut got: Vec<Vec<Vec<u8>>> = (0..3).map(|_| h.admitted.recv().unwrap()).collect();
        got.push(first);
        got.sort();
        // Every accepted frame was admitted once, the dropped ones never.
        let mut accepted = vec![frame(0, 128), frame(1, 128), frame(3, 44), frame(5, 128)];
        accepted.sort();
        assert_eq!(got, accepted);
        wait_for("every frame admitted", || h.admission.queued_txs() == 0);
        assert!(h.admitted.try_recv().is_err());
    }

    #[test]
    fn admission_drops_what_is_over_the_frame_bound() {
        // One thread holds the first frame, two wait in the queue.
        let h = held(1, 2, 10_000);
        assert!(h.admission.offer(frame(0, 1)));
        wait_for("the first frame taken", || h.admission.frames.is_empty());
        assert!(h.admission.offer(frame(1, 1)));
        assert!(h.admission.offer(frame(2, 1)));
        assert!(!h.admission.offer(frame(3, 1)));
        // A dropped frame gives its reservation back.
        assert_eq!(h.admission.queued_txs(), 3);
        for _ in 0..3 {
            h.go.send(()).unwrap();
        }
        // One thread: in the order offered.
        let got: Vec<_> = (0..3).map(|_| h.admitted.recv().unwrap()).collect();
        assert_eq!(got, vec![frame(0, 1), frame(1, 1), frame(2, 1)]);
    }

    #[test]
    fn admission_threads_end_once_the_queue_is_drained() {
        let (done, admitted) = crossbeam_channel::unbounded();
        let admit = move |txs: Vec<Vec<u8>>| done.send(txs.len()).unwrap();
        let admission = Admission::start("test", 2, 8, 100, Arc::new(admit)).unwrap();
        for n in 0..5 {
            assert!(admission.offer(frame(n, 3)));
        }
        drop(admission);
        // The sender inside `admit` is dropped with the last thread: the
        // iterator ends, after every frame queued before the drop.
        assert_eq!(admitted.iter().sum::<usize>(), 15);
    }
}
