//! `/metrics` after known traffic: exact counter values, and every metric
//! the README documents is present.

use crate::common::*;
use hookgate_testkit::receiver::Reply;
use hookgate_testkit::sign;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every metric name the README documents.
const DOCUMENTED: &[&str] = &[
    "hookgate_ingest_requests_total",
    "hookgate_ingest_duration_seconds_bucket",
    "hookgate_ingest_events_total",
    "hookgate_deliveries_total",
    "hookgate_delivery_duration_seconds_bucket",
    "hookgate_retries_scheduled_total",
    "hookgate_queue_depth",
    "hookgate_ordering_blocked_keys",
    "hookgate_ordering_oldest_blocked_seconds",
    "hookgate_oldest_waiting_seconds",
    "hookgate_dlq_depth",
    "hookgate_breaker_state",
    "hookgate_paused",
    "hookgate_store_errors_total",
    "hookgate_store_duration_seconds_bucket",
    "hookgate_store_batch_jobs_bucket",
];

/// Parsed exposition: (name, sorted labels) -> value.
type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

fn parse(text: &str) -> Series {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut labels: Vec<(String, String)> = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label");
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        labels.sort();
        out.insert((name.to_owned(), labels), value.parse().expect("number"));
    }
    out
}

fn value(m: &Series, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    want.sort();
    *m.get(&(name.to_owned(), want.clone()))
        .unwrap_or_else(|| panic!("no series {name}{want:?}"))
}

#[tokio::test]
async fn counters_match_the_traffic_and_every_documented_metric_is_there() {
    // On Redis: the store is stopped for one ingest.
    let mut h = Harness::start_with(Options {
        store: StoreKind::Redis,
        ..Options::default()
    })
    .await;
    // A: fails once, then delivered on attempt 2.
    h.receiver.push(Reply::Status(500));
    let a = stripe_event("evt_metrics_a", "charge.succeeded");
    assert_eq!(h.post_stripe(&a).await.status, 200);
    h.receiver.wait_for(2, Duration::from_secs(10)).await;
    // Duplicate of A; a tampered signature.
    assert_eq!(
        h.post_stripe(&a).await.json()["events"][0]["duplicate"],
        true
    );
    let bad = sign::stripe_signature("whsec_wrong", sign::now_unix(), &a);
    assert_eq!(
        h.post("stripe", &[("stripe-signature", &bad)], &a)
            .await
            .status,
        401
    );
    // B: dead-lettered at once.
    h.receiver.push(Reply::Status(400));
    assert_eq!(
        h.post_stripe(&stripe_event("evt_metrics_b", "charge.succeeded"))
            .await
            .status,
        200
    );
    h.receiver.wait_for(3, Duration::from_secs(10)).await;
    let metrics_url = format!("http://{}/metrics", h.admin_addr);
    h.wait_delivery_status("stripe", &event_id("stripe", "evt_metrics_b"), "dead")
        .await;
    let before = parse(&hookgate_testkit::http::get(&metrics_url, None).await.text());
    assert_eq!(
        value(&before, "hookgate_dlq_depth", &[("subscription", "ledger")]),
        1.0
    );
    assert_eq!(
        value(
            &before,
            "hookgate_queue_depth",
            &[("source", "stripe"), ("subscription", "ledger")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &before,
            "hookgate_oldest_waiting_seconds",
            &[("subscription", "ledger")]
        ),
        0.0
    );
    // No ordering configured: no blocked key, every route says 0.
    for name in [
        "hookgate_ordering_blocked_keys",
        "hookgate_ordering_oldest_blocked_seconds",
    ] {
        assert_eq!(
            value(
                &before,
                name,
                &[("source", "stripe"), ("subscription", "ledger")]
            ),
            0.0,
            "{name}"
        );
    }
    // Store down for one ingest: exactly one failed ingest store call.
    h.redis_mut().stop();
    assert_eq!(
        h.post_stripe(&stripe_event("evt_metrics_c", "charge.succeeded"))
            .await
            .status,
        503
    );
    h.redis_mut().start_again().await;
    // Let the delivery loops see Redis again so the gauges can be read.
    hookgate_testkit::wait::assert_eventually(
        "ready again",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None)
                .await
                .status
                == 200
        },
    )
    .await;

    let text = hookgate_testkit::http::get(&metrics_url, None).await.text();
    let m = parse(&text);
    let ingest = |outcome: &str| {
        value(
            &m,
            "hookgate_ingest_requests_total",
            &[("source", "stripe"), ("outcome", outcome)],
        )
    };
    assert_eq!(ingest("accepted"), 2.0);
    assert_eq!(ingest("duplicate"), 1.0);
    assert_eq!(ingest("signature_mismatch"), 1.0);
    assert_eq!(ingest("store_error"), 1.0);
    let events = |result: &str| {
        value(
            &m,
            "hookgate_ingest_events_total",
            &[("source", "stripe"), ("result", result)],
        )
    };
    assert_eq!(events("stored"), 2.0);
    assert_eq!(events("duplicate"), 1.0);
    let deliveries = |outcome: &str| {
        value(
            &m,
            "hookgate_deliveries_total",
            &[("subscription", "ledger"), ("outcome", outcome)],
        )
    };
    assert_eq!(deliveries("delivered"), 1.0);
    assert_eq!(deliveries("retry"), 1.0);
    assert_eq!(deliveries("dead"), 1.0);
    assert_eq!(
        value(
            &m,
            "hookgate_retries_scheduled_total",
            &[("subscription", "ledger")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "hookgate_store_errors_total", &[("op", "ingest")]),
        1.0
    );
    // Group-commit batch sizes count jobs, with buckets of their own.
    assert!(
        value(
            &m,
            "hookgate_store_batch_jobs_bucket",
            &[("op", "ingest"), ("le", "128")]
        ) >= 2.0,
        "every ingest call is in a batch-size bucket"
    );
    // Redis restarted empty: gauges read the fresh (empty) store.
    assert_eq!(
        value(&m, "hookgate_dlq_depth", &[("subscription", "ledger")]),
        0.0
    );
    assert_eq!(
        value(&m, "hookgate_paused", &[("subscription", "ledger")]),
        0.0
    );
    assert_eq!(
        value(
            &m,
            "hookgate_breaker_state",
            &[("source", "stripe"), ("subscription", "ledger")]
        ),
        0.0
    );
    for name in DOCUMENTED {
        assert!(
            m.keys().any(|(n, _)| n == name),
            "{name} missing from /metrics"
        );
    }
    // Labels never carry event ids.
    assert!(!text.contains("evt_"), "an event id leaked into a label");
}

#[tokio::test]
async fn store_errors_are_zero_series_from_the_start() {
    let h = Harness::start().await;
    let url = format!("http://{}/metrics", h.admin_addr);
    let m = parse(&hookgate_testkit::http::get(&url, None).await.text());
    for op in ["ingest", "fanout", "claim", "finish", "admin", "ping"] {
        assert_eq!(
            value(&m, "hookgate_store_errors_total", &[("op", op)]),
            0.0,
            "{op}"
        );
    }
}

#[tokio::test]
async fn an_ingest_that_times_out_on_a_stalled_store_counts_as_a_store_error() {
    // The StoreErrors alert watches this counter: a store slower than
    // store_timeout (500 ms here) must show in it, even when Redis ends up
    // running the call late (stalled with CLIENT PAUSE: on Redis).
    let h = Harness::start_with(Options {
        store: StoreKind::Redis,
        store_timeout: "500ms",
        ..Options::default()
    })
    .await;
    let mut c = h.redis().conn().await;
    let _: String = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut c)
        .await
        .unwrap();
    let resp = h
        .post_stripe(&stripe_event("evt_stall_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    settle(Duration::from_millis(2000)).await;
    let url = format!("http://{}/metrics", h.admin_addr);
    let m = parse(&hookgate_testkit::http::get(&url, None).await.text());
    assert!(
        value(&m, "hookgate_store_errors_total", &[("op", "ingest")]) >= 1.0,
        "a timed-out ingest is not counted"
    );
}

#[tokio::test]
async fn every_metric_family_has_help_and_passes_promtool() {
    let h = Harness::start().await;
    assert_eq!(
        h.post_stripe(&stripe_event("evt_help_1", "charge.succeeded"))
            .await
            .status,
        200
    );
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    let url = format!("http://{}/metrics", h.admin_addr);
    let text = hookgate_testkit::http::get(&url, None).await.text();
    let typed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(typed.len() >= 10, "{text}");
    for family in typed {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} has no # HELP"
        );
    }
    // The linter operators run in CI for their scrape targets, when here.
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: lint skipped");
        return;
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
