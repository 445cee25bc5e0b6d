//! `scheme = "standard-webhooks"`: the Standard Webhooks signature (also what
//! Svix sends), byte-exact with the official libraries
//! (standard-webhooks/standard-webhooks `libraries/*`, svix/svix-webhooks).
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature`; the Svix
//! names `svix-id`, `svix-timestamp`, `svix-signature` are accepted where the
//! `webhook-*` one is absent (svix-webhooks reads either). The secret is
//! `whsec_` + base64 of the key (prefix optional), decoded at start. The
//! signed content is `"{id}.{timestamp}.{raw body}"`, HMAC-SHA256, standard
//! base64; the signature header is a space-separated list of
//! `<version>,<signature>` entries, of which only `v1` is checked.
//!
//! Where the libraries disagree the stricter verdict wins (docs/schemes.md):
//! - an entry without exactly one `,` (double space, `v1,a,b`) makes
//!   standardwebhooks-python raise; the JS/Rust libs skip it. `malformed`.
//! - a `v1` value that is not padded standard base64 makes the Python lib's
//!   `b64decode` raise; the others just mismatch. `malformed`.
//! - values are compared as base64 strings, full length (the JS lib and
//!   svix-webhooks; standard-webhooks' Rust lib compared only a prefix).
//! - the body must be UTF-8 (the Python and Rust libs refuse it otherwise,
//!   the JS lib decodes lossily). Otherwise `mismatch`.
//! - the timestamp is an optionally signed integer (Rust `i64` parse; the
//!   Python lib's `float()` also takes `1e9`); negative ones are `malformed`
//!   (svix-webhooks: "we won't honor timestamps before 1970").
//! - both a `webhook-*` and a `svix-*` header with different values: the two
//!   libraries would check different things, so `malformed`.
//! - a header with no `v1` entry at all is `malformed`, as for Stripe.
//! - any number of `v1` entries, as the libraries: the expected signature
//!   is computed once per key and compared with every entry, so a long
//!   header costs comparisons, not HMACs.
//!
//! Like the libraries, the signed content formats the parsed timestamp, so
//! `+5` or `05` sign as `5`.

use super::common::{self, Header};
use super::timestamped;
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection, SchemeError};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "standard-webhooks";
/// The libraries' default tolerance (`TOLERANCE_IN_SECONDS = 5 * 60`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Unknown provider retry horizon: 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The optional secret prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// (standard name, Svix name) of each header.
const ID: (&str, &str) = ("webhook-id", "svix-id");
const TIMESTAMP: (&str, &str) = ("webhook-timestamp", "svix-timestamp");
const SIGNATURE: (&str, &str) = ("webhook-signature", "svix-signature");

/// Secrets: padding optional (Svix secrets come both ways; the Python lib
/// appends `==`), otherwise strict standard base64.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Signature values: what the Python lib's `b64decode` accepts without
/// raising, minus its silent skipping of non-alphabet characters.
const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// A Standard Webhooks source, checked at start.
#[derive(Debug)]
pub struct Params {
    /// Decoded HMAC keys; several during a rotation.
    keys: Vec<Secret>,
    tolerance_secs: i64,
}

impl Params {
    /// Builds from the source's config: every secret must decode to a
    /// non-empty key (the error names `secrets[i]`, never the value).
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_unused_keys(source, NAME)?;
        let secrets = common::require_secrets(source, NAME)?;
        let mut keys = Vec::with_capacity(secrets.len());
        for (i, secret) in secrets.iter().enumerate() {
            let key = decode_secret(secret.expose()).ok_or_else(|| {
                common::scheme_error(
                    source,
                    format!("secrets[{i}]"),
                    "not a Standard Webhooks secret: expected base64, optionally prefixed by \"whsec_\"",
                )
            })?;
            keys.push(key);
        }
        Ok(Params {
            keys,
            tolerance_secs: common::tolerance_secs(source, DEFAULT_TOLERANCE),
        })
    }
}

/// The indices of `source`'s secrets that decode to keys shorter than the
/// 24 bytes the Standard Webhooks specification asks for
/// (`spec/standard-webhooks.md`: "Between 24 bytes (192 bits) and 64
/// bytes (512 bits)"). The libraries verify with any length, so such a key
/// is accepted (no stricter than the SDKs) and check-config warns.
pub fn short_keys(source: &SourceConfig) -> Vec<usize> {
    source
        .secrets
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            decode_secret(s.expose())
                .is_some_and(|k| k.expose().len() < hookgate_config::MIN_SIGNING_KEY_BYTES)
        })
        .map(|(i, _)| i)
        .collect()
}

/// `whsec_<base64>` or `<base64>` → the key; `None` if not base64 or empty.
pub fn decode_secret(raw: &[u8]) -> Option<Secret> {
    let b64 = raw.strip_prefix(SECRET_PREFIX.as_bytes()).unwrap_or(raw);
    let key = SECRET_BASE64.decode(b64).ok()?;
    (!key.is_empty()).then(|| Secret::new(key))
}

one_event_scheme!(timed);

// === verification ===

/// Reads one logical header: the standard name, else the Svix name.
fn pick<'a>(headers: &'a http::HeaderMap, (standard, svix): (&str, &str)) -> Header<'a> {
    match (
        common::header(headers, standard),
        common::header(headers, svix),
    ) {
        (Header::Absent, other) | (other, Header::Absent) => other,
        (Header::Value(a), Header::Value(b)) if a == b => Header::Value(a),
        _ => Header::Invalid,
    }
}

/// The `v1` values of a signature header; every failure is `malformed`.
fn parse_signatures(value: &str) -> Result<Vec<&str>, Rejection> {
    let mut v1 = Vec::new();
    for entry in value.split(' ') {
        let mut parts = entry.split(',');
        let (Some(version), Some(sig), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Rejection::Malformed);
        };
        if version == "v1" {
            if SIGNATURE_BASE64.decode(sig).is_err() {
                return Err(Rejection::Malformed);
            }
            v1.push(sig);
        }
    }
    if v1.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(v1)
}

/// The base64 `v1` signature (without the `v1,` prefix) of `body` under the
/// decoded `key`. Public so test kits and benches sign exactly as the
/// verifier checks.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = common::hmac_sha256(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Checks the headers, the signatures, then the timestamp (docs/schemes.md
/// precedence: missing > malformed > mismatch > stale).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    let headers = [
        pick(req.headers, ID),
        pick(req.headers, TIMESTAMP),
        pick(req.headers, SIGNATURE),
    ];
    if headers.contains(&Header::Absent) {
        return Err(Rejection::Missing);
    }
    let [
        Header::Value(msg_id),
        Header::Value(ts),
        Header::Value(sigs),
    ] = headers
    else {
        return Err(Rejection::Malformed);
    };
    let ts = common::parse_unix(ts)
        .filter(|t| *t >= 0)
        .ok_or(Rejection::Malformed)?;
    let candidates = parse_signatures(sigs)?;
    timestamped::check(
        req.body,
        &params.keys,
        |key| sign(key, msg_id, ts, req.body),
        &candidates,
        ts,
        now_unix,
        params.tolerance_secs,
    )
}

// === extraction ===

/// One event: id from the `webhook-id` header, type from the body, time
/// from the body's RFC 3339 `timestamp`, else the `webhook-timestamp`
/// header (a header time RFC 3339 cannot write is a 400; it passes
/// verification only under a tolerance of millennia).
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let Header::Value(msg_id) = pick(req.headers, ID) else {
        return Err(PayloadError(
            "header `webhook-id` is missing, repeated or differs from `svix-id`".into(),
        ));
    };
    let provider_event_id = common::event_id(msg_id.to_owned(), "header `webhook-id`")?;
    let obj = common::json_object(req.body)?;
    let provider_type = common::required_str(&obj, "type")?;
    let time = match obj.get("timestamp") {
        Some(Value::String(s)) if hookgate_core::time::parse_rfc3339_ms(s).is_some() => {
            Some(s.clone())
        }
        _ => match pick(req.headers, TIMESTAMP) {
            Header::Value(ts) => match common::parse_unix(ts) {
                Some(secs) => Some(common::unix_rfc3339(secs, "header `webhook-timestamp`")?),
                None => None,
            },
            _ => None,
        },
    };
    Ok(ProviderEvent {
        provider_event_id,
        provider_type,
        time,
        subject: None,
        data_json: Cow::Borrowed(req.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};

    /// The libraries' own test vectors; see each file's `source`.
    #[test]
    fn library_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/standard-webhooks/standard_webhooks_libraries.json"),
        );
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/standard-webhooks/svix_webhooks_rust.json"),
        );
    }

    /// `test_sign_function` (standard-webhooks libraries/python/tests/
    /// test_webhooks.py and libraries/javascript/src/webhook.test.ts) and
    /// `test_sign` (svix/svix-webhooks rust/src/webhooks.rs, also
    /// standard-webhooks libraries/rust/src/lib.rs): fixed inputs, expected
    /// signature as published there, re-checked with Python's `hmac`.
    #[test]
    fn sign_matches_published_vectors() {
        let key = decode_secret(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                key.expose(),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let key = decode_secret(b"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign(
                key.expose(),
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn secret_decoding() {
        let with = decode_secret(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let without = decode_secret(b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(with.expose(), without.expose());
        assert_eq!(with.expose().len(), 24);
        // Padding optional.
        assert_eq!(decode_secret(b"YWJj").unwrap().expose(), b"abc");
        assert_eq!(decode_secret(b"YWJjZA").unwrap().expose(), b"abcd");
        assert_eq!(decode_secret(b"YWJjZA==").unwrap().expose(), b"abcd");
        for bad in [
            &b""[..],
            b"whsec_",
            b"not base64!",
            b"whsec_YW Jj",
            b"YWJj\n",
        ] {
            assert!(decode_secret(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn build_fails_closed_without_echoing_the_secret() {
        let err = Params::from_source(&source(NAME, &[])).unwrap_err();
        assert_eq!(err.key, "secrets");
        let err = Params::from_source(&source(
            NAME,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_sekr!t"],
        ))
        .unwrap_err();
        assert_eq!(err.key, "secrets[1]");
        let text = err.to_string();
        assert!(text.starts_with("sources.src.secrets[1]: "), "{text}");
        assert!(!text.contains("sekr"), "{text}");
        let mut src = source(NAME, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        src.params.insert("prefix".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "prefix");
    }

    #[test]
    fn debug_never_shows_a_key() {
        let params =
            Params::from_source(&source(NAME, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]))
                .unwrap();
        let debug = format!("{params:?}");
        assert!(!debug.contains("MfKQ"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn signature_header_parsing() {
        let sig = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            parse_signatures(&format!("v1a,xyz v2,{sig} v1,{sig} v1,")).unwrap(),
            vec![sig, ""]
        );
        for bad in [
            format!("v1,{sig}  v1,{sig}"), // empty entry
            format!("v1,{sig},x"),         // two commas
            "v1".to_owned(),               // no comma
            "v1,g0hM9".to_owned(),         // truncated base64 (JS lib's partial signature test)
            "v1,abc!".to_owned(),          // not base64
            format!("v2,{sig}"),           // no v1 at all
        ] {
            assert_eq!(parse_signatures(&bad), Err(Rejection::Malformed), "{bad:?}");
        }
        let many = vec![format!("v1,{sig}"); 5000].join(" ");
        assert_eq!(parse_signatures(&many).unwrap().len(), 5000);
    }

    #[test]
    fn extraction() {
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
        let body = br#"{"type":"invoice.paid","timestamp":"2021-02-25T15:02:10.123Z","data":{}}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/sw",
            headers: &headers,
            body,
        };
        let event = extract(&req).unwrap();
        assert_eq!(event.provider_event_id, "msg_1");
        assert_eq!(event.provider_type, "invoice.paid");
        assert_eq!(event.time.as_deref(), Some("2021-02-25T15:02:10.123Z"));
        assert_eq!(event.subject, None);
        assert!(matches!(event.data_json, Cow::Borrowed(b) if b == body));

        // No body timestamp: the header's.
        let body = br#"{"type":"invoice.paid","timestamp":1}"#;
        let req = RawRequest { body, ..req };
        assert_eq!(
            extract(&req).unwrap().time.as_deref(),
            Some("2021-02-25T15:02:10Z")
        );
        // A header time RFC 3339 cannot write: a 400, not the receive time.
        for ts in ["253402300800", "-99999999999999"] {
            let mut headers = headers.clone();
            headers.insert("webhook-timestamp", ts.parse().unwrap());
            let req = RawRequest {
                headers: &headers,
                ..req
            };
            let err = extract(&req).unwrap_err().0;
            assert!(
                err.starts_with("header `webhook-timestamp` is out of range: "),
                "{ts}: {err}"
            );
        }
    }
}
