//! The home page (channels, latest blocks, node and cluster health) and the
//! member session form.

use super::layout::{self, block_link, page, short};
use super::{ExplorerState, PageError, PageResult, html_response, read, session, visible_channels};
use crate::embedded::now_ms;
use crate::node::auth;
use crate::node::channel::ChannelShared;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use productivist_engine::block::Block;

/// Blocks listed per channel on the home page.
pub const HOME_BLOCKS_MAX: u64 = 10;

/// Keeps the public channel's block table current from the node's SSE
/// stream. Without JavaScript the table is simply the one rendered.
/// Private channels are not streamed: an EventSource cannot sign requests.
const LIVE_JS: &str = r#"
(function(){
  var body=document.getElementById('blocks-public');
  if(!body||!window.EventSource){return;}
  var max=parseInt(body.getAttribute('data-max'),10)||10;
  var es=new EventSource('/v1/channels/public/events');
  var live=document.getElementById('live');
  es.onopen=function(){if(live){live.textContent='live';live.className='badge ok';}};
  es.onerror=function(){if(live){live.textContent='reconnecting';live.className='badge warn';}};
  es.addEventListener('block',function(ev){
    var b;try{b=JSON.parse(ev.data);}catch(e){return;}
    var tr=document.createElement('tr');
    function td(node){var c=document.createElement('td');c.appendChild(node);tr.appendChild(c);return c;}
    var a=document.createElement('a');a.href='/blocks/public/'+Number(b.height);a.textContent='block '+Number(b.height);td(a);
    td(document.createTextNode(new Date(Number(b.timestamp_ms)).toISOString().replace(/\.\d+Z$/,'Z')));
    td(document.createTextNode(String((b.txs||[]).length)));
    var h=td(document.createTextNode(String(b.hash||'').slice(0,16)));h.className='mono hide-narrow';
    var height=document.getElementById('height-public');if(height){height.textContent=String(Number(b.height));}
    body.insertBefore(tr,body.firstChild);
    while(body.rows.length>max){body.deleteRow(body.rows.length-1);}
  });
})();
"#;

fn latest_blocks(ch: &ChannelShared) -> Result<(u64, Vec<Block>), PageError> {
    let ledger = read(ch)?;
    let height = ledger.head().map_or(0, |h| h.height);
    let mut blocks = Vec::new();
    let mut h = height;
    // Bounded: at most HOME_BLOCKS_MAX lookups.
    while blocks.len() < HOME_BLOCKS_MAX as usize {
        match ledger.block(h) {
            Ok(Some(b)) => blocks.push(b),
            Ok(None) => {}
            Err(e) => return Err(PageError::internal(e.to_string())),
        }
        if h == 0 {
            break;
        }
        h -= 1;
    }
    Ok((height, blocks))
}

/// The rows of a block table.
pub fn block_rows(channel: &str, blocks: &[Block]) -> Markup {
    html! {
        @for b in blocks {
            tr {
                td { (block_link(channel, b.header.height)) }
                td { (layout::time(b.header.timestamp_ms)) }
                td { (b.txs.len()) }
                td.mono.hide-narrow { (short(&b.header.hash())) }
            }
        }
    }
}

fn channel_card(ch: &ChannelShared) -> Result<Markup, PageError> {
    let (height, blocks) = latest_blocks(ch)?;
    let config = read(ch)?.config().cloned();
    let status = ch.status.lock().map(|s| s.clone()).unwrap_or_default();
    let failure = ch.failure();
    let private = config.as_ref().is_none_or(|c| auth::requires_auth(c));
    let id = &ch.id;
    let consenters = config.as_ref().map_or(0, |c| c.consensus.consenters.len());
    let leader_name = status.leader.and_then(|l| {
        let index = usize::try_from(l).ok()?.checked_sub(1)?;
        config
            .as_ref()?
            .consensus
            .consenters
            .get(index)
            .map(|c| c.name.clone())
    });
    Ok(html! {
        section.card {
            h2 {
                a href={"/channels/" (layout::seg(id))} { "Channel " (id) }
                " "
                @if private { span.badge.warn { "private" } } @else { span.badge.ok { "public" } }
            }
            dl {
                dt { "Height" }
                dd { span id={"height-" (id)} { (height) } }
                dt { "Consensus" }
                dd {
                    @if status.kind.is_empty() { "embedded (no consensus)" } @else {
                        (status.kind) ", this node is " (status.role)
                        " (term/view " (status.term) ")"
                    }
                }
                dt { "Leader" }
                dd {
                    @match (&leader_name, status.leader) {
                        (Some(n), Some(l)) => { (n) " (node " (l) ")" }
                        (None, Some(l)) => { "node " (l) }
                        _ => { span.warn { "none known" } }
                    }
                }
                dt { "Consenters" }
                dd { (consenters) " node(s) in the channel config" }
                dt { "Health" }
                dd {
                    @match &failure {
                        Some(f) => { span.bad { "FAILED: " (f) } }
                        None => { span.ok { "ok" } }
                    }
                }
            }
            h3 { "Latest blocks "
                @if id == crate::embedded::PUBLIC_CHANNEL { span #live .badge.muted { "static" } }
            }
            div.scroll {
                table {
                    thead { tr { th { "Block" } th { "Time (UTC)" } th { "Txs" } th.hide-narrow { "Hash" } } }
                    tbody id={"blocks-" (id)} data-max=(HOME_BLOCKS_MAX) { (block_rows(id, &blocks)) }
                }
            }
        }
    })
}

/// `GET /`: channels, latest blocks and health.
pub async fn home(State(state): State<ExplorerState>, headers: HeaderMap) -> PageResult {
    let channels = visible_channels(&state, &headers);
    let mut cards = Vec::new();
    for ch in &channels {
        cards.push(channel_card(ch)?);
    }
    let uptime_s = state.started.elapsed().as_secs();
    let peers = state.peer_connections();
    let body = html! {
        h1 { "Productivist explorer" }
        form.inline method="get" action="/verify" {
            input type="text" name="serial" placeholder="Serial printed on the object" aria-label="Serial";
            button type="submit" { "Verify an object" }
        }
        section.card {
            h2 { "This node" }
            dl {
                dt { "Name" } dd { (state.name) }
                dt { "Node key" } dd.mono { (state.node_key.to_hex()) }
                dt { "Uptime" } dd { (uptime_s) " s" }
                dt { "Channels shown" } dd { (channels.len()) }
                dt { "Peers connected" }
                dd {
                    (peers.iter().filter(|(_, up)| *up).count()) " of " (peers.len())
                    @if !peers.is_empty() {
                        ul.peers {
                            @for (key, up) in &peers {
                                li {
                                    span.mono { (key.to_hex()[..16]) "…" } " "
                                    @if *up { span.ok { "connected" } } @else { span.warn { "not connected" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for c in &cards { (c) }
        script { (PreEscaped(LIVE_JS)) }
    };
    Ok(html_response(StatusCode::OK, page("Home", body)))
}

/// `GET /session`: the form a member pastes a session token into.
pub async fn session_form(headers: HeaderMap) -> Response {
    let active = super::session_token(&headers).is_some();
    let body = html! {
        h1 { "Member session" }
        p { "Private channels' pages are shown only to their members. Create a session token on your own machine with "
            code { "productivist session --as NAME" }
            " (it signs with your member key, which never leaves your machine), then paste it here." }
        @if active { p.banner.ok { "A session token is set in this browser." } }
        form method="post" action="/session" {
            p { textarea name="token" rows="4" style="width:100%" aria-label="Session token" {} }
            button type="submit" { "Start the session" }
        }
        form method="post" action="/session/end" { button type="submit" { "End the session" } }
    };
    html_response(StatusCode::OK, page("Member session", body))
}

/// The session form's fields.
#[derive(serde::Deserialize)]
pub struct SessionForm {
    token: String,
}

/// `POST /session`: checks the token is well formed and not expired, and
/// keeps it in a cookie. Membership is checked per channel on each page.
pub async fn session_start(Form(form): Form<SessionForm>) -> PageResult {
    let token = form.token.trim().to_string();
    let expires_ms = token
        .split('.')
        .nth(2)
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(|| {
            PageError::bad_request("That is not a session token (v1.<cert>.<expires>.<sig>).")
        })?;
    if token.len() > session::TOKEN_BYTES_MAX
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
    {
        return Err(PageError::bad_request("That is not a session token."));
    }
    let now = now_ms();
    if expires_ms <= now {
        return Err(PageError::bad_request("This session token has expired."));
    }
    let max_age_s = (expires_ms - now) / 1000;
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}",
        session::COOKIE
    );
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
    )
        .into_response())
}

/// `POST /session/end`: forgets the session cookie.
pub async fn session_end() -> Response {
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    );
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
    )
        .into_response()
}
