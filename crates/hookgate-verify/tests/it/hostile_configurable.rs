//! The configurable schemes (`hmac`, `basic-auth`, `header-token`) under
//! hostile input (docs/schemes.md).

use crate::support::{HeaderCase, headers, outcome, request, source};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::{basic_auth, header_token, hmac};

const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","type":"order.paid"}"#;

fn build(scheme: &str, secrets: &[&[u8]], params: &[(&str, &str)]) -> Verifier {
    let mut src = source(scheme, secrets);
    for (k, v) in params {
        src.params.insert((*k).into(), (*v).into());
    }
    Verifier::from_source(&src).unwrap()
}

fn timestamped() -> Verifier {
    build(
        hmac::NAME,
        &[b"k1"],
        &[
            ("header", "x-sig"),
            ("prefix", "v1="),
            ("signed_content", "{timestamp}.{body}"),
            ("timestamp_header", "x-ts"),
            ("event_id", "/id"),
            ("event_type", "/type"),
        ],
    )
}

fn ts_sig(ts: i64, body: &[u8]) -> http::HeaderMap {
    let mut content = format!("{ts}.").into_bytes();
    content.extend_from_slice(body);
    let sig = hmac::sign("sha256", hmac::Encoding::Hex, "v1=", b"k1", &content).unwrap();
    headers(&[
        ("x-ts", ts.to_string().as_bytes()),
        ("x-sig", sig.as_bytes()),
    ])
}

#[test]
fn hmac_tolerance_and_tampering() {
    let v = timestamped();
    assert_eq!(outcome(&v, &ts_sig(NOW, BODY), BODY, NOW), "valid");
    // Exactly `tolerance` is accepted both ways; one second more is stale.
    assert_eq!(outcome(&v, &ts_sig(NOW - 300, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&v, &ts_sig(NOW + 300, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&v, &ts_sig(NOW - 301, BODY), BODY, NOW), "stale");
    assert_eq!(outcome(&v, &ts_sig(NOW + 301, BODY), BODY, NOW), "stale");
    assert_eq!(outcome(&v, &ts_sig(NOW, BODY), b"{}", NOW), "mismatch");
    // Non-UTF-8 bodies are signed as bytes.
    assert_eq!(outcome(&v, &ts_sig(NOW, b"\xff"), b"\xff", NOW), "valid");
    let h = ts_sig(NOW, BODY);
    let events = v.extract(&request(&h, BODY)).unwrap();
    assert_eq!(
        (
            events[0].provider_event_id.as_str(),
            events[0].provider_type.as_str()
        ),
        ("evt_1", "order.paid")
    );
}

#[test]
fn hmac_header_shapes() {
    let v = timestamped();
    let good = ts_sig(NOW, BODY);
    let sig = good.get("x-sig").unwrap().as_bytes().to_vec();
    let t = NOW.to_string();
    let cases: &[HeaderCase<'_>] = &[
        (&[], "missing"),
        (&[("x-ts", t.as_bytes())], "missing"),
        (&[("x-sig", &sig)], "missing"),
        (&[("x-ts", b"soon"), ("x-sig", b"")], "missing"),
        (&[("x-ts", b"soon"), ("x-sig", &sig)], "malformed"),
        (
            &[("x-ts", t.as_bytes()), ("x-sig", &sig), ("x-sig", &sig)],
            "malformed",
        ),
        (&[("x-ts", t.as_bytes()), ("x-sig", &sig[3..])], "malformed"),
        (
            &[("x-ts", t.as_bytes()), ("x-sig", b"v1=nothex")],
            "malformed",
        ),
        (
            &[
                ("X-TS", t.as_bytes()),
                (
                    "X-Sig",
                    &sig.to_ascii_uppercase()
                        .iter()
                        .map(|b| if *b == b'V' { b'v' } else { *b })
                        .collect::<Vec<_>>(),
                ),
            ],
            "valid",
        ),
    ];
    for (pairs, want) in cases {
        assert_eq!(outcome(&v, &headers(pairs), BODY, NOW), *want, "{pairs:?}");
    }
}

#[test]
fn basic_auth_cases() {
    let v = build(
        basic_auth::NAME,
        &[b"hook:s3cret"],
        &[("event_id", "/id"), ("event_type", "/type")],
    );
    let good = basic_auth::sign("hook", "s3cret");
    let (short, spaced, upper) = (
        basic_auth::sign("hook", "s3cre"),
        basic_auth::sign("hook", "s3cret "),
        basic_auth::sign("Hook", "s3cret"),
    );
    let cases: &[HeaderCase<'_>] = &[
        (&[("authorization", good.as_bytes())], "valid"),
        (&[("Authorization", good.as_bytes())], "valid"),
        (&[("authorization", short.as_bytes())], "mismatch"),
        (&[("authorization", spaced.as_bytes())], "mismatch"),
        (&[("authorization", upper.as_bytes())], "mismatch"),
        (&[], "missing"),
        (&[("authorization", b"")], "missing"),
        (
            &[
                ("authorization", good.as_bytes()),
                ("authorization", good.as_bytes()),
            ],
            "malformed",
        ),
        (&[("authorization", b"Basic")], "malformed"),
        (&[("authorization", b"Digest abc")], "malformed"),
        (&[("authorization", b"Basic \xff")], "malformed"),
    ];
    for (pairs, want) in cases {
        assert_eq!(outcome(&v, &headers(pairs), BODY, NOW), *want, "{pairs:?}");
    }
}

#[test]
fn header_token_cases() {
    let v = build(
        header_token::NAME,
        &[b"tok_old", b"tok_new"],
        &[
            ("header", "X-Hook-Token"),
            ("event_id", "header:x-event-id"),
            ("event_type", "/type"),
        ],
    );
    let cases: &[HeaderCase<'_>] = &[
        (&[("x-hook-token", b"tok_new")], "valid"),
        (&[("X-HOOK-TOKEN", b"tok_old")], "valid"),
        (&[("x-hook-token", b"tok_ne")], "mismatch"),
        (&[("x-hook-token", b"tok_new\xff")], "malformed"),
        (
            &[("x-hook-token", b"tok_new"), ("x-hook-token", b"tok_new")],
            "malformed",
        ),
        (&[("x-hook-token", b"")], "missing"),
        (&[], "missing"),
    ];
    for (pairs, want) in cases {
        assert_eq!(outcome(&v, &headers(pairs), BODY, NOW), *want, "{pairs:?}");
    }
    // The event id comes from a header here.
    let h = headers(&[("x-hook-token", b"tok_new"), ("x-event-id", b"E9")]);
    assert_eq!(
        v.extract(&request(&h, BODY)).unwrap()[0].provider_event_id,
        "E9"
    );
    assert!(
        v.extract(&request(&headers(&[("x-hook-token", b"tok_new")]), BODY))
            .is_err()
    );
}
