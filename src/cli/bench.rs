//! `productivist bench validate`: a quick, one-run comparison of
//! validation, raw signature verification and sequential execution.

use super::CliError;
use productivist::embedded::DynStore;
use productivist::workload;
use productivist_engine::store::RedbStore;
use std::sync::Arc;
use std::time::Instant;

fn tps(txs: usize, secs: f64) -> f64 {
    txs as f64 / secs.max(1e-9)
}

pub fn validate(txs: usize, threads: usize, rounds: usize) -> Result<(), CliError> {
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
    let pool = workload::pool(threads).map_err(|e| CliError(e.to_string()))?;
    // Warm-up: fills the certificate cache, as on a running node.
    w.ledger.set_threads(threads);
    w.ledger
        .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
    let best = |f: &mut dyn FnMut() -> Result<(), CliError>| -> Result<f64, CliError> {
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let raw = best(&mut || {
        let ok = workload::verify_all(&sigs, &pool);
        if ok != txs {
            return Err(CliError(format!("{} signatures failed", txs - ok)));
        }
        Ok(())
    })?;
    w.ledger.set_threads(threads);
    let parallel = best(&mut || {
        w.ledger
            .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
        Ok(())
    })?;
    w.ledger.set_threads(1);
    let sequential = best(&mut || {
        w.ledger
            .propose(w.txs.clone(), w.timestamp_ms, w.proposer)?;
        Ok(())
    })?;
    println!("{txs} transfers, {threads} threads, best of {rounds} runs:");
    println!(
        "  raw signature verification ({threads} threads): {:>9.0} tx/s",
        tps(txs, raw)
    );
    println!(
        "  validate + execute ({threads} threads):         {:>9.0} tx/s",
        tps(txs, parallel)
    );
    println!(
        "  validate + execute (sequential):          {:>9.0} tx/s",
        tps(txs, sequential)
    );
    println!(
        "  validate / raw signatures:                {:>9.2}",
        raw / parallel
    );
    println!(
        "  parallel / sequential:                    {:>9.2}x",
        sequential / parallel
    );
    Ok(())
}
