//! Trace context end to end: the provider's `traceparent` is continued by
//! the ingest span, every delivery attempt is a child of it and sends its
//! own span id in `traceparent`, and with `[log] otlp_endpoint` both spans
//! reach an OTLP/HTTP collector (a local receiver here).

use crate::common::*;
use hookgate_testkit::receiver::{Receiver, Reply};
use hookgate_testkit::{GatewayProcess, sign};
use serde_json::Value;
use std::time::Duration;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PROVIDER_SPAN: &str = "00f067aa0ba902b7";

fn spans(collector: &Receiver) -> Vec<Value> {
    collector
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            let doc = r.json();
            doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn spans_of_ingest_and_attempts_join_the_providers_trace_and_reach_the_collector() {
    let store = TestStore::sqlite();
    let receiver = Receiver::start().await;
    let collector = Receiver::start().await;
    let (config, ingest, admin) =
        local_config(&store, &receiver.url("/events"), &Options::default());
    let config = config + &format!("\n[log]\notlp_endpoint = \"http://{}\"\n", collector.addr());
    let mut gw = GatewayProcess::start(bin(), &config, &[]).await;
    gw.wait_healthy(&admin, Duration::from_secs(15)).await;

    let body = stripe_event("evt_trace_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let incoming = format!("00-{TRACE}-{PROVIDER_SPAN}-01");
    let resp = hookgate_testkit::http::post(
        &format!("http://{ingest}/ingest/stripe"),
        &[("stripe-signature", &sig), ("traceparent", &incoming)],
        body,
    )
    .await;
    assert_eq!(resp.status, 200);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let delivered = got[0].header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = delivered.split('-').collect();
    assert_eq!(
        parts[1], TRACE,
        "the delivery continues the provider's trace"
    );
    let attempt_span = parts[2].to_owned();
    assert_ne!(attempt_span, PROVIDER_SPAN);

    hookgate_testkit::wait::assert_eventually(
        "both spans exported",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { spans(&collector).len() >= 2 },
    )
    .await;
    let all = spans(&collector);
    let server = all.iter().find(|s| s["kind"] == 2).expect("an ingest span");
    assert_eq!(server["traceId"], TRACE);
    assert_eq!(server["parentSpanId"], PROVIDER_SPAN);
    assert_eq!(server["name"], "ingest stripe");
    let client = all
        .iter()
        .find(|s| s["kind"] == 3)
        .expect("an attempt span");
    assert_eq!(client["traceId"], TRACE);
    assert_eq!(
        client["spanId"],
        attempt_span.as_str(),
        "the span id the subscriber saw"
    );
    assert_eq!(
        client["parentSpanId"], server["spanId"],
        "the attempt is a child of the ingest span"
    );
    let attrs = client["attributes"].as_array().unwrap();
    let event = attrs
        .iter()
        .find(|a| a["key"] == "hookgate.event_id")
        .unwrap();
    assert_eq!(
        event["value"]["stringValue"],
        event_id("stripe", "evt_trace_1")
    );
    assert!(
        collector
            .requests()
            .iter()
            .all(|r| r.header("content-type") == Some("application/json"))
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id_and_no_secret() {
    let store = TestStore::sqlite();
    let receiver = Receiver::start().await;
    let (config, ingest, admin) =
        local_config(&store, &receiver.url("/events"), &Options::default());
    let config = config + "\n[log]\nformat = \"json\"\n";
    let mut gw = GatewayProcess::start(bin(), &config, &[]).await;
    gw.wait_healthy(&admin, Duration::from_secs(15)).await;
    let body = stripe_event("evt_jsonlog_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let url = format!("http://{ingest}/ingest/stripe");
    let ok = hookgate_testkit::http::post(&url, &[("stripe-signature", &sig)], body.clone()).await;
    let bad = hookgate_testkit::http::post(&url, &[("stripe-signature", "t=1,v1=00")], body).await;
    assert_eq!((ok.status, bad.status), (200, 401));
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let mut ingest_lines = Vec::new();
    hookgate_testkit::wait::assert_eventually(
        "both ingest lines logged",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            let logs = gw.logs();
            let lines: Vec<Value> = logs
                .lines()
                .filter(|l| l.starts_with('{'))
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
                .collect();
            ingest_lines = lines
                .into_iter()
                .filter(|v| v["message"] == "ingest")
                .collect();
            let done = ingest_lines.len() >= 2;
            async move { done }
        },
    )
    .await;
    let accepted = ingest_lines
        .iter()
        .find(|v| v["outcome"] == "accepted")
        .expect("accepted line");
    assert_eq!(accepted["request_id"].as_str(), ok.header("x-request-id"));
    assert_eq!(accepted["source"], "stripe");
    let rejected = ingest_lines
        .iter()
        .find(|v| v["status"] == 401)
        .expect("rejected line");
    assert_eq!(rejected["level"], "INFO", "a client fault is not an error");
    let logs = gw.logs();
    for secret in [
        STRIPE_SECRET,
        STRIPE_OLD_SECRET,
        LEDGER_SECRET,
        ACME_SECRET,
        sig.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret or signature reached the logs"
        );
    }
}

#[tokio::test]
async fn every_json_log_line_carries_a_request_id() {
    // docs/operations.md: "Structured logs (JSON option) with a request id on every
    // line": ingest lines, delivery attempts (each its own), and the lines
    // about the process itself (start, store check, shutdown).
    let mut h = Harness::start_with(Options {
        extra: "[log]\nformat = \"json\"\nlevel = \"debug\"",
        ..Options::default()
    })
    .await;
    h.receiver.push(Reply::Status(500));
    let ok = h
        .post_stripe(&stripe_event("evt_log_1", "charge.succeeded"))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let bad = h
        .post("stripe", &[("stripe-signature", "t=1,v1=00")], b"{}")
        .await;
    assert_eq!(bad.status, 401);
    h.receiver.wait_for(2, Duration::from_secs(10)).await;
    h.gateway.terminate();
    assert!(h.gateway.wait_exit(Duration::from_secs(10)).await.is_some());

    // Both streams: the config's warnings (its secrets are literal
    // `{ value = ... }`) were plain text on stderr before.
    let logs = h.gateway.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--- std"))
        .collect();
    assert!(lines.len() >= 6, "{logs}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let id = v["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "no request_id: {line}");
    }
    for message in [
        "config warning",
        "hookgate started",
        "delivery attempt",
        "shutdown complete",
    ] {
        assert!(logs.contains(message), "{message} missing: {logs}");
    }
}
