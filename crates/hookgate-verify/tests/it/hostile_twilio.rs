//! Twilio under hostile input (docs/schemes.md): tampered parameters and query,
//! keys, URL port variants, JSON bodies with `bodySHA256`, header shapes,
//! URL characters the SDKs disagree on.

use crate::support::{HeaderCase, headers, source};
use hookgate_verify::schemes::twilio;
use hookgate_verify::{RawRequest, Rejection, Verifier};

const TOKEN: &[u8] = b"12345";
const URL: &str = "https://gateway.example.com/ingest/tw";
const FORM: &[u8] =
    b"MessageSid=SM1&MessageStatus=delivered&Body=caf%C3%A9+%26+more&To=%2B15551234567";
const CT_FORM: (&str, &[u8]) = ("content-type", b"application/x-www-form-urlencoded");

fn v_with(url: &str, tokens: &[&[u8]]) -> Verifier {
    let mut src = source(twilio::NAME, tokens);
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

fn form_params() -> Vec<(String, String)> {
    vec![
        ("MessageSid".into(), "SM1".into()),
        ("MessageStatus".into(), "delivered".into()),
        ("Body".into(), "café & more".into()),
        ("To".into(), "+15551234567".into()),
    ]
}

#[test]
fn form_requests() {
    let v = v_with(URL, &[TOKEN]);
    let s = twilio::sign(TOKEN, &format!("{URL}?a=1"), &form_params());
    let ok = [CT_FORM, ("x-twilio-signature", s.as_bytes())];
    assert_eq!(check(&v, "/ingest/tw?a=1", &ok, FORM), "valid");
    assert_eq!(check(&v, "/ingest/tw?a=2", &ok, FORM), "mismatch");
    assert_eq!(check(&v, "/ingest/tw", &ok, FORM), "mismatch");
    assert_eq!(
        check(
            &v,
            "/ingest/tw?a=1",
            &ok,
            b"MessageSid=SM1&MessageStatus=failed"
        ),
        "mismatch"
    );
    // Parameter order in the body does not matter (the SDKs sort).
    let reordered =
        b"To=%2B15551234567&Body=caf%C3%A9+%26+more&MessageStatus=delivered&MessageSid=SM1";
    assert_eq!(check(&v, "/ingest/tw?a=1", &ok, reordered), "valid");
    // The default port, explicit, is accepted too.
    let s443 = twilio::sign(
        TOKEN,
        "https://gateway.example.com:443/ingest/tw?a=1",
        &form_params(),
    );
    assert_eq!(
        check(
            &v,
            "/ingest/tw?a=1",
            &[CT_FORM, ("x-twilio-signature", s443.as_bytes())],
            FORM
        ),
        "valid"
    );
    // Keys.
    assert_eq!(
        check(&v_with(URL, &[b"54321"]), "/ingest/tw?a=1", &ok, FORM),
        "mismatch"
    );
    assert_eq!(
        check(
            &v_with(URL, &[b"54321", TOKEN]),
            "/ingest/tw?a=1",
            &ok,
            FORM
        ),
        "valid"
    );
    // A body that is not a form (by content-type) is not covered.
    let no_ct = [("x-twilio-signature", s.as_bytes())];
    assert_eq!(check(&v, "/ingest/tw?a=1", &no_ct, FORM), "mismatch");
}

#[test]
fn json_bodies() {
    let v = v_with(URL, &[TOKEN]);
    let body = br#"{"CallSid":"CA1","Caller":"+1"}"#;
    let pq = format!("/ingest/tw?bodySHA256={}", twilio::body_sha256(body));
    let s = twilio::sign(TOKEN, &format!("{URL}{}", &pq[10..]), &[]);
    let h = [
        ("content-type", &b"application/json"[..]),
        ("x-twilio-signature", s.as_bytes()),
    ];
    assert_eq!(check(&v, &pq, &h, body), "valid");
    assert_eq!(
        check(&v, &pq, &h, br#"{"CallSid":"CA2","Caller":"+1"}"#),
        "mismatch"
    );
    assert_eq!(check(&v, &pq, &h, b"{\xff}"), "mismatch");
    // bodySHA256 somewhere other than as a key: the SDKs disagree.
    let s = twilio::sign(TOKEN, &format!("{URL}?x=bodySHA256"), &[]);
    assert_eq!(
        check(
            &v,
            "/ingest/tw?x=bodySHA256",
            &[("x-twilio-signature", s.as_bytes())],
            b""
        ),
        "mismatch"
    );
}

#[test]
fn query_characters_the_sdks_disagree_on() {
    let v = v_with(URL, &[TOKEN]);
    let s = twilio::sign(TOKEN, &format!("{URL}?q=it's"), &[]);
    assert_eq!(
        check(
            &v,
            "/ingest/tw?q=it's",
            &[("x-twilio-signature", s.as_bytes())],
            b""
        ),
        "mismatch"
    );
    let s = twilio::sign(TOKEN, &format!("{URL}?q=it%27s"), &[]);
    assert_eq!(
        check(
            &v,
            "/ingest/tw?q=it%27s",
            &[("x-twilio-signature", s.as_bytes())],
            b""
        ),
        "valid"
    );
}

#[test]
fn header_shapes() {
    let v = v_with(URL, &[TOKEN]);
    let s = twilio::sign(TOKEN, URL, &form_params());
    // Another spelling that is still valid base64: the first letter's case flipped.
    let lower = flip_first_letter(&s);
    let cases: &[HeaderCase<'_>] = &[
        (&[CT_FORM], "missing"),
        (&[CT_FORM, ("x-twilio-signature", b"")], "missing"),
        (
            &[
                CT_FORM,
                ("x-twilio-signature", s.as_bytes()),
                ("x-twilio-signature", s.as_bytes()),
            ],
            "malformed",
        ),
        (&[CT_FORM, ("x-twilio-signature", b"%%%")], "malformed"),
        (&[CT_FORM, ("x-twilio-signature", b"\xff")], "malformed"),
        (
            &[CT_FORM, ("x-twilio-signature", lower.as_bytes())],
            "mismatch",
        ),
        (&[CT_FORM, ("X-Twilio-Signature", s.as_bytes())], "valid"),
    ];
    for (pairs, want) in cases {
        assert_eq!(check(&v, "/ingest/tw", pairs, FORM), *want, "{pairs:?}");
    }
}

#[test]
fn form_becomes_json() {
    let v = v_with(URL, &[TOKEN]);
    let h = headers(&[CT_FORM]);
    let req = RawRequest {
        method: "POST",
        path_and_query: "/ingest/tw",
        headers: &h,
        body: FORM,
    };
    let events = v.extract(&req).unwrap();
    let data: serde_json::Value = serde_json::from_slice(&events[0].data_json).unwrap();
    assert_eq!(data["Body"], "café & more");
    assert_eq!(events[0].provider_event_id, "SM1:message.delivered");
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
