//! Hostile requests against `scheme = "adyen-hmac-header"`.

use crate::support::{assert_single_header_states, headers, outcome, request, source, verifier};
use hookgate_verify::schemes::adyen::decode_key;
use hookgate_verify::schemes::adyen_hmac_header::{self, sign};
use hookgate_verify::{Ack, Verifier};

const KEY_HEX: &[u8] = b"DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
const OTHER_HEX: &[u8] = b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"data":{"id":"AH1","balancePlatform":"BP"},"environment":"test","timestamp":"2024-12-15T15:42:03+01:00","type":"balancePlatform.accountHolder.updated"}"#;

fn v() -> Verifier {
    verifier(adyen_hmac_header::NAME, &[KEY_HEX], None)
}

fn signed(key_hex: &[u8], body: &[u8]) -> String {
    sign(decode_key(key_hex).unwrap().expose(), body)
}

fn with(value: &[u8]) -> http::HeaderMap {
    headers(&[("HmacSignature", value)])
}

#[test]
fn valid_tampered_wrong_key_rotation() {
    let good = signed(KEY_HEX, BODY);
    assert_eq!(outcome(&v(), &with(good.as_bytes()), BODY, NOW), "valid");
    assert_eq!(
        outcome(
            &v(),
            &headers(&[("HMACSIGNATURE", good.as_bytes())]),
            BODY,
            NOW
        ),
        "valid"
    );
    let mut tampered = BODY.to_vec();
    tampered[12] ^= 1;
    assert_eq!(
        outcome(&v(), &with(good.as_bytes()), &tampered, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &with(signed(OTHER_HEX, BODY).as_bytes()), BODY, NOW),
        "mismatch"
    );
    // The key is the hex-decoded bytes, not the hex text.
    let as_text = sign(KEY_HEX, BODY);
    assert_eq!(
        outcome(&v(), &with(as_text.as_bytes()), BODY, NOW),
        "mismatch"
    );
    // Lower-case hex in the config is the same key.
    let lower = verifier(
        adyen_hmac_header::NAME,
        &[&KEY_HEX.to_ascii_lowercase()],
        None,
    );
    assert_eq!(outcome(&lower, &with(good.as_bytes()), BODY, NOW), "valid");
    let both = verifier(adyen_hmac_header::NAME, &[OTHER_HEX, KEY_HEX], None);
    assert_eq!(outcome(&both, &with(good.as_bytes()), BODY, NOW), "valid");
}

#[test]
fn missing_empty_duplicated_malformed() {
    let good = signed(KEY_HEX, BODY);
    let (sig, non_ascii) = (good.as_bytes(), &b"\xc3\xa9"[..]);
    assert_single_header_states(&v(), "HmacSignature", sig, sig, Some(non_ascii), BODY, NOW);
    // An item-style signature in the body does not count.
    assert_eq!(
        outcome(
            &v(),
            &headers(&[("hmac-signature", good.as_bytes())]),
            BODY,
            NOW
        ),
        "missing"
    );
}

#[test]
fn base64_variants_mismatch() {
    let good = signed(KEY_HEX, BODY);
    let url_safe = good.replace('+', "-").replace('/', "_");
    for bad in [
        good.trim_end_matches('='),
        &url_safe,
        &format!("{good} "),
        &good.to_lowercase(),
    ] {
        if bad == good {
            continue;
        }
        assert_eq!(
            outcome(&v(), &with(bad.as_bytes()), BODY, NOW),
            "mismatch",
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_body() {
    let body = b"{\"type\":\"\xff\"}";
    assert_eq!(
        outcome(&v(), &with(signed(KEY_HEX, body).as_bytes()), body, NOW),
        "mismatch"
    );
}

#[test]
fn bad_keys_fail_closed() {
    for bad in [&b"whsec_abc"[..], b"ABC", b"0G", b""] {
        let src = source(adyen_hmac_header::NAME, &[bad]);
        assert!(Verifier::from_source(&src).is_err(), "{bad:?}");
    }
}

#[test]
fn extraction_ack_and_window() {
    let h = http::HeaderMap::new();
    let e = &v().extract(&request(&h, BODY)).unwrap()[0];
    assert_eq!(e.provider_type, "balancePlatform.accountHolder.updated");
    assert!(
        e.provider_event_id
            .starts_with("balancePlatform.accountHolder.updated:")
    );
    assert_eq!(e.subject.as_deref(), Some("AH1"));
    // A retry of the same bytes is the same event.
    assert_eq!(
        v().extract(&request(&h, BODY)).unwrap()[0].provider_event_id,
        e.provider_event_id
    );
    assert!(v().extract(&request(&h, br#"{"data":{}}"#)).is_err());
    assert!(matches!(
        v().ack(),
        Ack::Fixed {
            body: "[accepted]",
            ..
        }
    ));
    assert_eq!(v().dedup_window().as_secs(), 35 * 24 * 3600);
}
