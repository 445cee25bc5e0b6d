//! Hostile requests against `scheme = "github"`.

use crate::support::{assert_single_header_states, headers, outcome, request, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::github::{self, sign};

const SECRET: &[u8] = b"It's a Secret to Everybody";
const ROTATED: &[u8] = b"new secret";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"action":"opened","issue":{"id":1}}"#;

fn v() -> Verifier {
    verifier(github::NAME, &[SECRET], None)
}

fn with(value: &[u8]) -> http::HeaderMap {
    headers(&[("X-Hub-Signature-256", value)])
}

#[test]
fn valid_and_header_name_case_insensitive() {
    assert_eq!(
        outcome(&v(), &with(sign(SECRET, BODY).as_bytes()), BODY, NOW),
        "valid"
    );
    let h = headers(&[("x-hub-signature-256", sign(SECRET, BODY).as_bytes())]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "valid");
    // No timestamp: the clock does not matter.
    assert_eq!(outcome(&v(), &h, BODY, i64::MIN), "valid");
}

#[test]
fn tampered_body_and_wrong_key_mismatch() {
    let h = with(sign(SECRET, BODY).as_bytes());
    let mut tampered = BODY.to_vec();
    tampered[5] ^= 1;
    assert_eq!(outcome(&v(), &h, &tampered, NOW), "mismatch");
    assert_eq!(outcome(&v(), &h, b"", NOW), "mismatch");
    assert_eq!(
        outcome(&v(), &with(sign(b"other", BODY).as_bytes()), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn rotation() {
    let both = verifier(github::NAME, &[ROTATED, SECRET], None);
    assert_eq!(
        outcome(&both, &with(sign(SECRET, BODY).as_bytes()), BODY, NOW),
        "valid"
    );
    assert_eq!(
        outcome(&both, &with(sign(ROTATED, BODY).as_bytes()), BODY, NOW),
        "valid"
    );
    let new_only = verifier(github::NAME, &[ROTATED], None);
    assert_eq!(
        outcome(&new_only, &with(sign(SECRET, BODY).as_bytes()), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn missing_empty_duplicated() {
    let good = sign(SECRET, BODY);
    let good = good.as_bytes();
    assert_single_header_states(&v(), "X-Hub-Signature-256", good, good, None, BODY, NOW);
}

#[test]
fn legacy_sha1_is_ignored() {
    // Only the SHA-1 header: missing, even with a correct SHA-1 value.
    let h = headers(&[(
        "X-Hub-Signature",
        b"sha1=0000000000000000000000000000000000000000",
    )]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "missing");
    // A SHA-1 value in the SHA-256 header: malformed prefix.
    assert_eq!(outcome(&v(), &with(b"sha1=00"), BODY, NOW), "malformed");
}

#[test]
fn malformed_and_case() {
    let good = sign(SECRET, BODY);
    let hex = &good["sha256=".len()..];
    assert_eq!(outcome(&v(), &with(hex.as_bytes()), BODY, NOW), "malformed");
    assert_eq!(
        outcome(&v(), &with(format!("SHA256={hex}").as_bytes()), BODY, NOW),
        "malformed"
    );
    assert_eq!(
        outcome(
            &v(),
            &with(format!("sha256={}", hex.to_uppercase()).as_bytes()),
            BODY,
            NOW
        ),
        "mismatch",
        "upper-case hex: octokit compares strings"
    );
    for bad in [
        &good[..good.len() - 1],
        "sha256=",
        &format!("{good}0"),
        &format!(" {good}"),
    ] {
        let want = if bad.starts_with("sha256=") {
            "mismatch"
        } else {
            "malformed"
        };
        assert_eq!(
            outcome(&v(), &with(bad.as_bytes()), BODY, NOW),
            want,
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_bytes() {
    assert_eq!(outcome(&v(), &with(b"sha256=\xff"), BODY, NOW), "malformed");
    let body = b"{\"a\":\"\xff\"}";
    assert_eq!(
        outcome(&v(), &with(sign(SECRET, body).as_bytes()), body, NOW),
        "mismatch"
    );
    assert_eq!(outcome(&v(), &headers(&[]), body, NOW), "missing");
}

#[test]
fn extraction_needs_the_delivery_headers() {
    let h = headers(&[("X-GitHub-Event", b"push")]);
    let err = v().extract(&request(&h, BODY)).unwrap_err();
    assert!(err.0.contains("X-GitHub-Delivery"), "{}", err.0);
    let h = headers(&[
        ("X-GitHub-Delivery", b"d-1"),
        ("X-GitHub-Delivery", b"d-2"),
        ("X-GitHub-Event", b"push"),
    ]);
    assert!(v().extract(&request(&h, BODY)).is_err());
    let h = headers(&[("X-GitHub-Delivery", b"d-1"), ("X-GitHub-Event", b"push")]);
    let events = v().extract(&request(&h, BODY)).unwrap();
    assert_eq!(events[0].provider_event_id, "d-1");
    assert_eq!(events[0].provider_type, "push");
    let long = "d".repeat(513);
    let h = headers(&[
        ("X-GitHub-Delivery", long.as_bytes()),
        ("X-GitHub-Event", b"push"),
    ]);
    assert!(v().extract(&request(&h, BODY)).is_err());
}
