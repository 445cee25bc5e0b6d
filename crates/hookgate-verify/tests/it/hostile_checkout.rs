//! Hostile requests against `scheme = "checkout"`.

use crate::support::{assert_single_header_states, headers, outcome, request, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::checkout::{self, sign};

const SECRET: &[u8] = b"sk_sbox_m73dzbpy7cf3gfd46xr4yj5xo4e";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_approved","created_on":"2019-08-24T14:15:22Z","data":{"id":"pay_1"}}"#;

fn v() -> Verifier {
    verifier(checkout::NAME, &[SECRET], None)
}

fn with(value: &[u8]) -> http::HeaderMap {
    headers(&[("Cko-Signature", value)])
}

#[test]
fn valid_tampered_wrong_key_rotation() {
    let good = sign(SECRET, BODY);
    assert_eq!(outcome(&v(), &with(good.as_bytes()), BODY, NOW), "valid");
    assert_eq!(
        outcome(
            &v(),
            &headers(&[("cko-signature", good.as_bytes())]),
            BODY,
            NOW
        ),
        "valid"
    );
    let mut tampered = BODY.to_vec();
    tampered[8] ^= 1;
    assert_eq!(
        outcome(&v(), &with(good.as_bytes()), &tampered, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(sign(b"other", BODY).as_bytes()), BODY, NOW),
        "mismatch"
    );
    let both = verifier(checkout::NAME, &[b"new", SECRET], None);
    assert_eq!(outcome(&both, &with(good.as_bytes()), BODY, NOW), "valid");
}

#[test]
fn missing_empty_duplicated_malformed() {
    let good = sign(SECRET, BODY);
    let (good, non_ascii) = (good.as_bytes(), &b"\xff\xfe"[..]);
    assert_single_header_states(
        &v(),
        "Cko-Signature",
        good,
        good,
        Some(non_ascii),
        BODY,
        NOW,
    );
    // The static Authorization key Checkout.com also sends is no signature.
    let h = headers(&[("Authorization", SECRET)]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
}

#[test]
fn hex_case_and_length() {
    let good = sign(SECRET, BODY);
    assert_eq!(
        outcome(&v(), &with(good.to_uppercase().as_bytes()), BODY, NOW),
        "mismatch"
    );
    for bad in [
        &good[..63],
        &format!("{good}0"),
        &format!("sha256={good}"),
        "zz",
    ] {
        assert_eq!(
            outcome(&v(), &with(bad.as_bytes()), BODY, NOW),
            "mismatch",
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_body() {
    let body = b"{\"id\":\"\xff\"}";
    assert_eq!(
        outcome(&v(), &with(sign(SECRET, body).as_bytes()), body, NOW),
        "mismatch"
    );
}

#[test]
fn extraction() {
    let h = http::HeaderMap::new();
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "evt_1");
    assert_eq!(e.provider_type, "payment_approved");
    assert_eq!(e.subject.as_deref(), Some("pay_1"));
    for bad in [
        &b"nope"[..],
        b"[]",
        br#"{"id":"evt_1"}"#,
        br#"{"id":1,"type":"x"}"#,
    ] {
        assert!(v().extract(&request(&h, bad)).is_err());
    }
}
