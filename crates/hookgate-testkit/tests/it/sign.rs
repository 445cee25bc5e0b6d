//! Signing helpers against `verify_standard_webhooks`, as a subscriber would check.

use hookgate_testkit::{
    now_unix, standard_webhooks_headers, standard_webhooks_signature, stripe_signature,
    verify_standard_webhooks,
};
use http::{HeaderMap, HeaderValue};

const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0";
const BODY: &[u8] = br#"{"specversion":"1.0","id":"evt_abc"}"#;

fn headers(id: &str, ts: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    h.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&ts.to_string()).unwrap(),
    );
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    h
}

#[test]
fn round_trip_and_tampering() {
    let now = now_unix();
    let mut h = HeaderMap::new();
    for (k, v) in standard_webhooks_headers(NEW, "evt_abc", now, BODY) {
        h.insert(k, HeaderValue::from_str(&v).unwrap());
    }
    assert_eq!(verify_standard_webhooks(NEW, &h, BODY, now, 300), Ok(()));

    // Tampered body, wrong secret, wrong id: all rejected.
    assert!(verify_standard_webhooks(NEW, &h, b"{}", now, 300).is_err());
    assert!(verify_standard_webhooks(OLD, &h, BODY, now, 300).is_err());
    let sig = standard_webhooks_signature(NEW, "evt_abc", now, BODY);
    assert!(
        verify_standard_webhooks(NEW, &headers("evt_other", now, &sig), BODY, now, 300).is_err()
    );
    // Same signature, different timestamp header: rejected.
    assert!(
        verify_standard_webhooks(NEW, &headers("evt_abc", now - 1, &sig), BODY, now, 300).is_err()
    );
}

#[test]
fn timestamp_tolerance_both_ways() {
    let now = 1_700_000_000;
    let check = |ts: i64| {
        let sig = standard_webhooks_signature(NEW, "m", ts, BODY);
        verify_standard_webhooks(NEW, &headers("m", ts, &sig), BODY, now, 300)
    };
    assert_eq!(check(now - 300), Ok(()));
    assert_eq!(check(now + 300), Ok(()));
    assert!(check(now - 301).unwrap_err().contains("too old"));
    assert!(check(now + 301).unwrap_err().contains("too new"));
}

#[test]
fn missing_headers_are_named() {
    let now = now_unix();
    let sig = standard_webhooks_signature(NEW, "m", now, BODY);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = headers("m", now, &sig);
        h.remove(name);
        let err = verify_standard_webhooks(NEW, &h, BODY, now, 300).unwrap_err();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn rotation_any_v1_entry_may_match() {
    let now = now_unix();
    let old = standard_webhooks_signature(OLD, "m", now, BODY);
    let new = standard_webhooks_signature(NEW, "m", now, BODY);
    let both = format!("{old} {new}");
    // A subscriber holding either secret accepts the rotated header.
    assert_eq!(
        verify_standard_webhooks(OLD, &headers("m", now, &both), BODY, now, 300),
        Ok(())
    );
    assert_eq!(
        verify_standard_webhooks(NEW, &headers("m", now, &both), BODY, now, 300),
        Ok(())
    );

    // Other versions are skipped, and garbage entries do not break matching.
    let v2_body = &new["v1,".len()..];
    let noisy = format!("v2,{v2_body} junk v1,!!notbase64 {new}");
    assert_eq!(
        verify_standard_webhooks(NEW, &headers("m", now, &noisy), BODY, now, 300),
        Ok(())
    );
    // The right signature under a non-v1 label does not count.
    let relabelled = format!("v2,{v2_body}");
    assert!(
        verify_standard_webhooks(NEW, &headers("m", now, &relabelled), BODY, now, 300).is_err()
    );
    // A third secret matches neither entry.
    let third = "whsec_dGhpcmQtc2VjcmV0LW5vdC1pbi10aGUtaGVhZGVy";
    assert!(verify_standard_webhooks(third, &headers("m", now, &both), BODY, now, 300).is_err());
}

#[test]
fn stripe_header_shape() {
    let sig = stripe_signature("whsec_x", 1_700_000_000, BODY);
    let (t, v1) = sig.split_once(',').unwrap();
    assert_eq!(t, "t=1700000000");
    let hex = v1.strip_prefix("v1=").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // The timestamp is signed: another timestamp gives another v1.
    let other = stripe_signature("whsec_x", 1_700_000_001, BODY);
    assert_ne!(other.split_once(',').unwrap().1, v1);
}
