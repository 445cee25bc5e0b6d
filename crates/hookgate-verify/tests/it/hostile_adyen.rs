//! Hostile requests against `scheme = "adyen"` (signatures inside each
//! notification item; all-or-nothing batches).

use crate::support::{outcome, request, source, verifier};
use hookgate_verify::schemes::adyen::{self, decode_key, sign_item};
use hookgate_verify::{Ack, Verifier};
use serde_json::{Value, json};

const KEY_HEX: &[u8] = b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const OTHER_HEX: &[u8] = b"DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
const NOW: i64 = 1_700_000_000;

fn v() -> Verifier {
    verifier(adyen::NAME, &[KEY_HEX], None)
}

fn item(psp: &str, code: &str) -> Value {
    json!({
        "amount": {"currency": "EUR", "value": 1130},
        "eventCode": code,
        "eventDate": "2024-01-01T12:00:00+01:00",
        "merchantAccountCode": "TestMerchant",
        "merchantReference": "order-1",
        "pspReference": psp,
        "reason": "1234:7777:12/2012",
        "success": "true"
    })
}

/// `item` with its `hmacSignature` under `key_hex`.
fn signed(mut item: Value, key_hex: &[u8]) -> Value {
    let sig = sign_item(decode_key(key_hex).unwrap().expose(), &item).unwrap();
    item["additionalData"] = json!({"hmacSignature": sig});
    item
}

fn batch(items: &[Value]) -> Vec<u8> {
    let entries: Vec<Value> = items
        .iter()
        .map(|i| json!({"NotificationRequestItem": i}))
        .collect();
    serde_json::to_vec(&json!({"live": "false", "notificationItems": entries})).unwrap()
}

fn check(v: &Verifier, body: &[u8]) -> &'static str {
    outcome(v, &http::HeaderMap::new(), body, NOW)
}

#[test]
fn valid_batch_and_rotation() {
    let body = batch(&[
        signed(item("A", "AUTHORISATION"), KEY_HEX),
        signed(item("B", "REFUND"), KEY_HEX),
    ]);
    assert_eq!(check(&v(), &body), "valid");
    // Items signed under different configured keys (rotation mid-batch).
    let both = verifier(adyen::NAME, &[OTHER_HEX, KEY_HEX], None);
    let body = batch(&[
        signed(item("A", "AUTHORISATION"), KEY_HEX),
        signed(item("B", "REFUND"), OTHER_HEX),
    ]);
    assert_eq!(check(&both, &body), "valid");
    assert_eq!(check(&v(), &body), "mismatch");
}

#[test]
fn one_bad_item_rejects_the_batch() {
    let good = signed(item("A", "AUTHORISATION"), KEY_HEX);
    let mut bad = signed(item("B", "CAPTURE"), KEY_HEX);
    bad["amount"]["value"] = json!(1);
    assert_eq!(
        check(&v(), &batch(&[good.clone(), bad.clone()])),
        "mismatch"
    );
    assert_eq!(
        check(&v(), &batch(&[bad.clone(), good.clone()])),
        "mismatch"
    );
    // The worst reason wins whatever the order.
    let mut unsigned = item("C", "CAPTURE");
    unsigned["additionalData"] = json!({});
    assert_eq!(
        check(&v(), &batch(&[bad.clone(), unsigned.clone(), good.clone()])),
        "missing"
    );
    let mut odd = signed(item("D", "CAPTURE"), KEY_HEX);
    odd["success"] = json!(true);
    assert_eq!(
        check(&v(), &batch(&[bad.clone(), odd.clone()])),
        "malformed"
    );
    assert_eq!(check(&v(), &batch(&[odd, unsigned])), "missing");
}

#[test]
fn tampered_signed_fields_mismatch() {
    let good = signed(item("A", "AUTHORISATION"), KEY_HEX);
    for (field, value) in [
        ("pspReference", json!("B")),
        ("eventCode", json!("CAPTURE")),
        ("success", json!("false")),
        ("merchantReference", json!("order-2")),
        ("merchantAccountCode", json!("Other")),
        ("originalReference", json!("X")),
        ("amount", json!({"currency": "USD", "value": 1130})),
    ] {
        let mut t = good.clone();
        t[field] = value;
        assert_eq!(check(&v(), &batch(&[t])), "mismatch", "{field}");
    }
    // Unsigned fields are not covered by Adyen's HMAC.
    let mut t = good.clone();
    t["reason"] = json!("changed");
    assert_eq!(check(&v(), &batch(&[t])), "valid");
}

#[test]
fn wrong_key_and_signature_variants() {
    let good = signed(item("A", "AUTHORISATION"), KEY_HEX);
    assert_eq!(
        check(
            &verifier(adyen::NAME, &[OTHER_HEX], None),
            &batch(std::slice::from_ref(&good))
        ),
        "mismatch"
    );
    let sig = good["additionalData"]["hmacSignature"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [
        sig.trim_end_matches('=').to_owned(),
        sig.to_lowercase(),
        format!("{sig} "),
        "x".into(),
    ] {
        let mut t = good.clone();
        t["additionalData"]["hmacSignature"] = json!(bad);
        assert_eq!(check(&v(), &batch(&[t])), "mismatch", "{bad:?}");
    }
    let mut t = good.clone();
    t["additionalData"]["hmacSignature"] = json!(42);
    assert_eq!(check(&v(), &batch(&[t])), "malformed");
}

#[test]
fn missing_signatures() {
    let mut t = item("A", "AUTHORISATION");
    assert_eq!(check(&v(), &batch(&[t.clone()])), "missing");
    t["additionalData"] = json!({"hmacSignature": ""});
    assert_eq!(check(&v(), &batch(&[t.clone()])), "missing");
    t["additionalData"] = json!({"hmacSignature": null});
    assert_eq!(check(&v(), &batch(&[t])), "missing");
    assert_eq!(
        check(&v(), br#"{"live":"false","notificationItems":[]}"#),
        "missing"
    );
    assert_eq!(check(&v(), br#"{"live":"false"}"#), "missing");
    // A signature in a header does not count for this scheme.
    let h = crate::support::headers(&[("HmacSignature", b"abc")]);
    assert_eq!(outcome(&v(), &h, &batch(&[item("A", "X")]), NOW), "missing");
}

#[test]
fn malformed_bodies() {
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        br#"{"notificationItems":{}}"#,
        br#"{"notificationItems":[{}]}"#,
        br#"{"notificationItems":[{"NotificationRequestItem":null}]}"#,
        br#"{"notificationItems":[{"NotificationRequestItem":"x"}]}"#,
        br#"{"notificationItems":[1]}"#,
        b"{\"notificationItems\":[{\"NotificationRequestItem\":{\"pspReference\":\"\xff\"}}]}",
    ] {
        assert_eq!(
            check(&v(), body),
            "malformed",
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn duplicated_signed_fields_are_malformed() {
    let good = signed(item("A", "AUTHORISATION"), KEY_HEX);
    let text =
        serde_json::to_string(&json!({"notificationItems": [{"NotificationRequestItem": good}]}))
            .unwrap();
    assert_eq!(check(&v(), text.as_bytes()), "valid");
    // A first "success":"false" that a first-wins parser would read.
    let dup = text.replacen(
        "\"success\":\"true\"",
        "\"success\":\"false\",\"success\":\"true\"",
        1,
    );
    assert_ne!(dup, text);
    assert_eq!(check(&v(), dup.as_bytes()), "malformed");
}

#[test]
fn bad_keys_fail_closed_without_echo() {
    for bad in [&b"whsec_sekrit"[..], b"ABC", b"0x44782DEF", b" 44"] {
        let err = Verifier::from_source(&source(adyen::NAME, &[bad])).unwrap_err();
        assert_eq!(err.key, "secrets[0]");
        assert!(!err.to_string().contains("sekrit"));
    }
}

#[test]
fn extraction_ack_and_window() {
    let body = batch(&[
        signed(item("A", "AUTHORISATION"), KEY_HEX),
        signed(item("B", "REFUND"), KEY_HEX),
    ]);
    let h = http::HeaderMap::new();
    let events = v().extract(&request(&h, &body)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].provider_event_id, "A:AUTHORISATION:true");
    assert_eq!(events[1].provider_event_id, "B:REFUND:true");
    assert_eq!(events[1].provider_type, "REFUND");
    assert_eq!(events[0].subject.as_deref(), Some("A"));
    assert_eq!(events[0].time.as_deref(), Some("2024-01-01T12:00:00+01:00"));
    let data: Value = serde_json::from_slice(&events[0].data_json).unwrap();
    assert_eq!(data["merchantReference"], "order-1");
    assert!(data.get("NotificationRequestItem").is_none());
    assert!(matches!(
        v().ack(),
        Ack::Fixed {
            content_type: "text/plain",
            body: "[accepted]"
        }
    ));
    assert_eq!(v().dedup_window().as_secs(), 35 * 24 * 3600);
    // Extraction errors name the item.
    let err = v()
        .extract(&request(
            &h,
            &batch(&[item("A", "X"), json!({"eventCode": "X"})]),
        ))
        .unwrap_err();
    assert!(
        err.0
            .starts_with("notificationItems[1]: field `pspReference`"),
        "{}",
        err.0
    );
    // No timestamp: the clock never matters.
    let body = batch(&[signed(item("A", "AUTHORISATION"), KEY_HEX)]);
    assert_eq!(outcome(&v(), &h, &body, i64::MIN), "valid");
}
