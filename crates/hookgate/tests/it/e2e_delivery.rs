//! Delivery flows: the CloudEvent and its signature, retries with the same
//! id, dead letters, and a retry schedule that survives a restart.

use crate::common::*;
use hookgate_testkit::Delivery;
use hookgate_testkit::receiver::Reply;
use hookgate_testkit::sign;
use std::time::Duration;

#[tokio::test]
async fn signed_stripe_event_arrives_once_as_a_signed_cloudevent() {
    let h = Harness::start().await;
    let body = stripe_event("evt_ce_1", "payment_intent.succeeded");
    let resp = h.post_stripe(&body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let id = event_id("stripe", "evt_ce_1");

    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    let req = &got[0];
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(req.path, "/events");
    assert_eq!(
        req.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert_eq!(req.header("webhook-id"), Some(id.as_str()));
    assert_eq!(req.header("hookgate-attempt"), Some("1"));
    assert_eq!(req.header("hookgate-subscription"), Some("ledger"));
    let tp = req
        .header("traceparent")
        .expect("traceparent on every delivery");
    assert_eq!(tp.len(), 55, "{tp}");
    sign::verify_standard_webhooks(
        LEDGER_SECRET,
        &req.headers,
        &req.body,
        sign::now_unix(),
        300,
    )
    .expect("webhook-signature verifies with the subscription secret");
    // ... and not with another key.
    assert!(
        sign::verify_standard_webhooks(ACME_SECRET, &req.headers, &req.body, sign::now_unix(), 300)
            .is_err()
    );

    let ce = req.json();
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["id"], id.as_str());
    assert_eq!(ce["source"], "hookgate/stripe");
    assert_eq!(
        ce["type"], "payment.succeeded",
        "the source's type mapping applies"
    );
    assert_eq!(ce["time"], "2023-11-14T22:13:20Z");
    assert_eq!(ce["subject"], "pi_evt_ce_1");
    assert_eq!(ce["datacontenttype"], "application/json");
    let original: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ce["data"], original, "the provider payload is unchanged");
    let text = String::from_utf8(req.body.to_vec()).unwrap();
    assert!(
        text.contains(std::str::from_utf8(&body).unwrap()),
        "payload bytes embedded verbatim"
    );

    settle(Duration::from_millis(500)).await;
    assert_eq!(h.receiver.count(), 1, "delivered exactly once");
    let d = h.wait_delivery_status("stripe", &id, "delivered").await;
    assert_eq!(d.attempts.len(), 1, "{d:?}");
    assert_eq!(d.attempts[0].n, 1);
    assert_eq!(d.attempts[0].status_code, Some(200));
    assert_eq!(d.reason, None);
}

#[tokio::test]
async fn unmapped_type_is_prefixed_with_the_source() {
    let h = Harness::start().await;
    h.post_stripe(&stripe_event("evt_type_1", "charge.refunded"))
        .await;
    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["type"], "stripe.charge.refunded");
}

#[tokio::test]
async fn two_failures_then_success_is_delivered_on_attempt_three_with_one_id() {
    let h = Harness::start().await;
    h.receiver.push_n(2, Reply::Status(500));
    h.post_stripe(&stripe_event("evt_retry_1", "charge.succeeded"))
        .await;
    let got = h.receiver.wait_for(3, Duration::from_secs(15)).await;
    let id = event_id("stripe", "evt_retry_1");
    for (i, req) in got.iter().enumerate() {
        assert_eq!(req.header("webhook-id"), Some(id.as_str()));
        assert_eq!(
            req.header("hookgate-attempt"),
            Some((i + 1).to_string().as_str())
        );
        sign::verify_standard_webhooks(
            LEDGER_SECRET,
            &req.headers,
            &req.body,
            sign::now_unix(),
            300,
        )
        .expect("every attempt is signed afresh");
    }
    assert_eq!(got[0].body, got[2].body, "same body on every attempt");
    let d = h.wait_delivery_status("stripe", &id, "delivered").await;
    let attempts: Vec<(u32, Option<u16>)> =
        d.attempts.iter().map(|a| (a.n, a.status_code)).collect();
    assert_eq!(
        attempts,
        [(1, Some(500)), (2, Some(500)), (3, Some(200))],
        "{d:?}"
    );
    settle(Duration::from_millis(400)).await;
    assert_eq!(h.receiver.count(), 3);
    assert_eq!(
        h.receiver.connections(),
        1,
        "attempts reuse one keep-alive connection"
    );
}

#[tokio::test]
async fn a_connection_idle_past_four_seconds_is_not_reused() {
    // Subscribers' servers close idle keep-alive connections (Node and
    // uvicorn after 5 s): a delivery sent on one as it closes fails
    // unread. The gateway keeps an idle connection 4 s.
    let h = Harness::start().await;
    h.post_stripe(&stripe_event("evt_idle_1", "charge.succeeded"))
        .await;
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    settle(Duration::from_millis(4_500)).await;
    h.post_stripe(&stripe_event("evt_idle_2", "charge.succeeded"))
        .await;
    h.receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        h.receiver.connections(),
        2,
        "the second delivery came on a new connection"
    );
}

#[tokio::test]
async fn a_400_is_dead_lettered_after_one_attempt_with_its_reason() {
    let h = Harness::start().await;
    h.receiver.set_default(Reply::StatusWithBody(
        400,
        r#"{"error":"unknown account"}"#.into(),
    ));
    h.post_stripe(&stripe_event("evt_dead_1", "charge.succeeded"))
        .await;
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = event_id("stripe", "evt_dead_1");
    let d = h.wait_delivery_status("stripe", &id, "dead").await;
    assert_eq!(d.reason(), "status 400");
    assert_eq!(d.last_status_code(), Some(400));
    let dead = h.admin.dead_letters("ledger", "").await;
    assert_eq!(
        dead.len(),
        1,
        "in the subscription's dead letters: {dead:?}"
    );
    assert_eq!(dead[0]["event_id"], id.as_str());
    assert_eq!(dead[0]["source"], "stripe");
    assert_eq!(dead[0]["reason"], "status 400");
    assert_eq!(dead[0]["last_status_code"], 400);
    assert_eq!(dead[0]["attempts"], 1);
    assert_eq!(d.attempts.len(), 1, "{d:?}");
    let attempt = &d.attempts[0];
    assert_eq!(attempt.n, 1);
    assert_eq!(attempt.status_code, Some(400));
    assert_eq!(
        attempt.response.as_deref(),
        Some(r#"{"error":"unknown account"}"#),
        "the response body is kept for the attempt log"
    );
    settle(Duration::from_millis(500)).await;
    assert_eq!(h.receiver.count(), 1, "a 4xx is never retried");
}

#[tokio::test]
async fn a_subscriber_answering_4xx_does_not_open_its_breaker() {
    // 4xx means the subscriber is up and refuses these events: each is
    // dead-lettered at once (docs/delivery.md). Opening the breaker would only hold
    // the next events back for the cooldown before dead-lettering them too.
    let h = Harness::start_with(Options {
        breaker: r#"{ failures = 2, cooldown = "1h" }"#,
        ..Options::default()
    })
    .await;
    h.receiver.set_default(Reply::Status(422));
    let ids: Vec<String> = (0..6)
        .map(|i| event_id("stripe", &format!("evt_4xx_{i}")))
        .collect();
    // One after the other, so that the breaker has seen the earlier ones:
    // each is dead-lettered within the harness' wait (10 s), not held for
    // the 1 h cooldown an opened breaker would impose.
    for (i, id) in ids.iter().enumerate() {
        h.post_stripe(&stripe_event(&format!("evt_4xx_{i}"), "charge.failed"))
            .await;
        let d = h.wait_delivery_status("stripe", id, "dead").await;
        assert_eq!(d.reason(), "status 422", "{d:?}");
    }
    assert_eq!(h.receiver.count(), 6, "one attempt each");
}

#[tokio::test]
async fn exhausted_attempts_end_in_a_dead_letter() {
    let h = Harness::start_with(Options {
        max_attempts: 3,
        ..Options::default()
    })
    .await;
    h.receiver.set_default(Reply::Status(503));
    h.post_stripe(&stripe_event("evt_exhaust_1", "charge.succeeded"))
        .await;
    h.receiver.wait_for(3, Duration::from_secs(15)).await;
    let id = event_id("stripe", "evt_exhaust_1");
    let d = h.wait_delivery_status("stripe", &id, "dead").await;
    assert!(d.reason().starts_with("max_attempts"), "{d:?}");
    assert_eq!(d.last_status_code(), Some(503));
    assert_eq!(d.attempts.len(), 3, "{d:?}");
    settle(Duration::from_millis(500)).await;
    assert_eq!(h.receiver.count(), 3);
}

#[tokio::test]
async fn a_pending_retry_survives_a_gateway_crash() {
    // The first attempt fails; the retry is scheduled 2 s out (Retry-After).
    // The gateway is killed before it falls due; a new process delivers it.
    let mut h = Harness::start_with(Options {
        max_delay: "5s",
        ..Options::default()
    })
    .await;
    h.receiver.push(Reply::StatusWithHeaders(
        503,
        vec![("retry-after".into(), "2".into())],
    ));
    h.post_stripe(&stripe_event("evt_crash_1", "charge.succeeded"))
        .await;
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = event_id("stripe", "evt_crash_1");
    // The failed attempt and its retry are recorded before the crash.
    let d = h
        .wait_delivery("stripe", &id, "has its first attempt recorded", |d| {
            d.attempts.len() == 1
        })
        .await;
    assert_eq!(d.status, "pending", "{d:?}");
    assert_eq!(d.attempts[0].status_code, Some(503));
    h.restart_gateway().await;
    let got = h.receiver.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(got[1].header("webhook-id"), Some(id.as_str()));
    assert_eq!(got[1].header("hookgate-attempt"), Some("2"));
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(1900),
        "Retry-After was honoured"
    );
}

/// (thread name, nice value) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir") {
        let dir = task.expect("task").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, nice 19.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let nice = rest.split_whitespace().nth(16).and_then(|n| n.parse().ok());
        if let Some(nice) = nice {
            out.push((name.trim().to_owned(), nice));
        }
    }
    out
}

#[tokio::test]
async fn deliveries_run_on_their_own_threads_below_the_ingest_path() {
    let h = Harness::start().await;
    let body = stripe_event("evt_priority", "charge.succeeded");
    assert_eq!(h.post_stripe(&body).await.status, 200);
    h.receiver.wait_for(1, Duration::from_secs(10)).await;

    let all = threads(h.gateway.pid());
    let ingest: Vec<i64> = all
        .iter()
        .filter(|(n, _)| n == "tokio-runtime-w" || n == "tokio-rt-worker")
        .map(|(_, nice)| *nice)
        .collect();
    let delivery: Vec<i64> = all
        .iter()
        .filter(|(n, _)| n.starts_with("hookgate-deliv"))
        .map(|(_, nice)| *nice)
        .collect();
    assert!(!ingest.is_empty() && !delivery.is_empty(), "{all:?}");
    let base = ingest[0];
    assert!(ingest.iter().all(|n| *n == base), "{all:?}");
    // `[delivery] nice` defaults to 5 steps below (capped at 19).
    assert!(
        delivery.iter().all(|n| *n == (base + 5).min(19)),
        "delivery threads at nice {delivery:?}, ingest at {base}: {all:?}"
    );
}

#[tokio::test]
async fn idle_routes_do_not_spend_the_rate_limit_of_the_route_with_work() {
    // `ledger` has a route per source (3) polling every 100 ms while idle,
    // and 1 delivery per second. Each event, posted once the previous one
    // arrived, waits at most for the next token (1 s): polls that find
    // nothing give their token back.
    let h = Harness::start_with(Options {
        ledger_extra: "rate_limit = { per_second = 1 }",
        ..Options::default()
    })
    .await;
    for i in 0..5 {
        settle(Duration::from_millis(300)).await;
        h.post_stripe(&stripe_event(&format!("evt_rate_{i}"), "charge.succeeded"))
            .await;
        // Well above the 1 s a token takes; with idle polls spending the
        // tokens, a route waited several seconds per event.
        h.receiver.wait_for(i + 1, Duration::from_secs(3)).await;
    }
}

/// Waits (bounded by `within`) until (event, ledger) is dead-lettered;
/// its delivery.
async fn wait_dead(h: &Harness, id: &str, within: Duration) -> Delivery {
    h.admin
        .wait_delivery("stripe", id, "ledger", "is dead", within, |d| {
            d.status == "dead"
        })
        .await
}

/// The `at` of every attempt of a delivery, in ms.
fn attempt_times(d: &Delivery) -> Vec<i64> {
    d.attempts
        .iter()
        .map(|a| hookgate_core::time::parse_rfc3339_ms(&a.at).unwrap())
        .collect()
}

#[tokio::test]
async fn no_retry_is_sent_after_max_age() {
    // Before: the age was checked after an attempt, so the last attempt
    // always went out at or past max_age. Now a retry whose turn would come
    // after it is dead-lettered instead.
    let h = Harness::start_with(Options {
        max_attempts: 1000,
        base_delay: "400ms",
        max_delay: "400ms",
        max_age: "2s",
        ..Options::default()
    })
    .await;
    h.receiver.set_default(Reply::Status(500));
    h.post_stripe(&stripe_event("evt_max_age_1", "charge.succeeded"))
        .await;
    let id = event_id("stripe", "evt_max_age_1");
    let d = wait_dead(&h, &id, Duration::from_secs(6)).await;
    // The reason names the configured limit, not the age at the last
    // attempt (it said "max_age: 1s" for a 2 s max_age). Mostly the last
    // attempt's outcome sees its retry would come too late; when that
    // retry was due just before max_age but claimed just after it (a busy
    // machine), the claim dead-letters it unsent: either way, no attempt
    // goes out past max_age.
    let reason = d.reason();
    assert!(
        reason.starts_with("max_age: 2s would pass before attempt ")
            || reason.starts_with("max_age: 2s passed before attempt "),
        "{d:?}"
    );
    let times = attempt_times(&d);
    assert!(times.len() >= 2, "{times:?}");
    for t in &times {
        assert!(t - times[0] < 2_000, "an attempt past max_age: {times:?}");
    }
}

#[tokio::test]
async fn a_retry_held_back_past_max_age_is_dead_lettered_unsent() {
    // The breaker opens on the first failure and holds the retry for 3 s,
    // past the 2 s max_age: the half-open claim finds it expired and
    // dead-letters it without sending it.
    let h = Harness::start_with(Options {
        max_attempts: 1000,
        base_delay: "100ms",
        max_delay: "100ms",
        max_age: "2s",
        breaker: r#"{ failures = 1, cooldown = "3s" }"#,
        ..Options::default()
    })
    .await;
    h.receiver.set_default(Reply::Status(500));
    h.post_stripe(&stripe_event("evt_max_age_2", "charge.succeeded"))
        .await;
    let id = event_id("stripe", "evt_max_age_2");
    let d = wait_dead(&h, &id, Duration::from_secs(8)).await;
    assert!(
        d.reason()
            .starts_with("max_age: 2s passed before attempt 2 ("),
        "{d:?}"
    );
    assert_eq!(d.attempt_count(), 1, "{d:?}");
    assert_eq!(h.receiver.count(), 1, "the expired retry was not sent");
    assert_eq!(attempt_times(&d).len(), 1, "the log holds the one attempt");
    // The expired delivery was the half-open breaker's probe: given back
    // unsent, the next event is the probe and goes out.
    h.receiver.set_default(Reply::Status(200));
    h.post_stripe(&stripe_event("evt_max_age_3", "charge.succeeded"))
        .await;
    h.receiver.wait_for(2, Duration::from_secs(5)).await;
}
