//! Hostile requests against `scheme = "onfido"`.

use crate::support::{assert_single_header_states, headers, outcome, request, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::onfido::{self, sign};

const TOKEN: &[u8] = b"_ABC123abc123ABC123abc123ABC123_";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"check-123","status":"complete","completed_at_iso8601":"2020-01-01T00:00:00Z","href":"https://api.onfido.com/v3/checks/check-123"}}}"#;

fn v() -> Verifier {
    verifier(onfido::NAME, &[TOKEN], None)
}

fn with(value: &[u8]) -> http::HeaderMap {
    headers(&[("X-SHA2-Signature", value)])
}

#[test]
fn valid_tampered_wrong_key_rotation() {
    let good = sign(TOKEN, BODY);
    assert_eq!(outcome(&v(), &with(good.as_bytes()), BODY, NOW), "valid");
    assert_eq!(
        outcome(
            &v(),
            &headers(&[("x-sha2-signature", good.as_bytes())]),
            BODY,
            NOW
        ),
        "valid"
    );
    let mut tampered = BODY.to_vec();
    tampered[20] ^= 1;
    assert_eq!(
        outcome(&v(), &with(good.as_bytes()), &tampered, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(sign(b"other", BODY).as_bytes()), BODY, NOW),
        "mismatch"
    );
    let both = verifier(onfido::NAME, &[b"new_token", TOKEN], None);
    assert_eq!(outcome(&both, &with(good.as_bytes()), BODY, NOW), "valid");
    let new_only = verifier(onfido::NAME, &[b"new_token"], None);
    assert_eq!(
        outcome(&new_only, &with(good.as_bytes()), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn missing_empty_duplicated_malformed() {
    let good = sign(TOKEN, BODY);
    let non_ascii = &b"a0\xff"[..];
    assert_single_header_states(
        &v(),
        "X-SHA2-Signature",
        good.as_bytes(),
        b"00",
        Some(non_ascii),
        BODY,
        NOW,
    );
}

#[test]
fn legacy_sha1_is_ignored() {
    let h = headers(&[("X-Signature", b"0000000000000000000000000000000000000000")]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
}

#[test]
fn hex_case_and_node_leniency_rejected() {
    let good = sign(TOKEN, BODY);
    assert_eq!(
        outcome(&v(), &with(good.to_uppercase().as_bytes()), BODY, NOW),
        "mismatch"
    );
    // onfido-node's Buffer.from(hex) would stop at 'z' and ignore the tail.
    let trailing = format!("{good}zz");
    assert_eq!(
        outcome(&v(), &with(trailing.as_bytes()), BODY, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(&good.as_bytes()[..62]), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn non_utf8_body() {
    let body = b"{\"payload\":\"\xff\"}";
    assert_eq!(
        outcome(&v(), &with(sign(TOKEN, body).as_bytes()), body, NOW),
        "mismatch"
    );
}

#[test]
fn extraction() {
    let h = http::HeaderMap::new();
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "check-123:check.completed");
    assert_eq!(e.provider_type, "check.completed");
    assert_eq!(e.subject.as_deref(), Some("check-123"));
    assert_eq!(e.time.as_deref(), Some("2020-01-01T00:00:00Z"));
    let no_time = br#"{"payload":{"resource_type":"check","action":"check.started","object":{"id":"c1","completed_at_iso8601":"yesterday"}}}"#;
    assert_eq!(v().extract(&request(&h, no_time)).unwrap()[0].time, None);
    assert!(v().extract(&request(&h, b"{}")).is_err());
}
