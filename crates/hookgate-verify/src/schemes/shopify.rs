//! `scheme = "shopify"`: Shopify webhooks over HTTPS, byte-exact with
//! Shopify's documented check ("Verify the webhook") and the official
//! libraries (Shopify/shopify-app-js `@shopify/shopify-api`
//! `webhooks.validate`, Shopify/shopify-api-ruby `WebhookRequest`).
//!
//! The header `X-Shopify-Hmac-Sha256` is standard base64 of HMAC-SHA256 of
//! the raw body, keyed with the app's client secret exactly as configured;
//! it is compared as the exact base64 string (`safeCompare` of the
//! strings in shopify-api, `secure_compare` in the Ruby library).
//!
//! Like `@shopify/shopify-api`'s `validate` (which answers `MissingHeaders`
//! otherwise), the delivery must also carry `X-Shopify-Topic`,
//! `X-Shopify-Shop-Domain`, `X-Shopify-API-Version` and
//! `X-Shopify-Webhook-Id`: any of them absent or empty is `missing`,
//! repeated is `malformed`. The body must be UTF-8 (the library signs a
//! JavaScript string); otherwise `mismatch`.
//!
//! Events deliveries (Shopify's event subscriptions) name their headers
//! without the `X-` prefix: `Shopify-Hmac-Sha256`, `Shopify-Topic`, ...
//! (they may carry the `X-Shopify-*` set as well, for older receivers).
//! `@shopify/shopify-api` (Shopify/shopify-app-js
//! `packages/apps/shopify-api/lib/webhooks/validate.ts`, `header-names.ts`)
//! takes a delivery carrying `Shopify-Hmac-Sha256` as an events delivery:
//! it verifies that header and requires `Shopify-Topic`,
//! `Shopify-Shop-Domain`, `Shopify-API-Version`, `Shopify-Webhook-Id` and
//! `Shopify-Event-Id`, prefix-less, whatever `X-Shopify-*` headers are
//! also there; otherwise it reads the `X-Shopify-*` set as above. Header
//! names are case-insensitive in both. Shopify/shopify-api-ruby
//! (`lib/shopify_api/webhooks/request.rb`) takes each header with or
//! without the prefix (`shopify-` first) and requires fewer of them; the
//! stricter verdict wins (docs/schemes.md), so Hookgate does as shopify-api does.
//! One addition, for the same reason: a delivery carrying both signature
//! headers with different values is `malformed` (Shopify sends the same
//! value in both; receivers reading one or the other would check
//! different things, as for Standard Webhooks' `webhook-*`/`svix-*`).
//!
//! Extraction: `provider_event_id` = `X-Shopify-Event-Id`, which Shopify's
//! "Ignore duplicate webhooks" guide names as the duplicate detector (the
//! same event delivered twice, retries included), else `X-Shopify-Webhook-Id`
//! (older deliveries without the event header; stable across retries of
//! one delivery); `provider_type` = `X-Shopify-Topic` (`orders/create`);
//! `time` = `X-Shopify-Triggered-At` when RFC 3339; `subject` = the body's
//! `admin_graphql_api_id` (`gid://shopify/Order/...`) when present. An
//! events delivery gives the same from its prefix-less headers
//! (`Shopify-Event-Id`, which it must carry, `Shopify-Topic`,
//! `Shopify-Triggered-At`).

use super::fields::{At, EventFields, Subject, Time};
use super::{body_hmac, common};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use base64::Engine as _;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "shopify";
/// The signature header.
pub const HEADER: &str = "x-shopify-hmac-sha256";
/// Headers `@shopify/shopify-api` requires next to the signature.
pub const REQUIRED_HEADERS: [&str; 4] = [
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
];
/// The signature header of an events delivery (no `X-` prefix).
pub const EVENTS_HEADER: &str = "shopify-hmac-sha256";
/// Headers `@shopify/shopify-api` requires next to [`EVENTS_HEADER`].
pub const EVENTS_REQUIRED_HEADERS: [&str; 5] = [
    "shopify-topic",
    "shopify-shop-domain",
    "shopify-api-version",
    "shopify-webhook-id",
    "shopify-event-id",
];
/// Shopify retries 8 times over 4 hours; unknown beyond that, so the
/// default of 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    untimed,
    "A Shopify source, checked at start: its client secrets."
);

// === verification ===

/// The `X-Shopify-Hmac-Sha256` value of `body` under `secret`. Public so
/// test kits and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(common::hmac_sha256(secret, &[body]))
}

/// Whether a request is an events delivery: it carries the prefix-less
/// signature header (sent, even if repeated or unreadable), as
/// shopify-api's `detectWebhookType` decides.
fn is_events_delivery(headers: &http::HeaderMap) -> bool {
    common::header(headers, EVENTS_HEADER) != common::Header::Absent
}

/// Checks the headers, then the signature (docs/schemes.md precedence: missing >
/// malformed > mismatch).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    if !is_events_delivery(req.headers) {
        let values =
            common::required_headers(req.headers, std::iter::once(HEADER).chain(REQUIRED_HEADERS))?;
        return body_hmac::check(values[0], req.body, &params.secrets, sign);
    }
    let values = common::required_headers(
        req.headers,
        std::iter::once(EVENTS_HEADER).chain(EVENTS_REQUIRED_HEADERS),
    )?;
    match common::header(req.headers, HEADER) {
        common::Header::Absent => {}
        common::Header::Value(legacy) if legacy == values[0] => {}
        _ => return Err(Rejection::Malformed),
    }
    body_hmac::check(values[0], req.body, &params.secrets, sign)
}

// === extraction ===

/// Where a webhook's fields stand: the event id when Shopify sends one,
/// else the webhook id (older API versions send only that).
const EVENT: EventFields = EventFields {
    id: At::Header(&["X-Shopify-Event-Id", "X-Shopify-Webhook-Id"]),
    kind: At::Header(&["X-Shopify-Topic"]),
    time: Some((At::Header(&["X-Shopify-Triggered-At"]), Time::Rfc3339OrNone)),
    subject: Some((At::Json("/admin_graphql_api_id"), Subject::NonEmpty)),
};

/// Where an events delivery's fields stand: its prefix-less headers only.
const EVENTS_DELIVERY: EventFields = EventFields {
    id: At::Header(&["Shopify-Event-Id"]),
    kind: At::Header(&["Shopify-Topic"]),
    time: Some((At::Header(&["Shopify-Triggered-At"]), Time::Rfc3339OrNone)),
    subject: Some((At::Json("/admin_graphql_api_id"), Subject::NonEmpty)),
};

/// One event: id, topic and time from the headers, the JSON body as data.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    if is_events_delivery(req.headers) {
        EVENTS_DELIVERY.extract(req)
    } else {
        EVENT.extract(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};

    /// Cases built from the documented algorithm; see the file's `source`.
    #[test]
    fn documented_algorithm_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/shopify/shopify_docs.json"),
        );
    }

    /// The secret and body of shopify-api's webhook validation tests
    /// (`test_secret_key`, `{"foo": "bar"}`), signed with Python's `hmac`.
    /// Events deliveries (prefix-less headers); see the file's `source`.
    #[test]
    fn events_delivery_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/shopify/shopify_api_events.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        assert_eq!(
            sign(b"test_secret_key", br#"{"foo": "bar"}"#),
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["s"]);
        src.public_url = Some("https://x/".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
        let debug = format!(
            "{:?}",
            Params::from_source(&source(NAME, &["hunter2"])).unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn extraction() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
        headers.insert(
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".parse().unwrap(),
        );
        headers.insert(
            "x-shopify-triggered-at",
            "2023-03-29T18:00:27.877041743Z".parse().unwrap(),
        );
        let body = br#"{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508"}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/shop",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        assert_eq!(e.provider_type, "orders/create");
        assert_eq!(e.time.as_deref(), Some("2023-03-29T18:00:27.877041743Z"));
        assert_eq!(
            e.subject.as_deref(),
            Some("gid://shopify/Order/820982911946154508")
        );
        // The event id wins when sent.
        let mut headers = headers.clone();
        headers.insert(
            "x-shopify-event-id",
            "98880550-7158-44d4-b7cd-2c97c8a091b5".parse().unwrap(),
        );
        let req = RawRequest {
            headers: &headers,
            ..req
        };
        assert_eq!(
            extract(&req).unwrap().provider_event_id,
            "98880550-7158-44d4-b7cd-2c97c8a091b5"
        );
    }

    #[test]
    fn events_delivery_extraction_reads_the_prefix_less_headers() {
        let mut headers = http::HeaderMap::new();
        for (k, v) in [
            (
                "shopify-hmac-sha256",
                "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
            ),
            ("shopify-topic", "Product"),
            ("shopify-event-id", "event-123"),
            ("shopify-webhook-id", "123456789"),
            ("shopify-triggered-at", "2026-01-27T12:00:00Z"),
            // The legacy set, as events deliveries also send it.
            ("x-shopify-topic", "products/update"),
            ("x-shopify-webhook-id", "legacy-id"),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        let body = br#"{"admin_graphql_api_id":"gid://shopify/Product/456"}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/shop",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "event-123");
        assert_eq!(e.provider_type, "Product");
        assert_eq!(e.time.as_deref(), Some("2026-01-27T12:00:00Z"));
        assert_eq!(e.subject.as_deref(), Some("gid://shopify/Product/456"));
        let mut headers = headers.clone();
        headers.remove("shopify-event-id");
        let req = RawRequest {
            headers: &headers,
            ..req
        };
        assert!(extract(&req).unwrap_err().0.contains("Shopify-Event-Id"));
    }
}
