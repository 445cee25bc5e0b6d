//! One attempt of one claimed delivery: send, classify, decide, record.
//!
//! The route driver (`route.rs`) hands each leased delivery to
//! [`attempt`], which owns everything from there to the store's
//! acknowledgement: the signed `POST` (docs/delivery.md lists its headers),
//! what the answer means ([`crate::classify`]), what the breaker hears,
//! what happens next ([`crate::decide`]), the span, the metrics and the log
//! line, and the outcome written back with the lease token. The decisions
//! are pure and live beside `classify`; what is here is the I/O around
//! them.

use crate::breaker::{BreakerState, Probe};
use crate::classify::{Classified, classify_error, classify_status};
use crate::decide::{self, Decision, Outcome};
use crate::route::{Route, Subscription};
use crate::{backoff, sign};
use bytes::Bytes;
use hookgate_core::event::CLOUDEVENTS_CONTENT_TYPE;
use hookgate_core::time::{now_ms, now_unix, rfc3339_ms};
use hookgate_core::trace;
use hookgate_store::{AttemptRecord, Attempted, ClaimedDelivery, Finish, Store, StoreError};
use hookgate_telemetry::event::{
    BreakerChanged, DeliveryAttempted, DeliveryExpired, RetryScheduled,
};
use hookgate_telemetry::{Kind, SpanData, otlp};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::OwnedSemaphorePermit;

/// Response bytes kept in the attempt log.
const RESPONSE_CAP: usize = 1024;

/// One attempt, from send to the recorded outcome.
/// `probe`: this is the half-open breaker's one probe. `in_flight`: the
/// subscription's permit, given back once the subscriber has answered and
/// the breaker has heard of it (or when nothing was sent):
/// `max_in_flight` bounds the requests a subscriber sees at once, and the
/// wait for the store to record the outcome is not one of them.
pub(crate) async fn attempt(
    store: &Store,
    route: &Route,
    d: ClaimedDelivery,
    probe: Option<Probe>,
    in_flight: OwnedSemaphorePermit,
) {
    let sub = &route.sub;
    let n = d.attempts + 1;
    // Every line about this attempt carries its own request id (docs/operations.md).
    let request_id = hookgate_core::trace::new_request_id();
    let age = Duration::from_millis((now_ms() - d.first_ms).max(0) as u64);
    if let Some(reason) = decide::expired(d.attempts, age, &sub.retry) {
        drop(in_flight);
        expire(store, route, &d, reason, &request_id).await;
        // Nothing was sent: a probe this was is given back, or the breaker
        // would wait for its outcome forever.
        drop(probe);
        return;
    }
    let started_ms = now_ms();
    let started = Instant::now();
    let started_at = SystemTime::now();
    // This attempt's span: same trace as the ingest request, new span id.
    let traceparent = trace::child_of(&d.traceparent);
    let sent = send(route, &d, n, traceparent.as_deref()).await;
    let elapsed = started.elapsed();
    let record = AttemptRecord {
        n,
        at: rfc3339_ms(started_ms).unwrap_or_default(),
        status_code: sent.status_code,
        error: sent.error.clone(),
        duration_ms: elapsed.as_millis() as u64,
        response: sent.response.clone(),
    };
    tell_breaker(route, &sent.classified, probe, &request_id);
    // Only once the breaker has heard: the next claim asks it first.
    drop(in_flight);
    let now = now_ms();
    let age = Duration::from_millis((now - d.first_ms).max(0) as u64);
    let decision = decide::decide(&sent.classified, n, age, &sub.retry, backoff::full_jitter);
    let outcome = decision.outcome();
    let finish = finish(sub, decision, now);
    let span = Sending {
        n,
        traceparent: traceparent.as_deref(),
        started_at,
        elapsed,
    };
    record_span(route, &d, &span, &sent, outcome);
    DeliveryAttempted {
        request_id: &request_id,
        event_id: d.id.as_str(),
        source: &route.source,
        subscription: &sub.id,
        attempt: n,
        status_code: sent.status_code,
        error: sent.error.as_deref(),
        outcome,
        elapsed,
    }
    .emit();
    record_finish(store, route, &d, n, &finish, Some(&record), &request_id).await;
}

/// Dead-letters a delivery held back past `max_age`, unsent.
async fn expire(
    store: &Store,
    route: &Route,
    d: &ClaimedDelivery,
    reason: String,
    request_id: &str,
) {
    let sub = &route.sub;
    DeliveryExpired {
        request_id,
        event_id: d.id.as_str(),
        source: &route.source,
        subscription: &sub.id,
        reason: &reason,
        outcome: Outcome::Dead,
    }
    .emit();
    let finish = Finish::Dead { reason };
    record_finish(store, route, d, d.attempts, &finish, None, request_id).await;
}

/// Tells the breaker what a sent attempt's answer was, and resolves the
/// probe this attempt was, if any.
fn tell_breaker(route: &Route, classified: &Classified, probe: Option<Probe>, request_id: &str) {
    let changed = match classified {
        // A 4xx comes from a subscriber that is up and refuses this event:
        // it counts for the breaker as an answer, not a failure (an open
        // breaker would only hold the next events back for the cooldown
        // before they are dead-lettered the same way).
        Classified::Delivered | Classified::Dead { .. } => {
            route.breaker.on_success().then_some(BreakerState::Closed)
        }
        Classified::Retry { .. } => route
            .breaker
            .on_failure(Instant::now())
            .then_some(BreakerState::Open),
    };
    if let Some(state) = changed {
        BreakerChanged {
            request_id,
            source: &route.source,
            subscription: &route.sub.id,
            state,
        }
        .emit();
    }
    if let Some(probe) = probe {
        probe.resolved();
    }
}

/// What the store writes for `decision`, taken at `now_ms`; counts a
/// scheduled retry.
fn finish(sub: &Subscription, decision: Decision, now_ms: i64) -> Finish {
    match decision {
        Decision::Delivered => Finish::Delivered,
        Decision::Dead { reason } => Finish::Dead { reason },
        Decision::Retry { after } => {
            RetryScheduled {
                subscription: &sub.id,
            }
            .emit();
            Finish::Retry {
                due_ms: now_ms + after.as_millis() as i64,
            }
        }
    }
}

/// A send, for its span.
struct Sending<'a> {
    /// The attempt number.
    n: u32,
    /// The `traceparent` it carried (this attempt's span).
    traceparent: Option<&'a str>,
    started_at: SystemTime,
    elapsed: Duration,
}

/// Records the attempt's client span, when tracing is on and the delivery
/// carries a trace.
fn record_span(
    route: &Route,
    d: &ClaimedDelivery,
    span: &Sending<'_>,
    sent: &Sent,
    outcome: Outcome,
) {
    if !route.tracer.enabled() {
        return;
    }
    let Some((trace_id, span_id)) = span.traceparent.and_then(otlp::ids_of) else {
        return;
    };
    route.tracer.record(SpanData {
        trace_id,
        span_id,
        parent_span_id: otlp::ids_of(&d.traceparent).map(|(_, s)| s),
        name: format!("deliver {}", route.sub.id),
        kind: Kind::Client,
        start_unix_nanos: otlp::unix_nanos(span.started_at),
        end_unix_nanos: otlp::unix_nanos(span.started_at + span.elapsed),
        attributes: vec![
            ("hookgate.source", route.source.clone()),
            ("hookgate.subscription", route.sub.id.clone()),
            ("hookgate.event_id", d.id.to_string()),
            ("hookgate.attempt", span.n.to_string()),
            ("hookgate.outcome", outcome.as_str().to_owned()),
        ],
        status_code: sent.status_code,
        error: outcome != Outcome::Delivered,
    });
}

/// What a single send produced.
struct Sent {
    classified: Classified,
    status_code: Option<u16>,
    error: Option<String>,
    response: Option<String>,
}

impl Sent {
    /// No answer: a transport error or a timeout, described by `text`.
    fn failed(text: String) -> Self {
        Sent {
            classified: classify_error(&text),
            status_code: None,
            error: Some(text),
            response: None,
        }
    }
}

/// Sends attempt `n` of `d` and classifies what came back, within the
/// subscription's timeout.
async fn send(route: &Route, d: &ClaimedDelivery, n: u32, traceparent: Option<&str>) -> Sent {
    let sub = &route.sub;
    let req = match request(sub, d, n, traceparent) {
        Ok(r) => r,
        Err(e) => {
            return Sent {
                classified: Classified::Dead {
                    reason: format!("invalid request: {e}"),
                },
                status_code: None,
                error: Some("invalid request".into()),
                response: None,
            };
        }
    };
    match tokio::time::timeout(sub.timeout, exchange(sub, req)).await {
        Ok(Ok((status, headers, body))) => Sent {
            classified: classify_status(status, &headers, SystemTime::now()),
            status_code: Some(status.as_u16()),
            error: None,
            response: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
        },
        Ok(Err(err)) => Sent::failed(describe(&err)),
        Err(_) => Sent::failed(format!("timeout after {}ms", sub.timeout.as_millis())),
    }
}

/// The signed `POST` of attempt `n` of `d`.
fn request(
    sub: &Subscription,
    d: &ClaimedDelivery,
    n: u32,
    traceparent: Option<&str>,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let ts = now_unix();
    let signature = sign::signature(&sub.secrets, d.id.as_str(), ts, &d.cloudevent);
    let mut req = Request::post(sub.url.clone());
    let h = req.headers_mut().expect("a fresh builder has headers");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CLOUDEVENTS_CONTENT_TYPE),
    );
    h.insert(header::USER_AGENT, sub.user_agent.clone());
    // Ids are base32 and numbers: always valid header values.
    h.insert(
        "webhook-id",
        HeaderValue::from_str(d.id.as_str()).expect("base32 id"),
    );
    h.insert("webhook-timestamp", HeaderValue::from(ts));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&signature).expect("base64 signature"),
    );
    h.insert("hookgate-attempt", HeaderValue::from(n));
    h.insert("hookgate-subscription", sub.sub_header.clone());
    if let Some(tp) = traceparent.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("traceparent", tp);
    }
    req.body(Full::new(d.cloudevent.clone()))
}

/// Sends `req` and reads the answer: its status, its headers, and the
/// first `RESPONSE_CAP` bytes of its body for the attempt log (reading
/// stops past the cap).
async fn exchange(
    sub: &Subscription,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), hyper_util::client::legacy::Error> {
    let resp = sub.client.request(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_CAP {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = RESPONSE_CAP - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    Ok((status, headers, kept))
}

/// A short, secret-free description of a transport error.
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = if err.is_connect() {
        "connect error".to_owned()
    } else {
        "transport error".to_owned()
    };
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        // A TLS failure (untrusted, expired or misnamed certificate, bad
        // handshake) says so: rustls's own text does not.
        if is_tls(s) {
            text.push_str("TLS: ");
        }
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether `err` is a rustls error, itself or wrapped in `io::Error`s (as
/// the TLS connector hands it over).
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<rustls::Error>() {
        return true;
    }
    match err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

/// Gives a lease back unsent: due again at once, no attempt counted. Tried
/// once: if the store fails, the lease runs out by itself.
pub(crate) async fn release(
    store: &Store,
    route: &Route,
    d: &ClaimedDelivery,
) -> Result<(), StoreError> {
    finish_once(store, route, d, d.attempts, &Finish::Release, None).await
}

/// One store call recording how the lease of `d` ends.
async fn finish_once(
    store: &Store,
    route: &Route,
    d: &ClaimedDelivery,
    attempts: u32,
    finish: &Finish,
    record: Option<&AttemptRecord>,
) -> Result<(), StoreError> {
    let attempted = Attempted {
        id: &d.id,
        lease: d.lease,
        attempts,
        finish,
        record,
        row: d.row,
    };
    store
        .route_finish(&route.source, &route.sub.id, &attempted)
        .await
        .map(drop)
}

/// Records an outcome; a store hiccup is retried briefly. If it still
/// fails, the lease expires and the delivery is sent again (at-least-once),
/// never lost.
async fn record_finish(
    store: &Store,
    route: &Route,
    d: &ClaimedDelivery,
    attempts: u32,
    finish: &Finish,
    record: Option<&AttemptRecord>,
    request_id: &str,
) {
    for pause in [50u64, 200, 1000] {
        match finish_once(store, route, d, attempts, finish, record).await {
            Ok(()) => {
                // A delivery that left an ordering key's line moved the
                // next one of its key up, due now: the driver may be idle
                // with nothing else due, so it claims again at once.
                if matches!(finish, Finish::Delivered | Finish::Dead { .. }) {
                    route.wake.notify_one();
                }
                return;
            }
            Err(err) => {
                tracing::warn!(request_id, event_id = %d.id, subscription = %route.sub.id, error = %err, "recording attempt failed");
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}
