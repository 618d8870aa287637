//! A transaction's page: where it was committed, who signed it, its
//! result and events.

use super::block::{signer, status};
use super::layout::{self, block_link, page};
use super::{ExplorerState, PageError, PageResult, html_response, read, readable};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use maud::html;
use productivist_engine::crypto::Hash;

/// `GET /tx/{ch}/{id}`.
pub async fn tx(
    State(state): State<ExplorerState>,
    Path((ch, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> PageResult {
    let (shared, _) = readable(&state, &ch, &headers)?;
    let id = Hash::from_hex(&id)
        .ok_or_else(|| PageError::bad_request("A transaction id is 64 hex digits."))?;
    let record = read(&shared)?
        .tx(&id)
        .map_err(|e| PageError::internal(e.to_string()))?;
    let Some(rec) = record else {
        let pending = shared
            .mempool
            .lock()
            .map(|p| p.contains(&id))
            .unwrap_or(false);
        return Err(if pending {
            PageError {
                status: StatusCode::NOT_FOUND,
                title: "Pending".into(),
                message: format!("Transaction {id} is waiting in this node's mempool."),
            }
        } else {
            PageError::not_found(format!("No transaction {id} on {ch}."))
        });
    };
    let body = rec.tx.value();
    let r = &rec.result;
    let page_body = html! {
        h1 { "Transaction" }
        p.mono { (id.to_hex()) }
        dl {
            dt { "Status" } dd { (status(&r.status)) }
            dt { "Block" } dd { (block_link(&ch, rec.location.height)) ", position " (rec.location.index) }
            dt { "Time" } dd { (layout::time(rec.timestamp_ms)) }
            dt { "Signer" } dd { (signer(&rec.tx)) }
            dt { "Call" } dd { code { (body.contract) "." (body.method) } }
            dt { "Arguments" } dd.mono { (layout::bytes(&body.args, 256)) }
            dt { "Output" } dd.mono { (layout::bytes(&r.output, 256)) }
        }
        h2 { "Events (" (r.events.len()) ")" }
        @if r.events.is_empty() { p.muted { "None." } }
        ul {
            @for e in &r.events {
                li { code { (e.contract) "." (e.name) } " " span.mono { (layout::bytes(&e.data, 256)) } }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Transaction", page_body),
    ))
}
