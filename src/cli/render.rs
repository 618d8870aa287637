//! Rendering ledger data for people.

use productivist_engine::block::{Block, TxResult, TxStatus};
use productivist_engine::tx::{decode_tx, tx_id};

/// A block time as RFC 3339.
pub fn time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Bytes as text when printable, else hex.
pub fn bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => format!("{s:?}"),
        _ => format!("0x{}", productivist_engine::crypto::hex(b)),
    }
}

/// One line per block.
pub fn block_line(b: &Block) -> String {
    let valid = b.results.iter().filter(|r| r.status.is_valid()).count();
    format!(
        "#{:<6} {}  {} tx ({} valid)  hash {}  state {}",
        b.header.height,
        time(b.header.timestamp_ms),
        b.txs.len(),
        valid,
        &b.header.hash().to_hex()[..16],
        &b.header.state_root.to_hex()[..16],
    )
}

/// One line per transaction of a block.
pub fn tx_line(bytes: &[u8], result: &TxResult) -> String {
    let status = match &result.status {
        TxStatus::Valid => "valid".to_string(),
        TxStatus::Invalid { code, .. } => format!("INVALID {code}"),
    };
    match decode_tx(bytes, usize::MAX) {
        Ok(tx) => {
            let b = tx.value();
            format!("{}  {}.{}  {}", tx_id(&tx), b.contract, b.method, status)
        }
        Err(_) => format!("(undecodable, {} bytes)  {status}", bytes.len()),
    }
}
