//! Every answer the ingest listener gives, in one place (docs/ingest.md).
//!
//! Bodies are fixed JSON shapes; none echoes a secret, an expected
//! signature or an internal error text.

use hookgate_http::{Body, json, text};
use hookgate_verify::{Ack, Rejection};
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;
use std::time::Duration;

/// How a request ended, for logs and metrics (bounded set of labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (at least one new event).
    Accepted,
    /// Every event was already stored.
    Duplicate,
    /// A provider handshake was answered (nothing stored).
    Handshake,
    /// 404.
    UnknownSource,
    /// 405.
    MethodNotAllowed,
    /// 413.
    TooLarge,
    /// 408.
    Timeout,
    /// 401 with this reason.
    Rejected(Rejection),
    /// 400.
    InvalidPayload,
    /// 429.
    RateLimited,
    /// 503.
    StoreError,
}

impl Outcome {
    /// Metric label / log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Handshake => "handshake",
            Outcome::UnknownSource => "unknown_source",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::TooLarge => "payload_too_large",
            Outcome::Timeout => "request_timeout",
            Outcome::Rejected(Rejection::Missing) => "signature_missing",
            Outcome::Rejected(Rejection::Malformed) => "signature_malformed",
            Outcome::Rejected(Rejection::Mismatch) => "signature_mismatch",
            Outcome::Rejected(Rejection::Stale) => "signature_stale",
            Outcome::InvalidPayload => "invalid_payload",
            Outcome::RateLimited => "rate_limited",
            Outcome::StoreError => "store_error",
        }
    }
}

fn close(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn retry_after(mut resp: Response<Body>, wait: Duration) -> Response<Body> {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

/// 404 for a path that is not `/ingest/{source}` or an unknown source.
pub fn not_found(unknown_source: bool) -> Response<Body> {
    let error = if unknown_source {
        "unknown_source"
    } else {
        "not_found"
    };
    json(StatusCode::NOT_FOUND, &json!({ "error": error }))
}

/// 405 with `Allow: POST`.
pub fn method_not_allowed() -> Response<Body> {
    let mut resp = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "error": "method_not_allowed", "allow": "POST" }),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

/// 413; the connection closes, since the rest of the body is not read.
pub fn too_large(limit: u64) -> Response<Body> {
    close(json(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({ "error": "payload_too_large", "max_body_bytes": limit }),
    ))
}

/// 408; the connection closes.
pub fn timeout() -> Response<Body> {
    close(json(
        StatusCode::REQUEST_TIMEOUT,
        &json!({ "error": "request_timeout" }),
    ))
}

/// 400 for a body that could not be read (client aborted mid-body).
pub fn unreadable() -> Response<Body> {
    close(json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "message": "request body could not be read" }),
    ))
}

/// 415: a compressed (or otherwise encoded) body. Signatures are over the
/// bytes the provider signed; the gateway does not decode bodies, and no
/// supported provider encodes its callbacks.
pub fn unsupported_encoding() -> Response<Body> {
    json(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &json!({
            "error": "unsupported_content_encoding",
            "message": "Content-Encoding other than identity is not supported: send the body uncompressed"
        }),
    )
}

/// 401 with the rejection reason.
pub fn rejected(reason: Rejection) -> Response<Body> {
    json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "invalid_signature", "reason": reason.as_str() }),
    )
}

/// 400 with what is wrong with the payload.
pub fn invalid_payload(message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_payload", "message": message }),
    )
}

/// 429 with `Retry-After`.
pub fn rate_limited(wait: Duration) -> Response<Body> {
    retry_after(
        json(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({ "error": "rate_limited" }),
        ),
        wait,
    )
}

/// 429 when the source has `max_in_flight_per_source` verified requests
/// in flight. The body was read, so the connection stays open.
pub fn overloaded() -> Response<Body> {
    rate_limited(Duration::from_secs(1))
}

/// 503 with `Retry-After`: nothing was acknowledged.
pub fn store_unavailable() -> Response<Body> {
    retry_after(
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "error": "store_unavailable" }),
        ),
        Duration::from_secs(1),
    )
}

/// 200: the gateway's JSON answer or the scheme's fixed acknowledgement.
pub fn accepted(ack: Ack, events: &[(String, bool)]) -> Response<Body> {
    match ack {
        Ack::Fixed { content_type, body } => text(StatusCode::OK, content_type, body),
        Ack::Json => {
            let events: Vec<_> = events
                .iter()
                .map(|(id, duplicate)| json!({ "id": id, "duplicate": duplicate }))
                .collect();
            json(
                StatusCode::OK,
                &json!({ "status": "accepted", "events": events }),
            )
        }
    }
}
