//! The span type, the bounded queue and the OTLP/HTTP JSON exporter.

use bytes::Bytes;
use hookgate_core::shutdown::Drain;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Spans waiting for export, at most.
const QUEUE: usize = 8192;
/// Spans per export request, at most.
const BATCH: usize = 512;
/// A partial batch is sent after this long.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// One export request may take this long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// OTLP span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An incoming request (ingest).
    Server,
    /// An outgoing request (a delivery attempt).
    Client,
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    /// 32 lowercase hex.
    pub trace_id: String,
    /// 16 lowercase hex.
    pub span_id: String,
    /// 16 lowercase hex, when the span has a parent.
    pub parent_span_id: Option<String>,
    /// e.g. `ingest stripe`, `deliver ledger`.
    pub name: String,
    /// Server or client.
    pub kind: Kind,
    /// Start, unix nanoseconds.
    pub start_unix_nanos: u64,
    /// End, unix nanoseconds.
    pub end_unix_nanos: u64,
    /// String attributes (ids, outcome).
    pub attributes: Vec<(&'static str, String)>,
    /// The HTTP status, when there was one.
    pub status_code: Option<u16>,
    /// Whether the span ended in an error.
    pub error: bool,
}

/// Unix nanoseconds of a `SystemTime`.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The (trace id, span id) of a `traceparent` value.
pub fn ids_of(traceparent: &str) -> Option<(String, String)> {
    let mut parts = traceparent.split('-');
    let _version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    (trace.len() == 32 && span.len() == 16).then(|| (trace.to_owned(), span.to_owned()))
}

/// Hands finished spans to the exporter; cheap to clone; a no-op when
/// export is off.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    tx: Option<mpsc::Sender<SpanData>>,
}

impl Tracer {
    /// No export.
    pub fn disabled() -> Self {
        Tracer { tx: None }
    }

    /// Exports to `{endpoint}/v1/traces`; the exporter task runs under
    /// `drain` and flushes what it holds when shutdown begins.
    pub fn start(endpoint: &http::Uri, service_name: &str, drain: &Drain) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let url = format!("{}/v1/traces", endpoint.to_string().trim_end_matches('/'));
        drain.spawn(export(rx, url, service_name.to_owned(), drain.clone()));
        Tracer { tx: Some(tx) }
    }

    /// Whether spans are exported at all (callers skip building them when not).
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a finished span; drops it (counted) when the queue is full.
    pub fn record(&self, span: SpanData) {
        if let Some(tx) = &self.tx
            && tx.try_send(span).is_err()
        {
            crate::event::SpansDropped { count: 1 }.emit();
        }
    }
}

async fn export(mut rx: mpsc::Receiver<SpanData>, url: String, service: String, drain: Drain) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut batch = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Collect until the batch is full, the tick comes, or shutdown.
        let room = BATCH - batch.len();
        let closing = tokio::select! {
            n = rx.recv_many(&mut batch, room) => {
                if n > 0 && batch.len() < BATCH {
                    continue;
                }
                n == 0
            }
            _ = tick.tick() => false,
            _ = drain.cancelled() => true,
        };
        if closing {
            // Take what is already queued, send it once, stop.
            while let Ok(span) = rx.try_recv() {
                batch.push(span);
            }
        }
        for chunk in batch.chunks(BATCH) {
            send(&client, &url, &service, chunk).await;
        }
        batch.clear();
        if closing {
            return;
        }
    }
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    service: &str,
    spans: &[SpanData],
) {
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(encode(service, spans))));
    let ok = match req {
        Ok(req) => matches!(
            tokio::time::timeout(EXPORT_TIMEOUT, client.request(req)).await,
            Ok(Ok(resp)) if resp.status().is_success()
        ),
        Err(_) => false,
    };
    if !ok {
        crate::event::SpanExportFailed.emit();
        tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), url, spans = spans.len(), "span export failed");
    }
}

/// The OTLP/HTTP JSON body of an export request (ids as hex strings and
/// times as decimal strings, per the OTLP JSON mapping).
pub fn encode(service: &str, spans: &[SpanData]) -> Vec<u8> {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attributes: Vec<Value> = s
                .attributes
                .iter()
                .map(|(k, v)| json!({ "key": k, "value": { "stringValue": v } }))
                .collect();
            if let Some(code) = s.status_code {
                attributes.push(json!({
                    "key": "http.response.status_code",
                    "value": { "intValue": code.to_string() }
                }));
            }
            let mut span = json!({
                "traceId": s.trace_id,
                "spanId": s.span_id,
                "name": s.name,
                "kind": match s.kind { Kind::Server => 2, Kind::Client => 3 },
                "startTimeUnixNano": s.start_unix_nanos.to_string(),
                "endTimeUnixNano": s.end_unix_nanos.to_string(),
                "attributes": attributes,
                "status": { "code": if s.error { 2 } else { 1 } },
            });
            if let Some(parent) = &s.parent_span_id {
                span["parentSpanId"] = json!(parent);
            }
            span
        })
        .collect();
    let doc = json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": service } }
            ]},
            "scopeSpans": [{ "scope": { "name": "hookgate" }, "spans": spans }]
        }]
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_otlp_json_mapping() {
        let span = SpanData {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: Some("1111111111111111".into()),
            name: "deliver ledger".into(),
            kind: Kind::Client,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: vec![("hookgate.subscription", "ledger".into())],
            status_code: Some(503),
            error: true,
        };
        let v: Value = serde_json::from_slice(&encode("hookgate", &[span])).unwrap();
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["parentSpanId"], "1111111111111111");
        assert_eq!(s["kind"], 3);
        assert_eq!(s["startTimeUnixNano"], "1");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(s["attributes"][1]["value"]["intValue"], "503");
        assert_eq!(
            v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "hookgate"
        );
    }

    #[test]
    fn traceparent_ids() {
        assert_eq!(
            ids_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        assert_eq!(ids_of("garbage"), None);
    }
}
