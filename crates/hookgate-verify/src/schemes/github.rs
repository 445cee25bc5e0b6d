//! `scheme = "github"`: GitHub webhook deliveries, byte-exact with GitHub's
//! documented check ("Validating webhook deliveries") and the official
//! libraries (octokit/webhooks-methods.js `verify`, google/go-github
//! `ValidateSignature`).
//!
//! The header `X-Hub-Signature-256` is `sha256=` + lowercase hex
//! HMAC-SHA256 of the raw body, keyed with the webhook secret exactly as
//! configured. The legacy SHA-1 header `X-Hub-Signature` is ignored
//! (docs/schemes.md): a delivery that carries only it is `missing`.
//!
//! Where the libraries disagree the stricter verdict wins (docs/schemes.md):
//! - upper-case hex (or `SHA256=`): go-github hex-decodes and accepts it,
//!   octokit and the documented Ruby/Python checks compare strings and
//!   reject it. Rejected (it mismatches).
//! - a value without the `sha256=` prefix: go-github fails to parse it,
//!   octokit just returns false. `malformed`.
//! - the body must be UTF-8: octokit's `verify` signs a JavaScript string.
//!   Otherwise `mismatch`.
//!
//! Extraction: `provider_event_id` = the `X-GitHub-Delivery` header (the
//! delivery GUID, kept across redeliveries; docs/ingest.md), `provider_type` = the
//! `X-GitHub-Event` header as sent (`pull_request`, `push`: the body's
//! `action` is not appended, so a `[sources.types]` mapping sees GitHub's
//! own event names), no time (GitHub sends none for the delivery), no
//! subject (events have no single object id). The body must be JSON
//! (configure the webhook with content type `application/json`).

use super::fields::{At, EventFields};
use super::{body_hmac, common};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "github";
/// The signature header.
pub const HEADER: &str = "x-hub-signature-256";
/// The delivery id header.
pub const DELIVERY_HEADER: &str = "x-github-delivery";
/// The event name header.
pub const EVENT_HEADER: &str = "x-github-event";
/// GitHub does not retry failed deliveries by itself (they are redelivered
/// by hand, or by a script, within its 3-day delivery log): the unknown
/// horizon default of 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The prefix of the signature value.
const PREFIX: &str = "sha256=";

plain_params!(
    untimed,
    "A GitHub source, checked at start: its webhook secrets."
);

// === verification ===

/// The complete `X-Hub-Signature-256` value (`sha256=<hex>`) of `body`
/// under `secret`. Public so test kits and benches sign exactly as the
/// verifier checks.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(common::hmac_sha256(secret, &[body]))
    )
}

/// Checks the signature (docs/schemes.md precedence: missing > malformed >
/// mismatch).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, HEADER)?;
    if !value.starts_with(PREFIX) {
        return Err(Rejection::Malformed);
    }
    body_hmac::check(value, req.body, &params.secrets, sign)
}

// === extraction ===

/// Where a GitHub delivery's fields stand: its headers (the body holds no
/// id or type common to every event).
const EVENT: EventFields = EventFields {
    id: At::Header(&["X-GitHub-Delivery"]),
    kind: At::Header(&["X-GitHub-Event"]),
    time: None,
    subject: None,
};

/// One delivery: id and type from the headers, the JSON body as data.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    EVENT.extract(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};
    use std::borrow::Cow;

    /// GitHub's documented test values; see the file's `source`.
    #[test]
    fn docs_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/github/github_docs.json"),
        );
    }

    /// docs.github.com "Validating webhook deliveries" → "Testing the
    /// webhook payload validation": secret `It's a Secret to Everybody`,
    /// payload `Hello, World!`.
    #[test]
    fn sign_matches_the_documented_value() {
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["s"]);
        src.params.insert("algorithm".into(), "sha1".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "algorithm");
        let debug = format!(
            "{:?}",
            Params::from_source(&source(NAME, &["hunter2"])).unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn extraction() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            DELIVERY_HEADER,
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
        );
        headers.insert(EVENT_HEADER, "issues".parse().unwrap());
        let body = br#"{"action":"opened","issue":{"id":1}}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/gh",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(e.provider_type, "issues");
        assert_eq!((e.time, e.subject), (None, None));
        assert!(matches!(e.data_json, Cow::Borrowed(b) if b == body));
        let req = RawRequest {
            body: b"payload=%7B%7D",
            ..req
        };
        assert!(extract(&req).is_err());
    }
}
