//! How a request ends, and the one place that becomes an answer.
//!
//! Every step of the pipeline either lets the request go on or stops it
//! with a [`Rejection`]; a request that passes them all ends in an
//! [`Answer`]. [`conclude`] is the only place either is turned into the
//! HTTP answer and the metric label ([`Outcome`]); [`log`] writes the
//! request's log line from that label. Keeping the pairing here, not at
//! each exit of the pipeline, is what keeps the answers of docs/ingest.md
//! and the bounded label set from drifting apart.
//!
//! Bodies are fixed JSON shapes; none echoes a secret, an expected
//! signature or an internal error text.

use hookgate_http::{Body, json, text};
use hookgate_store::StoreError;
use hookgate_verify::Ack;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;
use std::time::Duration;

/// The reason a signature was refused (the `reason` of the 401).
pub use hookgate_verify::Rejection as SignatureReason;

/// Why a request was refused: one variant per answer of docs/ingest.md.
#[derive(Debug)]
pub enum Rejection {
    /// The path is not `/ingest/{source}`: 404 `not_found`.
    NotFound,
    /// No source has that id: 404 `unknown_source`.
    UnknownSource,
    /// Not a POST: 405 with `Allow: POST`.
    MethodNotAllowed,
    /// The body is (or announced to be) over `max_body_bytes`, this limit:
    /// 413, connection closed.
    TooLarge {
        /// `max_body_bytes`, named in the answer.
        limit: u64,
    },
    /// The body was not complete within `read_timeout`: 408, connection
    /// closed.
    Timeout,
    /// The body could not be read (the client aborted mid-body): 400
    /// `invalid_request`, connection closed; counted as `invalid_payload`.
    Unreadable,
    /// A `Content-Encoding` other than `identity`: 415; counted as
    /// `invalid_payload`.
    UnsupportedEncoding,
    /// The signature was refused: 401 with the reason.
    Signature(SignatureReason),
    /// The payload is not what the scheme requires: 400 with this message.
    InvalidPayload(String),
    /// The source's rate limit: 429 with `Retry-After` for this wait.
    RateLimited(Duration),
    /// Every in-flight slot of the source is taken: 429 with
    /// `Retry-After: 1`; counted as `rate_limited`.
    Overloaded,
    /// The store write failed: 503 with `Retry-After: 1`, and the error
    /// logged (never answered).
    Store(StoreError),
}

/// How a request that passed every step is answered.
#[derive(Debug)]
pub enum Answer {
    /// The events were written: each one's id and whether it was already
    /// stored (a duplicate), answered as the scheme acknowledges.
    Stored {
        /// The scheme's acknowledgement.
        ack: Ack,
        /// `(event id, duplicate)`, in the callback's order; never empty.
        events: Vec<(String, bool)>,
    },
    /// A verified provider handshake (Slack's `url_verification`), answered
    /// 200 with this body and stored nowhere.
    Handshake {
        /// `content-type` of the body.
        content_type: &'static str,
        /// The body.
        body: Vec<u8>,
    },
}

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
    Signature(SignatureReason),
    /// 400 (and 415).
    InvalidPayload,
    /// 429.
    RateLimited,
    /// 503.
    StoreError,
}

impl hookgate_telemetry::event::Outcome for Outcome {
    fn label(self) -> &'static str {
        self.as_str()
    }

    fn is_failure(self) -> bool {
        self == Outcome::StoreError
    }
}

impl Outcome {
    /// The outcomes whose series exist from the start, at 0, so that the
    /// alert rules' `rate()` sees a source's first rejection or store
    /// error rather than a series appearing.
    pub const WATCHED: &[Outcome] = &[
        Outcome::Accepted,
        Outcome::Duplicate,
        Outcome::Signature(SignatureReason::Missing),
        Outcome::Signature(SignatureReason::Malformed),
        Outcome::Signature(SignatureReason::Mismatch),
        Outcome::Signature(SignatureReason::Stale),
        Outcome::InvalidPayload,
        Outcome::RateLimited,
        Outcome::StoreError,
    ];

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
            Outcome::Signature(SignatureReason::Missing) => "signature_missing",
            Outcome::Signature(SignatureReason::Malformed) => "signature_malformed",
            Outcome::Signature(SignatureReason::Mismatch) => "signature_mismatch",
            Outcome::Signature(SignatureReason::Stale) => "signature_stale",
            Outcome::InvalidPayload => "invalid_payload",
            Outcome::RateLimited => "rate_limited",
            Outcome::StoreError => "store_error",
        }
    }
}

/// The one place a request's end becomes its HTTP answer and its metric
/// label. Logged here too (`request_id` and `source` name the request):
/// each stored event (debug), and a store error with its text, which the
/// answer never carries.
pub fn conclude(
    end: Result<Answer, Rejection>,
    request_id: &str,
    source: &str,
) -> (Outcome, Response<Body>) {
    let rejection = match end {
        Ok(Answer::Stored { ack, events }) => {
            for (id, duplicate) in &events {
                tracing::debug!(request_id, source = %source, event_id = %id, duplicate = *duplicate, "event");
            }
            let outcome = if events.iter().any(|&(_, duplicate)| !duplicate) {
                Outcome::Accepted
            } else {
                Outcome::Duplicate
            };
            return (outcome, accepted(ack, &events));
        }
        Ok(Answer::Handshake { content_type, body }) => {
            return (Outcome::Handshake, text(StatusCode::OK, content_type, body));
        }
        Err(rejection) => rejection,
    };
    match rejection {
        Rejection::NotFound => (Outcome::UnknownSource, not_found(false)),
        Rejection::UnknownSource => (Outcome::UnknownSource, not_found(true)),
        Rejection::MethodNotAllowed => (Outcome::MethodNotAllowed, method_not_allowed()),
        Rejection::TooLarge { limit } => (Outcome::TooLarge, too_large(limit)),
        Rejection::Timeout => (Outcome::Timeout, timeout()),
        Rejection::Unreadable => (Outcome::InvalidPayload, unreadable()),
        Rejection::UnsupportedEncoding => (Outcome::InvalidPayload, unsupported_encoding()),
        Rejection::Signature(reason) => (Outcome::Signature(reason), rejected(reason)),
        Rejection::InvalidPayload(message) => (Outcome::InvalidPayload, invalid_payload(&message)),
        Rejection::RateLimited(wait) => (Outcome::RateLimited, rate_limited(wait)),
        Rejection::Overloaded => (Outcome::RateLimited, overloaded()),
        Rejection::Store(err) => {
            tracing::warn!(request_id, source, error = %err, "store write failed; answered 503");
            (Outcome::StoreError, store_unavailable())
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
fn not_found(unknown_source: bool) -> Response<Body> {
    let error = if unknown_source {
        "unknown_source"
    } else {
        "not_found"
    };
    json(StatusCode::NOT_FOUND, &json!({ "error": error }))
}

/// 405 with `Allow: POST`.
fn method_not_allowed() -> Response<Body> {
    let mut resp = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "error": "method_not_allowed", "allow": "POST" }),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

/// 413; the connection closes, since the rest of the body is not read.
fn too_large(limit: u64) -> Response<Body> {
    close(json(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({ "error": "payload_too_large", "max_body_bytes": limit }),
    ))
}

/// 408; the connection closes.
fn timeout() -> Response<Body> {
    close(json(
        StatusCode::REQUEST_TIMEOUT,
        &json!({ "error": "request_timeout" }),
    ))
}

/// 400 for a body that could not be read (client aborted mid-body).
fn unreadable() -> Response<Body> {
    close(json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "message": "request body could not be read" }),
    ))
}

/// 415: a compressed (or otherwise encoded) body. Signatures are over the
/// bytes the provider signed; the gateway does not decode bodies, and no
/// supported provider encodes its callbacks.
fn unsupported_encoding() -> Response<Body> {
    json(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &json!({
            "error": "unsupported_content_encoding",
            "message": "Content-Encoding other than identity is not supported: send the body uncompressed"
        }),
    )
}

/// 401 with the rejection reason.
fn rejected(reason: SignatureReason) -> Response<Body> {
    json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "invalid_signature", "reason": reason.as_str() }),
    )
}

/// 400 with what is wrong with the payload.
fn invalid_payload(message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_payload", "message": message }),
    )
}

/// 429 with `Retry-After`.
fn rate_limited(wait: Duration) -> Response<Body> {
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
fn overloaded() -> Response<Body> {
    rate_limited(Duration::from_secs(1))
}

/// 503 with `Retry-After`: nothing was acknowledged.
fn store_unavailable() -> Response<Body> {
    retry_after(
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "error": "store_unavailable" }),
        ),
        Duration::from_secs(1),
    )
}

/// 200: the gateway's JSON answer or the scheme's fixed acknowledgement.
fn accepted(ack: Ack, events: &[(String, bool)]) -> Response<Body> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn concluded(
        end: Result<Answer, Rejection>,
    ) -> (&'static str, u16, serde_json::Value, Vec<(String, String)>) {
        let (outcome, resp) = conclude(end, "req_test", "stripe");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter(|(name, _)| *name != header::CONTENT_TYPE)
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (outcome.as_str(), status, body, headers)
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Every rejection's label, status, body and headers (docs/ingest.md;
    /// the end-to-end suite pins them over the wire too). Longer than a
    /// function should be: it is one table, a row per rejection, kept
    /// whole so it reads like the table of answers in docs/ingest.md.
    #[tokio::test]
    async fn every_rejection_has_its_one_answer_and_label() {
        let close = h(&[("connection", "close")]);
        let retry_1 = h(&[("retry-after", "1")]);
        let cases = [
            (
                Rejection::NotFound,
                ("unknown_source", 404, json!({"error": "not_found"}), vec![]),
            ),
            (
                Rejection::UnknownSource,
                (
                    "unknown_source",
                    404,
                    json!({"error": "unknown_source"}),
                    vec![],
                ),
            ),
            (
                Rejection::MethodNotAllowed,
                (
                    "method_not_allowed",
                    405,
                    json!({"error": "method_not_allowed", "allow": "POST"}),
                    h(&[("allow", "POST")]),
                ),
            ),
            (
                Rejection::TooLarge { limit: 10 },
                (
                    "payload_too_large",
                    413,
                    json!({"error": "payload_too_large", "max_body_bytes": 10}),
                    close.clone(),
                ),
            ),
            (
                Rejection::Timeout,
                (
                    "request_timeout",
                    408,
                    json!({"error": "request_timeout"}),
                    close.clone(),
                ),
            ),
            (
                Rejection::Unreadable,
                (
                    "invalid_payload",
                    400,
                    json!({"error": "invalid_request", "message": "request body could not be read"}),
                    close.clone(),
                ),
            ),
            (
                Rejection::UnsupportedEncoding,
                (
                    "invalid_payload",
                    415,
                    json!({
                        "error": "unsupported_content_encoding",
                        "message": "Content-Encoding other than identity is not supported: send the body uncompressed"
                    }),
                    vec![],
                ),
            ),
            (
                Rejection::Signature(SignatureReason::Stale),
                (
                    "signature_stale",
                    401,
                    json!({"error": "invalid_signature", "reason": "stale"}),
                    vec![],
                ),
            ),
            (
                Rejection::InvalidPayload("no id".into()),
                (
                    "invalid_payload",
                    400,
                    json!({"error": "invalid_payload", "message": "no id"}),
                    vec![],
                ),
            ),
            (
                Rejection::RateLimited(Duration::from_millis(2100)),
                (
                    "rate_limited",
                    429,
                    json!({"error": "rate_limited"}),
                    h(&[("retry-after", "3")]),
                ),
            ),
            (
                Rejection::Overloaded,
                (
                    "rate_limited",
                    429,
                    json!({"error": "rate_limited"}),
                    retry_1.clone(),
                ),
            ),
            (
                Rejection::Store(StoreError::OutOfMemory),
                (
                    "store_error",
                    503,
                    json!({"error": "store_unavailable"}),
                    retry_1.clone(),
                ),
            ),
        ];
        for (rejection, want) in cases {
            let name = format!("{rejection:?}");
            assert_eq!(concluded(Err(rejection)).await, want, "{name}");
        }
    }

    #[tokio::test]
    async fn stored_events_are_accepted_unless_all_were_duplicates() {
        let stored = |events: &[(&str, bool)]| Answer::Stored {
            ack: Ack::Json,
            events: events.iter().map(|&(id, d)| (id.to_owned(), d)).collect(),
        };
        let (label, status, body, _) =
            concluded(Ok(stored(&[("evt_a", true), ("evt_b", false)]))).await;
        assert_eq!((label, status), ("accepted", 200));
        assert_eq!(
            body,
            json!({"status": "accepted", "events": [
                {"id": "evt_a", "duplicate": true}, {"id": "evt_b", "duplicate": false}
            ]})
        );
        let (label, ..) = concluded(Ok(stored(&[("evt_a", true)]))).await;
        assert_eq!(label, "duplicate");
        let (outcome, resp) = conclude(
            Ok(Answer::Handshake {
                content_type: "text/plain",
                body: b"challenge".to_vec(),
            }),
            "req_test",
            "slack",
        );
        assert_eq!(
            (outcome, resp.status()),
            (Outcome::Handshake, StatusCode::OK)
        );
    }
}
