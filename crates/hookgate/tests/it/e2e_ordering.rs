//! Ordering keys end to end (docs/delivery.md, "Ordering keys"): the
//! `ledger` subscription orders by the event's subject (a Stripe event's
//! `data.object.id`), and the scripted subscriber decides which delivery
//! is slow or failing.
//!
//! The subscriber answers in the order requests arrive, not per key, so
//! each test makes exactly one key's head slow or failing while nothing
//! else is in flight, then sends the rest: what arrives while that head
//! waits, and in which order the rest arrive, is the guarantee.

use crate::common::*;
use hookgate_testkit::receiver::{Received, Reply};
use hookgate_testkit::wait::assert_eventually;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a slow answer takes: below the harness subscription's 2 s
/// `timeout`, so it is an answer, not a timeout and a retry.
const SLOW: Duration = Duration::from_millis(1500);

/// `ledger` orders by subject; a `Retry-After` is honoured up to 10 s, so
/// a failing head's retry comes when the test says.
fn ordered() -> Options {
    Options {
        ledger_extra: "ordering = \"subject\"",
        base_delay: "50ms",
        max_delay: "10s",
        max_attempts: 5,
        ..Options::default()
    }
}

/// A Stripe event `id` about payment intent `object` (its subject).
fn event_about(id: &str, object: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","object":"event","api_version":"2024-06-20","created":1700000000,"type":"payment_intent.succeeded","livemode":false,"data":{{"object":{{"id":"{object}","object":"payment_intent","amount":1,"currency":"usd"}}}}}}"#
    )
    .into_bytes()
}

async fn send(h: &Harness, id: &str, object: &str) -> String {
    let r = h.post_stripe(&event_about(id, object)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    event_id("stripe", id)
}

/// The event ids of the deliveries received, in arrival order.
fn arrivals(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The position of `id`'s first arrival (or `n`-th: 0-based).
fn nth_arrival(order: &[String], id: &str, n: usize) -> usize {
    order
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == id)
        .nth(n)
        .unwrap_or_else(|| panic!("{id} did not arrive {} times: {order:?}", n + 1))
        .0
}

#[tokio::test]
async fn one_keys_events_go_one_at_a_time_in_order_while_other_keys_flow() {
    let h = Harness::start_with(ordered()).await;
    // The key's first delivery takes 1.5 s to answer.
    h.receiver.push(Reply::Delay(SLOW, 200));
    let a1 = send(&h, "evt_ord_a1", "pi_A").await;
    h.receiver.wait_for(1, DELIVERY_WAIT).await;
    let a2 = send(&h, "evt_ord_a2", "pi_A").await;
    let a3 = send(&h, "evt_ord_a3", "pi_A").await;
    let b1 = send(&h, "evt_ord_b1", "pi_B").await;
    // Another key goes at once; the held ones do not (the first is still
    // being answered for another second or so).
    h.receiver.wait_for(2, DELIVERY_WAIT).await;
    settle(Duration::from_millis(300)).await;
    let early = arrivals(&h.receiver.requests());
    assert_eq!(early, [a1.clone(), b1.clone()], "only the other key went");
    let route = h.admin.subscription("ledger").await["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "stripe")
        .cloned()
        .unwrap();
    assert_eq!(route["held"], 2, "{route}");
    assert_eq!(route["blocked_keys"], 0, "an in-flight head blocks nothing");

    let received = h.receiver.wait_for(4, DELIVERY_WAIT).await;
    let order = arrivals(&received);
    assert_eq!(order.len(), 4, "{order:?}");
    assert!(nth_arrival(&order, &a1, 0) < nth_arrival(&order, &a2, 0));
    assert!(nth_arrival(&order, &a2, 0) < nth_arrival(&order, &a3, 0));
    // The second went only once the first was answered.
    let at = |id: &str| received.iter().find(|r| r.json()["id"] == id).unwrap().at;
    assert!(at(&a2).duration_since(at(&a1)) >= SLOW - Duration::from_millis(100));
    settle(Duration::from_millis(300)).await;
    assert_eq!(h.receiver.count(), 4, "each event delivered once");
}

#[tokio::test]
async fn a_retrying_head_holds_back_only_its_key_and_is_listed_as_blocked() {
    let h = Harness::start_with(ordered()).await;
    h.receiver.push(Reply::StatusWithHeaders(
        503,
        vec![("retry-after".into(), "3".into())],
    ));
    let a1 = send(&h, "evt_blk_a1", "pi_A").await;
    h.wait_delivery("stripe", &a1, "failed once", |d| d.attempt_count() == 1)
        .await;
    let a2 = send(&h, "evt_blk_a2", "pi_A").await;
    let b1 = send(&h, "evt_blk_b1", "pi_B").await;
    h.wait_delivery_status("stripe", &b1, "delivered").await;

    // The blocked key, as the API, the CLI and the metrics show it.
    let doc = h
        .admin
        .get_json("/admin/v1/subscriptions/ledger/ordering")
        .await;
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc}");
    assert_eq!(items[0]["source"], "stripe");
    assert_eq!(items[0]["key"], "pi_A");
    assert_eq!(items[0]["head"]["event_id"], Value::String(a1.clone()));
    assert_eq!(items[0]["head"]["attempts"], 1);
    assert_eq!(items[0]["head"]["last_status_code"], 503);
    assert_eq!(items[0]["waiting"], 1);
    assert_eq!(doc["next_cursor"], Value::Null);
    let sub = h.admin.subscription("ledger").await;
    assert_eq!(sub["ordering"], json!("subject"));
    let route = sub["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "stripe")
        .cloned()
        .unwrap();
    assert_eq!(
        (&route["held"], &route["blocked_keys"]),
        (&json!(1), &json!(1))
    );
    let metrics = hookgate_testkit::http::get(&format!("http://{}/metrics", h.admin_addr), None)
        .await
        .text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hookgate_ordering_blocked_keys{")
                && l.contains("source=\"stripe\"")
                && l.contains("subscription=\"ledger\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let out = tokio::process::Command::new(bin())
        .args(["subscriptions", "blocked", "--admin-url"])
        .arg(h.admin.base())
        .env("HOOKGATE_TOKEN", HARNESS_TOKEN)
        .env_remove("HOOKGATE_ADMIN_URL")
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("stripe"))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[..5], ["stripe", "pi_A", a1.as_str(), "1", "status"]);
    assert_eq!(row.last(), Some(&"1"), "one waiting: {table}");

    // The retry goes through, then the held one; nothing left blocked.
    h.wait_delivery_status("stripe", &a2, "delivered").await;
    let order = arrivals(&h.receiver.requests());
    assert_eq!(order, [a1.clone(), b1, a1, a2]);
    let doc = h
        .admin
        .get_json("/admin/v1/subscriptions/ledger/ordering")
        .await;
    assert_eq!(doc["items"], json!([]));
}

#[tokio::test]
async fn a_dead_letter_releases_its_key_and_its_replay_goes_to_the_back() {
    let h = Harness::start_with(ordered()).await;
    // The head is refused for good after 1 s; one behind it waits that long.
    h.receiver.push(Reply::Delay(Duration::from_secs(1), 400));
    let a1 = send(&h, "evt_dead_a1", "pi_A").await;
    h.receiver.wait_for(1, DELIVERY_WAIT).await;
    // The next one of the key is slow, so a replay of the first must
    // queue behind it.
    h.receiver.push(Reply::Delay(SLOW, 200));
    let a2 = send(&h, "evt_dead_a2", "pi_A").await;
    h.wait_delivery_status("stripe", &a1, "dead").await;
    h.receiver.wait_for(2, DELIVERY_WAIT).await;
    let r = h
        .admin
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            &json!({ "event_ids": [a1.clone()] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let received = h.receiver.wait_for(3, DELIVERY_WAIT).await;
    let order = arrivals(&received);
    assert_eq!(order, [a1.clone(), a2.clone(), a1.clone()]);
    let at = |n: usize| received[n].at;
    assert!(
        at(2).duration_since(at(1)) >= SLOW - Duration::from_millis(100),
        "the replay waited for the slow one ahead of it"
    );
    h.wait_delivery_status("stripe", &a1, "delivered").await;
}

/// An event without a key is never held behind another.
#[tokio::test]
async fn events_without_a_key_are_not_held() {
    // `ledger` orders by a payload field these events lack.
    let o = Options {
        ledger_extra: "ordering = { pointer = \"/data/object/customer\" }",
        ..ordered()
    };
    let h = Harness::start_with(o).await;
    h.receiver.push(Reply::Delay(SLOW, 200));
    // No customer: no key, so nothing waits behind it.
    let first = send(&h, "evt_nokey_1", "pi_A").await;
    h.receiver.wait_for(1, DELIVERY_WAIT).await;
    let second = send(&h, "evt_nokey_2", "pi_A").await;
    let received = h.receiver.wait_for(2, Duration::from_secs(1)).await;
    assert_eq!(arrivals(&received), [first, second]);
    assert_eventually(
        "nothing held",
        DELIVERY_WAIT,
        Duration::from_millis(100),
        || async {
            let doc = h
                .admin
                .get_json("/admin/v1/subscriptions/ledger/ordering")
                .await;
            doc["items"] == json!([])
        },
    )
    .await;
}

/// A key from a header of the provider's request (any case) or from a
/// payload field orders just as the subject does.
#[tokio::test]
async fn a_header_or_a_payload_field_is_a_key_too() {
    for (extra, header) in [
        ("ordering = { header = \"X-Account\" }", true),
        ("ordering = { pointer = \"/data/object/currency\" }", false),
    ] {
        let h = Harness::start_with(Options {
            ledger_extra: extra,
            ..ordered()
        })
        .await;
        let post = |id: &'static str, account: &'static str| {
            let h = &h;
            async move {
                // Subjects all differ; the key is the account (header) or
                // the currency (payload).
                let body = String::from_utf8(event_about(id, &format!("pi_{id}")))
                    .unwrap()
                    .replace("\"usd\"", &format!("\"{account}\""));
                let sig = hookgate_testkit::sign::stripe_signature(
                    STRIPE_SECRET,
                    hookgate_testkit::sign::now_unix(),
                    body.as_bytes(),
                );
                let mut headers = vec![
                    ("content-type", "application/json"),
                    ("stripe-signature", sig.as_str()),
                ];
                if header {
                    headers.push(("x-account", account));
                }
                let r = h.post("stripe", &headers, body.as_bytes()).await;
                assert_eq!(r.status, 200, "{}", r.text());
                event_id("stripe", id)
            }
        };
        h.receiver.push(Reply::Delay(SLOW, 200));
        let a1 = post("evt_kx_a1", "acct_a").await;
        h.receiver.wait_for(1, DELIVERY_WAIT).await;
        let a2 = post("evt_kx_a2", "acct_a").await;
        let b1 = post("evt_kx_b1", "acct_b").await;
        h.receiver.wait_for(2, DELIVERY_WAIT).await;
        settle(Duration::from_millis(300)).await;
        assert_eq!(
            arrivals(&h.receiver.requests()),
            [a1.clone(), b1.clone()],
            "{extra}"
        );
        let received = h.receiver.wait_for(3, DELIVERY_WAIT).await;
        assert_eq!(arrivals(&received), [a1, b1, a2], "{extra}");
    }
}
