//! The OpenAPI 3 description of the node API, handwritten in this one
//! place. [`ROUTES`] lists what the router serves; a test checks that the
//! document describes exactly these and that the router answers each.

use serde_json::{Value, json};

/// Every route the router serves: (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/channels/{ch}/transactions"),
    ("post", "/v1/channels/{ch}/transactions/batch"),
    ("get", "/v1/channels/{ch}/transactions/{id}"),
    ("get", "/v1/channels/{ch}/blocks/latest"),
    ("get", "/v1/channels/{ch}/blocks/{height}"),
    ("post", "/v1/channels/{ch}/query"),
    ("get", "/v1/channels/{ch}/events"),
    ("get", "/v1/health"),
    ("get", "/v1/metrics"),
    ("get", "/v1/openapi.json"),
];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// The document.
pub fn document() -> Value {
    let ch = json!({"name": "ch", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Channel id"});
    let signed = json!([
        {"name": "x-productivist-cert", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Member certificate, hex of borsh (required on private channels)"},
        {"name": "x-productivist-time", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Request time, ms since the Unix epoch"},
        {"name": "x-productivist-signature", "in": "header", "required": false, "schema": {"type": "string"}, "description": "hex ed25519 signature of blake3(\"productivist/v1/http\", METHOD\\nPATH\\nTIME)"}
    ]);
    let with_signed = |mut params: Vec<Value>| {
        if let Some(s) = signed.as_array() {
            params.extend(s.iter().cloned());
        }
        Value::Array(params)
    };
    let unauthorized = error_response("Private channel: a signed request by a member is required");
    let not_found = error_response("Unknown channel, transaction or block");
    let bad = error_response("Malformed request");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Productivist node API",
            "version": "1",
            "description": "Submit signed transactions, read blocks, transactions and state, follow committed blocks. See docs/API.md."
        },
        "paths": {
            "/v1/channels/{ch}/transactions": {
                "post": {
                    "summary": "Submit a signed transaction",
                    "parameters": [ch,
                        {"name": "wait", "in": "query", "required": false, "schema": {"type": "boolean"}, "description": "Wait until committed"},
                        {"name": "timeout_ms", "in": "query", "required": false, "schema": {"type": "integer", "maximum": 60000}, "description": "Longest wait (default 30000)"}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
                    "responses": {
                        "200": ok_json("Committed (with its result)", "Transaction"),
                        "202": ok_json("Admitted to the mempool, not committed yet", "Transaction"),
                        "400": bad.clone(),
                        "404": not_found.clone(),
                        "422": error_response("Refused at admission; code names the reason (bad_signature, certificate_expired, ...)"),
                        "503": error_response("Busy (the mempool is full; retry after Retry-After seconds), or not_consenter (a config update removed this node from the channel's consenters)")
                    }
                }
            },
            "/v1/channels/{ch}/transactions/batch": {
                "post": {
                    "summary": "Submit up to 512 signed transactions at once; each is admitted or refused on its own (not atomic), answered in order",
                    "parameters": [ch.clone()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
                    "responses": {
                        "200": ok_json("One result per transaction, in order", "BatchResponse"),
                        "400": bad.clone(),
                        "404": not_found.clone()
                    }
                }
            },
            "/v1/channels/{ch}/transactions/{id}": {
                "get": {
                    "summary": "A transaction by id: committed with its result, or pending",
                    "parameters": with_signed(vec![ch.clone(), json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}})]),
                    "responses": {"200": ok_json("The transaction", "Transaction"), "400": bad, "401": unauthorized, "404": not_found}
                }
            },
            "/v1/channels/{ch}/blocks/latest": {
                "get": {
                    "summary": "The last committed block",
                    "parameters": with_signed(vec![ch.clone(), json!({"name": "raw", "in": "query", "required": false, "schema": {"type": "boolean"}, "description": "Include the block's bytes (hex)"})]),
                    "responses": {"200": ok_json("The block", "Block"), "400": bad.clone(), "401": unauthorized.clone(), "404": not_found.clone()}
                }
            },
            "/v1/channels/{ch}/blocks/{height}": {
                "get": {
                    "summary": "The block at a height",
                    "parameters": with_signed(vec![ch.clone(),
                        json!({"name": "height", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}),
                        json!({"name": "raw", "in": "query", "required": false, "schema": {"type": "boolean"}})]),
                    "responses": {"200": ok_json("The block", "Block"), "400": bad, "401": unauthorized, "404": not_found}
                }
            },
            "/v1/channels/{ch}/query": {
                "post": {
                    "summary": "A read-only contract call at the head (as the signing member, or anonymous on the public channel)",
                    "parameters": with_signed(vec![ch.clone()]),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryRequest"}}}},
                    "responses": {"200": ok_json("The output", "QueryResponse"), "400": bad, "401": unauthorized, "404": not_found,
                        "422": error_response("The contract refused the call")}
                }
            },
            "/v1/channels/{ch}/events": {
                "get": {
                    "summary": "Server-sent events: `block` per committed block, `contract` per contract event; the event id is the height",
                    "parameters": with_signed(vec![ch.clone(),
                        json!({"name": "from", "in": "query", "required": false, "schema": {"type": "integer"}, "description": "First height (default: the next block; or Last-Event-ID + 1)"})]),
                    "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "401": unauthorized, "404": not_found}
                }
            },
            "/v1/health": {
                "get": {
                    "summary": "Node and channel status",
                    "responses": {"200": ok_json("Healthy", "Health"), "503": ok_json("A channel stopped on a fatal error", "Health")}
                }
            },
            "/v1/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}
                }
            }
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}},
                "SubmitRequest": {"type": "object", "description": "One of tx (hex) or tx_base64: the signed transaction's borsh bytes", "properties": {
                    "tx": {"type": "string"}, "tx_base64": {"type": "string"}}},
                "BatchRequest": {"type": "object", "additionalProperties": false, "description": "One of txs (hex) or txs_base64: 1 to 512 signed transactions' borsh bytes", "properties": {
                    "txs": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 512},
                    "txs_base64": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 512}}},
                "BatchResponse": {"type": "object", "required": ["channel", "accepted", "results"], "properties": {
                    "channel": {"type": "string"},
                    "accepted": {"type": "integer", "description": "Results that are pending or committed"},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/BatchItem"}}}},
                "BatchItem": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["pending", "committed", "rejected", "busy", "failed"], "description": "rejected: refused at admission (code names the reason); busy: retry later (mempool full, or not_consenter); failed: the node failed"},
                    "id": {"type": "string", "description": "pending and committed only"},
                    "height": {"type": "integer"}, "index": {"type": "integer"},
                    "code": {"type": "string"}, "message": {"type": "string"}}},
                "TxResult": {"type": "object", "properties": {
                    "valid": {"type": "boolean"}, "code": {"type": "string", "nullable": true}, "reason": {"type": "string", "nullable": true},
                    "output": {"type": "string", "description": "hex"},
                    "events": {"type": "array", "items": {"type": "object", "properties": {
                        "contract": {"type": "string"}, "name": {"type": "string"}, "data": {"type": "string"}}}},
                    "result": {"type": "string", "description": "hex of the borsh TxResult"}}},
                "Transaction": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "channel": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "committed"]},
                    "height": {"type": "integer"}, "index": {"type": "integer"}, "timestamp_ms": {"type": "integer"},
                    "signer": {"type": "string"}, "contract": {"type": "string"}, "method": {"type": "string"},
                    "result": {"$ref": "#/components/schemas/TxResult"}}},
                "Block": {"type": "object", "properties": {
                    "channel": {"type": "string"}, "height": {"type": "integer"}, "hash": {"type": "string"},
                    "prev_hash": {"type": "string"}, "state_root": {"type": "string"}, "tx_root": {"type": "string"},
                    "results_root": {"type": "string"}, "timestamp_ms": {"type": "integer"}, "proposer": {"type": "string"},
                    "raw": {"type": "string"},
                    "txs": {"type": "array", "items": {"type": "object"}}}},
                "QueryRequest": {"type": "object", "required": ["contract", "method"], "properties": {
                    "contract": {"type": "string"}, "method": {"type": "string"}, "args": {"type": "string", "description": "hex of the borsh arguments"}}},
                "QueryResponse": {"type": "object", "properties": {
                    "contract": {"type": "string"}, "method": {"type": "string"}, "output": {"type": "string"}}},
                "Health": {"type": "object", "properties": {
                    "status": {"type": "string"}, "node": {"type": "string"}, "node_key": {"type": "string"},
                    "uptime_ms": {"type": "integer"},
                    "peers": {"type": "array", "description": "Other nodes this node talks to, and whether a connection is up now", "items": {"type": "object", "properties": {"key": {"type": "string"}, "connected": {"type": "boolean"}}}},
                    "channels": {"type": "array", "items": {"type": "object"}}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::http::{NodeState, router};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    #[test]
    fn the_document_describes_exactly_the_routes() {
        let doc = document();
        let mut described = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                described.insert((method.clone(), path.clone()));
            }
        }
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(described, routes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_router_serves_every_documented_route() {
        let state = Arc::new(NodeState {
            name: "test".into(),
            node_key: productivist_engine::crypto::KeyPair::from_seed("k").public(),
            channels: Default::default(),
            started: std::time::Instant::now(),
            net: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router(state)).await;
        });
        let answers = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut out = Vec::new();
            for (method, path) in ROUTES
                .iter()
                .chain([&("get", "/v1/nope"), &("delete", "/v1/health")])
            {
                let url = format!(
                    "http://{addr}{}",
                    path.replace("{ch}", "c")
                        .replace("{id}", "00")
                        .replace("{height}", "1")
                );
                let mut r = match *method {
                    "get" => agent.get(&url).call().unwrap(),
                    "post" => agent.post(&url).send("{}").unwrap(),
                    _ => agent.delete(&url).call().unwrap(),
                };
                let status = r.status().as_u16();
                let body = r.body_mut().read_to_string().unwrap_or_default();
                let code = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string));
                out.push((method.to_string(), path.to_string(), status, code));
            }
            out
        })
        .await
        .unwrap();
        server.abort();
        for (method, path, status, code) in &answers {
            match path.as_str() {
                "/v1/nope" => assert_eq!((*status, code.as_deref()), (404, Some("no_route"))),
                "/v1/health" if method == "delete" => {
                    assert_eq!(
                        (*status, code.as_deref()),
                        (405, Some("method_not_allowed"))
                    )
                }
                // Routed (channel routes answer for the unknown channel).
                _ => {
                    assert!(*status < 500, "{method} {path}: {status}");
                    assert_ne!(code.as_deref(), Some("no_route"), "{method} {path}");
                    assert_ne!(*status, 405, "{method} {path}");
                }
            }
        }
    }
}
