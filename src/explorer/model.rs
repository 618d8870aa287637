//! Model authentication: drop a model file on the page and see whether it
//! is registered, by whom, and under what license.
//!
//! The browser sends the file to the node, which hashes it as it streams in
//! (never storing it) with the same blake3 as `productivist model register`
//! and answers with the hash; the page then shows `/models?hash=...`. The
//! hash can also be typed in (for example from `b3sum`), which works
//! without JavaScript. Why upload rather than hash in the browser:
//! docs/DECISIONS.md.

use super::layout::{self, page, participant_link, short};
use super::{ExplorerState, PageError, PageResult, html_response, public, read};
use crate::apps;
use crate::embedded::PUBLIC_CHANNEL;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::StreamExt;
use maud::{Markup, PreEscaped, html};
use productivist_contracts::api::*;
use productivist_engine::crypto::Hash;
use std::collections::HashMap;

/// Largest model file the node hashes for a browser (streamed, never held
/// in memory whole).
pub const MODEL_BYTES_MAX: u64 = 512 << 20;

/// Uploads hashed at once. Each may stream up to [`MODEL_BYTES_MAX`]; more
/// at a time are answered `503 busy` rather than queued, so that anonymous
/// uploads cannot hold the node's runtime and bandwidth.
pub const MODEL_UPLOADS_MAX: usize = 4;

static UPLOADS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MODEL_UPLOADS_MAX);

/// Posts the dropped file to `/models/hash` and shows the answer's page.
const DROP_JS: &str = r#"
(function(){
  var zone=document.getElementById('drop');var input=document.getElementById('file');
  var note=document.getElementById('drop-note');
  if(!zone||!window.fetch){return;}
  zone.hidden=false;
  function send(file){
    if(!file){return;}
    note.textContent='Hashing '+file.name+' ('+file.size+' bytes) on the node…';
    fetch('/models/hash',{method:'POST',body:file,headers:{'content-type':'application/octet-stream'}})
      .then(function(r){return r.json().then(function(j){return [r.ok,j];});})
      .then(function(a){
        if(!a[0]){note.textContent='Refused: '+String(a[1].message||'error');return;}
        window.location='/models?hash='+encodeURIComponent(a[1].file_hash);
      })
      .catch(function(e){note.textContent='Failed: '+String(e);});
  }
  zone.addEventListener('dragover',function(e){e.preventDefault();zone.classList.add('over');});
  zone.addEventListener('dragleave',function(){zone.classList.remove('over');});
  zone.addEventListener('drop',function(e){e.preventDefault();zone.classList.remove('over');send(e.dataTransfer.files[0]);});
  input.addEventListener('change',function(){send(input.files[0]);});
})();
"#;

fn allow(a: &AllowList) -> String {
    match a {
        AllowList::Any => "any".into(),
        AllowList::Only(v) => v.join(", "),
    }
}

fn result(hash: &Hash, auth: &Authenticity) -> Markup {
    match auth {
        Authenticity::Unknown => html! {
            p.banner.bad { "NOT REGISTERED: no model with blake3 " span.mono { (hash.to_hex()) } " is registered on this ledger." }
        },
        Authenticity::Authentic { model, fitness } => {
            let m = model;
            let l = &m.license;
            html! {
                @match &m.superseded_by {
                    None => { p.banner.ok { "AUTHENTIC: registered model \"" (m.name) "\" version " (m.version) "." } }
                    Some(s) => {
                        p.banner.warn {
                            "AUTHENTIC but SUPERSEDED: \"" (m.name) "\" version " (m.version)
                            " has been replaced by version " (s.version) " ("
                            a href={"/models?hash=" (s.file_hash.to_hex())} { "blake3 " (short(&s.file_hash)) }
                            ")."
                        }
                    }
                }
                dl {
                    dt { "Name" } dd { (m.name) }
                    dt { "Version" } dd { (m.version) }
                    dt { "Designer" } dd { (participant_link(&m.designer)) }
                    dt { "Registered" } dd {
                        (layout::time(m.registered.time_ms)) ", "
                        (layout::block_link(PUBLIC_CHANNEL, m.registered.height)) ", "
                        (layout::tx_link(PUBLIC_CHANNEL, &m.registered.tx_id))
                    }
                    dt { "blake3" } dd.mono { (m.file_hash.to_hex()) }
                    dt { "Royalty" } dd { (l.royalty_per_unit) " per unit" }
                    dt { "Units" } dd { "up to " (l.max_units) " (" (m.units_licensed) " licensed so far)" }
                    dt { "Producers" } dd { (allow(&l.producers)) }
                    dt { "Materials" } dd { (allow(&l.materials)) }
                    dt { "Processes" } dd { (allow(&l.processes)) }
                    @if let Some(prev) = &m.previous {
                        dt { "Previous version" } dd { a.mono href={"/models?hash=" (prev.to_hex())} { (short(prev)) } }
                    }
                }
                @if !fitness.is_empty() {
                    h2 { "Fitness certificates" }
                    ul {
                        @for f in fitness {
                            li { (format!("{:?}", f.aspect)) ": " (f.value) " — by " (participant_link(&f.expert))
                                 " (" (layout::block_link(PUBLIC_CHANNEL, f.stamp.height)) ")" }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /models[?hash=HEX]`: the drop zone and hash form, and the answer
/// for a hash.
pub async fn models(
    State(state): State<ExplorerState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> PageResult {
    let answer = match q.get("hash").map(|h| h.trim()).filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => {
            let hash = Hash::from_hex(h).ok_or_else(|| {
                PageError::bad_request("A model hash is 64 hex digits (blake3, as b3sum prints).")
            })?;
            let ch = public(&state, &headers)?;
            let auth = {
                let ledger = read(&ch)?;
                apps::authenticate(&ledger, &apps::anonymous(), hash)?
            };
            Some(result(&hash, &auth))
        }
    };
    let body = html! {
        h1 { "Authenticate a model" }
        div #drop .drop hidden {
            p { "Drop a model file here, or " label { "choose one " input #file type="file"; } }
            p #drop-note .muted { "The file is sent to this node, hashed as it arrives (blake3) and not kept." }
        }
        form.inline method="get" action="/models" {
            input type="text" name="hash" placeholder="blake3 hash of the file (64 hex digits)" aria-label="blake3 hash";
            button type="submit" { "Look up" }
        }
        @if let Some(a) = answer { (a) }
        script { (PreEscaped(DROP_JS)) }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Authenticate a model", body),
    ))
}

/// `POST /models/hash`: the blake3 hash of the request body, streamed and
/// bounded by [`MODEL_BYTES_MAX`]. Answers `{"file_hash", "bytes"}`.
pub async fn hash_upload(body: Body) -> impl IntoResponse {
    let Ok(_permit) = UPLOADS.try_acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "code": "busy",
                "message": format!("{MODEL_UPLOADS_MAX} model files are being hashed; retry in a moment"),
            })),
        );
    };
    let mut hasher = blake3::Hasher::new();
    let mut total: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"code": "bad_body", "message": e.to_string()})),
                );
            }
        };
        total += chunk.len() as u64;
        if total > MODEL_BYTES_MAX {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({
                    "code": "too_large",
                    "message": format!("model files up to {} MiB; hash larger ones with `productivist model verify`", MODEL_BYTES_MAX >> 20),
                })),
            );
        }
        hasher.update(&chunk);
    }
    let hash = Hash(*hasher.finalize().as_bytes());
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"file_hash": hash.to_hex(), "bytes": total})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn status_of(body: &'static [u8]) -> (StatusCode, serde_json::Value) {
        let r = hash_upload(Body::from(body)).await.into_response();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn uploads_beyond_the_limit_are_answered_busy_and_served_again_after() {
        let (status, v) = status_of(b"model").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["file_hash"], Hash::of(b"model").to_hex());
        // Every slot held by uploads in progress.
        let held = UPLOADS.try_acquire_many(MODEL_UPLOADS_MAX as u32).unwrap();
        let (status, v) = status_of(b"model").await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("busy"))
        );
        drop(held);
        assert_eq!(status_of(b"model").await.0, StatusCode::OK);
    }
}
