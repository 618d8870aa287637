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

fn stamp(s: &productivist_contracts::api::Stamp) -> String {
    format!(
        "block {}, tx {}, {}",
        s.height,
        &s.tx_id.to_hex()[..16],
        time(s.time_ms)
    )
}

/// The provenance chain of an object, one step per line group.
pub fn provenance(p: &productivist_contracts::api::Provenance) -> Vec<String> {
    use productivist_contracts::api::{CertificateStatus, Outcome};
    let mut out = Vec::new();
    match &p.model {
        Some(m) => {
            out.push(format!(
                "1. Model    \"{}\" v{} by {} (blake3 {}) [{}]",
                m.name,
                m.version,
                m.designer,
                &m.file_hash.to_hex()[..16],
                stamp(&m.registered)
            ));
            if let Some(s) = &m.superseded_by {
                out.push(format!(
                    "             SUPERSEDED by version {} ({})",
                    s.version,
                    &s.file_hash.to_hex()[..16]
                ));
            }
        }
        None => out.push("1. Model    (not registered)".into()),
    }
    if let Some(o) = &p.order {
        out.push(format!(
            "2. Order    #{} by {}: {} x {} in {} [{}]",
            o.order_id,
            o.customer,
            o.quantity,
            &o.file_hash.to_hex()[..8],
            o.material,
            stamp(&o.posted)
        ));
        if let Some(a) = &o.acceptance {
            out.push(format!(
                "   License  {} units to {} at {} + royalty, escrow {} [{}]",
                o.quantity,
                a.offer.producer,
                a.offer.price,
                a.escrow_total,
                stamp(&a.stamp)
            ));
        }
    }
    let r = &p.production;
    out.push(format!(
        "3. Made     by {} on {}, material batch {}, batch {} [{}]",
        r.producer,
        r.machine,
        r.material_batch,
        r.batch,
        stamp(&r.stamp)
    ));
    if p.certificates.is_empty() {
        out.push("4. Certified: no certificate on this serial".into());
    }
    for c in &p.certificates {
        let oc = &c.certificate;
        let result = match oc.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
        };
        let status = match c.status {
            CertificateStatus::Valid => "valid".to_string(),
            CertificateStatus::NotYetValid => "NOT YET VALID".to_string(),
            CertificateStatus::Expired => format!("EXPIRED at {}", time(oc.valid_until_ms)),
            CertificateStatus::Revoked => "REVOKED".to_string(),
        };
        out.push(format!(
            "4. Certified #{} by {}: {} -> {result}, {status} until {} [{}]",
            oc.certificate_id,
            oc.issuer,
            oc.claim,
            time(oc.valid_until_ms),
            stamp(&oc.issued)
        ));
    }
    if let Some(o) = &p.order {
        if let Some(s) = &o.settlement {
            let payouts: Vec<String> = s
                .payouts
                .iter()
                .map(|p| format!("{} {}", p.to, p.amount))
                .collect();
            out.push(format!(
                "5. Settled  {:?}: {} [{}]",
                s.kind,
                payouts.join(", "),
                stamp(&s.stamp)
            ));
        } else if let Some(d) = &o.delivered {
            out.push(format!("5. Delivered [{}], not settled yet", stamp(d)));
        }
    }
    if let Some(r) = &p.rating {
        out.push(format!(
            "6. Rated    {}/5 by {}: \"{}\" [{}]",
            r.stars,
            r.customer,
            r.comment,
            stamp(&r.stamp)
        ));
    }
    out
}
