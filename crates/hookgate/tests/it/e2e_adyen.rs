//! Adyen batches through the whole gateway: each item verified (all or
//! nothing), each its own event, one atomic write that skips duplicates,
//! and the `[accepted]` acknowledgement Adyen requires.

use crate::common::*;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

const ADYEN_KEY_HEX: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

/// Adyen's documented signing string for a notification item, signed
/// independently of the gateway's code.
fn sign(item: &Value) -> String {
    let s = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let data = [
        s(&item["pspReference"]),
        s(&item["originalReference"]),
        s(&item["merchantAccountCode"]),
        s(&item["merchantReference"]),
        item["amount"]["value"].to_string(),
        s(&item["amount"]["currency"]),
        s(&item["eventCode"]),
        s(&item["success"]),
    ]
    .join(":");
    let key = hex::decode(ADYEN_KEY_HEX).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn item(psp: &str, code: &str) -> Value {
    let mut item = json!({
        "pspReference": psp,
        "originalReference": "",
        "merchantAccountCode": "HookgateECOM",
        "merchantReference": format!("order-{psp}"),
        "amount": {"value": 1130, "currency": "EUR"},
        "eventCode": code,
        "eventDate": "2024-01-01T01:00:00+01:00",
        "success": "true",
        "additionalData": {}
    });
    let sig = sign(&item);
    item["additionalData"]["hmacSignature"] = json!(sig);
    item
}

fn batch(items: &[Value]) -> Vec<u8> {
    let entries: Vec<Value> = items
        .iter()
        .map(|i| json!({"NotificationRequestItem": i}))
        .collect();
    serde_json::to_vec(&json!({"live": "false", "notificationItems": entries})).unwrap()
}

/// An Adyen source and a subscription of its own (whose endpoint is never
/// reached in these tests: they check ingest).
const ADYEN_SOURCE: &str = r#"
[[sources]]
id = "adyen"
scheme = "adyen"
secrets = [{ value = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056" }]

[[subscriptions]]
id = "payments"
url = "http://127.0.0.1:9/unused"
events = ["adyen.*"]
secret = { value = "whsec_bGVkZ2VyLW91dGJvdW5kLXNpZ25pbmcta2V5LTAwMDE=" }
timeout = "2s"
"#;

fn options() -> Options {
    Options {
        extra: ADYEN_SOURCE,
        ..Options::default()
    }
}

#[tokio::test]
async fn a_batch_is_acknowledged_with_accepted_and_each_item_is_an_event() {
    let h = Harness::start_with(options()).await;
    let body = batch(&[item("PSP001", "AUTHORISATION"), item("PSP002", "CAPTURE")]);
    let resp = h
        .post("adyen", &[("content-type", "application/json")], &body)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "[accepted]");

    // Both items are events with their documented identity; neither was a duplicate.
    for (psp, code) in [("PSP001", "AUTHORISATION"), ("PSP002", "CAPTURE")] {
        let id = event_id("adyen", &format!("{psp}:{code}:true"));
        let ev = h
            .admin
            .event(&id)
            .await
            .unwrap_or_else(|| panic!("{psp} stored as {id}"));
        assert_eq!(ev["source"], "adyen");
        assert_eq!(ev["type"], format!("adyen.{code}"));
        assert_eq!(ev["data"]["pspReference"], psp, "{ev}");
    }
    assert_eq!(stored_ids(&h).await.len(), 2);

    // A retry of the batch with one new item stores only the new one.
    let body = batch(&[item("PSP001", "AUTHORISATION"), item("PSP003", "REFUND")]);
    let resp = h.post("adyen", &[], &body).await;
    assert_eq!(resp.text(), "[accepted]");
    let mut want: Vec<String> = [
        "PSP001:AUTHORISATION:true",
        "PSP002:CAPTURE:true",
        "PSP003:REFUND:true",
    ]
    .iter()
    .map(|p| event_id("adyen", p))
    .collect();
    want.sort();
    assert_eq!(stored_ids(&h).await, want, "three events, none twice");
}

/// The ids of the events stored from `adyen`, sorted.
async fn stored_ids(h: &Harness) -> Vec<String> {
    let mut ids: Vec<String> = h
        .admin
        .events("source=adyen")
        .await
        .iter()
        .map(|e| e["id"].as_str().expect("event id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn one_bad_item_rejects_the_whole_batch_and_stores_nothing() {
    let h = Harness::start_with(options()).await;
    let mut tampered = item("PSP010", "AUTHORISATION");
    tampered["amount"]["value"] = json!(999_999);
    let body = batch(&[item("PSP009", "AUTHORISATION"), tampered]);
    let resp = h.post("adyen", &[], &body).await;
    assert_eq!(resp.status, 401, "{}", resp.text());
    assert_eq!(resp.json()["reason"], "mismatch");
    settle(Duration::from_millis(200)).await;
    assert_no_event_stored(&h.admin, "nothing of a rejected batch is stored").await;
    // Nor was any item's key claimed: the provider's retry, with the item
    // fixed, stores both items as new events.
    let body = batch(&[
        item("PSP009", "AUTHORISATION"),
        item("PSP010", "AUTHORISATION"),
    ]);
    let resp = h.post("adyen", &[], &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "[accepted]");
    let mut want: Vec<String> = ["PSP009:AUTHORISATION:true", "PSP010:AUTHORISATION:true"]
        .iter()
        .map(|p| event_id("adyen", p))
        .collect();
    want.sort();
    assert_eq!(stored_ids(&h).await, want);
}
