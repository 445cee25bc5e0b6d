//! Hookgate's benchmarks (see `benches/README.md`) and the helpers they
//! share: signed requests for each scheme, built independently of the
//! gateway's own signing code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use hookgate_verify::schemes;
use http::HeaderMap;
use sha2::Sha256;
use std::collections::BTreeMap;

pub mod load;

/// HMAC-SHA256 of the concatenated parts.
pub fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A source of `scheme` with one secret.
pub fn source(scheme: &str, secret: &str) -> SourceConfig {
    SourceConfig {
        id: "bench".into(),
        scheme: scheme.into(),
        scheme_line: 1,
        key_lines: BTreeMap::new(),
        secrets: vec![Secret::new(secret.as_bytes().to_vec())],
        tolerance: None,
        dedup_window: None,
        rate_limit: None,
        types: BTreeMap::new(),
        workers: 1,
        public_url: None,
        params: BTreeMap::new(),
    }
}

/// A JSON body of about `size` bytes for `scheme`'s extraction rules.
pub fn body(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_bench_1","type":"payment_intent.succeeded","created":1700000000,"event_id":"evt_bench_1","event_type":"transaction.completed","occurred_at":"2024-01-01T00:00:00Z","data":{"object":{"id":"pi_1"}},"pad":""#;
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad)).into_bytes()
}

/// (scheme, source, headers) for a valid request carrying `body` at `now`.
pub fn signed(scheme: &str, body: &[u8], now: i64) -> (SourceConfig, HeaderMap) {
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        h.insert(k, v.parse().expect("header value"));
    };
    let ts = now.to_string();
    let src = match scheme {
        "stripe" => {
            let secret = "whsec_bench_stripe";
            let sig = hex::encode(hmac256(secret.as_bytes(), &[ts.as_bytes(), b".", body]));
            set("stripe-signature", format!("t={ts},v1={sig}"));
            source(scheme, secret)
        }
        "standard-webhooks" => {
            let key = b"bench-standard-webhooks-key-0001";
            let sig = STANDARD.encode(hmac256(key, &[b"msg_1.", ts.as_bytes(), b".", body]));
            set("webhook-id", "msg_1".into());
            set("webhook-timestamp", ts.clone());
            set("webhook-signature", format!("v1,{sig}"));
            source(scheme, &format!("whsec_{}", STANDARD.encode(key)))
        }
        "github" => {
            let secret = "bench-github";
            set(
                "x-hub-signature-256",
                format!(
                    "sha256={}",
                    hex::encode(hmac256(secret.as_bytes(), &[body]))
                ),
            );
            set("x-github-delivery", "d-1".into());
            set("x-github-event", "push".into());
            source(scheme, secret)
        }
        "checkout" => {
            let secret = "bench-checkout";
            set(
                "cko-signature",
                hex::encode(hmac256(secret.as_bytes(), &[body])),
            );
            source(scheme, secret)
        }
        "slack" => {
            let secret = "bench-slack";
            let sig = hex::encode(hmac256(
                secret.as_bytes(),
                &[b"v0:", ts.as_bytes(), b":", body],
            ));
            set("x-slack-request-timestamp", ts.clone());
            set("x-slack-signature", format!("v0={sig}"));
            source(scheme, secret)
        }
        "paddle" => {
            let secret = "pdl_ntfset_bench";
            let sig = hex::encode(hmac256(secret.as_bytes(), &[ts.as_bytes(), b":", body]));
            set("paddle-signature", format!("ts={ts};h1={sig}"));
            source(scheme, secret)
        }
        "onfido" => {
            let secret = "bench-onfido-token";
            set(
                "x-sha2-signature",
                schemes::onfido::sign(secret.as_bytes(), body),
            );
            source(scheme, secret)
        }
        "shopify" => {
            let secret = "bench-shopify";
            set(
                "x-shopify-hmac-sha256",
                schemes::shopify::sign(secret.as_bytes(), body),
            );
            set("x-shopify-topic", "orders/create".into());
            set("x-shopify-shop-domain", "bench.myshopify.com".into());
            set("x-shopify-api-version", "2024-01".into());
            set("x-shopify-webhook-id", "wh-1".into());
            set("x-shopify-event-id", "ev-1".into());
            source(scheme, secret)
        }
        "persona" => {
            let secret = "wbhsec_bench";
            set(
                "persona-signature",
                schemes::persona::signature_header(&[secret.as_bytes()], now, body),
            );
            source(scheme, secret)
        }
        "sumsub" => {
            let secret = "bench-sumsub";
            set(
                "x-payload-digest",
                schemes::sumsub::sign(secret.as_bytes(), schemes::sumsub::DigestAlg::Sha256, body),
            );
            set("x-payload-digest-alg", "HMAC_SHA256_HEX".into());
            source(scheme, secret)
        }
        "square" => {
            let secret = "bench-square-key";
            let url = "https://hooks.example.com/ingest/bench";
            set(
                "x-square-hmacsha256-signature",
                schemes::square::sign(secret.as_bytes(), url, body),
            );
            let mut src = source(scheme, secret);
            src.public_url = Some(url.into());
            src
        }
        "adyen-hmac-header" => {
            let key_hex = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
            let key = hex::decode(key_hex).expect("hex");
            set(
                "hmacsignature",
                schemes::adyen_hmac_header::sign(&key, body),
            );
            source(scheme, key_hex)
        }
        other => panic!("no bench signer for {other}"),
    };
    (src, h)
}

/// A valid request of about `size` bytes for any scheme: (source, headers,
/// body). Schemes whose body has a provider-specific shape (Adyen batches,
/// Twilio forms) get that shape; the configurable ones get their params.
pub fn signed_request(scheme: &str, size: usize, now: i64) -> (SourceConfig, HeaderMap, Vec<u8>) {
    let mut h = HeaderMap::new();
    let ids = |src: &mut SourceConfig| {
        src.params.insert("event_id".into(), "/id".into());
        src.params.insert("event_type".into(), "/type".into());
    };
    match scheme {
        "adyen" => {
            let key_hex = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
            let key = hex::decode(key_hex).expect("hex");
            let mut item = serde_json::json!({
                "pspReference": "7914073381342284", "originalReference": "",
                "merchantAccountCode": "BenchECOM", "merchantReference": "order-1",
                "amount": {"value": 1130, "currency": "EUR"}, "eventCode": "AUTHORISATION",
                "eventDate": "2024-01-01T01:00:00+01:00", "success": "true",
                "additionalData": {"pad": "x".repeat(size.saturating_sub(400))}
            });
            let sig = schemes::adyen::sign_item(&key, &item).expect("signable item");
            item["additionalData"]["hmacSignature"] = serde_json::json!(sig);
            let body = serde_json::to_vec(&serde_json::json!({
                "live": "false", "notificationItems": [{"NotificationRequestItem": item}]
            }))
            .expect("json");
            (source(scheme, key_hex), h, body)
        }
        "twilio" => {
            let token = "bench-twilio-auth-token";
            let url = "https://hooks.example.com/ingest/bench";
            let params = vec![
                ("Body".to_owned(), "x".repeat(size.saturating_sub(120))),
                ("From".to_owned(), "+15550001111".to_owned()),
                ("MessageSid".to_owned(), "SM1".to_owned()),
                ("MessageStatus".to_owned(), "delivered".to_owned()),
            ];
            let body: String = form_body(&params);
            h.insert(
                "x-twilio-signature",
                schemes::twilio::sign(token.as_bytes(), url, &params)
                    .parse()
                    .expect("header"),
            );
            h.insert(
                "content-type",
                "application/x-www-form-urlencoded".parse().expect("header"),
            );
            let mut src = source(scheme, token);
            src.public_url = Some(url.into());
            (src, h, body.into_bytes())
        }
        "hmac" => {
            let body = body(size);
            let secret = "bench-hmac";
            let sig = schemes::hmac::sign(
                "sha256",
                schemes::hmac::Encoding::Hex,
                "",
                secret.as_bytes(),
                &body,
            )
            .expect("sha256");
            h.insert("x-signature", sig.parse().expect("header"));
            let mut src = source(scheme, secret);
            src.params.insert("header".into(), "x-signature".into());
            ids(&mut src);
            (src, h, body)
        }
        "basic-auth" => {
            h.insert(
                "authorization",
                schemes::basic_auth::sign("bench", "password")
                    .parse()
                    .expect("header"),
            );
            let mut src = source(scheme, "bench:password");
            ids(&mut src);
            (src, h, body(size))
        }
        "header-token" => {
            h.insert("x-token", "bench-token".parse().expect("header"));
            let mut src = source(scheme, "bench-token");
            src.params.insert("header".into(), "x-token".into());
            ids(&mut src);
            (src, h, body(size))
        }
        other => {
            let body = body(size);
            let (src, h) = signed(other, &body, now);
            (src, h, body)
        }
    }
}

/// `application/x-www-form-urlencoded` of `params` (only `+`-free ASCII
/// letters, digits and a few marks are left as is).
fn form_body(params: &[(String, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Schemes the verify bench covers.
pub const SCHEMES: &[&str] = &[
    "stripe",
    "standard-webhooks",
    "github",
    "checkout",
    "slack",
    "paddle",
    "onfido",
    "shopify",
    "persona",
    "sumsub",
    "square",
    "adyen-hmac-header",
    "adyen",
    "twilio",
    "hmac",
    "basic-auth",
    "header-token",
];
