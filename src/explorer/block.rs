//! A channel's block list and a block's page: header fields and its
//! transactions with their results and events.

use super::layout::{self, block_link, page, participant_link, short, tx_link};
use super::{ExplorerState, PageError, PageResult, html_response, read, readable};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use productivist_engine::block::{Block, TxStatus};
use productivist_engine::tx::{SignerRef, Transaction, decode_tx, tx_id};
use std::collections::HashMap;

/// Blocks per page of a channel's list.
pub const BLOCKS_PER_PAGE: u64 = 25;

/// Who signed a transaction, as an account when the certificate is inline.
pub fn signer(tx: &Transaction) -> Markup {
    match &tx.value().signer {
        SignerRef::Certificate(c) => {
            participant_link(&format!("{}@{}", c.value().subject, c.value().org))
        }
        SignerRef::CertId(id) => html! { span.mono { "certificate " (short(id)) } },
    }
}

/// A transaction status in words and colour.
pub fn status(s: &TxStatus) -> Markup {
    match s {
        TxStatus::Valid => html! { span.badge.ok { "valid" } },
        TxStatus::Invalid { code, reason } => {
            html! { span.badge.bad { "INVALID " (code.name()) } " " span.bad { (reason) } }
        }
    }
}

/// `GET /channels/{ch}?before=H`: the channel's blocks, newest first.
pub async fn channel(
    State(state): State<ExplorerState>,
    Path(ch): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> PageResult {
    let (shared, _) = readable(&state, &ch, &headers)?;
    let ledger = read(&shared)?;
    let head = ledger.head().map_or(0, |h| h.height);
    let top = match q.get("before") {
        None => head,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| PageError::bad_request("before must be a block height"))?
            .saturating_sub(1)
            .min(head),
    };
    let mut blocks = Vec::new();
    let mut h = top;
    while (blocks.len() as u64) < BLOCKS_PER_PAGE {
        if let Some(b) = ledger
            .block(h)
            .map_err(|e| PageError::internal(e.to_string()))?
        {
            blocks.push(b);
        }
        if h == 0 {
            break;
        }
        h -= 1;
    }
    drop(ledger);
    let oldest = blocks.last().map_or(0, |b| b.header.height);
    let body = html! {
        h1 { "Channel " (ch) }
        p { "Height " (head) "." }
        div.scroll { table {
            thead { tr { th { "Block" } th { "Time (UTC)" } th { "Txs" } th.hide-narrow { "Hash" } } }
            tbody { (super::home::block_rows(&ch, &blocks)) }
        } }
        @if oldest > 0 {
            p { a href={"/channels/" (layout::seg(&ch)) "?before=" (oldest)} { "Older blocks" } }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(&format!("Channel {ch}"), body),
    ))
}

fn block_body(ch: &str, b: &Block, head: u64) -> Markup {
    let h = &b.header;
    html! {
        h1 { "Block " (h.height) " of " (ch) }
        p {
            @if h.height > 0 { (block_link(ch, h.height - 1)) " ← previous" }
            @if h.height < head { " · next → " (block_link(ch, h.height + 1)) }
        }
        dl {
            dt { "Time" } dd { (layout::time(h.timestamp_ms)) }
            dt { "Hash" } dd.mono { (h.hash().to_hex()) }
            dt { "Previous" } dd.mono { (h.prev_hash.to_hex()) }
            dt { "State root" } dd.mono { (h.state_root.to_hex()) }
            dt { "Transactions root" } dd.mono { (h.tx_root.to_hex()) }
            dt { "Results root" } dd.mono { (h.results_root.to_hex()) }
            dt { "Proposer" } dd.mono { (h.proposer.to_hex()) }
        }
        h2 { "Transactions (" (b.txs.len()) ")" }
        @for (i, (bytes, r)) in b.txs.iter().zip(&b.results).enumerate() {
            div.card {
                @match decode_tx(bytes, usize::MAX) {
                    Ok(tx) => {
                        p {
                            "#" (i) " " (tx_link(ch, &tx_id(&tx))) " "
                            code { (tx.value().contract) "." (tx.value().method) }
                            " by " (signer(&tx)) " "
                            (status(&r.status))
                        }
                    }
                    Err(_) => { p { "#" (i) " (undecodable, " (bytes.len()) " bytes) " (status(&r.status)) } }
                }
                @if !r.events.is_empty() {
                    ul {
                        @for e in &r.events {
                            li { code { (e.contract) "." (e.name) } " " span.mono { (layout::bytes(&e.data, 64)) } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /blocks/{ch}/{height}`.
pub async fn block(
    State(state): State<ExplorerState>,
    Path((ch, height)): Path<(String, String)>,
    headers: HeaderMap,
) -> PageResult {
    let (shared, _) = readable(&state, &ch, &headers)?;
    let height: u64 = height
        .parse()
        .map_err(|_| PageError::bad_request("A block height is a number."))?;
    let ledger = read(&shared)?;
    let head = ledger.head().map_or(0, |h| h.height);
    let block = ledger
        .block(height)
        .map_err(|e| PageError::internal(e.to_string()))?
        .ok_or_else(|| PageError::not_found(format!("No block {height} on {ch} yet.")))?;
    drop(ledger);
    Ok(html_response(
        StatusCode::OK,
        page(&format!("Block {height}"), block_body(&ch, &block, head)),
    ))
}
