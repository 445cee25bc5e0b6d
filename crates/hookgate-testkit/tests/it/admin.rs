//! `AdminApi` against a stand-in admin listener (a scripted `Receiver`
//! answering JSON): the token and paths it sends, the views it parses, and
//! that it refuses what the API does not promise.

use std::time::Duration;

use hookgate_testkit::{AdminApi, Attempt, Receiver, Reply};
use serde_json::json;

use crate::SOON;

fn event_doc() -> serde_json::Value {
    json!({
        "id": "evt_abc",
        "source": "stripe",
        "type": "stripe.charge.succeeded",
        "time": null,
        "subject": "ch_1",
        "received_at": "2024-01-02T03:04:05.678Z",
        "data": {"id": "evt_1"},
        "deliveries": [
            {
                "subscription": "audit",
                "status": "pending",
                "reason": null,
                "attempts": []
            },
            {
                "subscription": "ledger",
                "status": "dead",
                "reason": "status 400",
                "attempts": [
                    {"n": 1, "at": "2024-01-02T03:04:06Z", "status_code": 503, "error": null, "duration_ms": 12},
                    {"n": 2, "at": "2024-01-02T03:04:07Z", "status_code": null, "error": "timeout", "duration_ms": 2000},
                    {"n": 3, "at": "2024-01-02T03:04:08Z", "status_code": 400, "error": null, "duration_ms": 3, "response": "{\"error\":\"no\"}"}
                ]
            }
        ]
    })
}

fn answering(rx: &Receiver, doc: serde_json::Value) {
    rx.set_default(Reply::StatusWithBody(200, doc.to_string()));
}

#[tokio::test]
async fn delivery_is_parsed_from_the_event_with_the_token_sent() {
    let rx = Receiver::start().await;
    answering(&rx, event_doc());
    let api = AdminApi::new(&rx.addr().to_string(), "tok-1");

    let d = api
        .delivery("stripe", "evt_abc", "ledger")
        .await
        .expect("a delivery to ledger");
    assert_eq!(d.source, "stripe");
    assert_eq!(d.subscription, "ledger");
    assert_eq!(d.status, "dead");
    assert_eq!(d.reason(), "status 400");
    assert_eq!(d.attempt_count(), 3);
    assert_eq!(d.last_status_code(), Some(400));
    assert_eq!(
        d.attempts[1],
        Attempt {
            n: 2,
            at: "2024-01-02T03:04:07Z".into(),
            status_code: None,
            error: Some("timeout".into()),
            duration_ms: 2000,
            response: None,
        }
    );
    assert_eq!(d.attempts[2].response.as_deref(), Some(r#"{"error":"no"}"#));

    let other = api.delivery("stripe", "evt_abc", "audit").await.unwrap();
    assert_eq!(
        (other.status.as_str(), other.attempt_count()),
        ("pending", 0)
    );
    assert_eq!(other.last_status_code(), None);
    assert!(api.delivery("stripe", "evt_abc", "nobody").await.is_none());

    let got = rx.wait_for(3, SOON).await;
    assert!(got.iter().all(|r| r.path == "/admin/v1/events/evt_abc"));
    assert!(
        got.iter()
            .all(|r| r.header("authorization") == Some("Bearer tok-1"))
    );
}

#[tokio::test]
async fn an_event_the_api_does_not_know_is_none() {
    let rx = Receiver::start().await;
    rx.set_default(Reply::StatusWithBody(
        404,
        r#"{"error":"not_found"}"#.into(),
    ));
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    assert!(api.event("evt_missing").await.is_none());
    assert!(
        api.delivery("stripe", "evt_missing", "ledger")
            .await
            .is_none()
    );
}

#[tokio::test]
#[should_panic(expected = "status 503")]
async fn an_error_answer_is_not_taken_for_a_missing_event() {
    let rx = Receiver::start().await;
    rx.set_default(Reply::StatusWithBody(
        503,
        r#"{"error":"store_unavailable"}"#.into(),
    ));
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    api.event("evt_abc").await;
}

#[tokio::test]
#[should_panic(expected = "another source")]
async fn an_event_of_another_source_is_refused() {
    let rx = Receiver::start().await;
    answering(&rx, event_doc());
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    api.delivery("acme", "evt_abc", "ledger").await;
}

#[tokio::test]
#[should_panic(expected = "field \"status_code\"")]
async fn a_field_of_the_wrong_type_is_refused() {
    let rx = Receiver::start().await;
    let mut doc = event_doc();
    doc["deliveries"][1]["attempts"][0]["status_code"] = json!("503");
    answering(&rx, doc);
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    api.delivery("stripe", "evt_abc", "ledger").await;
}

#[tokio::test]
async fn a_list_follows_next_cursor_to_the_end() {
    let rx = Receiver::start().await;
    rx.push(Reply::StatusWithBody(
        200,
        json!({"items": [{"id": "a"}, {"id": "b"}], "next_cursor": "c1 /+"}).to_string(),
    ));
    rx.push(Reply::StatusWithBody(
        200,
        json!({"items": [{"id": "c"}], "next_cursor": null}).to_string(),
    ));
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    let items = api.events("source=stripe").await;
    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let got = rx.wait_for(2, SOON).await;
    assert_eq!(got[0].path, "/admin/v1/events");
    assert_eq!(got[0].query.as_deref(), Some("source=stripe"));
    assert_eq!(
        got[1].query.as_deref(),
        Some("source=stripe&cursor=c1%20%2F%2B")
    );
}

#[tokio::test]
async fn route_reads_depth_and_breaker_of_one_route() {
    let rx = Receiver::start().await;
    answering(
        &rx,
        json!({"items": [{
            "id": "ledger", "tenant": null, "url": "http://x", "paused": false,
            "queue_depth": 7, "dlq_depth": 1,
            "routes": [
                {"source": "acme", "queue_depth": 2, "breaker": "closed"},
                {"source": "stripe", "queue_depth": 5, "breaker": "open"}
            ]
        }], "next_cursor": null}),
    );
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    let r = api.route("stripe", "ledger").await;
    assert_eq!((r.queue_depth, r.breaker.as_str()), (5, "open"));
}

#[tokio::test]
#[should_panic(expected = "waiting for: delivery of evt_abc to ledger is delivered")]
async fn a_delivery_wait_gives_up_at_its_deadline_saying_what_it_saw() {
    let rx = Receiver::start().await;
    answering(&rx, event_doc());
    let api = AdminApi::new(&rx.addr().to_string(), "t");
    api.wait_delivery(
        "stripe",
        "evt_abc",
        "ledger",
        "is delivered",
        Duration::from_millis(300),
        |d| d.status == "delivered",
    )
    .await;
}
