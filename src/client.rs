//! A small synchronous client of the node API (`docs/API.md`): submit
//! signed transactions, read blocks and transactions, run queries, with
//! requests signed by a member when one is given. [`ClusterChain`] lets the
//! Productivist story drive a cluster.

use crate::node::auth;
use productivist_engine::block::TxResult;
use productivist_engine::crypto::{Hash, KeyPair, hex, unhex};
use productivist_engine::devnet::Member;
use productivist_engine::identity::Certificate;
use serde_json::{Value, json};
use std::time::Duration;

/// Default request timeout (covers a `wait=true` submission).
pub const TIMEOUT_MS_DEFAULT: u64 = 40_000;
/// Retries of a submission answered "busy", with [`BUSY_BACKOFF_MS`]
/// between them.
pub const BUSY_RETRIES_MAX: u32 = 50;
/// Pause after a "busy" answer.
pub const BUSY_BACKOFF_MS: u64 = 100;

/// A client failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached or the connection failed.
    #[error("{url}: {reason}")]
    Transport {
        /// The request URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Explanation.
        message: String,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// Whether the node said it is busy (retry later).
    pub fn is_busy(&self) -> bool {
        matches!(self, ClientError::Api { code, .. } if code == "busy")
    }
}

/// A transaction's state as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxState {
    /// Its id.
    pub id: Hash,
    /// `Some((height, index, result))` once committed.
    pub committed: Option<(u64, u32, TxResult)>,
}

/// A block's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// Height.
    pub height: u64,
    /// Hash, hex.
    pub hash: String,
    /// State root, hex.
    pub state_root: String,
    /// Block time.
    pub timestamp_ms: u64,
    /// Transaction ids, hex (empty for undecodable ones).
    pub tx_ids: Vec<String>,
}

/// A client of one node.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    signer: Option<(Certificate, KeyPair)>,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, ClientError> {
    v.get(name)
        .ok_or_else(|| ClientError::Decode(format!("missing field {name:?} in {v}")))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, ClientError> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| ClientError::Decode(format!("{name} is not a number")))
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, ClientError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| ClientError::Decode(format!("{name} is not a string")))
}

impl Client {
    /// A client of the node at `base` (`http://127.0.0.1:8400`).
    pub fn new(base: &str) -> Client {
        Client::with_timeout(base, Duration::from_millis(TIMEOUT_MS_DEFAULT))
    }

    /// A client with a request timeout.
    pub fn with_timeout(base: &str, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
            signer: None,
        }
    }

    /// Signs read requests as `member` (needed on private channels; names
    /// the caller of queries).
    pub fn signed_by(mut self, member: &Member) -> Client {
        self.signer = Some((member.cert.clone(), member.key.clone()));
        self
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| ClientError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if let Some((cert, key)) = &self.signer {
            headers.extend(auth::sign_request(
                cert,
                key,
                method,
                path,
                crate::embedded::now_ms(),
            ));
        }
        let mut response = match body {
            None => {
                let mut r = self.agent.get(&url);
                for (k, v) in &headers {
                    r = r.header(*k, v);
                }
                r.call().map_err(transport)?
            }
            Some(b) => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                for (k, v) in &headers {
                    r = r.header(*k, v);
                }
                r.send(b.to_string()).map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| ClientError::Decode(format!("{url}: {e}: {text:.200}")))?;
        if status >= 400 {
            return Err(ClientError::Api {
                status,
                code: value
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: value
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok((status, value))
    }

    /// `GET /v1/health`.
    pub fn health(&self) -> Result<Value, ClientError> {
        Ok(self.request("GET", "/v1/health", None)?.1)
    }

    /// Submits a signed transaction; with `wait`, until it commits (or the
    /// node's wait times out: then it is still pending).
    pub fn submit(&self, channel: &str, tx: &[u8], wait: bool) -> Result<TxState, ClientError> {
        let path = format!(
            "/v1/channels/{channel}/transactions{}",
            if wait { "?wait=true" } else { "" }
        );
        let (_, v) = self.request("POST", &path, Some(&json!({ "tx": hex(tx) })))?;
        tx_state(&v)
    }

    /// [`Client::submit`], retrying "busy" answers a bounded number of times.
    pub fn submit_retrying(
        &self,
        channel: &str,
        tx: &[u8],
        wait: bool,
    ) -> Result<TxState, ClientError> {
        let mut tries = 0;
        loop {
            match self.submit(channel, tx, wait) {
                Err(e) if e.is_busy() && tries < BUSY_RETRIES_MAX => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(BUSY_BACKOFF_MS));
                }
                other => return other,
            }
        }
    }

    /// `GET /v1/channels/CH/transactions/ID`: `None` when unknown.
    pub fn tx(&self, channel: &str, id: &Hash) -> Result<Option<TxState>, ClientError> {
        match self.request(
            "GET",
            &format!("/v1/channels/{channel}/transactions/{}", id.to_hex()),
            None,
        ) {
            Ok((_, v)) => Ok(Some(tx_state(&v)?)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A block by height (`None` when not committed yet), or the latest.
    pub fn block(
        &self,
        channel: &str,
        height: Option<u64>,
    ) -> Result<Option<BlockSummary>, ClientError> {
        let which = height.map_or("latest".to_string(), |h| h.to_string());
        match self.request(
            "GET",
            &format!("/v1/channels/{channel}/blocks/{which}"),
            None,
        ) {
            Ok((_, v)) => {
                let tx_ids = field(&v, "txs")?
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|t| {
                                t.get("id")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Some(BlockSummary {
                    height: u64_field(&v, "height")?,
                    hash: str_field(&v, "hash")?.to_string(),
                    state_root: str_field(&v, "state_root")?.to_string(),
                    timestamp_ms: u64_field(&v, "timestamp_ms")?,
                    tx_ids,
                }))
            }
            Err(ClientError::Api {
                status: 404, code, ..
            }) if code == "unknown_block" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest block.
    pub fn latest(&self, channel: &str) -> Result<BlockSummary, ClientError> {
        self.block(channel, None)?
            .ok_or_else(|| ClientError::Decode("no latest block".into()))
    }

    /// A read-only contract call at the head.
    pub fn query(
        &self,
        channel: &str,
        contract: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let (_, v) = self.request(
            "POST",
            &format!("/v1/channels/{channel}/query"),
            Some(&json!({"contract": contract, "method": method, "args": hex(args)})),
        )?;
        unhex(str_field(&v, "output")?)
            .ok_or_else(|| ClientError::Decode("output is not hex".into()))
    }
}

fn tx_state(v: &Value) -> Result<TxState, ClientError> {
    let id = Hash::from_hex(str_field(v, "id")?)
        .ok_or_else(|| ClientError::Decode("id is not a hash".into()))?;
    if str_field(v, "status")? != "committed" {
        return Ok(TxState {
            id,
            committed: None,
        });
    }
    let result_hex = str_field(field(v, "result")?, "result")?;
    let result: TxResult = unhex(result_hex)
        .and_then(|b| borsh::from_slice(&b).ok())
        .ok_or_else(|| ClientError::Decode("result is not a borsh TxResult".into()))?;
    let index = u32::try_from(u64_field(v, "index")?)
        .map_err(|_| ClientError::Decode("index out of range".into()))?;
    Ok(TxState {
        id,
        committed: Some((u64_field(v, "height")?, index, result)),
    })
}

/// The story's [`crate::story::Chain`] over a node's API.
pub struct ClusterChain {
    /// The client (signed by the member who queries).
    pub client: Client,
    /// The channel.
    pub channel: String,
}

impl crate::story::Chain for ClusterChain {
    fn submit(&mut self, txs: Vec<Vec<u8>>) -> Result<Vec<(TxResult, u64)>, String> {
        // Submit all first so they can share a block, then wait for each
        // (submitting again is idempotent: the id is already pending).
        for tx in &txs {
            self.client
                .submit_retrying(&self.channel, tx, false)
                .map_err(|e| e.to_string())?;
        }
        let mut out = Vec::with_capacity(txs.len());
        for tx in &txs {
            let state = self
                .client
                .submit_retrying(&self.channel, tx, true)
                .map_err(|e| e.to_string())?;
            let (height, _, result) = state
                .committed
                .ok_or_else(|| format!("transaction {} not committed in time", state.id))?;
            out.push((result, height));
        }
        Ok(out)
    }

    fn query(&mut self, contract: &str, method: &str, args: Vec<u8>) -> Result<Vec<u8>, String> {
        self.client
            .query(&self.channel, contract, method, &args)
            .map_err(|e| format!("{contract}.{method}: {e}"))
    }

    fn now_ms(&mut self) -> Result<u64, String> {
        let latest = self
            .client
            .latest(&self.channel)
            .map_err(|e| e.to_string())?;
        Ok(latest.timestamp_ms.max(crate::embedded::now_ms()))
    }
}
