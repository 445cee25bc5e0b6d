//! The ingest pipeline: one request through the steps of docs/ingest.md.

use crate::respond::{self, Outcome};
use bytes::Bytes;
use hookgate_config::Config;
use hookgate_core::event::{NormalizedEvent, normalized_type};
use hookgate_core::rate_limit::TokenBucket;
use hookgate_core::time::{now_ms, rfc3339_ms};
use hookgate_core::{EventId, idempotency_key, trace};
use hookgate_http::Body;
use hookgate_store::{NewEvent, Store, StoreError};
use hookgate_telemetry::{Kind, SpanData, Tracer, otlp};
use hookgate_verify::{RawRequest, SchemeError, Verifier};
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One source, ready to take callbacks.
#[derive(Debug)]
pub struct SourceRuntime {
    id: String,
    verifier: Verifier,
    types: BTreeMap<String, String>,
    rate: Option<TokenBucket>,
    /// Verified requests of this source being handled now (payload, rate
    /// limit, store write), bounded so one flooding provider cannot hold
    /// every store call of the listener. Taken only after the body was
    /// read and its signature verified: a client that has not proved it
    /// speaks for the provider holds none (a slow or silent one would
    /// otherwise deny the provider its own source).
    in_flight: Arc<Semaphore>,
}

/// The ingest listener's state.
#[derive(Debug)]
pub struct Ingest {
    sources: HashMap<String, SourceRuntime>,
    store: Store,
    max_body: u64,
    read_timeout: Duration,
    /// Bytes of request bodies held at once over every connection
    /// (`max_body_buffer_bytes`), one permit a byte. Only bytes received
    /// count: a connection that announced a body and sent nothing costs
    /// none, so stalled clients cannot starve the others of it.
    body_budget: Arc<Semaphore>,
    tracer: Tracer,
}

/// Why the body could not be taken.
enum BodyError {
    TooLarge,
    Timeout,
    Unreadable,
}

impl Ingest {
    /// Builds every source's verifier; any scheme error stops the gateway
    /// (fail closed: no source runs unverified).
    pub fn new(cfg: &Config, store: Store, tracer: Tracer) -> Result<Self, Vec<SchemeError>> {
        let mut sources = HashMap::new();
        let mut errors = Vec::new();
        for src in &cfg.sources {
            match Verifier::from_source(src) {
                Ok(verifier) => {
                    sources.insert(
                        src.id.clone(),
                        SourceRuntime {
                            id: src.id.clone(),
                            verifier,
                            types: src.types.clone(),
                            rate: src
                                .rate_limit
                                .map(|r| TokenBucket::new(r.per_second, r.burst)),
                            in_flight: Arc::new(Semaphore::new(
                                cfg.server.max_in_flight_per_source,
                            )),
                        },
                    );
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
            max_body: cfg.server.max_body_bytes,
            read_timeout: cfg.server.read_timeout,
            body_budget: Arc::new(Semaphore::new(
                usize::try_from(cfg.server.max_body_buffer_bytes)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            )),
            tracer,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let started_at = std::time::SystemTime::now();
        let request_id = trace::new_request_id();
        // The trace: the provider's when it sent a valid traceparent, else
        // a new one; this request is its span, and stored events carry it.
        let incoming = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let traceparent = trace::continue_or_start(incoming.as_deref());
        let (source_label, outcome, mut resp) = self.run(req, &request_id, &traceparent).await;
        let elapsed = started.elapsed();
        if self.tracer.enabled()
            && let Some((trace_id, span_id)) = otlp::ids_of(&traceparent)
        {
            let parent_span_id = incoming
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
                start_unix_nanos: otlp::unix_nanos(started_at),
                end_unix_nanos: otlp::unix_nanos(started_at + elapsed),
                attributes: vec![
                    ("hookgate.source", source_label.clone()),
                    ("hookgate.outcome", outcome.as_str().to_owned()),
                    ("hookgate.request_id", request_id.clone()),
                ],
                status_code: Some(resp.status().as_u16()),
                error: resp.status().is_server_error(),
            });
        }
        metrics::counter!(
            "hookgate_ingest_requests_total",
            "source" => source_label.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
        metrics::histogram!("hookgate_ingest_duration_seconds", "source" => source_label.clone())
            .record(elapsed.as_secs_f64());
        let status = resp.status().as_u16();
        match outcome {
            Outcome::StoreError => tracing::warn!(
                request_id = %request_id, source = %source_label, outcome = outcome.as_str(),
                status, duration_ms = elapsed.as_millis() as u64, "ingest failed: store unavailable"
            ),
            _ => tracing::info!(
                request_id = %request_id, source = %source_label, outcome = outcome.as_str(),
                status, duration_ms = elapsed.as_millis() as u64, "ingest"
            ),
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }

    async fn run(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        traceparent: &str,
    ) -> (String, Outcome, Response<Body>) {
        // 1. route
        let Some(source_id) = req.uri().path().strip_prefix("/ingest/") else {
            return (
                "_none".into(),
                Outcome::UnknownSource,
                respond::not_found(false),
            );
        };
        let Some(source) = self.sources.get(source_id) else {
            // Never label metrics with a caller-chosen string.
            return (
                "_unknown".into(),
                Outcome::UnknownSource,
                respond::not_found(true),
            );
        };
        let label = source.id.clone();
        if req.method() != Method::POST {
            return (
                label,
                Outcome::MethodNotAllowed,
                respond::method_not_allowed(),
            );
        }
        // 2. body, bounded in size and time, and in memory over all
        // connections (the body budget, held until the answer is built).
        // No slot of the source is held yet: reading is what a slow or
        // hostile client can drag out.
        let (parts, body) = req.into_parts();
        let (body, _body_budget) = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                return (label, Outcome::TooLarge, respond::too_large(self.max_body));
            }
            Err(BodyError::Timeout) => return (label, Outcome::Timeout, respond::timeout()),
            Err(BodyError::Unreadable) => {
                return (label, Outcome::InvalidPayload, respond::unreadable());
            }
        };
        // An encoded body cannot be checked against a signature over the
        // plain one: say so instead of a misleading `mismatch`. (Counted
        // with the payload errors.)
        if parts
            .headers
            .get_all(http::header::CONTENT_ENCODING)
            .iter()
            .any(|v| {
                !v.to_str()
                    .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
            })
        {
            return (
                label,
                Outcome::InvalidPayload,
                respond::unsupported_encoding(),
            );
        }
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let raw = RawRequest {
            method: parts.method.as_str(),
            path_and_query,
            headers: &parts.headers,
            body: &body,
        };

        // 3. signature
        if let Err(reason) = source
            .verifier
            .verify(&raw, hookgate_core::time::now_unix())
        {
            return (label, Outcome::Rejected(reason), respond::rejected(reason));
        }

        // Held until the answer is built; none free = this source is
        // flooding with verified callbacks: shed it before the store.
        let Ok(_slot) = source.in_flight.clone().try_acquire_owned() else {
            return (label, Outcome::RateLimited, respond::overloaded());
        };

        // A verified handshake (Slack's url_verification) is answered, not stored.
        if let Some((content_type, body)) = source.verifier.handshake(&raw) {
            return (
                label,
                Outcome::Handshake,
                hookgate_http::text(http::StatusCode::OK, content_type, body),
            );
        }

        // 4. payload
        let events = match source.verifier.extract(&raw) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => {
                return (
                    label,
                    Outcome::InvalidPayload,
                    respond::invalid_payload("the callback carries no event"),
                );
            }
            Err(e) => {
                return (
                    label,
                    Outcome::InvalidPayload,
                    respond::invalid_payload(&e.0),
                );
            }
        };

        // 5. rate limit (one token per event: a batch costs what it carries)
        if let Some(bucket) = &source.rate
            && let Err(wait) = bucket.try_take(events.len() as f64)
        {
            return (label, Outcome::RateLimited, respond::rate_limited(wait));
        }

        // 6. atomic dedup + durable enqueue
        let now = now_ms();
        let received = rfc3339_ms(now).unwrap_or_default();
        let mut ids = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for ev in &events {
            let id = EventId::derive(&idempotency_key(&source.id, &ev.provider_event_id));
            let ty = normalized_type(&source.id, &ev.provider_type, &source.types);
            let body = NormalizedEvent {
                id: &id,
                source_id: &source.id,
                ty: &ty,
                time: ev.time.as_deref().unwrap_or(&received),
                subject: ev.subject.as_deref(),
                data_json: &ev.data_json,
            }
            .to_cloudevent_json();
            ids.push(id);
            types.push(ty);
            bodies.push(body);
        }
        let new_events: Vec<NewEvent<'_>> = (0..events.len())
            .map(|i| NewEvent {
                id: &ids[i],
                ty: &types[i],
                cloudevent: &bodies[i],
                traceparent,
            })
            .collect();
        let stored = match self
            .store
            .ingest(&source.id, source.verifier.dedup_window(), &new_events)
            .await
        {
            Ok(flags) => flags,
            Err(err) => {
                log_store_error(request_id, &source.id, &err);
                return (label, Outcome::StoreError, respond::store_unavailable());
            }
        };

        // 7. answer
        let new_count = stored.iter().filter(|&&s| s).count() as u64;
        let label_stored = source.id.clone();
        metrics::counter!("hookgate_ingest_events_total", "source" => label_stored, "result" => "stored")
            .increment(new_count);
        metrics::counter!("hookgate_ingest_events_total", "source" => source.id.clone(), "result" => "duplicate")
            .increment(stored.len() as u64 - new_count);
        let any_new = new_count > 0;
        let answer: Vec<(String, bool)> = ids
            .iter()
            .zip(&stored)
            .map(|(id, &new)| (id.to_string(), !new))
            .collect();
        for (id, new) in &answer {
            tracing::debug!(request_id, source = %source.id, event_id = %id, duplicate = *new, "event");
        }
        let outcome = if any_new {
            Outcome::Accepted
        } else {
            Outcome::Duplicate
        };
        (
            label,
            outcome,
            respond::accepted(source.verifier.ack(), &answer),
        )
    }

    /// Reads the body: at most `max_body` bytes (stops reading past it) and
    /// within `read_timeout` from the end of the head, including any wait
    /// for room in the body budget. Returns the body and its share of the
    /// budget, to hold while the body is.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        mut body: Incoming,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(BodyError::TooLarge);
        }
        let max = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        // The buffer never grows past what the client announced (when it
        // did) nor past the limit.
        let ceiling = declared
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(max)
            .min(max);
        let read = async {
            // Nothing is reserved before bytes arrive (an announced length
            // is only a claim); the buffer then at most doubles, and every
            // byte of its capacity is taken from the budget first.
            let mut buf: Vec<u8> = Vec::new();
            let mut held: Option<OwnedSemaphorePermit> = None;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| BodyError::Unreadable)?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let need = buf.len() + data.len();
                if need > max {
                    return Err(BodyError::TooLarge);
                }
                if need > buf.capacity() {
                    let grown = need.max(buf.capacity().saturating_mul(2).min(ceiling));
                    let permit = self.take_budget(grown - buf.capacity()).await?;
                    match &mut held {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                    buf.reserve_exact(grown - buf.len());
                }
                buf.extend_from_slice(&data);
            }
            Ok((Bytes::from(buf), held))
        };
        match tokio::time::timeout(self.read_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(BodyError::Timeout),
        }
    }

    /// Takes `bytes` from the body budget, waiting for room (the caller
    /// bounds the wait by `read_timeout`).
    async fn take_budget(&self, bytes: usize) -> Result<OwnedSemaphorePermit, BodyError> {
        let mut taken: Option<OwnedSemaphorePermit> = None;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(u32::MAX as usize);
            // The semaphore is never closed; a closed one would only mean
            // the listener is going away.
            let permit = self
                .body_budget
                .clone()
                .acquire_many_owned(n as u32)
                .await
                .map_err(|_| BodyError::Unreadable)?;
            match &mut taken {
                Some(t) => t.merge(permit),
                None => taken = Some(permit),
            }
            left -= n;
        }
        taken.ok_or(BodyError::Unreadable)
    }
}

fn log_store_error(request_id: &str, source: &str, err: &StoreError) {
    tracing::warn!(request_id, source, error = %err, "store write failed; answered 503");
}
