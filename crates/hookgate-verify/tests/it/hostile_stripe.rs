//! Hostile requests against `scheme = "stripe"`.

use crate::support::{headers, outcome, request, source, verifier};
use hookgate_verify::schemes::stripe::{self, sign, signature_header};
use hookgate_verify::{MAX_PROVIDER_EVENT_ID, Verifier};

const SECRET: &[u8] = b"whsec_test_secret";
const ROLLED: &[u8] = b"whsec_test_secret_rolled_key";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] =
    br#"{"id":"evt_1","type":"charge.succeeded","created":1700000000,"data":{"object":{"id":"ch_1"}}}"#;

fn v() -> Verifier {
    verifier(stripe::NAME, &[SECRET], None)
}

fn signed(t: i64, body: &[u8]) -> http::HeaderMap {
    headers(&[(
        "Stripe-Signature",
        signature_header(&[SECRET], t, body).as_bytes(),
    )])
}

fn with(value: &str) -> http::HeaderMap {
    headers(&[("stripe-signature", value.as_bytes())])
}

#[test]
fn valid_and_header_name_case_insensitive() {
    assert_eq!(outcome(&v(), &signed(NOW, BODY), BODY, NOW), "valid");
    let h = headers(&[(
        "STRIPE-SIGNATURE",
        signature_header(&[SECRET], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "valid");
}

#[test]
fn tampered_body_mismatches() {
    let h = signed(NOW, BODY);
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 1;
    assert_eq!(outcome(&v(), &h, &tampered, NOW), "mismatch");
    let mut padded = BODY.to_vec();
    padded.push(b' ');
    assert_eq!(outcome(&v(), &h, &padded, NOW), "mismatch");
    assert_eq!(outcome(&v(), &h, b"", NOW), "mismatch");
}

#[test]
fn tampered_timestamp_mismatches() {
    let sig = sign(SECRET, NOW, BODY);
    assert_eq!(
        outcome(&v(), &with(&format!("t={},v1={sig}", NOW + 1)), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn wrong_key_mismatches() {
    let h = headers(&[(
        "stripe-signature",
        signature_header(&[b"whsec_other"], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "mismatch");
    // The secret is used as configured: its base64 decoding is another key.
    let h = headers(&[(
        "stripe-signature",
        signature_header(&[b"test_secret"], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "mismatch");
}

#[test]
fn rotation_accepts_old_and_new_secret() {
    let both = verifier(stripe::NAME, &[ROLLED, SECRET], None);
    // Stripe sends one v1 per active secret while rolling.
    let h = headers(&[(
        "stripe-signature",
        signature_header(&[SECRET, ROLLED], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&both, &h, BODY, NOW), "valid");
    // Only the old secret's signature: still accepted while it is configured.
    assert_eq!(outcome(&both, &signed(NOW, BODY), BODY, NOW), "valid");
    // Old secret removed from the config: rejected.
    let new_only = verifier(stripe::NAME, &[ROLLED], None);
    assert_eq!(
        outcome(&new_only, &signed(NOW, BODY), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn tolerance_boundaries() {
    let v = v();
    let at = |t: i64| outcome(&v, &signed(t, BODY), BODY, NOW);
    assert_eq!(at(NOW - 299), "valid");
    // Exactly `tolerance` is accepted both ways (stripe-node
    // `timestampAge > tolerance`); one second more is stale.
    assert_eq!(at(NOW - 300), "valid");
    assert_eq!(at(NOW - 301), "stale");
    assert_eq!(at(NOW + 300), "valid");
    assert_eq!(
        at(NOW + 301),
        "stale",
        "future beyond tolerance (docs/schemes.md)"
    );
    assert_eq!(at(0), "stale");
    assert_eq!(at(i64::MIN), "stale");
    assert_eq!(at(i64::MAX), "stale");
    // The source's tolerance overrides the default.
    let short = verifier(stripe::NAME, &[SECRET], Some(10));
    assert_eq!(outcome(&short, &signed(NOW - 9, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW - 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW - 11, BODY), BODY, NOW), "stale");
    assert_eq!(outcome(&short, &signed(NOW + 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW + 11, BODY), BODY, NOW), "stale");
}

#[test]
fn missing_empty_duplicated() {
    assert_eq!(outcome(&v(), &headers(&[]), BODY, NOW), "missing");
    assert_eq!(outcome(&v(), &with(""), BODY, NOW), "missing");
    // A signature in another header name does not count.
    let h = headers(&[(
        "stripe-signature-2",
        signature_header(&[SECRET], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
    // Two headers, even both valid: a proxy or a forger, never Stripe.
    let value = signature_header(&[SECRET], NOW, BODY);
    let h = headers(&[
        ("stripe-signature", value.as_bytes()),
        ("Stripe-Signature", value.as_bytes()),
    ]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let h = headers(&[
        ("stripe-signature", value.as_bytes()),
        ("stripe-signature", b""),
    ]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
}

#[test]
fn malformed_headers() {
    let sig = sign(SECRET, NOW, BODY);
    for value in [
        format!("v1={sig}"),                        // no t
        format!("t=,v1={sig}"),                     // empty t
        format!("t=abc,v1={sig}"),                  // non-integer t
        format!("t={NOW}.5,v1={sig}"),              // fractional t
        format!("t= {NOW},v1={sig}"),               // space in t
        format!("t=99999999999999999999,v1={sig}"), // overflows i64
        format!("t={NOW},t={},v1={sig}", NOW + 1),  // disagreeing t
        format!("t={NOW}"),                         // no v1
        format!("t={NOW},v0={sig}"),                // v0 only (legacy: ignored)
        format!("t={NOW},V1={sig}"),                // keys are case-sensitive
        format!("t={NOW},v1={sig},"),               // trailing empty item
        format!("t={NOW};v1={sig}"),                // wrong separator
        format!("t={NOW},v1={sig}=="),              // two '='
        "garbage".to_owned(),
    ] {
        assert_eq!(
            outcome(&v(), &with(&value), BODY, NOW),
            "malformed",
            "{value:?}"
        );
    }
}

#[test]
fn lenient_forms_the_sdks_agree_on() {
    let sig = sign(SECRET, NOW, BODY);
    // Extra v0 / unknown items are ignored.
    assert_eq!(
        outcome(
            &v(),
            &with(&format!("t={NOW},v1={sig},v0=abc,x=y")),
            BODY,
            NOW
        ),
        "valid"
    );
    // Order does not matter; the same t twice is fine.
    assert_eq!(
        outcome(&v(), &with(&format!("v1={sig},t={NOW},t={NOW}")), BODY, NOW),
        "valid"
    );
    // A signed t is an integer for every SDK; it signs as formatted ("5").
    assert_eq!(
        outcome(&v(), &with(&format!("t=+{NOW},v1={sig}")), BODY, NOW),
        "valid"
    );
}

#[test]
fn upper_case_hex_is_rejected() {
    let sig = sign(SECRET, NOW, BODY).to_uppercase();
    assert_eq!(
        outcome(&v(), &with(&format!("t={NOW},v1={sig}")), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn truncated_or_extended_signature_mismatches() {
    let sig = sign(SECRET, NOW, BODY);
    for bad in [&sig[..63], &sig[..32], "", &format!("{sig}0")] {
        assert_eq!(
            outcome(&v(), &with(&format!("t={NOW},v1={bad}")), BODY, NOW),
            "mismatch",
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_bytes() {
    // In the header: not visible ASCII → malformed.
    let h = headers(&[("stripe-signature", b"t=1700000000,v1=\xff\xfe")]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let mut raw = format!("t={NOW},v1=").into_bytes();
    raw.extend_from_slice("é".as_bytes());
    assert_eq!(
        outcome(&v(), &headers(&[("stripe-signature", &raw)]), BODY, NOW),
        "malformed"
    );
    // In the body, even correctly signed over the raw bytes: stripe-python
    // refuses to decode it, stripe-node would sign U+FFFD instead.
    let body = b"{\"id\":\"evt_1\",\"type\":\"x\",\"n\":\"\xff\"}";
    assert_eq!(outcome(&v(), &signed(NOW, body), body, NOW), "mismatch");
}

/// One row per pair of faults: the higher-precedence reason wins.
#[test]
fn reason_precedence() {
    let good = sign(SECRET, NOW, BODY);
    let old = NOW - 10_000;
    let old_sig = sign(SECRET, old, BODY);
    let table: &[(&str, Option<String>, &[u8], &str)] = &[
        // missing beats everything, including a non-UTF-8 body.
        ("missing > mismatch", None, b"\xff", "missing"),
        ("missing (empty)", Some(String::new()), BODY, "missing"),
        // malformed beats mismatch and stale.
        (
            "malformed > mismatch",
            Some("t=x,v1=00".into()),
            BODY,
            "malformed",
        ),
        (
            "malformed > stale",
            Some(format!("t={old}")),
            BODY,
            "malformed",
        ),
        (
            "malformed > bad body",
            Some(format!("v1={good}")),
            b"\xff",
            "malformed",
        ),
        // mismatch beats stale: an old timestamp with a bad signature is a
        // mismatch, never a hint that the signature was right.
        (
            "mismatch > stale",
            Some(format!("t={old},v1={good}")),
            BODY,
            "mismatch",
        ),
        (
            "mismatch (wrong body)",
            Some(format!("t={NOW},v1={good}")),
            b"{}",
            "mismatch",
        ),
        // stale only when a signature matched.
        (
            "stale",
            Some(format!("t={old},v1={old_sig}")),
            BODY,
            "stale",
        ),
        ("valid", Some(format!("t={NOW},v1={good}")), BODY, "valid"),
    ];
    for (name, value, body, want) in table {
        let h = match value {
            Some(value) => with(value),
            None => headers(&[]),
        };
        assert_eq!(outcome(&v(), &h, body, NOW), *want, "{name}");
    }
}

#[test]
fn extraction_errors_are_clear_and_secret_free() {
    let h = http::HeaderMap::new();
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "body is not valid JSON"),
        (b"[1,2]", "body must be a JSON object"),
        (br#"{"type":"x"}"#, "field `id` is missing"),
        (br#"{"id":7,"type":"x"}"#, "field `id` must be a string"),
        (br#"{"id":"","type":"x"}"#, "field `id` is empty"),
        (br#"{"id":"evt_1"}"#, "field `type` is missing"),
        (
            br#"{"id":"evt_1","type":null}"#,
            "field `type` must be a string",
        ),
        (
            br#"{"id":"evt_1","type":"x","created":1.5}"#,
            "field `created` must be an integer",
        ),
        (
            br#"{"id":"evt_1","type":"x","created":"yesterday"}"#,
            "field `created` must be",
        ),
        (b"\xff", "body is not valid JSON"),
    ];
    for (body, want) in cases {
        let err = v().extract(&request(&h, body)).unwrap_err();
        assert!(
            err.0.starts_with(want),
            "{:?}: {}",
            String::from_utf8_lossy(body),
            err.0
        );
        assert!(!err.0.contains("test_secret"));
    }
}

#[test]
fn extraction_shapes() {
    let h = http::HeaderMap::new();
    let events = v().extract(&request(&h, BODY)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].provider_event_id, "evt_1");
    assert_eq!(events[0].provider_type, "charge.succeeded");
    assert_eq!(events[0].time.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(events[0].subject.as_deref(), Some("ch_1"));
    assert_eq!(&*events[0].data_json, BODY);

    // No created, non-string object id: no time, no subject.
    let body = br#"{"id":"evt_2","type":"x","data":{"object":{"id":5}}}"#;
    let e = &v().extract(&request(&h, body)).unwrap()[0];
    assert_eq!((e.time.as_deref(), e.subject.as_deref()), (None, None));

    // Thin (v2) event notification: RFC 3339 created kept verbatim.
    let body = br#"{"id":"evt_3","type":"v1.billing.meter.error_report_triggered","created":"2022-02-15T00:27:45.330Z"}"#;
    let e = &v().extract(&request(&h, body)).unwrap()[0];
    assert_eq!(e.time.as_deref(), Some("2022-02-15T00:27:45.330Z"));

    // The id cap: exactly the maximum is fine, one more byte is not.
    let id = "e".repeat(MAX_PROVIDER_EVENT_ID);
    let body = format!(r#"{{"id":"{id}","type":"x"}}"#);
    assert!(v().extract(&request(&h, body.as_bytes())).is_ok());
    let body = format!(r#"{{"id":"{id}e","type":"x"}}"#);
    let err = v().extract(&request(&h, body.as_bytes())).unwrap_err();
    assert!(err.0.contains("longer than 512"), "{}", err.0);
}

#[test]
fn build_errors_and_debug_hide_the_secret() {
    let err = Verifier::from_source(&source(stripe::NAME, &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sources.src.secrets: scheme \"stripe\" needs at least one secret"
    );
    let v = verifier(stripe::NAME, &[b"whsec_hunter2"], None);
    let debug = format!("{v:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    // A rejection carries only its reason.
    let sig = sign(b"whsec_hunter2", NOW, BODY);
    let err = v
        .verify(&request(&with(&format!("t={NOW},v1=00")), BODY), NOW)
        .unwrap_err();
    assert!(!format!("{err:?}").contains(&sig));
}

/// Many `v1` items: up to 8 the verdict is the usual one (one HMAC per
/// secret, compared with each), beyond that `malformed`.
#[test]
fn many_v1_items() {
    let good = sign(SECRET, NOW, BODY);
    let zero = "0".repeat(64);
    let header = |n_junk: usize, with_good: bool| {
        let mut value = format!("t={NOW}{}", format!(",v1={zero}").repeat(n_junk));
        if with_good {
            value.push_str(&format!(",v1={good}"));
        }
        outcome(&v(), &with(&value), BODY, NOW)
    };
    // Any number, as the SDKs: one HMAC per secret, compared with each.
    assert_eq!(header(7, true), "valid");
    assert_eq!(header(5000, true), "valid");
    assert_eq!(header(5000, false), "mismatch");
    // Ignored items do not count.
    let v0s = format!("t={NOW},v1={good}{}", format!(",v0={zero}").repeat(5000));
    assert_eq!(outcome(&v(), &with(&v0s), BODY, NOW), "valid");
}
