//! What a hostile or unlucky caller does to the ingest listener: bad
//! signatures of every kind, unknown routes, oversized and stalled bodies,
//! floods. Each gets its clear answer, changes nothing, and leaks nothing.

use crate::common::*;
use hookgate_testkit::http::RawConn;
use hookgate_testkit::sign;
use std::time::{Duration, Instant};

async fn assert_401(h: &Harness, headers: &[(&str, &str)], body: &[u8], reason: &str) {
    let resp = h.post("stripe", headers, body).await;
    assert_eq!(resp.status, 401, "{reason}: {}", resp.text());
    assert_eq!(
        resp.json(),
        serde_json::json!({"error": "invalid_signature", "reason": reason})
    );
}

#[tokio::test]
async fn bad_signatures_are_401_with_their_reason_and_nothing_is_delivered() {
    let h = Harness::start().await;
    let body = stripe_event("evt_bad_1", "charge.succeeded");
    let now = sign::now_unix();
    let good = sign::stripe_signature(STRIPE_SECRET, now, &body);

    // Tampered body: the signature no longer matches.
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_401(&h, &[("stripe-signature", &good)], &tampered, "mismatch").await;
    // Wrong secret.
    let wrong = sign::stripe_signature("whsec_not_the_secret", now, &body);
    assert_401(&h, &[("stripe-signature", &wrong)], &body, "mismatch").await;
    // Stale: signed an hour ago (a replay).
    let stale = sign::stripe_signature(STRIPE_SECRET, now - 3600, &body);
    assert_401(&h, &[("stripe-signature", &stale)], &body, "stale").await;
    // From the future beyond the tolerance.
    let future = sign::stripe_signature(STRIPE_SECRET, now + 3600, &body);
    assert_401(&h, &[("stripe-signature", &future)], &body, "stale").await;
    // Missing and garbled headers.
    assert_401(&h, &[], &body, "missing").await;
    assert_401(&h, &[("stripe-signature", "")], &body, "missing").await;
    assert_401(&h, &[("stripe-signature", "garbage")], &body, "malformed").await;
    assert_401(
        &h,
        &[("stripe-signature", "t=abc,v1=00")],
        &body,
        "malformed",
    )
    .await;
    // Upper-case hex is not what Stripe sends.
    let upper = format!(
        "t={now},v1={}",
        good.split("v1=").nth(1).unwrap().to_uppercase()
    );
    assert_401(&h, &[("stripe-signature", &upper)], &body, "mismatch").await;
    // Legacy v0 alone is ignored.
    let v0 = good.replace("v1=", "v0=");
    assert_401(&h, &[("stripe-signature", &v0)], &body, "malformed").await;

    settle(Duration::from_millis(400)).await;
    assert_eq!(h.receiver.count(), 0, "nothing rejected is delivered");
    assert_no_event_stored(&h.admin, "a rejected callback writes nothing").await;
    // Nor did a rejected callback claim the event's key: the genuine one
    // is a new event, and is delivered.
    let resp = h
        .post("stripe", &[("stripe-signature", &good)], &body)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], false);
    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("webhook-id"),
        Some(event_id("stripe", "evt_bad_1").as_str())
    );

    // The secrets and signatures never reach the logs.
    let logs = h.gateway.logs();
    for needle in [
        STRIPE_SECRET,
        STRIPE_OLD_SECRET,
        LEDGER_SECRET,
        ACME_SECRET,
        good.as_str(),
    ] {
        assert!(!logs.contains(needle), "log leaks {needle}");
    }
}

#[tokio::test]
async fn standard_webhooks_bad_signatures_are_401() {
    let h = Harness::start().await;
    let body = br#"{"type":"invoice.paid","data":{}}"#;
    let now = sign::now_unix();
    let sig = sign::standard_webhooks_signature(ACME_SECRET, "msg_1", now, body);
    let ts = now.to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("webhook-timestamp", &ts), ("webhook-signature", &sig)],
            "missing",
        ),
        (
            vec![
                ("webhook-id", "msg_2"),
                ("webhook-timestamp", &ts),
                ("webhook-signature", &sig),
            ],
            "mismatch",
        ),
        (
            vec![
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", "soon"),
                ("webhook-signature", &sig),
            ],
            "malformed",
        ),
    ];
    for (headers, reason) in cases {
        let resp = h.post("acme", &headers, body).await;
        assert_eq!(resp.status, 401, "{reason}");
        assert_eq!(resp.json()["reason"], reason);
    }
    let old = now - 3600;
    let stale_sig = sign::standard_webhooks_signature(ACME_SECRET, "msg_1", old, body);
    let old_ts = old.to_string();
    let resp = h
        .post(
            "acme",
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &old_ts),
                ("webhook-signature", &stale_sig),
            ],
            body,
        )
        .await;
    assert_eq!(resp.json()["reason"], "stale");
    settle(Duration::from_millis(300)).await;
    assert_eq!(h.receiver.count(), 0);
    assert_no_event_stored(&h.admin, "a rejected callback writes nothing").await;
    // The genuine msg_1 is new.
    let headers = sign::standard_webhooks_headers(ACME_SECRET, "msg_1", sign::now_unix(), body);
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = h.post("acme", &hs, body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], false);
}

#[tokio::test]
async fn routing_errors_404_405_and_payload_errors_400() {
    let h = Harness::start().await;
    let resp = h.post("nope", &[], b"{}").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"], "unknown_source");
    let resp =
        hookgate_testkit::http::post(&format!("http://{}/other", h.ingest_addr), &[], "x").await;
    assert_eq!(resp.status, 404);
    let resp = hookgate_testkit::http::get(&h.url("stripe"), None).await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("POST"));

    // Correctly signed, but not a Stripe event: 400, nothing stored.
    for body in [&b"not json"[..], br#"{"type":"x"}"#, br#"[1,2]"#] {
        let resp = h.post_stripe(body).await;
        assert_eq!(resp.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(resp.json()["error"], "invalid_payload");
        assert!(
            resp.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // A compressed body: 415 naming the cause, not a misleading 401
    // mismatch; `identity` is no encoding.
    let body = stripe_event("evt_gzip_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    for encoding in ["gzip", "br", "GZIP, identity"] {
        let resp = h
            .post(
                "stripe",
                &[("stripe-signature", &sig), ("content-encoding", encoding)],
                &body,
            )
            .await;
        assert_eq!(resp.status, 415, "{encoding}");
        assert_eq!(resp.json()["error"], "unsupported_content_encoding");
    }
    assert_no_event_stored(&h.admin, "a refused callback writes nothing").await;
    // The refused compressed callback claimed nothing: sent plainly, the
    // same event is new.
    let resp = h.post("stripe", &[("stripe-signature", &sig)], &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], false);
}

#[tokio::test]
async fn identity_content_encoding_is_no_encoding() {
    let h = Harness::start().await;
    let body = stripe_event("evt_identity_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let resp = h
        .post(
            "stripe",
            &[("stripe-signature", &sig), ("content-encoding", "Identity")],
            &body,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[tokio::test]
async fn oversized_body_is_413_without_reading_it_all() {
    let h = Harness::start_with(Options {
        max_body_bytes: 1024,
        ..Options::default()
    })
    .await;
    let big = vec![b'a'; 4096];
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &big);
    let resp = h.post("stripe", &[("stripe-signature", &sig)], &big).await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.json()["error"], "payload_too_large");

    // Chunked, no length announced: cut at the limit as well.
    let mut conn = RawConn::connect(&h.ingest_addr).await.unwrap();
    conn.send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..4 {
        // Writes may fail once the server has answered and closed: fine.
        let _ = conn.send(b"400\r\n").await;
        let _ = conn.send(&[b'b'; 0x400]).await;
        let _ = conn.send(b"\r\n").await;
    }
    let (status, _) = conn
        .read_response(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(status, 413);
}

#[tokio::test]
async fn a_stalled_body_is_answered_or_closed_within_read_timeout() {
    let h = Harness::start().await; // read_timeout = 1s
    let mut conn = RawConn::connect(&h.ingest_addr).await.unwrap();
    let started = Instant::now();
    conn.send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"id\":")
        .await
        .unwrap();
    let answer = conn.read_response(Duration::from_secs(5)).await;
    let waited = started.elapsed();
    if let Some((status, _)) = answer {
        assert_eq!(status, 408);
    }
    assert!(waited < Duration::from_secs(4), "held for {waited:?}");

    // A client that never finishes its head is dropped as well.
    let mut conn = RawConn::connect(&h.ingest_addr).await.unwrap();
    conn.send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(
        conn.wait_closed(Duration::from_secs(5)).await,
        "slow head not cut"
    );
}

#[tokio::test]
async fn a_flooding_source_gets_429_with_retry_after_while_others_are_accepted() {
    let h = Harness::start().await; // `limited`: 0.5/s, burst 2
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..4 {
        let body = stripe_event(&format!("evt_flood_{i}"), "charge.succeeded");
        let resp = h
            .post_stripe_signed("limited", &body, STRIPE_SECRET, sign::now_unix())
            .await;
        if resp.status == 429 {
            retry_after = resp.header("retry-after").map(str::to_owned);
            assert_eq!(resp.json()["error"], "rate_limited");
        }
        statuses.push(resp.status);
    }
    assert_eq!(statuses, vec![200, 200, 429, 429]);
    let secs: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    // Another source is not affected.
    let resp = h
        .post_stripe(&stripe_event("evt_other_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_source_at_its_in_flight_bound_is_shed_while_others_are_served() {
    let h = Harness::start_with(Options {
        server_extra: "max_in_flight_per_source = 1",
        read_timeout: "5s",
        ..Options::default()
    })
    .await;
    // One stalled stripe request holds the source's only slot. It must be
    // the one holding it (not shed itself), so it is checked to still be
    // waiting for its body before the probe goes out.
    let mut stalled = None;
    for _ in 0..20 {
        let mut conn = RawConn::connect(&h.ingest_addr).await.unwrap();
        conn.send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
            .await
            .unwrap();
        if conn
            .read_response(Duration::from_millis(300))
            .await
            .is_none()
        {
            stalled = Some(conn);
            break;
        }
    }
    let stalled = stalled.expect("a stalled request holds the slot");
    let resp = h
        .post_stripe(&stripe_event("evt_shed_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert_eq!(resp.json()["error"], "rate_limited");
    let resp = h
        .post_stripe(&stripe_event("evt_shed_2", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("1"));
    // Another source is untouched.
    let body = br#"{"type":"invoice.paid","data":{}}"#;
    let headers =
        sign::standard_webhooks_headers(ACME_SECRET, "msg_shed_1", sign::now_unix(), body);
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(h.post("acme", &hs, body).await.status, 200);
    // The slot is freed when the stalled request ends.
    drop(stalled);
    let freed = hookgate_testkit::wait::eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            h.post_stripe(&stripe_event("evt_shed_3", "charge.succeeded"))
                .await
                .status
                == 200
        },
    )
    .await;
    assert!(freed);
}

#[tokio::test]
async fn a_low_soft_open_files_limit_is_raised_to_the_hard_one() {
    // A spike of provider connections must not hit the usual 1024 soft
    // limit while the hard limit allows more: the gateway raises it.
    let prlimit = std::path::Path::new("/usr/bin/prlimit");
    if !prlimit.exists() {
        eprintln!("skipped: no /usr/bin/prlimit");
        return;
    }
    let store = TestStore::sqlite();
    let receiver = hookgate_testkit::Receiver::start().await;
    let (config, _, admin) = local_config(&store, &receiver.url("/e"), &Options::default());
    let bin = bin().to_str().expect("utf-8 path");
    // prlimit execs the gateway: same pid.
    let mut gw = hookgate_testkit::GatewayProcess::start_args(
        prlimit,
        &["--nofile=256:4096", bin, "serve", "--config"],
        &config,
        &[],
    )
    .await;
    gw.wait_healthy(&admin, Duration::from_secs(15)).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", gw.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let soft: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(soft[3..5], ["4096", "4096"], "{line}");
}

/// A signed Stripe callback with `extra` more header lines and, when `big`
/// is not 0, one header of `big` bytes: the answer's status.
async fn post_with_headers(h: &Harness, extra: usize, big: usize) -> u16 {
    let body = stripe_event("evt_headers_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let names: Vec<String> = (0..extra).map(|i| format!("x-extra-{i}")).collect();
    let value = "v".repeat(big);
    let mut headers: Vec<(&str, &str)> = vec![("stripe-signature", sig.as_str())];
    headers.extend(names.iter().map(|n| (n.as_str(), "1")));
    if big > 0 {
        headers.push(("x-big", value.as_str()));
    }
    // A fresh connection each time: a 431 closes the one it came on.
    hookgate_testkit::http::post(&h.url("stripe"), &headers, body)
        .await
        .status
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431_and_the_limits_are_configurable() {
    // Defaults: 100 header lines, 64 KiB of head.
    let h = Harness::start().await;
    assert_eq!(post_with_headers(&h, 120, 0).await, 431);
    assert_eq!(post_with_headers(&h, 0, 80 * 1024).await, 431);
    assert_eq!(
        post_with_headers(&h, 40, 16 * 1024).await,
        200,
        "well within both"
    );
    // Raised: the same requests pass.
    let h = Harness::start_with(Options {
        server_extra: "max_headers = 200\nmax_header_bytes = 262144",
        ..Options::default()
    })
    .await;
    assert_eq!(post_with_headers(&h, 120, 0).await, 200);
    assert_eq!(post_with_headers(&h, 0, 80 * 1024).await, 200);
}
