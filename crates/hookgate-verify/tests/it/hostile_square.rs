//! Square under hostile input (docs/schemes.md): tampering, keys, the signed URL
//! (query appended, default-port variants), header shapes, non-UTF-8.

use crate::support::{HeaderCase, headers, source};
use hookgate_verify::schemes::square;
use hookgate_verify::{RawRequest, Rejection, Verifier};

const KEY: &[u8] = b"Ibxx_5AKakO-3qeNVR61Dw";
const URL: &str = "https://gateway.example.com/ingest/sq";
const BODY: &[u8] = br#"{"event_id":"e1","type":"payment.updated","created_at":"2024-01-01T00:00:00Z","data":{"id":"p1"}}"#;

fn v_with(url: &str, keys: &[&[u8]]) -> Verifier {
    let mut src = source(square::NAME, keys);
    src.public_url = Some(url.into());
    Verifier::from_source(&src).unwrap()
}

fn check(v: &Verifier, pq: &str, pairs: &[(&str, &[u8])], body: &[u8]) -> &'static str {
    let h = headers(pairs);
    let req = RawRequest {
        method: "POST",
        path_and_query: pq,
        headers: &h,
        body,
    };
    match v.verify(&req, 0) {
        Ok(()) => "valid",
        Err(r) => Rejection::as_str(r),
    }
}

#[test]
fn url_variants_and_query() {
    let v = v_with(URL, &[KEY]);
    let plain = square::sign(KEY, URL, BODY);
    let port = square::sign(KEY, "https://gateway.example.com:443/ingest/sq", BODY);
    let h = |s: &str| vec![("x-square-hmacsha256-signature", s.as_bytes().to_vec())];
    let run = |pq: &str, s: &str, body: &[u8]| {
        let pairs = h(s);
        let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        check(&v, pq, &pairs, body)
    };
    assert_eq!(run("/ingest/sq", &plain, BODY), "valid");
    assert_eq!(run("/ingest/sq", &port, BODY), "valid");
    let q = square::sign(KEY, &format!("{URL}?x=1"), BODY);
    assert_eq!(run("/ingest/sq?x=1", &q, BODY), "valid");
    assert_eq!(run("/ingest/sq?x=2", &q, BODY), "mismatch");
    assert_eq!(run("/ingest/sq", &q, BODY), "mismatch");
    // A non-default port is kept as configured, not stripped.
    let v8443 = v_with("https://gateway.example.com:8443/ingest/sq", &[KEY]);
    let pairs = [("x-square-hmacsha256-signature", plain.as_bytes())];
    assert_eq!(check(&v8443, "/ingest/sq", &pairs, BODY), "mismatch");
}

#[test]
fn tampering_keys_and_shapes() {
    let v = v_with(URL, &[KEY]);
    let s = square::sign(KEY, URL, BODY);
    let ok = [("x-square-hmacsha256-signature", s.as_bytes())];
    // Another spelling that is still valid base64: the first letter's case flipped.
    let lower = flip_first_letter(&s);
    assert_eq!(check(&v, "/", &ok, &BODY[..BODY.len() - 1]), "mismatch");
    assert_eq!(check(&v_with(URL, &[b"other"]), "/", &ok, BODY), "mismatch");
    assert_eq!(
        check(&v_with(URL, &[b"other", KEY]), "/", &ok, BODY),
        "valid"
    );
    let cases: &[HeaderCase<'_>] = &[
        (&[], "missing"),
        (&[("x-square-hmacsha256-signature", b"")], "missing"),
        (
            &[
                ("x-square-hmacsha256-signature", s.as_bytes()),
                ("x-square-hmacsha256-signature", s.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[("x-square-hmacsha256-signature", b"not base64!")],
            "malformed",
        ),
        (&[("x-square-hmacsha256-signature", b"\xff")], "malformed"),
        (
            &[("x-square-hmacsha256-signature", lower.as_bytes())],
            "mismatch",
        ),
        (&[("X-Square-HmacSha256-Signature", s.as_bytes())], "valid"),
    ];
    for (pairs, want) in cases {
        assert_eq!(check(&v, "/", pairs, BODY), *want, "{pairs:?}");
    }
}

#[test]
fn non_utf8_and_empty_bodies_mismatch() {
    let v = v_with(URL, &[KEY]);
    let body = b"{\xff}";
    let s = square::sign(KEY, URL, body);
    assert_eq!(
        check(
            &v,
            "/",
            &[("x-square-hmacsha256-signature", s.as_bytes())],
            body
        ),
        "mismatch"
    );
    let s = square::sign(KEY, URL, b"");
    assert_eq!(
        check(
            &v,
            "/",
            &[("x-square-hmacsha256-signature", s.as_bytes())],
            b""
        ),
        "mismatch"
    );
}

#[test]
fn public_url_is_required() {
    let err = Verifier::from_source(&source(square::NAME, &[KEY])).unwrap_err();
    assert_eq!(err.key, "public_url");
}

fn flip_first_letter(s: &str) -> String {
    let i = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let c = s.as_bytes()[i] as char;
    let flipped = if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    };
    format!("{}{flipped}{}", &s[..i], &s[i + 1..])
}
