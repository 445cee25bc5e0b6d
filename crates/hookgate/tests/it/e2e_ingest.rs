//! Ingest flows that must work: accepted, duplicates, rotation, batches of
//! concurrent retries, the 2xx answer's shape.

use crate::common::*;
use futures::future::join_all;
use hookgate_testkit::sign;
use std::time::Duration;

#[tokio::test]
async fn accepted_answer_names_the_derived_event_id() {
    let h = Harness::start().await;
    let resp = h
        .post_stripe(&stripe_event("evt_accept_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["events"][0]["id"], event_id("stripe", "evt_accept_1"));
    assert_eq!(body["events"][0]["duplicate"], false);
    assert!(resp.header("x-request-id").is_some());
}

#[tokio::test]
async fn same_event_twice_is_a_duplicate_and_delivered_once() {
    let h = Harness::start().await;
    let body = stripe_event("evt_dup_1", "charge.succeeded");
    let first = h.post_stripe(&body).await;
    assert_eq!(first.json()["events"][0]["duplicate"], false);
    // A provider retry is signed afresh (new timestamp): still the same event.
    let ts = sign::now_unix() - 10;
    let second = h
        .post_stripe_signed("stripe", &body, STRIPE_SECRET, ts)
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["events"][0]["duplicate"], true);
    assert_eq!(
        second.json()["events"][0]["id"],
        first.json()["events"][0]["id"]
    );
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    settle(Duration::from_millis(500)).await;
    assert_eq!(
        h.receiver.count(),
        1,
        "a duplicate must not be delivered again"
    );
}

#[tokio::test]
async fn an_event_sent_again_after_its_dedup_window_is_delivered_again() {
    // Past `dedup_window` the gateway no longer knows the id: a re-send is
    // a new event (same event id) and is delivered again. Before, it was
    // acknowledged as new and never delivered: its old delivery records
    // (kept for `retention`) stopped the fan-out. The window may not be
    // shorter than the tolerance (check-config refuses it), so both are 1s.
    let h = Harness::start_with(Options {
        extra: format!(
            "[[sources]]\nid = \"short\"\nscheme = \"stripe\"\nsecrets = [{{ value = \"{STRIPE_SECRET}\" }}]\ntolerance = \"1s\"\ndedup_window = \"1s\"\n[sources.types]\n\"charge.succeeded\" = \"payment.succeeded\"\n"
        )
        .leak(),
        ..Options::default()
    })
    .await;
    let send = |amount: u64| {
        let body = format!(
            r#"{{"id":"evt_again_1","type":"charge.succeeded","created":1700000000,"data":{{"object":{{"id":"ch_1","amount":{amount}}}}}}}"#
        );
        let h = &h;
        async move {
            h.post_stripe_signed("short", body.as_bytes(), STRIPE_SECRET, sign::now_unix())
                .await
        }
    };
    let first = send(100).await;
    assert_eq!(
        first.json()["events"][0]["duplicate"],
        false,
        "{}",
        first.text()
    );
    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["data"]["data"]["object"]["amount"], 100);
    // Within the window: a duplicate, not sent again.
    assert_eq!(send(100).await.json()["events"][0]["duplicate"], true);

    settle(Duration::from_millis(1500)).await;
    let again = send(200).await;
    assert_eq!(again.json()["events"][0]["duplicate"], false);
    assert_eq!(
        again.json()["events"][0]["id"],
        first.json()["events"][0]["id"]
    );
    let got = h.receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].json()["data"]["data"]["object"]["amount"], 200);
    assert_eq!(got[1].header("webhook-id"), got[0].header("webhook-id"));
    assert_eq!(got[1].header("hookgate-attempt"), Some("1"));
}

#[tokio::test]
async fn forty_concurrent_identical_callbacks_enqueue_exactly_one() {
    let h = Harness::start().await;
    let body = stripe_event("evt_race_1", "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    let url = h.url("stripe");
    let answers =
        join_all(
            (0..40).map(|_| {
                let (url, sig, body) = (url.clone(), sig.clone(), body.clone());
                async move {
                    hookgate_testkit::http::post(&url, &[("stripe-signature", &sig)], body).await
                }
            }),
        )
        .await;
    let mut fresh = 0;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text());
        if a.json()["events"][0]["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one of 40 racing callbacks is new");
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    settle(Duration::from_millis(500)).await;
    assert_eq!(h.receiver.count(), 1);
    let id = event_id("stripe", "evt_race_1");
    let stored = h.admin.events("").await;
    let ids: Vec<&str> = stored.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()], "exactly one event stored: {stored:?}");
    let d = h.wait_delivery_status("stripe", &id, "delivered").await;
    assert_eq!(d.attempts.len(), 1, "one delivery, one attempt: {d:?}");
}

#[tokio::test]
async fn previous_secret_is_accepted_during_rotation() {
    let h = Harness::start().await;
    let body = stripe_event("evt_rotate_1", "charge.succeeded");
    let resp = h
        .post_stripe_signed("stripe", &body, STRIPE_OLD_SECRET, sign::now_unix())
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn standard_webhooks_source_is_accepted_and_delivered() {
    let h = Harness::start().await;
    let body =
        br#"{"type":"invoice.paid","timestamp":"2024-01-02T03:04:05Z","data":{"invoice":"inv_1"}}"#;
    let ts = sign::now_unix();
    let headers = sign::standard_webhooks_headers(ACME_SECRET, "msg_acme_1", ts, body);
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = h.post("acme", &hs, body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["events"][0]["id"],
        event_id("acme", "msg_acme_1")
    );
    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    let ce = got[0].json();
    assert_eq!(ce["type"], "acme.invoice.paid");
    assert_eq!(ce["source"], "hookgate/acme");
    assert_eq!(ce["time"], "2024-01-02T03:04:05Z");
    assert_eq!(ce["data"]["data"]["invoice"], "inv_1");
}

/// A Slack source (signing secret as issued by Slack).
const SLACK_SOURCE: &str = r#"
[[sources]]
id = "slack"
scheme = "slack"
secrets = [{ value = "8f742231b10e8888abcd99yyyzzz85a5" }]
"#;

fn slack_headers(body: &[u8], ts: i64) -> (String, String) {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(b"8f742231b10e8888abcd99yyyzzz85a5").unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    (
        ts.to_string(),
        format!("v0={}", hex::encode(mac.finalize().into_bytes())),
    )
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_its_challenge_and_not_stored() {
    let h = Harness::start_with(Options {
        extra: SLACK_SOURCE,
        ..Options::default()
    })
    .await;
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (ts, sig) = slack_headers(body, sign::now_unix());
    let resp = h
        .post(
            "slack",
            &[
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &sig),
            ],
            body,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.text(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert_no_event_stored(&h.admin, "a handshake is not an event").await;
    // Unsigned, it is refused like anything else.
    let resp = h
        .post(
            "slack",
            &[
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", "v0=00"),
            ],
            body,
        )
        .await;
    assert_eq!(resp.status, 401);
}

#[tokio::test]
async fn ingest_and_delivery_work_over_a_tls_store() {
    // `[store] url = "rediss://..."` with `ca_file`: the gateway stores,
    // dedups and delivers through Redis's TLS listener.
    let h = Harness::start_with(Options {
        store: StoreKind::RedisTls,
        ..Options::default()
    })
    .await;
    assert!(h.config.contains("rediss://"), "{}", h.config);
    let body = stripe_event("evt_tls_1", "charge.succeeded");
    let first = h.post_stripe(&body).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["events"][0]["duplicate"], false);
    assert_eq!(
        h.post_stripe(&body).await.json()["events"][0]["duplicate"],
        true
    );
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
    h.wait_delivery_status("stripe", &event_id("stripe", "evt_tls_1"), "delivered")
        .await;
}
