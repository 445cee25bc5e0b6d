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

/// A signed Stripe callback as raw HTTP/1.1 bytes.
fn raw_stripe(provider_event_id: &str) -> Vec<u8> {
    let body = stripe_event(provider_event_id, "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let mut req = format!(
        "POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         stripe-signature: {sig}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

#[tokio::test]
async fn a_source_at_its_in_flight_bound_is_shed_while_others_are_served() {
    // The bound counts verified callbacks being handled (payload, rate
    // limit, store write): a slot is taken once the body is read and its
    // signature verified. So the source is held at its bound by its own
    // valid callbacks, not by a client that never sends its body.
    let h = Harness::start_with(Options {
        server_extra: "max_in_flight_per_source = 1",
        read_timeout: "5s",
        ..Options::default()
    })
    .await;

    // A stalled stripe request holds no slot: with a bound of 1, a valid
    // callback is accepted while it waits.
    let mut stalled = RawConn::connect(&h.ingest_addr).await.unwrap();
    stalled
        .send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    assert!(
        stalled
            .read_response(Duration::from_millis(300))
            .await
            .is_none(),
        "the stalled request is still waiting for its body"
    );
    let resp = h
        .post_stripe(&stripe_event("evt_shed_0", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Bursts of valid callbacks, their bodies completed at the same
    // moment: beyond the one slot they are shed (429, Retry-After), and
    // another source is served meanwhile. Bounded: a few bursts until one
    // overlapped.
    const BURST: usize = 32;
    let mut shed = Vec::new();
    let mut accepted = 0;
    for round in 0..5 {
        if !shed.is_empty() {
            break;
        }
        let mut conns = Vec::new();
        let mut lasts = Vec::new();
        for i in 0..BURST {
            let req = raw_stripe(&format!("evt_shed_{round}_{i}"));
            let (head, last) = req.split_at(req.len() - 1);
            let mut conn = RawConn::connect(&h.ingest_addr).await.unwrap();
            conn.send(head).await.unwrap();
            conns.push((format!("evt_shed_{round}_{i}"), conn));
            lasts.push(last.to_vec());
        }
        for ((_, conn), last) in conns.iter_mut().zip(&lasts) {
            conn.send(last).await.unwrap();
        }
        // Another source, during the burst.
        let body = br#"{"type":"invoice.paid","data":{}}"#;
        let msg = format!("msg_shed_{round}");
        let headers = sign::standard_webhooks_headers(ACME_SECRET, &msg, sign::now_unix(), body);
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(h.post("acme", &hs, body).await.status, 200);
        for (id, mut conn) in conns {
            let (status, text) = conn
                .read_response(Duration::from_secs(5))
                .await
                .expect("an answer");
            match status {
                200 => accepted += 1,
                429 => {
                    assert!(text.contains(r#"{"error":"rate_limited"}"#), "{text}");
                    assert!(
                        text.to_ascii_lowercase().contains("retry-after: 1\r\n"),
                        "{text}"
                    );
                    shed.push(id);
                }
                other => panic!("{id}: {other} {text}"),
            }
        }
    }
    assert!(!shed.is_empty(), "no burst reached the bound");
    assert!(accepted > 0, "the slot served no one");
    // A shed callback claimed nothing: the provider's retry is a new event.
    for id in &shed {
        let resp = h.post_stripe(&stripe_event(id, "charge.succeeded")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["events"][0]["duplicate"], false, "{id}");
    }
    drop(stalled);
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

/// Stalled connections the slow-client attack holds open at once: more
/// than the default `max_in_flight_per_source` (256).
const STALLERS: usize = 270;
/// How long the attack runs.
const ATTACK: Duration = Duration::from_secs(4);
/// Valid callbacks sent during the attack, one at a time.
const VALID_CALLBACKS: usize = 30;

/// One attacker: announces a 100-byte body on `source` and never sends it;
/// reconnects whenever the gateway answers or cuts it, until `end`.
/// Bounded in time (`end`) and in reconnections.
async fn stall_until(addr: String, end: Instant) -> usize {
    let mut connections = 0;
    while Instant::now() < end && connections < 1000 {
        let Ok(mut conn) = RawConn::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        connections += 1;
        if conn
            .send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let left = end.saturating_duration_since(Instant::now());
        // Held until the gateway answers (408) or closes, or the attack ends.
        let _ = conn.read_response(left).await;
    }
    connections
}

/// Slow clients must not deny a source: hundreds of connections that
/// announce a body and never send it (and reconnect when cut) hold no
/// slot of the source, so a provider's validly signed callbacks on the
/// same source are all accepted meanwhile.
async fn stalled_bodies_do_not_deny_the_source(store: StoreKind) {
    let h = Harness::start_with(Options {
        read_timeout: "1s",
        store,
        ..Options::default()
    })
    .await;
    let end = Instant::now() + ATTACK;
    let attackers: Vec<_> = (0..STALLERS)
        .map(|_| tokio::spawn(stall_until(h.ingest_addr.clone(), end)))
        .collect();
    // Let every staller get its head in before the provider calls.
    settle(Duration::from_millis(500)).await;

    let mut statuses = Vec::new();
    let pace = (ATTACK - Duration::from_millis(800)) / VALID_CALLBACKS as u32;
    for i in 0..VALID_CALLBACKS {
        if Instant::now() >= end {
            break;
        }
        let body = stripe_event(&format!("evt_stall_{i}"), "charge.succeeded");
        statuses.push(h.post_stripe(&body).await.status);
        tokio::time::sleep(pace).await;
    }
    let mut stalled_connections = 0;
    for a in attackers {
        stalled_connections += a.await.expect("attacker task");
    }
    let accepted = statuses.iter().filter(|&&s| s == 200).count();
    eprintln!(
        "slow-client attack on {store:?}: {accepted}/{} valid callbacks accepted \
         ({stalled_connections} stalled connections over {ATTACK:?}); statuses {statuses:?}",
        statuses.len()
    );
    assert!(
        statuses.len() >= VALID_CALLBACKS * 3 / 4,
        "the test sent only {} callbacks",
        statuses.len()
    );
    assert!(
        stalled_connections >= STALLERS,
        "the attack did not run: {stalled_connections} connections"
    );
    assert_eq!(
        accepted,
        statuses.len(),
        "valid callbacks were refused under the slow-client attack: {statuses:?}"
    );
    // Every accepted callback was stored.
    for i in 0..statuses.len() {
        let id = event_id("stripe", &format!("evt_stall_{i}"));
        assert!(h.admin.event(&id).await.is_some(), "{id} not stored");
    }
}

#[tokio::test]
async fn stalled_bodies_on_a_source_do_not_deny_its_signed_callbacks_sqlite() {
    stalled_bodies_do_not_deny_the_source(StoreKind::Sqlite).await;
}

#[tokio::test]
async fn stalled_bodies_on_a_source_do_not_deny_its_signed_callbacks_redis() {
    stalled_bodies_do_not_deny_the_source(StoreKind::Redis).await;
}

#[tokio::test]
async fn bodies_share_a_bounded_budget_and_a_body_waits_for_room() {
    // A budget of one largest body: a client holding it by sending all
    // but the last byte makes the next body wait (memory stays bounded),
    // not fail; when the stalled one is cut at its read_timeout, the
    // waiting one is read and accepted.
    let h = Harness::start_with(Options {
        max_body_bytes: 65536,
        read_timeout: "2s",
        server_extra: "max_body_buffer_bytes = 65536",
        ..Options::default()
    })
    .await;
    let mut hog = RawConn::connect(&h.ingest_addr).await.unwrap();
    hog.send(b"POST /ingest/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: 65536\r\n\r\n")
        .await
        .unwrap();
    hog.send(&vec![b'a'; 65535]).await.unwrap();
    // The next body starts well after the hog, so the hog is cut (and
    // its room freed) well before the next one's own read_timeout.
    settle(Duration::from_millis(700)).await;
    let started = Instant::now();
    let resp = h
        .post_stripe(&stripe_event("evt_budget_1", "charge.succeeded"))
        .await;
    let waited = started.elapsed();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        waited >= Duration::from_millis(900),
        "the body did not wait for room: {waited:?}"
    );
    let (status, _) = hog
        .read_response(Duration::from_secs(5))
        .await
        .expect("the hog's answer");
    assert_eq!(status, 408);
    // With the budget free again, a body goes through at once.
    let started = Instant::now();
    let resp = h
        .post_stripe(&stripe_event("evt_budget_2", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(started.elapsed() < Duration::from_millis(500));
}
