//! The web explorer every node serves beside its API: server-rendered
//! pages (maud) for people who will not read JSON. Home (channels, latest
//! blocks live over SSE, node health), blocks and transactions, object
//! verification by serial with its provenance timeline, model
//! authentication, participants, and printable QR labels. See
//! docs/EXPLORER.md.
//!
//! Pages read the node's ledgers directly (the same typed reads as the CLI,
//! [`crate::apps`]). A channel whose config lets anyone read is open to
//! anyone; a members-only channel's pages need a member's signed session ([`session`]) and are
//! otherwise answered exactly like a channel the node does not host.

pub mod block;
pub mod home;
pub mod label;
pub mod layout;
pub mod model;
pub mod participant;
pub mod session;
pub mod svg;
pub mod tx;
pub mod verify;

use crate::embedded::{DynStore, now_ms};
use crate::node::auth;
use crate::node::channel::ChannelShared;
use crate::node::http::NodeState;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use productivist_engine::identity::Identity;
use productivist_engine::ledger::Ledger;
use std::sync::{Arc, RwLockReadGuard};

/// The state the explorer reads: the node's.
pub type ExplorerState = Arc<NodeState>;

/// The explorer's routes (all outside `/v1`), to merge into the node's
/// router before its state is set.
pub fn routes() -> Router<ExplorerState> {
    Router::new()
        .route("/", get(home::home))
        .route("/channels/{ch}", get(block::channel))
        .route("/blocks/{ch}/{height}", get(block::block))
        .route("/tx/{ch}/{id}", get(tx::tx))
        .route("/verify", get(verify::search))
        .route("/verify/{serial}", get(verify::verify))
        .route("/label/{file}", get(label::label))
        .route("/models", get(model::models))
        .route("/models/hash", post(model::hash_upload))
        .route("/participants", get(participant::rankings))
        .route("/participants/{account}", get(participant::participant))
        .route(
            "/session",
            get(home::session_form).post(home::session_start),
        )
        .route("/session/end", post(home::session_end))
}

/// A page that could not be shown: status and words for a person.
#[derive(Debug)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Title.
    pub title: String,
    /// What happened, plainly.
    pub message: String,
}

impl PageError {
    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            title: "Not found".into(),
            message: message.into(),
        }
    }
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request".into(),
            message: message.into(),
        }
    }
    /// 500: the node failed, not the request.
    pub fn internal(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Node error".into(),
            message: message.into(),
        }
    }
}

impl From<crate::apps::AppsError> for PageError {
    fn from(e: crate::apps::AppsError) -> PageError {
        match e {
            crate::apps::AppsError::Refused { .. } => PageError::bad_request(e.to_string()),
            _ => PageError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = layout::page(
            &self.title,
            html! {
                h1 { (self.title) }
                p.banner.bad { (self.message) }
                p { a href="/" { "Back to the explorer home" } }
            },
        );
        html_response(self.status, body)
    }
}

/// A rendered page as an HTML response.
pub fn html_response(status: StatusCode, body: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Pages embed only their own inline style and script.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body.into_string(),
    )
        .into_response()
}

/// The result of a page handler.
pub type PageResult = Result<Response, PageError>;

/// The member session in the request's cookie, if any (not yet checked
/// against a channel).
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::from_cookie_header)
        .map(str::to_string)
}

fn unknown_channel(ch: &str) -> PageError {
    PageError::not_found(format!("This node hosts no channel {ch:?}."))
}

/// A channel the reader may see, with the reader's identity on private
/// channels. A private channel without a valid member session answers
/// exactly as a channel the node does not host: a non-member learns
/// nothing, not even that it exists.
pub fn readable(
    state: &NodeState,
    ch: &str,
    headers: &HeaderMap,
) -> Result<(Arc<ChannelShared>, Option<Identity>), PageError> {
    let shared = state
        .channels
        .get(ch)
        .cloned()
        .ok_or_else(|| unknown_channel(ch))?;
    let config = read(&shared)?
        .config()
        .cloned()
        .ok_or_else(|| PageError::internal("the ledger has no genesis"))?;
    if !auth::requires_auth(&config) {
        return Ok((shared, None));
    }
    let token = session_token(headers).ok_or_else(|| unknown_channel(ch))?;
    match session::verify_token(&token, &config, now_ms()) {
        Ok(who) => Ok((shared, Some(who))),
        Err(_) => Err(unknown_channel(ch)),
    }
}

/// The channels the reader may see, in id order.
pub fn visible_channels(state: &NodeState, headers: &HeaderMap) -> Vec<Arc<ChannelShared>> {
    state
        .channels
        .keys()
        .filter_map(|id| readable(state, id, headers).ok().map(|(c, _)| c))
        .collect()
}

/// Read access to a channel's ledger.
pub fn read(ch: &ChannelShared) -> Result<RwLockReadGuard<'_, Ledger<DynStore>>, PageError> {
    ch.ledger
        .read()
        .map_err(|_| PageError::internal("ledger lock poisoned"))
}

/// The public channel, where the Productivist applications' objects,
/// models and participants live, if the reader may see it (its config may
/// restrict it to members like any other channel).
pub fn public(state: &NodeState, headers: &HeaderMap) -> Result<Arc<ChannelShared>, PageError> {
    readable(state, crate::embedded::PUBLIC_CHANNEL, headers).map(|(ch, _)| ch)
}
