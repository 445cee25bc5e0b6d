//! Hostile requests against `scheme = "persona"`.

use crate::support::{headers, outcome, request, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::persona::{self, sign, signature_header};

const SECRET: &[u8] = b"wbhsec_test_secret";
const ROTATED: &[u8] = b"wbhsec_rotated";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"data":{"type":"event","id":"evt_1","attributes":{"name":"inquiry.completed","created-at":"2023-11-14T22:13:20.000Z","payload":{"data":{"id":"inq_1"}}}}}"#;

fn v() -> Verifier {
    verifier(persona::NAME, &[SECRET], None)
}

fn signed(t: i64, body: &[u8]) -> http::HeaderMap {
    headers(&[(
        "Persona-Signature",
        signature_header(&[SECRET], t, body).as_bytes(),
    )])
}

fn with(value: &str) -> http::HeaderMap {
    headers(&[("persona-signature", value.as_bytes())])
}

fn sig(t: i64) -> String {
    sign(SECRET, &t.to_string(), BODY)
}

#[test]
fn valid_tampered_wrong_key() {
    assert_eq!(outcome(&v(), &signed(NOW, BODY), BODY, NOW), "valid");
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        outcome(&v(), &signed(NOW, BODY), &tampered, NOW),
        "mismatch"
    );
    let h = headers(&[(
        "Persona-Signature",
        signature_header(&[b"other"], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "mismatch");
    assert_eq!(
        outcome(
            &v(),
            &with(&format!("t={},v1={}", NOW + 1, sig(NOW))),
            BODY,
            NOW
        ),
        "mismatch"
    );
}

#[test]
fn rotation_sets() {
    let h = headers(&[(
        "Persona-Signature",
        signature_header(&[ROTATED, SECRET], NOW, BODY).as_bytes(),
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "valid");
    let both = verifier(persona::NAME, &[ROTATED, SECRET], None);
    assert_eq!(outcome(&both, &signed(NOW, BODY), BODY, NOW), "valid");
    let new_only = verifier(persona::NAME, &[ROTATED], None);
    assert_eq!(
        outcome(&new_only, &signed(NOW, BODY), BODY, NOW),
        "mismatch"
    );
    // Each set is checked with its own t: a fresh matching set wins over a
    // stale one.
    let old = NOW - 10_000;
    let value = format!("t={old},v1={} t={NOW},v1={}", sig(old), sig(NOW));
    assert_eq!(outcome(&v(), &with(&value), BODY, NOW), "valid");
    // A v1 moved to another set's t does not match.
    let value = format!("t={old},v1={} t={NOW},v1=00", sig(NOW));
    assert_eq!(outcome(&v(), &with(&value), BODY, NOW), "mismatch");
}

#[test]
fn tolerance_boundaries() {
    let at = |t: i64| outcome(&v(), &signed(t, BODY), BODY, NOW);
    assert_eq!(at(NOW - 299), "valid");
    // Exactly `tolerance` is accepted both ways; one second more is stale.
    assert_eq!(at(NOW - 300), "valid");
    assert_eq!(at(NOW - 301), "stale");
    assert_eq!(at(NOW + 300), "valid");
    assert_eq!(at(NOW + 301), "stale");
    assert_eq!(at(0), "stale");
    let short = verifier(persona::NAME, &[SECRET], Some(10));
    assert_eq!(outcome(&short, &signed(NOW - 9, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW - 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW + 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW - 11, BODY), BODY, NOW), "stale");
    assert_eq!(outcome(&short, &signed(NOW + 11, BODY), BODY, NOW), "stale");
}

#[test]
fn missing_empty_duplicated() {
    assert_eq!(outcome(&v(), &headers(&[]), BODY, NOW), "missing");
    assert_eq!(outcome(&v(), &with(""), BODY, NOW), "missing");
    let value = signature_header(&[SECRET], NOW, BODY);
    let h = headers(&[
        ("Persona-Signature", value.as_bytes()),
        ("persona-signature", value.as_bytes()),
    ]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
}

#[test]
fn malformed_headers() {
    let s = sig(NOW);
    for value in [
        format!("v1={s}"),
        format!("t={NOW}"),
        format!("t=+{NOW},v1={s}"),
        format!("t= {NOW},v1={s}"),
        format!("t={NOW}.0,v1={s}"),
        format!("t={NOW},t={NOW},v1={s}"),
        format!("t={NOW},v1={s} v1={s}"),
        format!("t={NOW},v1={s}  t={NOW},v1={s}"),
        format!("t={NOW},v1={s} "),
        format!("t={NOW};v1={s}"),
        format!("t={NOW},v1={s}=="),
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
fn hex_case_and_unknown_versions() {
    let s = sig(NOW);
    assert_eq!(
        outcome(
            &v(),
            &with(&format!("t={NOW},v1={}", s.to_uppercase())),
            BODY,
            NOW
        ),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(&format!("t={NOW},v1={s},v2=zz")), BODY, NOW),
        "valid"
    );
    assert_eq!(
        outcome(&v(), &with(&format!("t={NOW},v0={s}")), BODY, NOW),
        "malformed"
    );
}

#[test]
fn non_utf8() {
    let h = headers(&[("persona-signature", b"t=1700000000,v1=\xff")]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let body = b"{\"data\":\"\xff\"}";
    assert_eq!(outcome(&v(), &signed(NOW, body), body, NOW), "mismatch");
}

#[test]
fn reason_precedence() {
    let old = NOW - 10_000;
    assert_eq!(outcome(&v(), &headers(&[]), b"\xff", NOW), "missing");
    assert_eq!(
        outcome(&v(), &with(&format!("t={old}")), BODY, NOW),
        "malformed"
    );
    assert_eq!(
        outcome(&v(), &with(&format!("t={old},v1={}", sig(NOW))), BODY, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(&format!("t={old},v1={}", sig(old))), BODY, NOW),
        "stale"
    );
}

#[test]
fn extraction() {
    let h = http::HeaderMap::new();
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_event_id, "evt_1");
    assert_eq!(e.provider_type, "inquiry.completed");
    assert_eq!(e.time.as_deref(), Some("2023-11-14T22:13:20.000Z"));
    assert_eq!(e.subject.as_deref(), Some("inq_1"));
    assert!(v().extract(&request(&h, br#"{"data":[]}"#)).is_err());
}

/// A header of many sets: up to 8 signatures the verdict is the usual one
/// (one HMAC per distinct `t` per secret), beyond that `malformed` at once.
#[test]
fn many_sets() {
    let good = format!("t={NOW},v1={}", sig(NOW));
    let junk = |i: usize| format!("t={},v1={:064x}", NOW - i as i64, i);
    let header = |sets: Vec<String>| outcome(&v(), &with(&sets.join(" ")), BODY, NOW);
    let mut sets: Vec<String> = (1..8).map(junk).collect();
    sets.push(good.clone());
    assert_eq!(header(sets), "valid");
    assert_eq!(header((1..=8).map(junk).collect()), "mismatch");
    // Sets sharing one `t` are checked against one HMAC.
    let mut same_t = vec![format!("t={NOW},v1={:064x}", 0); 7];
    same_t.push(good.clone());
    assert_eq!(header(same_t), "valid");
    let mut nine: Vec<String> = (1..9).map(junk).collect();
    nine.push(good.clone());
    assert_eq!(header(nine), "malformed");
    let mut flood: Vec<String> = (1..5000).map(junk).collect();
    flood.push(good);
    assert_eq!(header(flood), "malformed");
    // The cap counts v1 values, not sets.
    let many_v1 = format!("t={NOW}{},v1={}", ",v1=00".repeat(8), sig(NOW));
    assert_eq!(outcome(&v(), &with(&many_v1), BODY, NOW), "malformed");
}
