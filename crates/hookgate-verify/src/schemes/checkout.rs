//! `scheme = "checkout"`: Checkout.com webhooks (workflows and legacy
//! webhooks), byte-exact with Checkout.com's documented check ("Verify
//! webhook signatures").
//!
//! The header `Cko-Signature` is lowercase hex HMAC-SHA256 of the raw body,
//! keyed with the signature key shown when the webhook (or workflow action)
//! was created, exactly as configured. Checkout.com's SDKs publish no
//! verifier; the documented samples compare the hex strings, so upper-case
//! hex mismatches. The body must be UTF-8 (the samples sign a string);
//! otherwise `mismatch`. The `Authorization` header Checkout.com also sends
//! (a static key) is not a signature and is not checked.
//!
//! Extraction: `provider_event_id` = body `id` (`evt_...`), `provider_type`
//! = body `type` (`payment_approved`), `time` = `created_on` when RFC 3339,
//! `subject` = `data.id` (`pay_...`).

use super::fields::{At, EventFields, Subject, Time};
use super::{body_hmac, common};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "checkout";
/// The signature header.
pub const HEADER: &str = "cko-signature";
/// Checkout.com's retry horizon is not documented beyond a few days of
/// attempts: the unknown default of 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    untimed,
    "A Checkout.com source, checked at start: its signature keys."
);

// === verification ===

/// The `Cko-Signature` value of `body` under `secret`. Public so test kits
/// and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(common::hmac_sha256(secret, &[body]))
}

/// Checks the signature (docs/schemes.md precedence: missing > malformed >
/// mismatch).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    body_hmac::verify(req, HEADER, &params.secrets, sign)
}

// === extraction ===

/// Where a Checkout.com event's fields stand.
const EVENT: EventFields = EventFields {
    id: At::Json("/id"),
    kind: At::Json("/type"),
    time: Some((At::Json("/created_on"), Time::Rfc3339OrNone)),
    subject: Some((At::Json("/data/id"), Subject::NonEmpty)),
};

/// One event: `id`, `type`, `created_on`, `data.id`.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    EVENT.extract(req)
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
            include_str!("../../tests/vectors/checkout/checkout_docs.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        // Computed independently with Python's `hmac`.
        assert_eq!(
            sign(b"sk_sbox_m73dzbpy7cf3gfd46xr4yj5xo4e", br#"{"id":"evt_1"}"#),
            "61c029651ce0269d93f2b755cb47255c0917ac0e12575972025c21bda0eeb9a2"
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        assert_eq!(
            Params::from_source(&source(NAME, &["a", ""]))
                .unwrap_err()
                .key,
            "secrets[1]"
        );
        let debug = format!(
            "{:?}",
            Params::from_source(&source(NAME, &["hunter2"])).unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn extraction() {
        let headers = http::HeaderMap::new();
        let body = br#"{"id":"evt_az5sblvku4ge3dwpztvyizgcau","type":"payment_approved","version":"1.0.33","created_on":"2019-08-24T14:15:22Z","data":{"id":"pay_mbabizu24mvu3mela5njyhpit4"}}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/cko",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "evt_az5sblvku4ge3dwpztvyizgcau");
        assert_eq!(e.provider_type, "payment_approved");
        assert_eq!(e.time.as_deref(), Some("2019-08-24T14:15:22Z"));
        assert_eq!(e.subject.as_deref(), Some("pay_mbabizu24mvu3mela5njyhpit4"));
        let req = RawRequest {
            body: br#"{"type":"x"}"#,
            ..req
        };
        assert_eq!(extract(&req).unwrap_err().0, "field `id` is missing");
    }
}
