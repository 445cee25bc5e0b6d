//! Property tests: hostile input never panics (SPEC §9 "bad input ... never
//! panics a worker"), and what is signed correctly always verifies.

use crate::support::{outcome, request, verifier};
use hookgate_verify::Rejection;
use hookgate_verify::schemes::standard_webhooks::{self, decode_secret};
use hookgate_verify::schemes::stripe;
use proptest::prelude::*;

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_700_000_000;

/// A header value: arbitrary bytes `HeaderValue` accepts, or a near-miss of
/// the real syntax (more likely to reach the deep paths).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "[tv01=, +/A-Za-z0-9=-]{0,120}".prop_map(String::into_bytes),
        (any::<i64>(), "[0-9a-fA-F]{0,70}").prop_map(|(t, s)| format!("t={t},v1={s}").into_bytes()),
    ]
}

fn headers_of(pairs: &[(&'static str, Option<Vec<u8>>)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        // Bytes `HeaderValue` refuses (controls) cannot reach a verifier.
        if let Some(v) = value
            .as_ref()
            .and_then(|v| http::HeaderValue::from_bytes(v).ok())
        {
            map.append(*name, v);
        }
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn stripe_never_panics(
        sig in proptest::option::of(header_value()),
        dup in proptest::option::of(header_value()),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        let v = verifier(stripe::NAME, &[b"whsec_a", b"whsec_b"], None);
        let h = headers_of(&[("stripe-signature", sig), ("stripe-signature", dup)]);
        let _ = v.verify(&request(&h, &body), now);
        let _ = v.extract(&request(&h, &body));
    }

    #[test]
    fn standard_webhooks_never_panics(
        id in proptest::option::of(header_value()),
        ts in proptest::option::of(header_value()),
        sig in proptest::option::of(header_value()),
        svix_id in proptest::option::of(header_value()),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        let v = verifier(standard_webhooks::NAME, &[SW_SECRET.as_bytes()], None);
        let h = headers_of(&[
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
            ("svix-id", svix_id),
        ]);
        let _ = v.verify(&request(&h, &body), now);
        let _ = v.extract(&request(&h, &body));
    }

    /// Arbitrary secrets never panic the builder, and never show up in
    /// its error.
    #[test]
    fn secrets_never_panic_or_leak(secret in proptest::collection::vec(any::<u8>(), 0..64)) {
        for scheme in hookgate_verify::schemes::NAMES {
            let src = crate::support::source(scheme, &[&secret]);
            if let Err(e) = hookgate_verify::Verifier::from_source(&src) {
                let text = e.to_string();
                if secret.len() >= 4 {
                    prop_assert!(!text.as_bytes().windows(secret.len()).any(|w| w == &secret[..]));
                }
            }
        }
    }

    #[test]
    fn stripe_round_trip(body in "\\PC{0,200}", skew in -299i64..=300) {
        let v = verifier(stripe::NAME, &[b"whsec_test_secret"], None);
        let t = NOW + skew;
        let value = stripe::signature_header(&[b"whsec_test_secret"], t, body.as_bytes());
        let h = headers_of(&[("stripe-signature", Some(value.into_bytes()))]);
        prop_assert_eq!(outcome(&v, &h, body.as_bytes(), NOW), "valid");
        // One byte more is always a mismatch.
        let longer = format!("{body} ");
        prop_assert_eq!(v.verify(&request(&h, longer.as_bytes()), NOW), Err(Rejection::Mismatch));
    }

    #[test]
    fn standard_webhooks_round_trip(
        body in "\\PC{0,200}",
        id in "[!-~]{1,40}",
        skew in -299i64..=300,
    ) {
        let v = verifier(standard_webhooks::NAME, &[SW_SECRET.as_bytes()], None);
        let key = decode_secret(SW_SECRET.as_bytes()).unwrap();
        let ts = NOW + skew;
        let sig = format!("v1,{}", standard_webhooks::sign(key.expose(), &id, ts, body.as_bytes()));
        let h = headers_of(&[
            ("webhook-id", Some(id.into_bytes())),
            ("webhook-timestamp", Some(ts.to_string().into_bytes())),
            ("webhook-signature", Some(sig.into_bytes())),
        ]);
        prop_assert_eq!(outcome(&v, &h, body.as_bytes(), NOW), "valid");
        let longer = format!("{body} ");
        prop_assert_eq!(v.verify(&request(&h, longer.as_bytes()), NOW), Err(Rejection::Mismatch));
    }
}
