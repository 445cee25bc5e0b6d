//! Hookgate's benchmarks (see `benches/README.md`) and the helpers they
//! share: signed requests for each scheme, built independently of the
//! gateway's own signing code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use http::HeaderMap;
use sha2::Sha256;
use std::collections::BTreeMap;

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
        other => panic!("no bench signer for {other}"),
    };
    (src, h)
}

/// Schemes the verify bench covers.
pub const SCHEMES: &[&str] = &[
    "stripe",
    "standard-webhooks",
    "github",
    "checkout",
    "slack",
    "paddle",
];
