//! Slack under hostile input (docs/schemes.md): tampering, keys, tolerance on both
//! sides, headers, hex case, non-UTF-8 bodies, reason precedence.

use crate::support::{HeaderCase, headers, outcome, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::slack;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
const BODY: &[u8] = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
const NOW: i64 = 1_700_000_000;

fn v() -> Verifier {
    verifier(slack::NAME, &[SECRET], None)
}

fn signed(ts: &str, sig: &str) -> http::HeaderMap {
    headers(&[
        ("x-slack-request-timestamp", ts.as_bytes()),
        ("x-slack-signature", sig.as_bytes()),
    ])
}

fn at(ts: i64) -> http::HeaderMap {
    let t = ts.to_string();
    signed(&t, &slack::sign(SECRET, &t, BODY))
}

#[test]
fn tolerance_both_sides() {
    assert_eq!(outcome(&v(), &at(NOW), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW - 299), BODY, NOW), "valid");
    // Exactly 300 s is accepted both ways (`abs(now - ts) > 300`).
    assert_eq!(outcome(&v(), &at(NOW - 300), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW - 301), BODY, NOW), "stale");
    assert_eq!(outcome(&v(), &at(NOW + 300), BODY, NOW), "valid");
    assert_eq!(outcome(&v(), &at(NOW + 301), BODY, NOW), "stale");
    assert_eq!(outcome(&v(), &at(i64::MIN), BODY, NOW), "stale");
    assert_eq!(outcome(&v(), &at(i64::MAX), BODY, NOW), "stale");
    let short = verifier(slack::NAME, &[SECRET], Some(10));
    assert_eq!(outcome(&short, &at(NOW - 10), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &at(NOW + 10), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &at(NOW - 11), BODY, NOW), "stale");
    assert_eq!(outcome(&short, &at(NOW + 11), BODY, NOW), "stale");
}

#[test]
fn tampering_and_keys() {
    let h = at(NOW);
    assert_eq!(outcome(&v(), &h, &BODY[1..], NOW), "mismatch");
    assert_eq!(
        outcome(&verifier(slack::NAME, &[b"nope"], None), &h, BODY, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(
            &verifier(slack::NAME, &[b"nope", SECRET], None),
            &h,
            BODY,
            NOW
        ),
        "valid"
    );
    // A stale timestamp with a bad signature is a mismatch, not stale.
    let t = (NOW - 1000).to_string();
    assert_eq!(
        outcome(
            &v(),
            &signed(&t, &slack::sign(b"nope", &t, BODY)),
            BODY,
            NOW
        ),
        "mismatch"
    );
}

#[test]
fn headers_and_shapes() {
    let t = NOW.to_string();
    let sig = slack::sign(SECRET, &t, BODY);
    let upper = format!("v0={}", sig[3..].to_uppercase());
    let cases: &[HeaderCase<'_>] = &[
        (&[], "missing"),
        (&[("x-slack-signature", sig.as_bytes())], "missing"),
        (&[("x-slack-request-timestamp", t.as_bytes())], "missing"),
        (
            &[
                ("x-slack-request-timestamp", b""),
                ("x-slack-signature", b"junk"),
            ],
            "missing",
        ),
        (
            &[
                ("x-slack-request-timestamp", t.as_bytes()),
                ("x-slack-signature", sig.as_bytes()),
                ("x-slack-signature", sig.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[
                ("x-slack-request-timestamp", b"12.5"),
                ("x-slack-signature", sig.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[
                ("x-slack-request-timestamp", t.as_bytes()),
                ("x-slack-signature", &sig.as_bytes()[3..]),
            ],
            "malformed",
        ),
        (
            &[
                ("x-slack-request-timestamp", t.as_bytes()),
                ("x-slack-signature", b"v0=xyz"),
            ],
            "malformed",
        ),
        (
            &[
                ("x-slack-request-timestamp", t.as_bytes()),
                ("x-slack-signature", b"\xffv0"),
            ],
            "malformed",
        ),
        (
            &[
                ("X-Slack-Request-Timestamp", t.as_bytes()),
                ("X-SLACK-SIGNATURE", upper.as_bytes()),
            ],
            "mismatch",
        ),
        (
            &[
                ("X-Slack-Request-Timestamp", t.as_bytes()),
                ("X-SLACK-SIGNATURE", sig.as_bytes()),
            ],
            "valid",
        ),
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
    let body = b"payload=\xff";
    let t = NOW.to_string();
    assert_eq!(
        outcome(&v(), &signed(&t, &slack::sign(SECRET, &t, body)), body, NOW),
        "mismatch"
    );
}

#[test]
fn extraction_through_the_verifier() {
    let h = at(NOW);
    let events = v().extract(&crate::support::request(&h, BODY)).unwrap();
    assert_eq!(events[0].provider_event_id, "Ev1");
    assert_eq!(events[0].provider_type, "app_mention");
}
