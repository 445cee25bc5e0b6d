//! `scheme = "adyen-hmac-header"`: Adyen's Balance Platform (platforms,
//! issuing: configuration, transfer, report ... webhooks) and Management API
//! webhooks, byte-exact with Adyen's official libraries
//! (Adyen/adyen-go-api-library `hmacvalidator.ValidateHmacPayload`,
//! Adyen/adyen-java-api-library `HMACValidator.validateHMAC(hmacSignature,
//! hmacKey, payload)`).
//!
//! The header `HmacSignature` is standard base64 of HMAC-SHA256 of the raw
//! body, keyed with the webhook's HMAC key configured as HEX (decoded at
//! start, exactly as for `adyen`). The value is compared as the exact
//! base64 string (Go `==`, Java on the string's bytes). The body must be
//! UTF-8 (every library signs a string); otherwise `mismatch`. There is no
//! timestamp, so never `stale`.
//!
//! Extraction: `provider_type` = body `type`
//! (`balancePlatform.accountHolder.updated`, `merchant.created`). These
//! webhooks carry no event or delivery id, and the same resource is
//! notified again with new content on every change, so no body field
//! identifies one notification: `provider_event_id` =
//! `{type}:{SHA-256 of the raw body, lowercase hex}`. A retry (same bytes)
//! is a duplicate; a new notification about the same resource is not.
//! `time` = body `timestamp` (Balance Platform) else `createdAt`
//! (Management), when RFC 3339; `subject` = `data.id` when present (else
//! `data.merchantId`, Management's merchant webhooks). The answer is
//! `[accepted]`, as for `adyen` (Adyen accepts any 2xx, and some webhook
//! configurations require the body).

use super::{adyen, body_hmac, common};
use crate::{Ack, PayloadError, ProviderEvent, RawRequest, Rejection, Scheme, SchemeError};
use base64::Engine as _;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "adyen-hmac-header";
/// The signature header.
pub const HEADER: &str = "hmacsignature";
/// Adyen retries for up to 30 days; the window outlasts that (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = adyen::DEFAULT_DEDUP_WINDOW;

/// An Adyen platform/management source, checked at start.
#[derive(Debug)]
pub struct Params {
    /// Decoded HMAC keys; several during a rotation.
    keys: Vec<Secret>,
}

impl Params {
    /// Builds from the source's config: every secret must be a HEX HMAC key
    /// (the error names `secrets[i]`, never the value).
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_unused_keys(source, NAME)?;
        Ok(Params {
            keys: adyen::decode_keys(source, NAME)?,
        })
    }
}

impl Scheme for Params {
    fn verify(&self, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
        verify(self, req)
    }

    fn extract<'a>(&self, req: &RawRequest<'a>) -> Result<Vec<ProviderEvent<'a>>, PayloadError> {
        extract(req).map(|event| vec![event])
    }

    fn ack(&self) -> Ack {
        adyen::ACK
    }

    fn default_dedup_window(&self) -> Duration {
        DEFAULT_DEDUP_WINDOW
    }
}

// === verification ===

/// The `HmacSignature` value of `body` under the decoded `key`. Public so
/// test kits and benches sign exactly as the verifier checks.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(common::hmac_sha256(key, &[body]))
}

/// Checks the signature (docs/schemes.md precedence: missing > malformed >
/// mismatch).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    body_hmac::verify(req, HEADER, &params.keys, sign)
}

// === extraction ===

/// One event (module docs).
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let obj = common::json_object(req.body)?;
    let provider_type = common::required_str(&obj, "type")?;
    let provider_event_id = common::event_id(
        format!("{provider_type}:{}", common::sha256_hex(req.body)),
        "type:sha256(body)",
    )?;
    let time = common::rfc3339_or_none(obj.get("timestamp"))
        .or_else(|| common::rfc3339_or_none(obj.get("createdAt")));
    let data = obj.get("data");
    let subject = common::optional_str(data.and_then(|d| d.get("id")))
        .or_else(|| common::optional_str(data.and_then(|d| d.get("merchantId"))));
    Ok(ProviderEvent {
        provider_event_id,
        provider_type,
        time,
        subject,
        data_json: Cow::Borrowed(req.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};

    /// The Go library's published vector and variants; see the file's
    /// `source`.
    #[test]
    fn library_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/adyen-hmac-header/adyen_go_library.json"),
        );
    }

    /// adyen-go-api-library `hmacvalidator_test.go`
    /// (`payloadAsString`, `expectedSignFromPayloadAsString`). The payload
    /// is not even valid JSON there: the signature covers raw bytes.
    #[test]
    fn sign_matches_the_published_vector() {
        let key =
            adyen::decode_key(b"DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00")
                .unwrap();
        let payload = "{\n    \"type\": \"merchant.created\",\n    \"environment\": \"test\",\n    \"createdAt\": \"01-01-2024\",\n    \"data\": {\n        \"capabilities\": {\n            \"sendToTransferInstrument\": {\n                \"requested\": true,\n                \"requestedLevel\": \"notApplicable\"\n            }\n        },\n        \"companyId\": \"YOUR_COMPANY_ID\",\n        \"merchantId\": YOUR_MERCHANT_ACCOUNT\",\n        \"status\": \"PreActive\"\n    }\n}";
        assert_eq!(
            sign(key.expose(), payload.as_bytes()),
            "yitBTPnDGtbAMG9rTxUa1e6lFGpa4PnrD6rErOmEhJ8="
        );
    }

    #[test]
    fn build_fails_closed_without_echoing_the_secret() {
        let err = Params::from_source(&source(NAME, &["whsec_sekrit"])).unwrap_err();
        assert_eq!(err.key, "secrets[0]");
        assert!(!err.to_string().contains("sekrit"), "{err}");
        assert!(err.to_string().contains("hex"), "{err}");
    }

    #[test]
    fn extraction() {
        let headers = http::HeaderMap::new();
        let body = br#"{"data":{"balancePlatform":"YOUR_BALANCE_PLATFORM","accountHolder":{"id":"AH32272223222B5CM4MWJ892H"},"id":"AH32272223222B5CM4MWJ892H"},"environment":"test","timestamp":"2024-12-15T15:42:03+01:00","type":"balancePlatform.accountHolder.updated"}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/bp",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_type, "balancePlatform.accountHolder.updated");
        assert_eq!(
            e.provider_event_id,
            format!(
                "balancePlatform.accountHolder.updated:{}",
                common::sha256_hex(body)
            )
        );
        assert_eq!(e.time.as_deref(), Some("2024-12-15T15:42:03+01:00"));
        assert_eq!(e.subject.as_deref(), Some("AH32272223222B5CM4MWJ892H"));
        // Management: createdAt, merchantId.
        let body = br#"{"type":"merchant.created","createdAt":"2022-01-24T14:59:11+01:00","data":{"merchantId":"M1"}}"#;
        let e = extract(&RawRequest { body, ..req }).unwrap();
        assert_eq!(e.time.as_deref(), Some("2022-01-24T14:59:11+01:00"));
        assert_eq!(e.subject.as_deref(), Some("M1"));
        // One byte more is another notification.
        let other = br#"{"type":"merchant.created","createdAt":"2022-01-24T14:59:11+01:00","data":{"merchantId":"M2"}}"#;
        assert_ne!(
            e.provider_event_id,
            extract(&RawRequest { body: other, ..req })
                .unwrap()
                .provider_event_id
        );
    }
}
