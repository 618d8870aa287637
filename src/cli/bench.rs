//! `productivist bench validate`: a quick, one-run comparison of
//! validation, raw signature verification and sequential execution.

use super::CliError;
use productivist::embedded::DynStore;
use productivist::workload;
use productivist_engine::store::RedbStore;
use std::sync::Arc;
use std::time::Instant;

/// Transactions per second; NaN for a phase that was not run (`--only`).
fn tps(txs: usize, secs: f64) -> f64 {
    if secs.is_nan() {
        return f64::NAN;
    }
    txs as f64 / secs.max(1e-9)
}

/// CPU time used so far by each thread of this process, in nanoseconds,
/// by thread id (Linux `schedstat`; `None` elsewhere). On a shared machine,
/// CPU time per transaction is steadier than wall time.
fn thread_cpu_ns() -> Option<std::collections::HashMap<String, u64>> {
    let mut out = std::collections::HashMap::new();
    // Bounded by the number of threads of this process.
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?;
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let ns = text.split_whitespace().next()?.parse::<u64>().ok()?;
        out.insert(task.file_name().to_string_lossy().into_owned(), ns);
    }
    Some(out)
}

/// CPU time spent between two [`thread_cpu_ns`] readings by the threads
/// alive at the second (threads that ended in between are not counted).
fn cpu_between_s(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> f64 {
    let ns: u64 = after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    ns as f64 / 1e9
}

/// One phase of `bench validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Raw signature verification.
    Raw,
    /// Validation and execution on `--threads` threads.
    Parallel,
    /// Validation and execution on one thread.
    Sequential,
}

/// Best wall time and least CPU time over the rounds, in seconds.
struct Timing {
    wall_s: f64,
    cpu_s: Option<f64>,
}

pub fn validate(
    txs: usize,
    threads: usize,
    rounds: usize,
    only: Option<Phase>,
) -> Result<(), CliError> {
    if !(1..=10_000).contains(&txs) {
        return Err(CliError(format!(
            "--txs must be 1 to 10000 (one block), not {txs}"
        )));
    }
    let threads = threads.clamp(1, 64);
    let rounds = rounds.clamp(1, 100);
    println!("building a funded ledger and {txs} signed transfers ...");
    let store: DynStore = Arc::new(RedbStore::in_memory()?);
    let mut w = workload::transfers(store, txs, false).map_err(|e| CliError(e.to_string()))?;
    let sigs = workload::signatures(&w.txs);
    let prepared = workload::prepared_signatures(&sigs);
    let pool = workload::pool(threads).map_err(|e| CliError(e.to_string()))?;
    // Warm-up: fills the certificate cache, as on a running node.
    w.ledger.set_threads(threads);
    w.ledger
        .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
    let runs = |phase: Phase| {
        if only.is_none_or(|o| o == phase) {
            rounds
        } else {
            0
        }
    };
    let best =
        |rounds: usize, f: &mut dyn FnMut() -> Result<(), CliError>| -> Result<Timing, CliError> {
            let mut wall_s = f64::NAN;
            let mut cpu_s: Option<f64> = None;
            for _ in 0..rounds {
                let cpu0 = thread_cpu_ns();
                let t = Instant::now();
                f()?;
                wall_s = t.elapsed().as_secs_f64().min(wall_s);
                if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
                    let s = cpu_between_s(&a, &b);
                    cpu_s = Some(cpu_s.map_or(s, |c| c.min(s)));
                }
            }
            Ok(Timing { wall_s, cpu_s })
        };
    let raw = best(runs(Phase::Raw), &mut || {
        let ok = workload::verify_all(&sigs, &pool);
        if ok != txs {
            return Err(CliError(format!("{} signatures failed", txs - ok)));
        }
        Ok(())
    })?;
    let raw_prepared = best(runs(Phase::Raw), &mut || {
        let ok = workload::verify_all_prepared(&prepared, &pool);
        if ok != txs {
            return Err(CliError(format!("{} signatures failed", txs - ok)));
        }
        Ok(())
    })?;
    w.ledger.set_threads(threads);
    let parallel = best(runs(Phase::Parallel), &mut || {
        w.ledger
            .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
        Ok(())
    })?;
    w.ledger.set_threads(1);
    let sequential = best(runs(Phase::Sequential), &mut || {
        w.ledger
            .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
        Ok(())
    })?;
    println!("{txs} transfers, {threads} threads, best of {rounds} runs:");
    let cpu_us = |t: &Timing| {
        t.cpu_s
            .map(|c| format!("{:>7.1} CPU us/tx", c * 1e6 / txs as f64))
            .unwrap_or_default()
    };
    println!(
        "  raw signature verification ({threads} threads): {:>9.0} tx/s {}",
        tps(txs, raw.wall_s),
        cpu_us(&raw)
    );
    println!(
        "  the same, keys decompressed beforehand:   {:>9.0} tx/s {}",
        tps(txs, raw_prepared.wall_s),
        cpu_us(&raw_prepared)
    );
    println!(
        "  validate + execute ({threads} threads):         {:>9.0} tx/s {}",
        tps(txs, parallel.wall_s),
        cpu_us(&parallel)
    );
    println!(
        "  validate + execute (sequential):          {:>9.0} tx/s {}",
        tps(txs, sequential.wall_s),
        cpu_us(&sequential)
    );
    println!(
        "  validate / raw signatures:                {:>9.2}",
        raw.wall_s / parallel.wall_s
    );
    println!(
        "  validate / raw, keys decompressed:        {:>9.2}",
        raw_prepared.wall_s / parallel.wall_s
    );
    println!(
        "  parallel / sequential:                    {:>9.2}x",
        sequential.wall_s / parallel.wall_s
    );
    if let (Some(r), Some(p)) = (raw.cpu_s, parallel.cpu_s) {
        // What the ratio would be with both threads fully busy on this work.
        println!("  raw / validate CPU time:                  {:>9.2}", r / p);
    }
    if let (Some(r), Some(p)) = (raw_prepared.cpu_s, parallel.cpu_s) {
        println!("  raw (keys decompressed) / validate CPU:   {:>9.2}", r / p);
    }
    Ok(())
}
