//! HTTP plumbing shared by Hookgate's two listeners (public ingest, admin).
//!
//! [`serve`] is the one accept loop: HTTP/1.1 with keep-alive, a bound on
//! how long a client may take to send its request head (slowloris), and a
//! graceful drain: on shutdown it stops accepting, lets requests in flight
//! finish, and closes idle keep-alive connections. Callers bind the
//! listener themselves, so tests and `main` run the same code on
//! `127.0.0.1:0` and on the configured address.

use bytes::Bytes;
use hookgate_core::shutdown::Drain;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The response body every handler returns.
pub type Body = Full<Bytes>;

/// Listener options. No defaults here: the gateway's are `[server]`'s,
/// owned by hookgate-config.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A client that has not sent its whole request head by then is
    /// disconnected.
    pub header_read_timeout: Duration,
    /// Header lines a request may have; more is a 431 (hyper's answer,
    /// empty body). hyper keeps 100 on the stack; any other number costs a
    /// heap allocation per request.
    pub max_headers: usize,
    /// Bytes of request line and headers together; more is a 431.
    pub max_header_bytes: usize,
}

/// Runs the accept loop until `drain` is cancelled, then drains open
/// connections (requests in flight complete; the caller's drain deadline
/// bounds the wait).
pub async fn serve<H, F>(listener: TcpListener, handler: H, drain: Drain, opts: ServeOptions)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            _ = drain.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler(req).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(opts.header_read_timeout)
            .max_header_size(opts.max_header_bytes)
            .keep_alive(true);
        if opts.max_headers != 100 {
            builder.max_headers(opts.max_headers);
        }
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        drain.spawn(async move {
            // Client resets and timeouts end here; they are not our errors.
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A plain-text answer.
pub fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
