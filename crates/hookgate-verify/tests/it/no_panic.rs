//! Property tests: hostile input never panics (docs/guarantees.md "bad input ... never
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

// === adyen, adyen-hmac-header, github, shopify, checkout, onfido, persona ===

mod provider_schemes {
    use super::{NOW, header_value, headers_of};
    use crate::support::{outcome, request, verifier};
    use hookgate_verify::Rejection;
    use hookgate_verify::schemes::{
        adyen, adyen_hmac_header, checkout, github, onfido, persona, shopify,
    };
    use proptest::prelude::*;
    use serde_json::json;

    /// A header name and its optional raw value.
    type HeaderPair = (&'static str, Option<Vec<u8>>);

    const ADYEN_KEY: &[u8] = b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

    /// (scheme, secret, every header it reads).
    const SCHEMES: &[(&str, &[u8], &[&str])] = &[
        (adyen::NAME, ADYEN_KEY, &["hmacsignature"]),
        (adyen_hmac_header::NAME, ADYEN_KEY, &["hmacsignature"]),
        (
            github::NAME,
            b"s",
            &[
                "x-hub-signature-256",
                "x-hub-signature",
                "x-github-delivery",
                "x-github-event",
            ],
        ),
        (
            shopify::NAME,
            b"s",
            &[
                "x-shopify-hmac-sha256",
                "x-shopify-topic",
                "x-shopify-shop-domain",
                "x-shopify-api-version",
                "x-shopify-webhook-id",
                "x-shopify-event-id",
                "x-shopify-triggered-at",
            ],
        ),
        (checkout::NAME, b"s", &["cko-signature"]),
        (onfido::NAME, b"s", &["x-sha2-signature", "x-signature"]),
        (persona::NAME, b"s", &["persona-signature"]),
    ];

    /// Bodies that reach the deep paths: arbitrary bytes, or Adyen-shaped
    /// JSON with hostile field values.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let value = prop_oneof![
            Just(json!(null)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-zA-Z0-9:=+/ ]{0,20}".prop_map(|s| json!(s)),
            Just(json!({})),
            Just(json!([])),
            Just(json!({"hmacSignature": "x"})),
            Just(json!({"value": 1, "currency": "EUR"})),
        ];
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "pspReference",
                        "eventCode",
                        "success",
                        "amount",
                        "additionalData",
                        "originalReference",
                        "merchantAccountCode",
                        "eventDate",
                    ]),
                    value,
                ),
                0..8,
            )
            .prop_map(|fields| {
                let item: serde_json::Map<String, serde_json::Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                serde_json::to_vec(
                    &json!({"notificationItems": [{"NotificationRequestItem": item}]}),
                )
                .unwrap()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panic(
            which in 0..SCHEMES.len(),
            values in proptest::collection::vec(proptest::option::of(header_value()), 7),
            dup in proptest::option::of(header_value()),
            body in body(),
            now in any::<i64>(),
        ) {
            let (name, secret, names) = SCHEMES[which];
            let v = verifier(name, &[secret], None);
            let mut pairs: Vec<(&'static str, Option<Vec<u8>>)> = names
                .iter()
                .zip(values)
                .map(|(n, val)| (*n, val))
                .collect();
            pairs.push((names[0], dup));
            let h = headers_of(&pairs);
            let _ = v.verify(&request(&h, &body), now);
            let _ = v.extract(&request(&h, &body));
        }

        #[test]
        fn body_hmac_round_trips(body in "\\PC{0,200}", secret in "[!-~]{1,40}") {
            let s = secret.as_bytes();
            let b = body.as_bytes();
            let key = adyen::decode_key(ADYEN_KEY).unwrap();
            let shopify_rest: [(&'static str, Option<Vec<u8>>); 4] = [
                ("x-shopify-topic", Some(b"orders/create".to_vec())),
                ("x-shopify-shop-domain", Some(b"s.myshopify.com".to_vec())),
                ("x-shopify-api-version", Some(b"2024-07".to_vec())),
                ("x-shopify-webhook-id", Some(b"w".to_vec())),
            ];
            let cases: Vec<(&str, &[u8], Vec<HeaderPair>)> = vec![
                (github::NAME, s, vec![("x-hub-signature-256", Some(github::sign(s, b).into_bytes()))]),
                (checkout::NAME, s, vec![("cko-signature", Some(checkout::sign(s, b).into_bytes()))]),
                (onfido::NAME, s, vec![("x-sha2-signature", Some(onfido::sign(s, b).into_bytes()))]),
                (shopify::NAME, s, std::iter::once(("x-shopify-hmac-sha256", Some(shopify::sign(s, b).into_bytes()))).chain(shopify_rest).collect()),
                (adyen_hmac_header::NAME, ADYEN_KEY, vec![("hmacsignature", Some(adyen_hmac_header::sign(key.expose(), b).into_bytes()))]),
                (persona::NAME, s, vec![("persona-signature", Some(persona::signature_header(&[s], NOW, b).into_bytes()))]),
            ];
            for (name, secret, pairs) in cases {
                let v = verifier(name, &[secret], None);
                let h = headers_of(&pairs);
                prop_assert_eq!(outcome(&v, &h, b, NOW), "valid", "{}", name);
                let longer = format!("{body} ");
                prop_assert_eq!(v.verify(&request(&h, longer.as_bytes()), NOW), Err(Rejection::Mismatch), "{}", name);
            }
        }

        #[test]
        fn adyen_round_trip(
            psp in "[A-Z0-9:\\\\]{1,20}",
            code in "[A-Z_]{1,20}",
            value in -(1i64 << 53) + 1..(1i64 << 53),
            success in any::<bool>(),
        ) {
            let key = adyen::decode_key(ADYEN_KEY).unwrap();
            let mut item = json!({
                "pspReference": psp, "eventCode": code, "success": success.to_string(),
                "amount": {"value": value, "currency": "EUR"},
            });
            let sig = adyen::sign_item(key.expose(), &item).unwrap();
            item["additionalData"] = json!({"hmacSignature": sig});
            let body = serde_json::to_vec(&json!({"notificationItems": [{"NotificationRequestItem": item.clone()}]})).unwrap();
            let v = verifier(adyen::NAME, &[ADYEN_KEY], None);
            let h = http::HeaderMap::new();
            prop_assert_eq!(outcome(&v, &h, &body, NOW), "valid");
            let events = v.extract(&request(&h, &body)).unwrap();
            prop_assert_eq!(&events[0].provider_event_id, &format!("{psp}:{code}:{success}"));
            item["amount"]["value"] = json!(value ^ 1);
            let body = serde_json::to_vec(&json!({"notificationItems": [{"NotificationRequestItem": item}]})).unwrap();
            prop_assert_eq!(outcome(&v, &h, &body, NOW), "mismatch");
        }
    }
}

/// The same properties for sumsub, slack, paddle, square, twilio and the
/// configurable schemes (hmac, basic-auth, header-token).
mod signed_url_and_configurable {
    use super::{NOW, header_value, headers_of};
    use crate::support::source;
    use hookgate_verify::schemes::{
        basic_auth, header_token, hmac, paddle, slack, square, sumsub, twilio,
    };
    use hookgate_verify::{RawRequest, Verifier};
    use proptest::prelude::*;

    const URL: &str = "https://gateway.example.com/ingest/src";

    /// Every one of these schemes, built with `secret`.
    fn verifiers(secret: &[u8]) -> Vec<Verifier> {
        let mut out = Vec::new();
        for name in [
            sumsub::NAME,
            slack::NAME,
            paddle::NAME,
            square::NAME,
            twilio::NAME,
        ] {
            let mut src = source(name, &[secret]);
            src.public_url = Some(URL.into());
            if name != square::NAME && name != twilio::NAME {
                src.public_url = None;
            }
            out.push(Verifier::from_source(&src).expect(name));
        }
        for (name, params) in [
            (
                hmac::NAME,
                vec![
                    ("header", "x-sig"),
                    ("signed_content", "{timestamp}.{header:x-id}.{body}"),
                    ("timestamp_header", "x-ts"),
                    ("prefix", "v1="),
                ],
            ),
            (
                hmac::NAME,
                vec![
                    ("header", "x-sig"),
                    ("encoding", "base64"),
                    ("algorithm", "sha1"),
                ],
            ),
            (header_token::NAME, vec![("header", "x-sig")]),
            (basic_auth::NAME, vec![]),
        ] {
            let secret: &[u8] = if name == basic_auth::NAME {
                b"user:pw"
            } else {
                b"tok"
            };
            let mut src = source(name, &[secret]);
            for (k, v) in params
                .into_iter()
                .chain([("event_id", "/id"), ("event_type", "header:x-type")])
            {
                src.params.insert(k.into(), v.into());
            }
            out.push(Verifier::from_source(&src).expect(name));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panic(
            sig in proptest::option::of(header_value()),
            dup in proptest::option::of(header_value()),
            ts in proptest::option::of(header_value()),
            other in proptest::option::of(header_value()),
            query in "[?a-zA-Z0-9=&%'+]{0,40}",
            form in any::<bool>(),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            now in any::<i64>(),
        ) {
            let vs = verifiers(b"whsec_abc");
            let ct = form.then(|| b"application/x-www-form-urlencoded".to_vec());
            for name in [
                "x-payload-digest", "x-slack-signature", "paddle-signature",
                "x-square-hmacsha256-signature", "x-twilio-signature", "x-sig", "authorization",
            ] {
                let h = headers_of(&[
                    (name, sig.clone()),
                    (name, dup.clone()),
                    ("x-payload-digest-alg", other.clone()),
                    ("x-slack-request-timestamp", ts.clone()),
                    ("x-ts", ts.clone()),
                    ("x-id", other.clone()),
                    ("x-type", other.clone()),
                    ("content-type", ct.clone()),
                ]);
                let pq = format!("/ingest/src{query}");
                let req = RawRequest { method: "POST", path_and_query: &pq, headers: &h, body: &body };
                for v in &vs {
                    let _ = v.verify(&req, now);
                    let _ = v.extract(&req);
                }
            }
        }

        #[test]
        fn round_trips(body in "\\PC{0,200}", skew in -4i64..=4, secret in "[!-~]{1,40}") {
            let key = secret.as_bytes();
            let json = body.as_bytes();
            let check = |v: &Verifier, pq: &str, pairs: Vec<(&'static str, Vec<u8>)>, body: &[u8], want: bool| {
                let h = headers_of(&pairs.into_iter().map(|(n, v)| (n, Some(v))).collect::<Vec<_>>());
                let req = RawRequest { method: "POST", path_and_query: pq, headers: &h, body };
                assert_eq!(v.verify(&req, NOW).is_ok(), want);
            };
            let vs = verifiers(key);
            let d = sumsub::sign(key, sumsub::DigestAlg::Sha512, json);
            check(&vs[0], "/", vec![("x-payload-digest", d.into_bytes()), ("x-payload-digest-alg", b"HMAC_SHA512_HEX".to_vec())], json, true);
            let t = (NOW + skew).to_string();
            check(&vs[1], "/", vec![("x-slack-request-timestamp", t.clone().into_bytes()), ("x-slack-signature", slack::sign(key, &t, json).into_bytes())], json, true);
            check(&vs[2], "/", vec![("paddle-signature", paddle::signature_header(key, NOW + skew, json).into_bytes())], json, true);
            let sq = square::sign(key, &format!("{URL}?q=1"), json);
            check(&vs[3], "/ingest/src?q=1", vec![("x-square-hmacsha256-signature", sq.into_bytes())], json, !json.is_empty());
            // Twilio: the body as one form value.
            let form_body = format!("Body={}", body.bytes().map(|b| format!("%{b:02X}")).collect::<String>());
            let tw = twilio::sign(key, URL, &[("Body".to_owned(), body.clone())]);
            check(&vs[4], "/ingest/src", vec![("content-type", b"application/x-www-form-urlencoded".to_vec()), ("x-twilio-signature", tw.into_bytes())], form_body.as_bytes(), true);
        }
    }
}
