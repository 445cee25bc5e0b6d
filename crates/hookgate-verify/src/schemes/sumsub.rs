//! `scheme = "sumsub"`: Sumsub's webhook digest, byte-exact with Sumsub's
//! "Verify webhook sender" documentation (docs.sumsub.com, webhooks).
//!
//! `X-Payload-Digest` is the lowercase hex HMAC of the raw body keyed with
//! the webhook's secret key; `X-Payload-Digest-Alg` names the hash:
//! `HMAC_SHA1_HEX`, `HMAC_SHA256_HEX` (the dashboard's default) or
//! `HMAC_SHA512_HEX`. There is no timestamp, so no tolerance; replays of a
//! captured callback are absorbed by the dedup window.
//!
//! Decisions (docs/schemes.md: no more lenient than the provider's own code):
//! - an absent (or empty) `X-Payload-Digest-Alg` means `HMAC_SHA256_HEX`,
//!   the dashboard's default algorithm, as Sumsub's own webhook example
//!   does (SumSubstance/agent-skills
//!   `skills/sumsub-integrate-websdk/examples/webhook-verify.js`:
//!   `headers['x-payload-digest-alg'] || 'HMAC_SHA256_HEX'`). The older
//!   snippet of docs.sumsub.com throws "Unsupported algorithm" instead;
//!   the default is taken deliberately (the digest must still be the
//!   HMAC-SHA256 of the body under a configured key, so nothing unsigned
//!   gets through, and SHA-1 is used only when named). A repeated header
//!   is `malformed`;
//! - an algorithm name other than the three above, exactly spelled, is
//!   `malformed`;
//! - the digest is compared as a string with the lowercase hex Sumsub's
//!   docs snippet computes (`digest('hex') === header`): upper-case hex
//!   mismatches. The agent-skills example compares the hex-decoded bytes
//!   (so it takes upper case); where Sumsub's own examples disagree the
//!   stricter verdict wins. A value that is not hex of the algorithm's
//!   length is `malformed`;
//! - the HMAC runs over the raw body bytes (the snippet feeds the raw
//!   buffer), so a non-UTF-8 body is not rejected by itself.
//!
//! Event identity: Sumsub payloads carry no event id. The provider event id
//! is `{applicantId}:{type}:{createdAtMs}` — `createdAtMs` is when Sumsub
//! created the event and is resent unchanged with every retry (Sumsub tells
//! receivers to check it to order statuses); `correlationId` names the API
//! request behind the event and can be shared by several events, so it is
//! not used. Type = `type` (`applicantReviewed`, ...), time = `createdAtMs`
//! (`yyyy-MM-dd HH:mm:ss.SSS`, UTC) as RFC 3339, subject = `applicantId`.

use super::common::{self, Algorithm};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "sumsub";
/// The digest header.
pub const HEADER: &str = "x-payload-digest";
/// The algorithm header.
pub const ALG_HEADER: &str = "x-payload-digest-alg";
/// Sumsub retries 4 times over about a day (5 min, 1 h, 5 h, 18 h); the
/// default window (docs/ingest.md "unknown: 7 days") outlasts that.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The algorithm of a callback without `X-Payload-Digest-Alg`.
pub const DEFAULT_ALG: DigestAlg = DigestAlg::Sha256;

/// The digest algorithms Sumsub names in `X-Payload-Digest-Alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    /// `HMAC_SHA1_HEX`.
    Sha1,
    /// `HMAC_SHA256_HEX`.
    Sha256,
    /// `HMAC_SHA512_HEX`.
    Sha512,
}

impl DigestAlg {
    /// The header value naming this algorithm.
    pub fn header_value(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => "HMAC_SHA1_HEX",
            DigestAlg::Sha256 => "HMAC_SHA256_HEX",
            DigestAlg::Sha512 => "HMAC_SHA512_HEX",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512]
            .into_iter()
            .find(|a| a.header_value() == value)
    }

    fn algorithm(self) -> Algorithm {
        match self {
            DigestAlg::Sha1 => Algorithm::Sha1,
            DigestAlg::Sha256 => Algorithm::Sha256,
            DigestAlg::Sha512 => Algorithm::Sha512,
        }
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlg::Sha1 => 40,
            DigestAlg::Sha256 => 64,
            DigestAlg::Sha512 => 128,
        }
    }
}

plain_params!(
    timed,
    "A Sumsub source, checked at start: its webhook secret keys (Sumsub's headers are fixed)."
);

// === verification ===

/// The `X-Payload-Digest` of `body` under `secret`: lowercase hex. Public
/// so test kits and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], alg: DigestAlg, body: &[u8]) -> String {
    hex::encode(common::hmac_with(alg.algorithm(), secret, &[body]))
}

/// Checks the digest (no timestamp: `now_unix` is unused).
pub fn verify(params: &Params, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
    let digest = common::signature_header(req.headers, HEADER)?;
    let alg = match common::header(req.headers, ALG_HEADER) {
        common::Header::Absent => DEFAULT_ALG,
        common::Header::Invalid => return Err(Rejection::Malformed),
        common::Header::Value(name) => DigestAlg::parse(name).ok_or(Rejection::Malformed)?,
    };
    if digest.len() != alg.hex_len() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Rejection::Malformed);
    }
    // No UTF-8 requirement: Sumsub signs the raw bytes.
    common::matched_or_mismatch(common::any_secret_signs(
        &params.secrets,
        |s| sign(s, alg, req.body),
        &[digest],
    ))
}

// === extraction ===

/// One Sumsub event: see the module docs for the id.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let obj = common::json_object(req.body)?;
    let applicant = common::required_str(&obj, "applicantId")?;
    let provider_type = common::required_str(&obj, "type")?;
    let created = common::required_str(&obj, "createdAtMs")?;
    let time = created_at_rfc3339(&created);
    let provider_event_id = common::event_id(
        format!("{applicant}:{provider_type}:{created}"),
        "applicantId:type:createdAtMs",
    )?;
    Ok(ProviderEvent {
        provider_event_id,
        provider_type,
        time,
        subject: Some(applicant),
        data_json: Cow::Borrowed(req.body),
    })
}

/// `2020-02-21 13:23:19.321` (UTC) → `2020-02-21T13:23:19.321Z`; `None`
/// when it is not that shape.
fn created_at_rfc3339(s: &str) -> Option<String> {
    let (date, time) = s.split_once(' ')?;
    let out = format!("{date}T{time}Z");
    hookgate_core::time::parse_rfc3339_ms(&out).map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    #[test]
    fn documented_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/sumsub/documented_algorithm.json"),
        );
    }

    /// Pinned against Python's `hmac` (see the vector file's `source`).
    #[test]
    fn sign_is_pinned() {
        let body = br#"{"applicantId":"5cb56e8e0a975a35f333cb83","type":"applicantReviewed"}"#;
        assert_eq!(
            sign(b"SoMe_SeCrEt_KeY", DigestAlg::Sha1, body),
            "8d27808a66f1f0891908ee2a801ae7377fec62aa"
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["k"]);
        src.params.insert("algorithm".into(), "sha256".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "algorithm");
        let params = Params::from_source(&source(NAME, &["topsecret"])).unwrap();
        assert!(!format!("{params:?}").contains("topsecret"));
    }

    #[test]
    fn extraction() {
        let body = br#"{"applicantId":"5cb56e8e0a975a35f333cb83","inspectionId":"5cb56e8e0a975a35f333cb84","correlationId":"req-a260b669","levelName":"basic-kyc-level","externalUserId":"someClientUserId","type":"applicantReviewed","sandboxMode":false,"reviewStatus":"completed","createdAtMs":"2020-02-21 13:23:19.321","reviewResult":{"reviewAnswer":"GREEN"}}"#;
        let headers = http::HeaderMap::new();
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/sumsub",
            headers: &headers,
            body,
        };
        let ev = extract(&req).unwrap();
        assert_eq!(
            ev.provider_event_id,
            "5cb56e8e0a975a35f333cb83:applicantReviewed:2020-02-21 13:23:19.321"
        );
        assert_eq!(ev.provider_type, "applicantReviewed");
        assert_eq!(ev.time.as_deref(), Some("2020-02-21T13:23:19.321Z"));
        assert_eq!(ev.subject.as_deref(), Some("5cb56e8e0a975a35f333cb83"));
        for bad in [
            &br#"{"type":"applicantReviewed","createdAtMs":"2020-02-21 13:23:19.321"}"#[..],
            br#"{"applicantId":"a","createdAtMs":"2020-02-21 13:23:19.321"}"#,
            br#"{"applicantId":"a","type":"t"}"#,
            b"[]",
        ] {
            let req = RawRequest { body: bad, ..req };
            assert!(extract(&req).is_err());
        }
        // A createdAtMs of another shape still identifies the event.
        let odd = br#"{"applicantId":"a","type":"t","createdAtMs":"1582291399321"}"#;
        let ev = extract(&RawRequest { body: odd, ..req }).unwrap();
        assert_eq!(ev.time, None);
        assert_eq!(ev.provider_event_id, "a:t:1582291399321");
    }
}
