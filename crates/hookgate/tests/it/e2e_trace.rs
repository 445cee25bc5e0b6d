//! Trace context end to end: the provider's `traceparent` is continued by
//! the ingest span, every delivery attempt is a child of it and sends its
//! own span id in `traceparent`, and with `[log] otlp_endpoint` both spans
//! reach an OTLP/HTTP collector (a local receiver here).

use crate::common::*;
use hookgate_testkit::receiver::Receiver;
use hookgate_testkit::redis::RedisServer;
use hookgate_testkit::{GatewayProcess, free_port, sign};
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
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let collector = Receiver::start().await;
    let ingest = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let config = config_text(
        &ingest,
        &admin,
        &redis.url(),
        &receiver.url("/events"),
        &Options::default(),
    ) + &format!("\n[log]\notlp_endpoint = \"http://{}\"\n", collector.addr());
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
