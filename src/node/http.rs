//! The HTTP/JSON API every node serves under `/v1` (see `docs/API.md`).
//! Errors are JSON `{code, message}`; a 5xx answer means the node failed,
//! never that the request was bad.

use super::auth::{self, AuthError};
use super::channel::{ChannelShared, SUBMIT_BATCH_TXS_MAX, SubmitError, Submitted};
use super::openapi;
use crate::embedded::now_ms;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use productivist_engine::block::{Block, TxResult, TxStatus};
use productivist_engine::crypto::{Hash, PublicKey, hex, unhex};
use productivist_engine::identity::Identity;
use productivist_engine::ledger::TxRecord;
use productivist_engine::tx::{SignerRef, Transaction, TxId, decode_tx, tx_id};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest `wait=true` on a submission.
pub const WAIT_MS_MAX: u64 = 60_000;
/// Default `wait=true` timeout.
pub const WAIT_MS_DEFAULT: u64 = 30_000;
/// Largest request body (a transaction in hex plus JSON).
pub const BODY_BYTES_MAX: usize = 4 << 20;

/// What the API serves.
pub struct NodeState {
    /// Node name.
    pub name: String,
    /// The node's key.
    pub node_key: PublicKey,
    /// Hosted channels.
    pub channels: BTreeMap<String, Arc<ChannelShared>>,
    /// Start time.
    pub started: Instant,
    /// The transport, for peer connectivity (`None` in tests without one).
    pub net: Option<Arc<productivist_net::Network>>,
}

impl NodeState {
    /// Peers with whether a connection to each is up now.
    pub fn peer_connections(&self) -> Vec<(PublicKey, bool)> {
        self.net
            .as_ref()
            .map(|n| n.peer_connections())
            .unwrap_or_default()
    }
}

type AppState = Arc<NodeState>;

/// An API error: status, stable code and message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, v: Value) -> ApiResult {
    Ok((status, axum::Json(v)).into_response())
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/channels/{ch}/transactions", post(submit_tx))
        .route("/v1/channels/{ch}/transactions/batch", post(submit_batch))
        .route("/v1/channels/{ch}/transactions/{id}", get(get_tx))
        .route("/v1/channels/{ch}/blocks/latest", get(latest_block))
        .route("/v1/channels/{ch}/blocks/{height}", get(get_block))
        .route("/v1/channels/{ch}/query", post(query))
        .route("/v1/channels/{ch}/events", get(events))
        .route("/v1/health", get(health))
        .route("/v1/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi_doc))
        // The web explorer's pages, outside /v1 (src/explorer).
        .merge(crate::explorer::routes())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route; see /v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route; see /v1/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

fn channel(state: &NodeState, ch: &str) -> Result<Arc<ChannelShared>, ApiError> {
    state.channels.get(ch).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_channel",
            format!("this node hosts no channel {ch:?}"),
        )
    })
}

fn params(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))
}

fn flag(p: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match p.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, not {v:?}"
        ))),
    }
}

fn number(p: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    p.get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be a number, not {v:?}")))
        })
        .transpose()
}

/// The reader's identity (signed request), required on private channels.
fn reader(
    ch: &ChannelShared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Identity>, ApiError> {
    let config = ch
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?
        .config()
        .cloned()
        .ok_or_else(|| ApiError::internal("the ledger has no genesis"))?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let who = auth::verify_request(&get, method.as_str(), path, &config, now_ms()).map_err(
        |e| match e {
            AuthError::Missing => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
            }
            AuthError::Invalid(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_request_signature",
                e.to_string(),
            ),
        },
    )?;
    if who.is_none() && auth::requires_auth(&config) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            AuthError::Missing.to_string(),
        ));
    }
    Ok(who)
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body is not JSON: {e}")))
}

fn tx_bytes_of(v: &Value) -> Result<Vec<u8>, ApiError> {
    if let Some(h) = v.get("tx").and_then(Value::as_str) {
        return unhex(h.trim()).ok_or_else(|| ApiError::bad_request("tx is not hex"));
    }
    if let Some(b) = v.get("tx_base64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| ApiError::bad_request(format!("tx_base64: {e}")));
    }
    Err(ApiError::bad_request(
        "expected {\"tx\": \"<hex>\"} or {\"tx_base64\": \"<base64>\"}",
    ))
}

fn signer_name(tx: &Transaction) -> String {
    match &tx.value().signer {
        SignerRef::Certificate(c) => format!("{}@{}", c.value().subject, c.value().org),
        SignerRef::CertId(id) => format!("cert:{}", id.to_hex()),
    }
}

fn result_json(r: &TxResult) -> Value {
    let (valid, code, reason) = match &r.status {
        TxStatus::Valid => (true, Value::Null, Value::Null),
        TxStatus::Invalid { code, reason } => (false, json!(code.name()), json!(reason)),
    };
    json!({
        "valid": valid,
        "code": code,
        "reason": reason,
        "output": hex(&r.output),
        "events": r.events.iter().map(|e| json!({
            "contract": e.contract, "name": e.name, "data": hex(&e.data),
        })).collect::<Vec<_>>(),
        "result": hex(&borsh::to_vec(r).unwrap_or_default()),
    })
}

fn record_json(ch: &str, rec: &TxRecord) -> Value {
    let body = rec.tx.value();
    json!({
        "id": tx_id(&rec.tx).to_hex(),
        "channel": ch,
        "status": "committed",
        "height": rec.location.height,
        "index": rec.location.index,
        "timestamp_ms": rec.timestamp_ms,
        "signer": signer_name(&rec.tx),
        "contract": body.contract,
        "method": body.method,
        "result": result_json(&rec.result),
    })
}

fn pending_json(ch: &str, id: &Hash) -> Value {
    json!({"id": id.to_hex(), "channel": ch, "status": "pending"})
}

fn block_json(b: &Block) -> Value {
    let h = &b.header;
    let txs: Vec<Value> = b
        .txs
        .iter()
        .zip(&b.results)
        .map(|(bytes, r)| match decode_tx(bytes, usize::MAX) {
            Ok(tx) => json!({
                "id": tx_id(&tx).to_hex(),
                "signer": signer_name(&tx),
                "contract": tx.value().contract,
                "method": tx.value().method,
                "result": result_json(r),
            }),
            Err(_) => json!({"id": Value::Null, "result": result_json(r)}),
        })
        .collect();
    json!({
        "channel": h.channel,
        "height": h.height,
        "hash": h.hash().to_hex(),
        "prev_hash": h.prev_hash.to_hex(),
        "state_root": h.state_root.to_hex(),
        "tx_root": h.tx_root.to_hex(),
        "results_root": h.results_root.to_hex(),
        "timestamp_ms": h.timestamp_ms,
        "proposer": h.proposer.to_hex(),
        "txs": txs,
    })
}

fn lookup_tx(ch: &ChannelShared, id: &Hash) -> Result<Option<TxRecord>, ApiError> {
    ch.ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?
        .tx(id)
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn wait_committed(
    ch: &ChannelShared,
    id: &Hash,
    timeout: Duration,
) -> Result<Option<TxRecord>, ApiError> {
    let mut rx = ch.head.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        rx.borrow_and_update();
        if let Some(rec) = lookup_tx(ch, id)? {
            return Ok(Some(rec));
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(None),
        }
    }
}

async fn submit_tx(
    State(state): State<AppState>,
    Path(ch): Path<String>,
    uri: Uri,
    body: Bytes,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    let p = params(&uri)?;
    let wait = flag(&p, "wait")?;
    let timeout_ms = number(&p, "timeout_ms")?
        .unwrap_or(WAIT_MS_DEFAULT)
        .min(WAIT_MS_MAX);
    let bytes = tx_bytes_of(&parse_json(&body)?)?;
    // Inline on the runtime's thread: admission takes no lock that is held
    // long (the store is read directly, not through the ledger lock the
    // driver holds while it commits), and is tens of microseconds of CPU,
    // mostly the signature. A hand-off to the blocking pool cost two
    // thread switches per transaction and, while a commit held the ledger
    // lock, one more blocked thread per waiting request.
    let submitted = ch.submit(bytes, true);
    let id = match submitted {
        Ok(Submitted::Committed(id, _)) => {
            return match lookup_tx(&ch, &id)? {
                Some(rec) => ok(StatusCode::OK, record_json(&ch.id, &rec)),
                None => Err(ApiError::internal("committed transaction not found")),
            };
        }
        Ok(Submitted::Pending(id)) | Ok(Submitted::AlreadyPending(id)) => id,
        Err(SubmitError::Rejected(r)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                r.code.name(),
                r.reason,
            ));
        }
        Err(SubmitError::Busy(m)) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", m));
        }
        Err(SubmitError::Internal(m)) => return Err(ApiError::internal(m)),
        Err(e @ SubmitError::NotConsenter { .. }) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_consenter",
                e.to_string(),
            ));
        }
    };
    if wait && let Some(rec) = wait_committed(&ch, &id, Duration::from_millis(timeout_ms)).await? {
        return ok(StatusCode::OK, record_json(&ch.id, &rec));
    }
    ok(StatusCode::ACCEPTED, pending_json(&ch.id, &id))
}

/// `{"txs": ["<hex>", ...]}` or `{"txs_base64": ["<base64>", ...]}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    #[serde(default)]
    txs: Option<Vec<String>>,
    #[serde(default)]
    txs_base64: Option<Vec<String>>,
}

fn batch_bytes_of(body: &Bytes) -> Result<Vec<Vec<u8>>, ApiError> {
    let b: BatchBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body is not a batch: {e}")))?;
    let (items, hex_encoded) = match (b.txs, b.txs_base64) {
        (Some(t), None) => (t, true),
        (None, Some(t)) => (t, false),
        _ => {
            return Err(ApiError::bad_request(
                "expected {\"txs\": [\"<hex>\", ...]} or {\"txs_base64\": [\"<base64>\", ...]}",
            ));
        }
    };
    if items.is_empty() || items.len() > SUBMIT_BATCH_TXS_MAX {
        return Err(ApiError::bad_request(format!(
            "a batch holds 1 to {SUBMIT_BATCH_TXS_MAX} transactions, not {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if hex_encoded {
                unhex(t.trim()).ok_or_else(|| ApiError::bad_request(format!("txs[{i}] is not hex")))
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .map_err(|e| ApiError::bad_request(format!("txs_base64[{i}]: {e}")))
            }
        })
        .collect()
}

/// One transaction's outcome in a batch answer.
fn batch_item_json(r: &Result<Submitted, SubmitError>) -> Value {
    match r {
        Ok(Submitted::Pending(id)) | Ok(Submitted::AlreadyPending(id)) => {
            json!({"id": id.to_hex(), "status": "pending"})
        }
        Ok(Submitted::Committed(id, loc)) => json!({
            "id": id.to_hex(), "status": "committed", "height": loc.height, "index": loc.index,
        }),
        Err(SubmitError::Rejected(r)) => {
            json!({"status": "rejected", "code": r.code.name(), "message": r.reason})
        }
        Err(e @ SubmitError::Busy(_)) => {
            json!({"status": "busy", "code": "busy", "message": e.to_string()})
        }
        Err(e @ SubmitError::NotConsenter { .. }) => {
            json!({"status": "busy", "code": "not_consenter", "message": e.to_string()})
        }
        Err(e @ SubmitError::Internal(_)) => {
            json!({"status": "failed", "code": "internal", "message": e.to_string()})
        }
    }
}

/// Submits up to [`SUBMIT_BATCH_TXS_MAX`] transactions in one request: one
/// answer per transaction, in order, each what `POST .../transactions`
/// would have said (without `wait`). The batch is not atomic: each
/// transaction is admitted or refused on its own.
async fn submit_batch(
    State(state): State<AppState>,
    Path(ch): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    let txs = batch_bytes_of(&body)?;
    // Off the runtime's threads: a full batch is milliseconds of signature
    // checks, and one hand-off per batch is cheap.
    let shared = ch.clone();
    let results = tokio::task::spawn_blocking(move || shared.submit_batch(txs, true))
        .await
        .map_err(|e| ApiError::internal(format!("admission task failed: {e}")))?;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let items: Vec<Value> = results.iter().map(batch_item_json).collect();
    ok(
        StatusCode::OK,
        json!({"channel": ch.id, "accepted": accepted, "results": items}),
    )
}

async fn get_tx(
    State(state): State<AppState>,
    Path((ch, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    reader(&ch, &method, &uri, &headers)?;
    let id = Hash::from_hex(&id)
        .ok_or_else(|| ApiError::bad_request("a transaction id is 64 hex digits"))?;
    if let Some(rec) = lookup_tx(&ch, &id)? {
        return ok(StatusCode::OK, record_json(&ch.id, &rec));
    }
    let pending = ch.mempool.lock().map(|p| p.contains(&id)).unwrap_or(false);
    if pending {
        return ok(StatusCode::OK, pending_json(&ch.id, &id));
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_transaction",
        format!("no transaction {} on this node", id.to_hex()),
    ))
}

fn block_response(ch: &ChannelShared, height: u64, raw: bool) -> ApiResult {
    let ledger = ch
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let Some(bytes) = ledger
        .block_bytes(height)
        .map_err(|e| ApiError::internal(e.to_string()))?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("no block {height} yet"),
        ));
    };
    drop(ledger);
    let block = Block::decode(&bytes)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .block;
    let mut v = block_json(&block);
    if raw {
        v["raw"] = json!(hex(&bytes));
    }
    ok(StatusCode::OK, v)
}

async fn get_block(
    State(state): State<AppState>,
    Path((ch, height)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    reader(&ch, &method, &uri, &headers)?;
    let height: u64 = height
        .parse()
        .map_err(|_| ApiError::bad_request("height must be a number or \"latest\""))?;
    block_response(&ch, height, flag(&params(&uri)?, "raw")?)
}

async fn latest_block(
    State(state): State<AppState>,
    Path(ch): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    reader(&ch, &method, &uri, &headers)?;
    let height = ch
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?
        .head()
        .map_or(0, |h| h.height);
    block_response(&ch, height, flag(&params(&uri)?, "raw")?)
}

fn anonymous() -> Identity {
    Identity {
        org: String::new(),
        subject: "anonymous".into(),
        roles: Vec::new(),
        public_key: PublicKey([0; 32]),
        cert_id: Hash::ZERO,
    }
}

async fn query(
    State(state): State<AppState>,
    Path(ch): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    let caller = reader(&ch, &method, &uri, &headers)?.unwrap_or_else(anonymous);
    let v = parse_json(&body)?;
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::bad_request(format!("missing string field {name:?}")))
    };
    let contract = field("contract")?;
    let method_name = field("method")?;
    let args = match v.get("args").and_then(Value::as_str) {
        None => Vec::new(),
        Some(h) => unhex(h.trim()).ok_or_else(|| ApiError::bad_request("args is not hex"))?,
    };
    let shared = ch.clone();
    let (c, m) = (contract.clone(), method_name.clone());
    let out = tokio::task::spawn_blocking(move || {
        let ledger = shared
            .ledger
            .read()
            .map_err(|_| "ledger lock poisoned".to_string());
        ledger.map(|l| l.query(&caller, &c, &m, &args))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::internal)?;
    match out {
        Ok(bytes) => ok(
            StatusCode::OK,
            json!({"contract": contract, "method": method_name, "output": hex(&bytes)}),
        ),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query_refused",
            format!("{contract}.{method_name}: {e}"),
        )),
    }
}

/// The server-sent events of committed block `b`: one `block` event, then
/// one `contract` event per contract event. `ids`: the transactions' ids as
/// the driver computed them when it committed the block (see
/// `ChannelShared::committed_ids`); without them (a stream far behind),
/// each transaction is decoded and hashed here.
fn block_events(b: &Block, ids: Option<&[Option<TxId>]>) -> Vec<SseEvent> {
    let h = &b.header;
    let height = h.height;
    let ids: Vec<Option<TxId>> = match ids {
        Some(ids) if ids.len() == b.txs.len() => ids.to_vec(),
        _ => b
            .txs
            .iter()
            .map(|bytes| decode_tx(bytes, usize::MAX).ok().map(|t| tx_id(&t)))
            .collect(),
    };
    let mut out = Vec::with_capacity(1);
    out.push(
        SseEvent::default()
            .event("block")
            .id(height.to_string())
            .data(block_event_json(b, &ids)),
    );
    for (r, id) in b.results.iter().zip(&ids) {
        for e in &r.events {
            let data = json!({
                "height": height, "tx": id.map(|id| id.to_hex()), "contract": e.contract,
                "name": e.name, "data": hex(&e.data),
            });
            out.push(
                SseEvent::default()
                    .event("contract")
                    .id(height.to_string())
                    .data(data.to_string()),
            );
        }
    }
    out
}

/// The `block` event's JSON, written directly: a block of thousands of
/// transactions is sent to every stream, and building a `serde_json::Value`
/// tree for it cost more than the rest of serving the stream. The bytes
/// are those `serde_json` writes for the same object (keys in order, no
/// spaces; `block_event_json_is_serde_json_s` checks it).
fn block_event_json(b: &Block, ids: &[Option<TxId>]) -> String {
    use std::fmt::Write as _;
    let h = &b.header;
    // About 100 bytes per transaction.
    let mut s = String::with_capacity(256 + 100 * b.txs.len());
    let _ = write!(
        s,
        r#"{{"hash":"{}","height":{},"state_root":"{}","timestamp_ms":{},"txs":["#,
        h.hash().to_hex(),
        h.height,
        h.state_root.to_hex(),
        h.timestamp_ms
    );
    for (i, (r, id)) in b.results.iter().zip(ids).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"code":"#);
        match &r.status {
            TxStatus::Valid => s.push_str("null"),
            TxStatus::Invalid { code, .. } => s.push_str(&Value::from(code.name()).to_string()),
        }
        s.push_str(r#","id":"#);
        match id {
            Some(id) => {
                s.push('"');
                s.push_str(&id.to_hex());
                s.push('"');
            }
            None => s.push_str("null"),
        }
        let _ = write!(s, r#","valid":{}}}"#, r.status.is_valid());
    }
    s.push_str("]}");
    s
}

struct EventCursor {
    ch: Arc<ChannelShared>,
    next: u64,
    rx: tokio::sync::watch::Receiver<u64>,
    buffer: VecDeque<SseEvent>,
}

async fn events(
    State(state): State<AppState>,
    Path(ch): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let ch = channel(&state, &ch)?;
    reader(&ch, &method, &uri, &headers)?;
    let p = params(&uri)?;
    // Resume: `from` (a height), or the standard Last-Event-ID header.
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|h| h + 1);
    let next = match number(&p, "from")? {
        Some(h) => h,
        None => match last_event {
            Some(h) => h,
            None => ch
                .ledger
                .read()
                .map_err(|_| ApiError::internal("ledger lock poisoned"))?
                .head()
                .map_or(0, |h| h.height + 1),
        },
    };
    let rx = ch.head.subscribe();
    let cursor = EventCursor {
        ch,
        next,
        rx,
        buffer: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.buffer.pop_front() {
                return Some((Ok::<_, Infallible>(e), c));
            }
            c.rx.borrow_and_update();
            let block = {
                let Ok(ledger) = c.ch.ledger.read() else {
                    return None;
                };
                match ledger.block(c.next) {
                    Ok(b) => b,
                    Err(_) => return None,
                }
            };
            match block {
                Some(b) => {
                    let ids = c.ch.committed_ids(c.next);
                    c.buffer.extend(block_events(&b, ids.as_deref()));
                    c.next += 1;
                }
                None => {
                    if c.rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn channel_status(ch: &ChannelShared) -> Value {
    let (height, root) = ch
        .ledger
        .read()
        .map(|l| (l.head().map_or(0, |h| h.height), l.state_root().to_hex()))
        .unwrap_or((0, String::new()));
    let s = ch.status.lock().map(|s| s.clone()).unwrap_or_default();
    let (pool_txs, pool_bytes) = ch
        .mempool
        .lock()
        .map(|p| (p.len(), p.bytes()))
        .unwrap_or((0, 0));
    json!({
        "id": ch.id,
        "height": height,
        "state_root": root,
        "consensus": s.kind,
        "node_id": s.id,
        "role": s.role,
        "term": s.term,
        "leader": s.leader,
        "commit": s.commit,
        "applied": s.applied,
        "mempool_txs": pool_txs,
        "mempool_bytes": pool_bytes,
        "failure": ch.failure(),
        "safety_fault": s.safety_fault,
        "removed_at": s.removed_at,
        "voters": s.voters,
        "evidence": s.evidence.iter().map(|e| json!({
            "offender": e.offender, "offense": e.offense, "view": e.view,
        })).collect::<Vec<_>>(),
    })
}

async fn health(State(state): State<AppState>) -> ApiResult {
    let channels: Vec<Value> = state.channels.values().map(|c| channel_status(c)).collect();
    let failed = state.channels.values().any(|c| c.failure().is_some());
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    ok(
        status,
        json!({
            "status": if failed { "failed" } else { "ok" },
            "node": state.name,
            "node_key": state.node_key.to_hex(),
            "uptime_ms": state.started.elapsed().as_millis() as u64,
            "peers": state.peer_connections().iter().map(|(k, up)| json!({
                "key": k.to_hex(), "connected": up,
            })).collect::<Vec<_>>(),
            "channels": channels,
        }),
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, values: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP productivist_{name} {help}");
        let _ = writeln!(out, "# TYPE productivist_{name} {kind}");
        for (ch, v) in values {
            let _ = writeln!(out, "productivist_{name}{{channel=\"{ch}\"}} {v}");
        }
    };
    let each = |f: &dyn Fn(&ChannelShared) -> u64| -> Vec<(String, u64)> {
        state
            .channels
            .values()
            .map(|c| (c.id.clone(), f(c)))
            .collect()
    };
    let rel = Ordering::Relaxed;
    metric(
        "block_height",
        "gauge",
        "Committed height.",
        each(&|c| {
            c.ledger
                .read()
                .ok()
                .and_then(|l| l.head())
                .map_or(0, |h| h.height)
        }),
    );
    metric(
        "consensus_term",
        "gauge",
        "Consensus term or view.",
        each(&|c| c.status.lock().map(|s| s.term).unwrap_or(0)),
    );
    metric(
        "consensus_is_leader",
        "gauge",
        "1 when this node leads.",
        each(&|c| {
            c.status
                .lock()
                .map(|s| u64::from(s.leader == Some(s.id) && s.id != 0))
                .unwrap_or(0)
        }),
    );
    metric(
        "consensus_applied_index",
        "gauge",
        "Last consensus index applied.",
        each(&|c| c.status.lock().map(|s| s.applied).unwrap_or(0)),
    );
    metric(
        "mempool_txs",
        "gauge",
        "Transactions in the mempool.",
        each(&|c| c.mempool.lock().map(|p| p.len() as u64).unwrap_or(0)),
    );
    metric(
        "mempool_bytes",
        "gauge",
        "Bytes in the mempool.",
        each(&|c| c.mempool.lock().map(|p| p.bytes()).unwrap_or(0)),
    );
    metric(
        "evidence_total",
        "counter",
        "Equivocation evidence recorded (BFT).",
        each(&|c| c.metrics.evidence_recorded.load(rel)),
    );
    metric(
        "blocks_synced_total",
        "counter",
        "Blocks installed by block sync.",
        each(&|c| c.metrics.blocks_synced.load(rel)),
    );
    metric(
        "txs_admitted_total",
        "counter",
        "Transactions admitted.",
        each(&|c| c.metrics.txs_admitted.load(rel)),
    );
    metric(
        "txs_rejected_total",
        "counter",
        "Transactions refused at admission.",
        each(&|c| c.metrics.txs_rejected.load(rel)),
    );
    metric(
        "txs_busy_total",
        "counter",
        "Submissions refused as busy.",
        each(&|c| c.metrics.txs_busy.load(rel)),
    );
    metric(
        "gossip_dropped_total",
        "counter",
        "Gossiped transactions dropped before admission (queue full).",
        each(&|c| c.metrics.gossip_dropped.load(rel)),
    );
    metric(
        "txs_committed_total",
        "counter",
        "Transactions committed.",
        each(&|c| c.metrics.txs_committed.load(rel)),
    );
    metric(
        "blocks_committed_total",
        "counter",
        "Blocks committed.",
        each(&|c| c.metrics.blocks_committed.load(rel)),
    );
    metric(
        "blocks_proposed_total",
        "counter",
        "Blocks proposed by this node.",
        each(&|c| c.metrics.blocks_proposed.load(rel)),
    );
    metric(
        "consensus_messages_sent_total",
        "counter",
        "Consensus messages sent.",
        each(&|c| c.metrics.messages_sent.load(rel)),
    );
    metric(
        "consensus_messages_received_total",
        "counter",
        "Consensus messages received.",
        each(&|c| c.metrics.messages_received.load(rel)),
    );
    metric(
        "consensus_messages_dropped_total",
        "counter",
        "Consensus messages dropped.",
        each(&|c| c.metrics.messages_dropped.load(rel)),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

async fn openapi_doc() -> Response {
    axum::Json(openapi::document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_engine::block::{BlockHeader, Event, InvalidCode};
    use productivist_engine::crypto::KeyPair;
    use productivist_engine::tx::{TxBody, encode_tx, sign_tx};

    /// The `block` event as it was built before, through a `Value` tree.
    fn block_json_by_value(b: &Block) -> String {
        let txs: Vec<Value> = b
            .txs
            .iter()
            .zip(&b.results)
            .map(|(bytes, r)| {
                let id = decode_tx(bytes, usize::MAX)
                    .ok()
                    .map(|t| tx_id(&t).to_hex());
                let code = match &r.status {
                    TxStatus::Valid => Value::Null,
                    TxStatus::Invalid { code, .. } => json!(code.name()),
                };
                json!({"id": id, "valid": r.status.is_valid(), "code": code})
            })
            .collect();
        json!({
            "height": b.header.height,
            "hash": b.header.hash().to_hex(),
            "state_root": b.header.state_root.to_hex(),
            "timestamp_ms": b.header.timestamp_ms,
            "txs": txs,
        })
        .to_string()
    }

    fn block() -> Block {
        let key = KeyPair::from_seed("events-test");
        let tx = |nonce| {
            encode_tx(&sign_tx(
                TxBody {
                    channel: "public".into(),
                    signer: SignerRef::CertId(Hash::of(b"cert")),
                    nonce,
                    contract: "token".into(),
                    method: "transfer".into(),
                    args: vec![1, 2, 3],
                },
                &key,
            ))
        };
        let valid = TxResult {
            status: TxStatus::Valid,
            events: vec![Event {
                contract: "token".into(),
                name: "moved \"quoted\"".into(),
                data: vec![7],
            }],
            output: Vec::new(),
        };
        Block {
            header: BlockHeader {
                channel: "public".into(),
                height: 42,
                prev_hash: Hash::of(b"prev"),
                tx_root: Hash::of(b"txs"),
                results_root: Hash::of(b"results"),
                state_root: Hash::of(b"state"),
                timestamp_ms: 1_700_000_000_123,
                proposer: key.public(),
            },
            txs: vec![tx(1), b"not a transaction".to_vec(), tx(2)],
            results: vec![
                valid.clone(),
                TxResult::invalid(InvalidCode::Malformed, "undecodable"),
                valid,
            ],
        }
    }

    #[test]
    fn block_event_json_is_serde_json_s() {
        let b = block();
        let ids: Vec<Option<TxId>> = b
            .txs
            .iter()
            .map(|t| decode_tx(t, usize::MAX).ok().map(|t| tx_id(&t)))
            .collect();
        assert_eq!(ids.iter().filter(|i| i.is_none()).count(), 1);
        let written = block_event_json(&b, &ids);
        assert_eq!(written, block_json_by_value(&b));
        // And it is JSON a client parses back to the same ids.
        let parsed: Value = serde_json::from_str(&written).expect("valid JSON");
        assert_eq!(parsed["txs"][0]["id"], json!(ids[0].map(|i| i.to_hex())));
        assert_eq!(parsed["txs"][1]["code"], json!("malformed"));
    }

    #[test]
    fn block_events_use_the_recorded_ids_only_when_they_fit() {
        let b = block();
        let decoded: Vec<Option<TxId>> = b
            .txs
            .iter()
            .map(|t| decode_tx(t, usize::MAX).ok().map(|t| tx_id(&t)))
            .collect();
        // Two contract events (one per valid transaction) after the block.
        assert_eq!(block_events(&b, Some(&decoded)).len(), 3);
        // Ids of another length (not this block's) are not used: the
        // events are the same as when decoding.
        let wrong = vec![Some(Hash::of(b"x"))];
        let with_wrong = format!("{:?}", block_events(&b, Some(&wrong)));
        let without = format!("{:?}", block_events(&b, None));
        assert_eq!(with_wrong, without);
        assert!(without.contains(&decoded[0].expect("decodable").to_hex()));
    }
}
