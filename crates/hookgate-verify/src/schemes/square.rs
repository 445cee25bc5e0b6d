//! `scheme = "square"`: Square's `x-square-hmacsha256-signature`,
//! byte-exact with the SDKs' webhooks helper
//! (square/square-python-sdk `square/utilities/webhooks_helper.py`
//! `is_valid_webhook_event_signature`, square/square-nodejs-sdk
//! `WebhooksHelper.isValidWebhookEventSignature`).
//!
//! The signature is the standard base64 HMAC-SHA256, keyed with the
//! subscription's signature key (used as given), of the notification URL
//! followed by the raw body. The notification URL is the source's
//! `public_url` with the actual request's query string appended (docs/schemes.md);
//! it is tried as configured and with its default port toggled
//! (`https://h/x` and `https://h:443/x`), since a proxy or the dashboard
//! may spell it either way. `public_url` is required; the gateway refuses
//! to start without it. There is no timestamp: replays are absorbed by the
//! dedup window.
//!
//! Decisions:
//! - the signature is compared as the base64 string the SDKs compute
//!   (`hmac.compare_digest` / `===`), so any other spelling mismatches; a
//!   value that is not base64 of 32 bytes at all is `malformed`;
//! - an empty body mismatches (the SDKs return `false` before hashing);
//! - a body that is not UTF-8 mismatches (both SDKs sign a string).
//!
//! Event: id = `event_id`, type = `type`, time = `created_at`, subject =
//! `data.id`.

use super::common;
use super::fields::{At, EventFields, Subject, Time};
use super::public_url::{self};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "square";
/// The signature header.
pub const HEADER: &str = "x-square-hmacsha256-signature";
/// Square retries for up to 24 hours; 7 days outlasts that (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    public_url,
    "A Square source, checked at start: its signature keys and the URL Square signs."
);

// === verification ===

/// The signature of `body` sent to `notification_url` (query included),
/// standard base64. Public so test kits and benches sign exactly as the
/// verifier checks.
pub fn sign(signature_key: &[u8], notification_url: &str, body: &[u8]) -> String {
    STANDARD.encode(common::hmac_sha256(
        signature_key,
        &[notification_url.as_bytes(), body],
    ))
}

/// Checks the signature (no timestamp: `now_unix` is unused).
pub fn verify(params: &Params, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
    let value = common::base64_signature_header(req.headers, HEADER)?;
    if req.body.is_empty() {
        return Err(Rejection::Mismatch);
    }
    common::require_utf8_body(req.body)?;
    let urls = params
        .url
        .default_port_variants(public_url::query_of(req.path_and_query));
    let mut matched = false;
    for url in &urls {
        matched |= common::any_secret_signs(&params.secrets, |s| sign(s, url, req.body), &[value]);
    }
    common::matched_or_mismatch(matched)
}

// === extraction ===

/// Where a Square event's fields stand.
const EVENT: EventFields = EventFields {
    id: At::Json("/event_id"),
    kind: At::Json("/type"),
    time: Some((At::Json("/created_at"), Time::Rfc3339)),
    subject: Some((At::Json("/data/id"), Subject::AnyString)),
};

/// One Square event: `event_id`, `type`, `created_at`, `data.id`.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    EVENT.extract(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    /// The SDKs' webhooks-helper tests plus docs/schemes.md's URL variants.
    #[test]
    fn sdk_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/square/sdk_webhooks_helper.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        let body = r#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
        assert_eq!(
            sign(
                b"Ibxx_5AKakO-3qeNVR61Dw",
                "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
                body.as_bytes()
            ),
            "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
        );
    }

    #[test]
    fn build_fails_closed() {
        let err = Params::from_source(&source(NAME, &["k"])).unwrap_err();
        assert_eq!(err.key, "public_url");
        let mut src = source(NAME, &["k"]);
        src.public_url = Some("https://gw.example.com".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
        src.public_url = Some("https://gw.example.com/ingest/sq".into());
        assert!(Params::from_source(&src).is_ok());
        src.params.insert("header".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
        let mut src = source(NAME, &["topsecret"]);
        src.public_url = Some("https://gw.example.com/ingest/sq".into());
        assert!(!format!("{:?}", Params::from_source(&src).unwrap()).contains("topsecret"));
    }

    #[test]
    fn extraction() {
        let body = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
        let headers = http::HeaderMap::new();
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/square",
            headers: &headers,
            body,
        };
        let ev = extract(&req).unwrap();
        assert_eq!(ev.provider_event_id, "ac3ac95b-f97d-458c-a6e6-18981597e05f");
        assert_eq!(ev.provider_type, "webhooks.test_notification");
        assert_eq!(ev.time.as_deref(), Some("2022-07-13T20:30:59.037339943Z"));
        assert_eq!(
            ev.subject.as_deref(),
            Some("bc368e64-01aa-407e-b46e-3231809b1129")
        );
        let bad = br#"{"type":"t"}"#;
        assert!(extract(&RawRequest { body: bad, ..req }).is_err());
    }
}
