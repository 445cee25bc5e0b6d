//! `scheme = "onfido"`: Onfido webhooks, byte-exact with Onfido's official
//! libraries' `WebhookEventVerifier` (onfido/onfido-python
//! `onfido/webhook_event_verifier.py`, onfido/onfido-node
//! `src/WebhookEventVerifier.ts`).
//!
//! The header `X-SHA2-Signature` is lowercase hex HMAC-SHA256 of the raw
//! body, keyed with the webhook token exactly as configured. The legacy
//! SHA-1 header `X-Signature` is ignored (docs/schemes.md): a request that carries
//! only it is `missing`.
//!
//! Where the libraries disagree the stricter verdict wins (docs/schemes.md):
//! - upper-case hex: onfido-node decodes the hex (`Buffer.from(.., "hex")`,
//!   which also stops silently at the first non-hex character) and accepts
//!   it; onfido-python compares the hex strings (`hmac.compare_digest`) and
//!   rejects it. Rejected (it mismatches).
//! - the body must be UTF-8: onfido-python signs `raw_event.encode("utf-8")`
//!   of a string. Otherwise `mismatch`.
//!
//! Extraction (body `{"payload":{"resource_type","action","object":{...}}}`):
//! `provider_type` = `payload.action`, already namespaced by Onfido
//! (`check.completed`, `workflow_run.completed`); `subject` =
//! `payload.object.id`; `provider_event_id` = `{object.id}:{action}` —
//! Onfido sends no event id, and one object reaches each action once, so
//! a retry of the same notification dedups while the next action on the
//! same object does not; `time` = `payload.object.completed_at_iso8601`
//! when RFC 3339 (absent for actions that are not completions).

use super::{body_hmac, common, fields};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "onfido";
/// The signature header.
pub const HEADER: &str = "x-sha2-signature";
/// Onfido retries failed webhooks for a limited time it does not state
/// precisely: the unknown default of 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    untimed,
    "An Onfido source, checked at start: its webhook tokens."
);

// === verification ===

/// The `X-SHA2-Signature` value of `body` under `token`. Public so test
/// kits and benches sign exactly as the verifier checks.
pub fn sign(token: &[u8], body: &[u8]) -> String {
    hex::encode(common::hmac_sha256(token, &[body]))
}

/// Checks the signature (docs/schemes.md precedence: missing > malformed >
/// mismatch).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    body_hmac::verify(req, HEADER, &params.secrets, sign)
}

// === extraction ===

/// One event from `payload` (module docs). Written out, not
/// `fields::EventFields`: Onfido sends no event id, so the id joins two
/// fields.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let obj = common::json_object(req.body)?;
    let action = fields::required_at(&obj, "/payload/action")?;
    let id = fields::required_at(&obj, "/payload/object/id")?;
    let provider_event_id = common::event_id(format!("{id}:{action}"), "object.id:action")?;
    let object = obj.get("payload").and_then(|p| p.get("object"));
    Ok(ProviderEvent {
        provider_event_id,
        provider_type: action,
        time: common::rfc3339_or_none(object.and_then(|o| o.get("completed_at_iso8601"))),
        subject: Some(id),
        data_json: Cow::Borrowed(req.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};

    /// The libraries' published vector and variants; see the file's `source`.
    #[test]
    fn library_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/onfido/onfido_libraries.json"),
        );
    }

    /// onfido-node `test/webhook-event-verifier.test.ts`.
    #[test]
    fn sign_matches_the_published_vector() {
        let body = r#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"check-123","status":"complete","completed_at_iso8601":"2020-01-01T00:00:00Z","href":"https://api.onfido.com/v3/checks/check-123"}}}"#;
        assert_eq!(
            sign(b"_ABC123abc123ABC123abc123ABC123_", body.as_bytes()),
            "a0082d7481f9f0a2907583dbe1f344d6d4c0d9989df2fd804f98479f60cd760e"
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["t"]);
        src.params.insert("header".into(), "x-signature".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
        let debug = format!(
            "{:?}",
            Params::from_source(&source(NAME, &["hunter2"])).unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn extraction() {
        let headers = http::HeaderMap::new();
        let body = br#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"check-123","status":"complete","completed_at_iso8601":"2020-01-01T00:00:00Z","href":"https://api.onfido.com/v3/checks/check-123"}}}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/onfido",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "check-123:check.completed");
        assert_eq!(e.provider_type, "check.completed");
        assert_eq!(e.time.as_deref(), Some("2020-01-01T00:00:00Z"));
        assert_eq!(e.subject.as_deref(), Some("check-123"));
        for (bad, want) in [
            (&br#"{"x":1}"#[..], "field `payload` must be an object"),
            (
                br#"{"payload":{"object":{"id":"a"}}}"#,
                "payload: field `action` is missing",
            ),
            (
                br#"{"payload":{"action":"a"}}"#,
                "field `payload.object` must be an object",
            ),
            (
                br#"{"payload":{"action":"a","object":{"id":""}}}"#,
                "payload.object: field `id` is empty",
            ),
        ] {
            let req = RawRequest { body: bad, ..req };
            assert_eq!(extract(&req).unwrap_err().0, want);
        }
    }
}
