//! The ingest pipeline: one request through the steps of docs/ingest.md.
//!
//! [`Ingest::handle`] is the frame (trace, span, metrics, log line, request
//! id); `Ingest::steps` is the sequence, each step a small function that
//! lets the request go on or stops it with a [`Rejection`], and
//! [`respond::conclude`] turns where it stopped into the answer.

use crate::body::BodyReader;
use crate::respond::{self, Answer, Outcome, Rejection};
use crate::source::{Payload, SourceRuntime};
use hookgate_config::Config;
use hookgate_core::event::{NormalizedEvent, normalized_type};
use hookgate_core::time::{now_ms, rfc3339_ms};
use hookgate_core::{EventId, idempotency_key, trace};
use hookgate_http::Body;
use hookgate_store::{NewEvent, OrderSlot, Store};
use hookgate_telemetry::event::{IngestEventsStored, IngestFinished};
use hookgate_telemetry::{Kind, SpanData, Tracer, otlp};
use hookgate_verify::{ProviderEvent, RawRequest, SchemeError};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// The ingest listener's state.
#[derive(Debug)]
pub struct Ingest {
    sources: HashMap<String, SourceRuntime>,
    store: Store,
    body: BodyReader,
    tracer: Tracer,
}

/// Who a request is, for its span and log line: its request id, the
/// provider's `traceparent` as sent, the one this request's span (and its
/// stored events) carry, and when it began.
struct RequestFrame {
    request_id: String,
    incoming: Option<String>,
    traceparent: String,
    started_at: SystemTime,
}

/// An event as stored: its id, normalized type, CloudEvent body and
/// places in line (empty, unallocated, without ordering).
struct StoredEvent {
    id: EventId,
    ty: String,
    cloudevent: Vec<u8>,
    order: Vec<OrderSlot>,
}

impl Ingest {
    /// Builds every source's verifier; any scheme error stops the gateway
    /// (fail closed: no source runs unverified).
    pub fn new(cfg: &Config, store: Store, tracer: Tracer) -> Result<Self, Vec<SchemeError>> {
        let mut sources = HashMap::new();
        let mut errors = Vec::new();
        for src in &cfg.sources {
            match SourceRuntime::new(src, cfg.server.max_in_flight_per_source, &cfg.subscriptions) {
                Ok(source) => {
                    sources.insert(src.id.clone(), source);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Ingest {
            sources,
            store,
            body: BodyReader::new(
                cfg.server.max_body_bytes,
                cfg.server.read_timeout,
                cfg.server.max_body_buffer_bytes,
            ),
            tracer,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        // The trace: the provider's when it sent a valid traceparent, else
        // a new one; this request is its span, and stored events carry it.
        let incoming = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let frame = RequestFrame {
            started_at: SystemTime::now(),
            request_id: trace::new_request_id(),
            traceparent: trace::continue_or_start(incoming.as_deref()),
            incoming,
        };
        let (source_label, outcome, mut resp) =
            self.run(req, &frame.request_id, &frame.traceparent).await;
        let elapsed = started.elapsed();
        let status = resp.status();
        self.record_span(&frame, &source_label, outcome, status, elapsed);
        IngestFinished {
            request_id: &frame.request_id,
            source: &source_label,
            outcome,
            status: status.as_u16(),
            elapsed,
        }
        .emit();
        if let Ok(v) = HeaderValue::from_str(&frame.request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }

    /// Exports the request's span, when a collector is configured: a child
    /// of the provider's span when it sent one.
    fn record_span(
        &self,
        frame: &RequestFrame,
        source_label: &str,
        outcome: Outcome,
        status: StatusCode,
        elapsed: Duration,
    ) {
        if !self.tracer.enabled() {
            return;
        }
        let Some((trace_id, span_id)) = otlp::ids_of(&frame.traceparent) else {
            return;
        };
        let parent_span_id = frame
            .incoming
            .as_deref()
            .and_then(otlp::ids_of)
            .filter(|(t, _)| *t == trace_id)
            .map(|(_, s)| s);
        self.tracer.record(SpanData {
            trace_id,
            span_id,
            parent_span_id,
            name: format!("ingest {source_label}"),
            kind: Kind::Server,
            start_unix_nanos: otlp::unix_nanos(frame.started_at),
            end_unix_nanos: otlp::unix_nanos(frame.started_at + elapsed),
            attributes: vec![
                ("hookgate.source", source_label.to_owned()),
                ("hookgate.outcome", outcome.as_str().to_owned()),
                ("hookgate.request_id", frame.request_id.clone()),
            ],
            status_code: Some(status.as_u16()),
            error: status.is_server_error(),
        });
    }

    /// Routes the request, takes it through the steps and concludes: the
    /// source label for metrics, the outcome and the answer.
    async fn run(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        traceparent: &str,
    ) -> (String, Outcome, Response<Body>) {
        let (label, end) = match self.route(req.uri().path()) {
            Ok(source) => (
                source.id.clone(),
                self.steps(source, req, traceparent).await,
            ),
            // Never label metrics with a caller-chosen string.
            Err(rejection @ Rejection::NotFound) => ("_none".to_owned(), Err(rejection)),
            Err(rejection) => ("_unknown".to_owned(), Err(rejection)),
        };
        let (outcome, resp) = respond::conclude(end, request_id, &label);
        (label, outcome, resp)
    }

    /// The steps after the route, in the order of docs/ingest.md; the first
    /// that refuses ends the request. What the steps hold (the body's share
    /// of the body budget, the source's slot) is released once the answer
    /// is decided.
    async fn steps(
        &self,
        source: &SourceRuntime,
        req: Request<Incoming>,
        traceparent: &str,
    ) -> Result<Answer, Rejection> {
        allow_method(req.method())?;
        // No slot of the source is held while the body is read: reading is
        // what a slow or hostile client can drag out.
        let (parts, body) = req.into_parts();
        let (body, _body_budget) = self.body.read(&parts.headers, body).await?;
        identity_encoding(&parts.headers)?;
        let raw = raw_request(&parts, &body);
        source.verify(&raw)?;
        let _slot = source.take_slot()?;
        let events = match source.payload(&raw)? {
            Payload::Handshake(answer) => return Ok(answer),
            Payload::Events(events) => events,
        };
        source.rate_limit(events.len())?;
        let events = normalize(source, &events, &parts.headers);
        let stored = self.store_write(source, &events, traceparent).await?;
        Ok(Answer::Stored {
            ack: source.verifier.ack(),
            events: stored,
        })
    }

    /// Step 1, the route: `/ingest/{source}` of a configured source.
    fn route(&self, path: &str) -> Result<&SourceRuntime, Rejection> {
        let source_id = path.strip_prefix("/ingest/").ok_or(Rejection::NotFound)?;
        self.sources.get(source_id).ok_or(Rejection::UnknownSource)
    }

    /// Step 6, the store write: one atomic, durable store call claims every
    /// idempotency key and stores every new event. Returns each event's id
    /// and whether it was already stored.
    async fn store_write(
        &self,
        source: &SourceRuntime,
        events: &[StoredEvent],
        traceparent: &str,
    ) -> Result<Vec<(String, bool)>, Rejection> {
        let new_events: Vec<NewEvent<'_>> = events
            .iter()
            .map(|ev| NewEvent {
                id: &ev.id,
                ty: &ev.ty,
                cloudevent: &ev.cloudevent,
                traceparent,
                order: &ev.order,
            })
            .collect();
        let stored = self
            .store
            .ingest(&source.id, source.verifier.dedup_window(), &new_events)
            .await
            .map_err(Rejection::Store)?;
        let new_count = stored.iter().filter(|&&s| s).count() as u64;
        IngestEventsStored {
            source: &source.id,
            stored: new_count,
            duplicate: stored.len() as u64 - new_count,
        }
        .emit();
        Ok(events
            .iter()
            .zip(&stored)
            .map(|(ev, &new)| (ev.id.to_string(), !new))
            .collect())
    }
}

/// Only POST is taken (405 otherwise).
fn allow_method(method: &Method) -> Result<(), Rejection> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(Rejection::MethodNotAllowed)
    }
}

/// An encoded body cannot be checked against a signature over the plain
/// one: say so (415) instead of a misleading `mismatch`.
fn identity_encoding(headers: &HeaderMap) -> Result<(), Rejection> {
    let encoded = headers.get_all(header::CONTENT_ENCODING).iter().any(|v| {
        !v.to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
    });
    if encoded {
        Err(Rejection::UnsupportedEncoding)
    } else {
        Ok(())
    }
}

/// The request as the verifier sees it.
fn raw_request<'a>(parts: &'a Parts, body: &'a [u8]) -> RawRequest<'a> {
    RawRequest {
        method: parts.method.as_str(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        headers: &parts.headers,
        body,
    }
}

/// Step 4's events as stored: the event id from the idempotency key,
/// the normalized type, the CloudEvent (the receive time when the
/// provider gave none), and the ordering keys of the subscriptions that
/// want it (from its subject, payload or the request's `headers`).
fn normalize(
    source: &SourceRuntime,
    events: &[ProviderEvent<'_>],
    headers: &HeaderMap,
) -> Vec<StoredEvent> {
    let received = rfc3339_ms(now_ms()).unwrap_or_default();
    events
        .iter()
        .map(|ev| {
            let id = EventId::derive(&idempotency_key(&source.id, &ev.provider_event_id));
            let ty = normalized_type(&source.id, &ev.provider_type, &source.types);
            let cloudevent = NormalizedEvent {
                id: &id,
                source_id: &source.id,
                ty: &ty,
                time: ev.time.as_deref().unwrap_or(&received),
                subject: ev.subject.as_deref(),
                data_json: &ev.data_json,
            }
            .to_cloudevent_json();
            let order = source.ordered.slots(&ty, ev, headers);
            StoredEvent {
                id,
                ty,
                cloudevent,
                order,
            }
        })
        .collect()
}
