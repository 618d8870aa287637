//! `productivist blocks`, `tx` and `state`: read a data directory.

use super::CliError;
use super::render;
use productivist::embedded::open_ledger;
use productivist_engine::block::TxStatus;
use productivist_engine::crypto::{Hash, unhex};
use productivist_engine::tx::SignerRef;
use std::path::Path;

pub fn blocks(
    data: &Path,
    channel: &str,
    from: Option<u64>,
    limit: u64,
    txs: bool,
) -> Result<(), CliError> {
    let ledger = open_ledger(data, channel)?;
    let head = ledger
        .head()
        .ok_or_else(|| CliError(format!("channel {channel:?} has no blocks yet")))?;
    let limit = limit.clamp(1, 10_000);
    let first = from.unwrap_or_else(|| (head.height + 1).saturating_sub(limit));
    let last = first.saturating_add(limit - 1).min(head.height);
    println!(
        "channel {channel}: height {}, state root {}",
        head.height,
        ledger.state_root()
    );
    for h in first..=last {
        let Some(block) = ledger.block(h)? else { break };
        println!("{}", render::block_line(&block));
        if txs {
            for (bytes, result) in block.txs.iter().zip(&block.results) {
                println!("         {}", render::tx_line(bytes, result));
            }
        }
    }
    Ok(())
}

pub fn tx(data: &Path, channel: &str, id: &str) -> Result<(), CliError> {
    let id = Hash::from_hex(id)
        .ok_or_else(|| CliError(format!("{id:?} is not a transaction id (64 hex digits)")))?;
    let ledger = open_ledger(data, channel)?;
    let rec = ledger
        .tx(&id)?
        .ok_or_else(|| CliError(format!("no transaction {id} on channel {channel:?}")))?;
    let body = rec.tx.value();
    let signer = match &body.signer {
        SignerRef::Certificate(c) => format!("{}@{}", c.value().subject, c.value().org),
        SignerRef::CertId(cid) => match ledger.certificate(cid)? {
            Some(c) => format!("{}@{}", c.value().subject, c.value().org),
            None => format!("certificate {cid}"),
        },
    };
    println!("transaction {id}");
    println!(
        "  block     #{} (position {}) at {}",
        rec.location.height,
        rec.location.index,
        render::time(rec.timestamp_ms)
    );
    println!("  signer    {signer}");
    println!(
        "  call      {}.{} ({} bytes of arguments)",
        body.contract,
        body.method,
        body.args.len()
    );
    match &rec.result.status {
        TxStatus::Valid => println!("  result    valid"),
        TxStatus::Invalid { code, reason } => println!("  result    INVALID ({code}): {reason}"),
    }
    for e in &rec.result.events {
        println!(
            "  event     {}.{} {}",
            e.contract,
            e.name,
            render::bytes(&e.data)
        );
    }
    Ok(())
}

pub fn state(data: &Path, channel: &str, key: &str, history: bool) -> Result<(), CliError> {
    let (contract, raw) = key.split_once('/').ok_or_else(|| {
        CliError(format!(
            "{key:?}: expected CONTRACT/KEY, for example token/balance/carla@customers"
        ))
    })?;
    let raw = match raw.strip_prefix("0x") {
        Some(h) => unhex(h).ok_or_else(|| CliError(format!("{raw:?} is not hex")))?,
        None => raw.as_bytes().to_vec(),
    };
    let ledger = open_ledger(data, channel)?;
    match ledger.state(contract, &raw)? {
        Some(v) => println!(
            "{contract}/{}: {}",
            render::bytes(&raw).trim_matches('"'),
            render::bytes(&v)
        ),
        None => println!(
            "{contract}/{}: (not set)",
            render::bytes(&raw).trim_matches('"')
        ),
    }
    if history {
        for h in ledger.history(contract, &raw, 100)? {
            let v = h
                .value
                .as_deref()
                .map_or("(deleted)".to_string(), render::bytes);
            println!("  block #{} tx {}: {v}", h.height, h.tx_index);
        }
    }
    Ok(())
}
