//! Paddle under hostile input (docs/schemes.md): tampering, keys, the 5 s
//! tolerance on both sides, header shapes, hex case, non-UTF-8 bodies.

use crate::support::{HeaderCase, headers, outcome, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::paddle;

const SECRET: &[u8] = b"pdl_ntfset_01h8_secret";
const BODY: &[u8] = br#"{"event_id":"evt_1","event_type":"transaction.completed","occurred_at":"2024-01-01T00:00:00Z","data":{"id":"txn_1"}}"#;
const NOW: i64 = 1_700_000_000;

fn v() -> Verifier {
    verifier(paddle::NAME, &[SECRET], None)
}

fn sig(value: &str) -> http::HeaderMap {
    headers(&[("paddle-signature", value.as_bytes())])
}

fn at(ts: i64) -> http::HeaderMap {
    sig(&paddle::signature_header(SECRET, ts, BODY))
}

#[test]
fn tolerance_both_sides() {
    assert_eq!(outcome(&v(), &at(NOW), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW - 4), BODY, NOW), "valid");
    // Exactly 5 s is accepted both ways (the SDKs' `now > ts + 5`).
    assert_eq!(outcome(&v(), &at(NOW - 5), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW - 6), BODY, NOW), "stale");
    assert_eq!(outcome(&v(), &at(NOW + 5), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW + 6), BODY, NOW), "stale");
    assert_eq!(outcome(&v(), &at(i64::MAX), BODY, NOW), "stale");
    let wide = verifier(paddle::NAME, &[SECRET], Some(60));
    assert_eq!(outcome(&wide, &at(NOW - 60), BODY, NOW), "valid");
    assert_eq!(outcome(&wide, &at(NOW + 60), BODY, NOW), "valid");
    assert_eq!(outcome(&wide, &at(NOW - 61), BODY, NOW), "stale");
    assert_eq!(outcome(&wide, &at(NOW + 61), BODY, NOW), "stale");
}

#[test]
fn tampering_and_keys() {
    assert_eq!(outcome(&v(), &at(NOW), b"{}", NOW), "mismatch");
    assert_eq!(
        outcome(
            &verifier(paddle::NAME, &[b"other"], None),
            &at(NOW),
            BODY,
            NOW
        ),
        "mismatch"
    );
    assert_eq!(
        outcome(
            &verifier(paddle::NAME, &[b"other", SECRET], None),
            &at(NOW),
            BODY,
            NOW
        ),
        "valid"
    );
    let h = paddle::sign(SECRET, NOW, BODY);
    assert_eq!(
        outcome(
            &v(),
            &sig(&format!("ts={NOW};h1={}", h.to_uppercase())),
            BODY,
            NOW
        ),
        "mismatch"
    );
    // The timestamp is signed.
    assert_eq!(
        outcome(&v(), &sig(&format!("ts={};h1={h}", NOW + 1)), BODY, NOW),
        "mismatch"
    );
    // Leading zeros and '+' sign as the parsed integer (both SDKs).
    assert_eq!(
        outcome(&v(), &sig(&format!("ts=+0{NOW};h1={h}")), BODY, NOW),
        "valid"
    );
}

#[test]
fn header_shapes() {
    let h = paddle::sign(SECRET, NOW, BODY);
    let good = format!("ts={NOW};h1={h}");
    let (bad_ts, extra, trailing) = (
        format!("ts=x;h1={h}"),
        format!("ts={NOW};h1={h};v2=x"),
        format!("{good};"),
    );
    let cases: &[HeaderCase<'_>] = &[
        (&[], "missing"),
        (&[("paddle-signature", b"")], "missing"),
        (
            &[
                ("paddle-signature", good.as_bytes()),
                ("paddle-signature", good.as_bytes()),
            ],
            "malformed",
        ),
        (&[("paddle-signature", b"ts=1")], "malformed"),
        (&[("paddle-signature", bad_ts.as_bytes())], "malformed"),
        (&[("paddle-signature", extra.as_bytes())], "malformed"),
        (&[("paddle-signature", b"\xff")], "malformed"),
        (&[("Paddle-Signature", trailing.as_bytes())], "valid"),
    ];
    for (pairs, want) in cases {
        assert_eq!(
            outcome(&v(), &headers(pairs), BODY, NOW),
            *want,
            "{pairs:?}"
        );
    }
}

#[test]
fn non_utf8_body_mismatches() {
    let body = b"{\xff}";
    assert_eq!(
        outcome(
            &v(),
            &sig(&paddle::signature_header(SECRET, NOW, body)),
            body,
            NOW
        ),
        "mismatch"
    );
}
