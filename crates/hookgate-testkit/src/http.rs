//! A tiny HTTP/1.1 client for tests, plus raw-socket helpers for hostile ones.
//!
//! Why this exists: tests talk to the gateway's ingest and admin listeners the
//! way providers and operators do, over a real socket on loopback. The
//! well-behaved path ([`post`], [`get`], [`Client`]) always ends within a
//! deadline (10 s by default) and returns the whole response. The hostile path
//! ([`RawConn`], [`raw_exchange`]) writes exact bytes — a head and half a body,
//! a lying `Content-Length` — then stalls, which no well-behaved client can do.
//!
//! [`post`] and [`get`] open a fresh connection per call (no pool), so one
//! test's requests never ride on a connection another left behind; use a
//! [`Client`] to keep connections alive across requests.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// The deadline of [`post`], [`get`] and a default [`Client`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// All response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The body parsed as JSON. Panics with status and body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {}, body: {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a request produced no response.
#[derive(Debug)]
pub enum RequestError {
    /// No complete response within the deadline.
    Timeout(Duration),
    /// Connect, write or read failed, or the server closed without answering.
    Transport(String),
    /// The URL or a header could not be put on the wire.
    Invalid(String),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Timeout(d) => write!(f, "no response within {d:?}"),
            RequestError::Transport(e) => write!(f, "transport error: {e}"),
            RequestError::Invalid(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// How long a [`Client`] keeps an idle connection for reuse.
const POOL_IDLE: Duration = Duration::from_millis(500);

/// A client that keeps connections alive between requests (one pool per
/// `Client`), with a deadline per request.
#[derive(Debug, Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

// === impl Client ===

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A keep-alive client with the 10 s deadline.
    pub fn new() -> Self {
        Self::build(DEFAULT_TIMEOUT, usize::MAX)
    }

    /// A keep-alive client with another per-request deadline.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self::build(timeout, usize::MAX)
    }

    fn build(timeout: Duration, max_idle: usize) -> Self {
        let inner = HyperClient::builder(TokioExecutor::new())
            // Without a timer the idle timeout never fires.
            .pool_timer(TokioTimer::new())
            // Shorter than any server's idle close (the test gateways'
            // `header_read_timeout` of 1 s ends an idle keep-alive
            // connection): a connection reused just as the server closes
            // it fails with `IncompleteMessage`, so it is dropped first.
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(max_idle)
            .build_http();
        Client { inner, timeout }
    }

    /// Sends one request and reads the whole response within the deadline.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Response, RequestError> {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            let name = HeaderName::try_from(*name)
                .map_err(|e| RequestError::Invalid(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::try_from(*value)
                .map_err(|e| RequestError::Invalid(format!("header {name} value: {e}")))?;
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(body.into()))
            .map_err(|e| RequestError::Invalid(format!("{url}: {e}")))?;

        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| RequestError::Transport(format!("{url}: {e:?}")))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| RequestError::Transport(format!("{url}: reading body: {e}")))?
                .to_bytes();
            Ok(Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(RequestError::Timeout(self.timeout)))
    }

    /// `POST`; panics if no response arrives (see [`Client::request`]).
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Response {
        self.request(Method::POST, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// `GET`, with `Authorization: Bearer <token>` if given; panics if no
    /// response arrives.
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Response {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        self.request(Method::GET, url, &headers, Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }
}

/// Sends one request on a fresh connection (closed afterwards), within
/// `deadline`. For tests that expect a failure, e.g. a refused connection.
pub async fn try_request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    deadline: Duration,
) -> Result<Response, RequestError> {
    Client::build(deadline, 0)
        .request(method, url, headers, body)
        .await
}

/// `POST` on a fresh connection with the 10 s deadline. Panics if no
/// response arrives; any status, 5xx included, is returned.
pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response {
    try_request(Method::POST, url, headers, body, DEFAULT_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// `GET` on a fresh connection with the 10 s deadline, with
/// `Authorization: Bearer <token>` if given. Panics if no response arrives.
pub async fn get(url: &str, bearer: Option<&str>) -> Response {
    Client::build(DEFAULT_TIMEOUT, 0).get(url, bearer).await
}

// === raw sockets ===

/// A raw TCP connection for sending exact, possibly malformed or incomplete,
/// HTTP/1.1 bytes and reading what comes back.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    /// Bytes read but not yet returned (after a response, or a partial one).
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr` (`host:port`) within 10 s.
    pub async fn connect(addr: &str) -> io::Result<Self> {
        let stream = timeout(DEFAULT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect {addr}")))??;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes all of `bytes` within 10 s. Fails once the server has closed.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        timeout(DEFAULT_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write stalled"))??;
        self.stream.flush().await
    }

    /// Reads one response within `deadline` and returns its status and its
    /// full text (head and body, lossy UTF-8). The body is delimited by
    /// `Content-Length`, by the chunked terminator, or else by the server
    /// closing (or the deadline, once the head is complete).
    ///
    /// `None` if the server closed, reset, or stayed silent before sending a
    /// complete head.
    pub async fn read_response(&mut self, deadline: Duration) -> Option<(u16, String)> {
        let end = Instant::now() + deadline;
        let head_len = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            if !self.fill(end).await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_len]).into_owned();
        let status = parse_status(&head)?;

        let total = match framing(&head) {
            Framing::Length(n) => {
                while self.buf.len() < head_len + n {
                    if !self.fill(end).await {
                        break;
                    }
                }
                (head_len + n).min(self.buf.len())
            }
            Framing::Chunked => loop {
                if let Some(pos) = find(&self.buf[head_len..], b"0\r\n\r\n") {
                    break head_len + pos + 5;
                }
                if !self.fill(end).await {
                    break self.buf.len();
                }
            },
            Framing::None if no_body(status) => head_len,
            Framing::None => {
                while self.fill(end).await {}
                self.buf.len()
            }
        };
        let text = String::from_utf8_lossy(&self.buf[..total]).into_owned();
        self.buf.drain(..total);
        Some((status, text))
    }

    /// Whether the server closes (or resets) the connection within
    /// `deadline`. Anything it sends meanwhile is discarded.
    pub async fn wait_closed(&mut self, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        let mut scratch = [0u8; 4096];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.read(&mut scratch)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Reads more bytes into `buf`; `false` on close, error or deadline.
    async fn fill(&mut self, end: Instant) -> bool {
        let left = end.saturating_duration_since(Instant::now());
        let mut chunk = [0u8; 8192];
        match timeout(left, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// Connects to `addr`, sends `bytes`, then collects whatever the server sends
/// until it closes or `then_wait` passes, and returns it (possibly empty).
pub async fn raw_exchange(addr: &str, bytes: &[u8], then_wait: Duration) -> io::Result<Vec<u8>> {
    let mut conn = RawConn::connect(addr).await?;
    conn.send(bytes).await?;
    let end = Instant::now() + then_wait;
    while conn.fill(end).await {}
    Ok(conn.buf)
}

enum Framing {
    Length(usize),
    Chunked,
    None,
}

fn framing(head: &str) -> Framing {
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        // No let-chains: the workspace's rust-version (1.85) predates them.
        if let (true, Ok(n)) = (name.eq_ignore_ascii_case("content-length"), value.parse()) {
            return Framing::Length(n);
        }
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Framing::Chunked;
        }
    }
    Framing::None
}

/// 1xx, 204 and 304 never carry a body.
fn no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// `HTTP/1.1 413 Payload Too Large` -> 413.
fn parse_status(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_framing() {
        let head = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_status(head), Some(413));
        assert!(matches!(framing(head), Framing::Length(12)));
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(matches!(framing(head), Framing::Chunked));
        assert_eq!(parse_status("garbage\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn raw_conn_reads_a_response_and_sees_silence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            // First connection: answer once, keep the socket open.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 2\r\n\r\nno")
                .await
                .unwrap();
            // Second connection: read and close without answering.
            let (mut s2, _) = listener.accept().await.unwrap();
            let _ = s2.read(&mut buf).await.unwrap();
            drop(s2);
            s
        });

        let mut conn = RawConn::connect(&addr).await.unwrap();
        conn.send(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc")
            .await
            .unwrap();
        let (status, text) = conn.read_response(Duration::from_secs(5)).await.unwrap();
        assert_eq!(status, 408);
        assert!(text.ends_with("\r\n\r\nno"), "{text:?}");
        // Nothing more comes: None within the deadline, connection still open.
        assert_eq!(conn.read_response(Duration::from_millis(100)).await, None);

        let mut closing = RawConn::connect(&addr).await.unwrap();
        closing.send(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(closing.wait_closed(Duration::from_secs(5)).await);
        drop(server.await.unwrap());
    }
}
