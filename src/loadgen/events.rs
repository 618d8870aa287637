//! Commit watchers: one per node, reading the node's server-sent events of
//! committed blocks (`GET /v1/channels/CH/events`) and handing each block
//! to [`Shared::on_block`]. A watcher whose node goes away reconnects,
//! resuming after the last height it saw.

use super::http::connect;
use super::state::Shared;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Pause between reconnection attempts.
pub const RECONNECT_MS: u64 = 200;

/// Watches `node`'s committed blocks from height `from` until `stop` turns
/// true.
pub async fn watch(
    node: String,
    channel: String,
    from: u64,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut next = from;
    let mut counted = false;
    loop {
        if *stop.borrow() {
            break;
        }
        let opened = async {
            let mut conn = connect(&node).await?;
            let path = format!("/v1/channels/{channel}/events?from={next}");
            let response = conn.get_stream(&path).await?;
            if !response.status().is_success() {
                return Err(format!("{node}: events answered {}", response.status()));
            }
            // The connection lives as long as the response body.
            Ok((conn, response))
        };
        let (_conn, response) = match opened.await {
            Ok(r) => r,
            Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(RECONNECT_MS)) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        if !counted {
            shared.watching.fetch_add(1, Ordering::SeqCst);
            counted = true;
        }
        let mut events = BodyDataStream::new(response.into_body()).eventsource();
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(e)) if e.event == "block" => {
                        let Ok(height) = e.id.parse::<u64>() else { continue };
                        next = next.max(height + 1);
                        shared.on_block(height, &e.data);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
                _ = stop.changed() => return,
            }
        }
    }
}
