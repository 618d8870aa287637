//! The load generator's HTTP/1.1 client (`hyper`): one keep-alive
//! connection per worker, requests without copies of the pre-rendered
//! bodies, and the streaming GET that the event watchers read.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Connecting to a node gives up after this long.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// A request (not a stream) gives up after this long.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// A connection to one node.
pub struct Conn {
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

/// Opens a connection to `host` (`127.0.0.1:PORT`).
pub async fn connect(host: &str) -> Result<Conn, String> {
    let stream = tokio::time::timeout(
        Duration::from_millis(CONNECT_TIMEOUT_MS),
        tokio::net::TcpStream::connect(host),
    )
    .await
    .map_err(|_| format!("{host}: connect timed out"))?
    .map_err(|e| format!("{host}: {e}"))?;
    // Small requests: do not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    tokio::spawn(async move {
        // Ends when the peer closes or the sender is dropped.
        let _ = connection.await;
    });
    Ok(Conn {
        host: host.to_string(),
        sender,
    })
}

impl Conn {
    async fn send(
        &mut self,
        method: hyper::Method,
        path: &str,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("{}: {e}", self.host))?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        self.sender
            .send_request(request)
            .await
            .map_err(|e| format!("{}: {e}", self.host))
    }

    /// POSTs `body` to `path`; returns the status and the body.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        let exchange = async {
            let response = self.send(hyper::Method::POST, path, body).await?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), exchange)
            .await
            .map_err(|_| format!("{}: request timed out", self.host))?
    }

    /// GETs `path` and returns the response with its body unread (a
    /// stream).
    pub async fn get_stream(&mut self, path: &str) -> Result<Response<Incoming>, String> {
        tokio::time::timeout(
            Duration::from_millis(REQUEST_TIMEOUT_MS),
            self.send(hyper::Method::GET, path, Bytes::new()),
        )
        .await
        .map_err(|_| format!("{}: request timed out", self.host))?
    }
}
