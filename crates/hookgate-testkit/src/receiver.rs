//! A scripted local subscriber that records every request it gets.
//!
//! Why this exists: delivery behaviour (retries, dead letters, breaker,
//! timeouts, signatures, keep-alive) is only visible from the subscriber's
//! side. A [`Receiver`] is a real HTTP/1.1 server on `127.0.0.1:0` whose
//! answers the test scripts up front — "fail twice, then succeed" (vector's
//! `build_test_server_generic`), or change the default at runtime (svix's
//! `TestReceiver`) — and which keeps each request with its arrival time so
//! tests can check bodies, headers and backoff spacing.
//!
//! Order of work per request: read the whole body, record it (so even a
//! request answered with [`Reply::Hang`] or [`Reply::Close`] is counted), then
//! take the next scripted [`Reply`] (the FIFO first, then the default).
//!
//! Lifetime: dropping the [`Receiver`] aborts the accept loop, which owns every
//! connection task, so hung requests and idle keep-alive connections go too.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer at once with this status and an empty body.
    Status(u16),
    /// Answer at once with this status and these headers (e.g. `Retry-After`).
    StatusWithHeaders(u16, Vec<(String, String)>),
    /// Answer at once with this status and body (for attempt-log checks).
    StatusWithBody(u16, String),
    /// Wait, then answer with this status (for subscriber timeouts).
    Delay(Duration, u16),
    /// Never answer; keep the connection open until the receiver is dropped.
    Hang,
    /// Drop the connection without writing a response.
    Close,
}

impl Reply {
    /// Panics in the test's own task on a status or header hyper would reject,
    /// instead of later inside a connection task where the panic is invisible.
    fn validate(&self) {
        let (code, headers): (u16, &[(String, String)]) = match self {
            Reply::Status(code) | Reply::StatusWithBody(code, _) | Reply::Delay(_, code) => {
                (*code, &[])
            }
            Reply::StatusWithHeaders(code, headers) => (*code, headers),
            Reply::Hang | Reply::Close => return,
        };
        respond(code, headers, Bytes::new());
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request method.
    pub method: Method,
    /// The URI path, without the query string.
    pub path: String,
    /// The query string, if any, without the `?`.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
    /// When the body had been read completely.
    pub at: Instant,
}

impl Received {
    /// The value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON. Panics with the body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "received body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

#[derive(Debug)]
struct Script {
    default: Reply,
    queue: VecDeque<Reply>,
    received: Vec<Received>,
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    /// Number of requests recorded so far; `wait_for` watches it.
    count: watch::Sender<usize>,
    connections: AtomicUsize,
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        // A panic while holding the lock can only come from a bug in this
        // file; the data (a script and a log) is still usable, so keep going.
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A local HTTP/1.1 subscriber with scripted replies. See the module docs.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

// === impl Receiver ===

impl Receiver {
    /// Binds `127.0.0.1:0` and starts serving; every request gets 200 until
    /// the test scripts something else.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver on 127.0.0.1:0");
        let addr = listener.local_addr().expect("receiver local addr");
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                default: Reply::Status(200),
                queue: VecDeque::new(),
                received: Vec::new(),
            }),
            count: watch::Sender::new(0),
            connections: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Receiver {
            addr,
            shared,
            accept,
        }
    }

    /// The reply used whenever the FIFO is empty.
    pub fn set_default(&self, reply: Reply) {
        reply.validate();
        self.shared.script().default = reply;
    }

    /// Queues one reply for the next request that finds the FIFO non-empty.
    pub fn push(&self, reply: Reply) {
        reply.validate();
        self.shared.script().queue.push_back(reply);
    }

    /// Queues the same reply `n` times.
    pub fn push_n(&self, n: usize, reply: Reply) {
        reply.validate();
        let mut script = self.shared.script();
        script.queue.extend(std::iter::repeat_n(reply, n));
    }

    /// The socket address the receiver listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr)
    }

    /// Every request recorded so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.script().received.clone()
    }

    /// How many requests have been recorded.
    pub fn count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// How many TCP connections have been accepted (keep-alive checks).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived and returns all of them.
    /// Panics, saying how many arrived, if that takes longer than `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut rx = self.shared.count.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        match reached {
            Ok(Ok(_)) => self.requests(),
            // `Err` from `wait_for` means the sender is gone, which cannot
            // happen while `self` holds `shared`.
            Ok(Err(_)) => unreachable!("receiver state dropped while borrowed"),
            Err(_) => panic!(
                "receiver {}: expected {n} request(s) within {timeout:?}, got {}",
                self.addr,
                self.count()
            ),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection task (including hung ones) and closes their sockets.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Transient accept errors (EMFILE, aborted handshakes):
                    // back off briefly rather than spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(req, shared.clone()));
                    // Errors here are a client going away or a `Reply::Close`;
                    // both just end this connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connection tasks so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// The error a service returns to make hyper drop the connection unanswered.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted Reply::Close")
    }
}

impl std::error::Error for CloseConnection {}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body; nothing to record or answer.
        Err(_) => return Err(CloseConnection),
    };
    let received = Received {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        at: Instant::now(),
    };

    let reply = {
        let mut script = shared.script();
        script.received.push(received);
        script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.default.clone())
    };
    // Notify after the lock is released and the request is visible.
    shared.count.send_modify(|c| *c += 1);

    match reply {
        Reply::Status(code) => Ok(respond(code, &[], Bytes::new())),
        Reply::StatusWithHeaders(code, headers) => Ok(respond(code, &headers, Bytes::new())),
        Reply::StatusWithBody(code, body) => Ok(respond(code, &[], Bytes::from(body))),
        Reply::Delay(delay, code) => {
            tokio::time::sleep(delay).await;
            Ok(respond(code, &[], Bytes::new()))
        }
        Reply::Hang => {
            // Ends only when the connection task is aborted on drop.
            let never: Infallible = std::future::pending().await;
            match never {}
        }
        Reply::Close => Err(CloseConnection),
    }
}

fn respond(code: u16, headers: &[(String, String)], body: Bytes) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code)
        .unwrap_or_else(|_| panic!("scripted status {code} is not a valid HTTP status"));
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str())
            .unwrap_or_else(|_| panic!("scripted header name {name:?} is invalid"));
        let value = HeaderValue::try_from(value.as_str())
            .unwrap_or_else(|_| panic!("scripted header value {value:?} is invalid"));
        response.headers_mut().append(name, value);
    }
    response
}
