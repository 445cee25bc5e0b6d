//! Hostile requests against `scheme = "shopify"`.

use crate::support::{headers, outcome, request, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::shopify::{self, sign};

const SECRET: &[u8] = b"test_secret_key";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":1,"admin_graphql_api_id":"gid://shopify/Order/1"}"#;

fn v() -> Verifier {
    verifier(shopify::NAME, &[SECRET], None)
}

/// A full Shopify delivery with `hmac`, minus `without`.
fn delivery(hmac: &[u8], without: Option<&str>) -> http::HeaderMap {
    let all: [(&str, &[u8]); 6] = [
        ("X-Shopify-Hmac-Sha256", hmac),
        ("X-Shopify-Topic", b"orders/create"),
        ("X-Shopify-Shop-Domain", b"shop1.myshopify.com"),
        ("X-Shopify-API-Version", b"2024-07"),
        (
            "X-Shopify-Webhook-Id",
            b"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        ),
        (
            "X-Shopify-Event-Id",
            b"98880550-7158-44d4-b7cd-2c97c8a091b5",
        ),
    ];
    let kept: Vec<(&str, &[u8])> = all
        .into_iter()
        .filter(|(name, _)| Some(*name) != without)
        .collect();
    headers(&kept)
}

#[test]
fn valid_tampered_wrong_key_rotation() {
    let good = sign(SECRET, BODY);
    assert_eq!(
        outcome(&v(), &delivery(good.as_bytes(), None), BODY, NOW),
        "valid"
    );
    let mut tampered = BODY.to_vec();
    tampered[6] ^= 1;
    assert_eq!(
        outcome(&v(), &delivery(good.as_bytes(), None), &tampered, NOW),
        "mismatch"
    );
    let wrong = sign(b"other", BODY);
    assert_eq!(
        outcome(&v(), &delivery(wrong.as_bytes(), None), BODY, NOW),
        "mismatch"
    );
    let both = verifier(shopify::NAME, &[b"new_secret", SECRET], None);
    assert_eq!(
        outcome(&both, &delivery(good.as_bytes(), None), BODY, NOW),
        "valid"
    );
}

#[test]
fn required_headers_like_shopify_api() {
    let good = sign(SECRET, BODY);
    for name in [
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-API-Version",
        "X-Shopify-Webhook-Id",
    ] {
        assert_eq!(
            outcome(&v(), &delivery(good.as_bytes(), Some(name)), BODY, NOW),
            "missing",
            "{name}"
        );
    }
    // The event id is not required for verification.
    assert_eq!(
        outcome(
            &v(),
            &delivery(good.as_bytes(), Some("X-Shopify-Event-Id")),
            BODY,
            NOW
        ),
        "valid"
    );
    assert_eq!(outcome(&v(), &delivery(b"", None), BODY, NOW), "missing");
}

#[test]
fn duplicated_and_non_ascii_headers() {
    let good = sign(SECRET, BODY);
    let mut h = delivery(good.as_bytes(), None);
    h.append("x-shopify-hmac-sha256", good.parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let mut h = delivery(good.as_bytes(), None);
    h.append("x-shopify-topic", "orders/paid".parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    assert_eq!(
        outcome(&v(), &delivery(b"\xff", None), BODY, NOW),
        "malformed"
    );
    // missing beats malformed.
    let mut h = delivery(b"\xff", Some("X-Shopify-Topic"));
    h.append("x-shopify-webhook-id", "x".parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
}

#[test]
fn base64_variants_mismatch() {
    let good = sign(SECRET, BODY);
    let hex_form = hex::encode(base64_decode(&good));
    for bad in [
        good.trim_end_matches('='),
        &hex_form,
        &good.to_lowercase(),
        &good[1..],
    ] {
        assert_eq!(
            outcome(&v(), &delivery(bad.as_bytes(), None), BODY, NOW),
            "mismatch",
            "{bad:?}"
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn non_utf8_body() {
    let body = b"{\"a\":\"\xff\"}";
    let sig = sign(SECRET, body);
    assert_eq!(
        outcome(&v(), &delivery(sig.as_bytes(), None), body, NOW),
        "mismatch"
    );
}

#[test]
fn extraction() {
    let h = delivery(b"x", None);
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert_eq!(e.provider_type, "orders/create");
    assert_eq!(e.subject.as_deref(), Some("gid://shopify/Order/1"));
    let h = delivery(b"x", Some("X-Shopify-Event-Id"));
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert!(v().extract(&request(&h, b"not json")).is_err());
}

/// An events delivery (prefix-less headers) with `hmac`, minus `without`.
fn events_delivery(hmac: &[u8], without: Option<&str>) -> http::HeaderMap {
    let all: [(&str, &[u8]); 7] = [
        ("Shopify-Hmac-Sha256", hmac),
        ("Shopify-Topic", b"orders/create"),
        ("Shopify-Shop-Domain", b"shop1.myshopify.com"),
        ("Shopify-API-Version", b"2026-01"),
        (
            "Shopify-Webhook-Id",
            b"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        ),
        ("Shopify-Event-Id", b"98880550-7158-44d4-b7cd-2c97c8a091b5"),
        ("Shopify-Triggered-At", b"2026-01-27T12:00:00Z"),
    ];
    let kept: Vec<(&str, &[u8])> = all
        .into_iter()
        .filter(|(name, _)| Some(*name) != without)
        .collect();
    headers(&kept)
}

#[test]
fn events_deliveries_without_the_x_prefix() {
    let good = sign(SECRET, BODY);
    assert_eq!(
        outcome(&v(), &events_delivery(good.as_bytes(), None), BODY, NOW),
        "valid"
    );
    let wrong = sign(b"other", BODY);
    assert_eq!(
        outcome(&v(), &events_delivery(wrong.as_bytes(), None), BODY, NOW),
        "mismatch"
    );
    // Every header shopify-api requires of an events delivery.
    for name in [
        "Shopify-Topic",
        "Shopify-Shop-Domain",
        "Shopify-API-Version",
        "Shopify-Webhook-Id",
        "Shopify-Event-Id",
    ] {
        assert_eq!(
            outcome(
                &v(),
                &events_delivery(good.as_bytes(), Some(name)),
                BODY,
                NOW
            ),
            "missing",
            "{name}"
        );
        // The X- header of the same name does not stand in for it.
        let mut h = events_delivery(good.as_bytes(), Some(name));
        h.insert(
            http::HeaderName::from_bytes(format!("x-{name}").as_bytes()).unwrap(),
            "x".parse().unwrap(),
        );
        assert_eq!(outcome(&v(), &h, BODY, NOW), "missing", "x-{name}");
    }
    // Repeated is malformed; missing beats malformed.
    let mut h = events_delivery(good.as_bytes(), None);
    h.append("shopify-hmac-sha256", good.parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let mut h = events_delivery(good.as_bytes(), Some("Shopify-Topic"));
    h.append("shopify-event-id", "again".parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
    // Both signature headers: the same value is fine, another is malformed.
    let mut h = events_delivery(good.as_bytes(), None);
    h.insert("x-shopify-hmac-sha256", good.parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "valid");
    h.insert("x-shopify-hmac-sha256", wrong.parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    // Non-UTF-8 bodies mismatch here too.
    let body = b"{\"a\":\"\xff\"}";
    let sig = sign(SECRET, body);
    assert_eq!(
        outcome(&v(), &events_delivery(sig.as_bytes(), None), body, NOW),
        "mismatch"
    );
    // Identity from the prefix-less headers.
    let h = events_delivery(good.as_bytes(), None);
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert_eq!(e.provider_type, "orders/create");
    assert_eq!(e.time.as_deref(), Some("2026-01-27T12:00:00Z"));
}
