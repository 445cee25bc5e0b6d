//! What every scheme needs and must get right the same way: reading a header
//! (absent, duplicated, non-ASCII), HMAC-SHA256, timestamps and their
//! tolerance, and pulling typed fields out of a JSON body.
//!
//! Keeping these in one place means the precedence rules of docs/schemes.md (an
//! empty header is *missing*, a duplicated one *malformed*) and the tolerance
//! boundary are decided once, not re-derived per provider.

use crate::{MAX_PROVIDER_EVENT_ID, PayloadError, SchemeError};
use hmac::{Hmac, Mac};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use serde_json::{Map, Value};
use sha2::Sha256;
use std::time::Duration;

// === headers ===

/// One header as the verifier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header<'a> {
    /// Not sent, or sent empty (the SDKs treat both as "missing").
    Absent,
    /// Sent more than once, or not visible ASCII: a proxy or a forger, never
    /// the provider. Reported as `malformed`. Spaces and tabs inside a value
    /// pass here (`HeaderValue::to_str`; Standard Webhooks separates its
    /// signatures with spaces): a scheme whose value cannot hold them
    /// checks that itself.
    Invalid,
    /// Exactly one non-empty, visible-ASCII value.
    Value(&'a str),
}

/// Looks `name` up (case-insensitively, as `HeaderMap` does).
pub(crate) fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Header<'a> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Header::Absent;
    };
    if values.next().is_some() {
        return Header::Invalid;
    }
    if first.is_empty() {
        return Header::Absent;
    }
    match first.to_str() {
        Ok(s) => Header::Value(s),
        Err(_) => Header::Invalid,
    }
}

// === HMAC ===

/// HMAC-SHA256 of the concatenation of `parts` (no intermediate buffer).
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length (long ones are hashed), so this
    // constructor cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

// === timestamps ===

/// Parses a unix-seconds timestamp the way every SDK at least accepts it:
/// an optionally signed run of ASCII digits that fits an `i64` (Go
/// `strconv.ParseInt`, Rust `str::parse`; Python and JS accept more, e.g.
/// spaces or trailing junk, which the stricter verdict rejects).
pub(crate) fn parse_unix(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// Whether `ts` is inside `tolerance_secs` of `now`, both directions:
/// stale only when `|now - ts| > tolerance`, so a timestamp exactly
/// `tolerance` seconds old or ahead is accepted.
///
/// That is the SDKs' rule on a whole-second clock: stripe-node
/// (`timestampAge > tolerance`), stripe-python (`timestamp < now -
/// tolerance`), stripe-go, the Standard Webhooks libraries (`now - ts >
/// tolerance`, `ts > now + tolerance`), python-slack-sdk (`abs(now - ts) >
/// 300`), bolt-js, and both Paddle SDKs (`now > ts + 5`). SDKs that do not
/// check the future (Stripe, Paddle, Slack's bolt-js) are held to the same
/// bound by docs/schemes.md.
pub(crate) fn within_tolerance(now: i64, ts: i64, tolerance_secs: i64) -> bool {
    // i128: hostile timestamps near i64::MIN/MAX must not overflow.
    let age = i128::from(now) - i128::from(ts);
    age.abs() <= i128::from(tolerance_secs)
}

// === building from config ===

/// A build error for `source`, naming `key` (never a secret value).
pub(crate) fn scheme_error(
    source: &SourceConfig,
    key: impl Into<String>,
    message: impl Into<String>,
) -> SchemeError {
    SchemeError {
        source_id: source.id.clone(),
        key: key.into(),
        message: message.into(),
    }
}

/// The source's secrets: at least one, none empty (an empty secret is an
/// unset environment variable, not a key).
pub(crate) fn require_secrets<'s>(
    source: &'s SourceConfig,
    scheme: &str,
) -> Result<&'s [Secret], SchemeError> {
    if source.secrets.is_empty() {
        return Err(scheme_error(
            source,
            "secrets",
            format!("scheme {scheme:?} needs at least one secret"),
        ));
    }
    if let Some(i) = source.secrets.iter().position(|s| s.expose().is_empty()) {
        return Err(scheme_error(source, format!("secrets[{i}]"), "is empty"));
    }
    Ok(&source.secrets)
}

/// Fails closed on scheme keys this scheme does not read, so a typo'd or
/// misplaced option is never silently ignored.
pub(crate) fn reject_unused_keys(source: &SourceConfig, scheme: &str) -> Result<(), SchemeError> {
    if let Some(key) = source.params.keys().next() {
        return Err(scheme_error(
            source,
            key.clone(),
            format!("not used by scheme {scheme:?}"),
        ));
    }
    if source.public_url.is_some() {
        return Err(scheme_error(
            source,
            "public_url",
            format!("not used by scheme {scheme:?} (it does not sign the URL)"),
        ));
    }
    Ok(())
}

/// The effective tolerance in whole seconds.
pub(crate) fn tolerance_secs(source: &SourceConfig, default: Duration) -> i64 {
    let tolerance = source.tolerance.unwrap_or(default);
    i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX)
}

// === JSON extraction ===

/// The body as a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PayloadError("body must be a JSON object".into())),
        Err(e) => Err(PayloadError(format!("body is not valid JSON: {e}"))),
    }
}

/// A required non-empty string field.
pub(crate) fn required_str(obj: &Map<String, Value>, key: &str) -> Result<String, PayloadError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(PayloadError(format!("field `{key}` is empty"))),
        Some(_) => Err(PayloadError(format!("field `{key}` must be a string"))),
        None => Err(PayloadError(format!("field `{key}` is missing"))),
    }
}

/// Unix seconds from the payload or a header as RFC 3339, or a 400 naming
/// `what` when the time is outside the years 0000 to 9999 that RFC 3339
/// can write: an impossible time is the payload's fault, not something to
/// replace silently with the receive time (docs/ingest.md step 4).
pub(crate) fn unix_rfc3339(secs: i64, what: &str) -> Result<String, PayloadError> {
    hookgate_core::time::rfc3339_secs(secs).ok_or_else(|| out_of_range(secs, what))
}

/// [`unix_rfc3339`] for a JSON number; one that is not an integer is a 400.
pub(crate) fn json_unix_rfc3339(
    n: &serde_json::Number,
    what: &str,
) -> Result<String, PayloadError> {
    match n.as_i64() {
        Some(secs) => unix_rfc3339(secs, what),
        // An integer all the same, only further out than an i64 reaches.
        None if n.is_u64() => Err(out_of_range(n, what)),
        None => Err(PayloadError(format!("{what} must be an integer"))),
    }
}

/// The 400 of [`unix_rfc3339`], also for integers too large to parse.
pub(crate) fn out_of_range(secs: impl std::fmt::Display, what: &str) -> PayloadError {
    PayloadError(format!(
        "{what} is out of range: {secs} unix seconds is not a time RFC 3339 can express (years 0000 to 9999)"
    ))
}

/// Checks a provider event id: non-empty and at most
/// [`MAX_PROVIDER_EVENT_ID`] bytes, so a hostile id cannot bloat keys.
pub(crate) fn event_id(id: String, what: &str) -> Result<String, PayloadError> {
    if id.is_empty() {
        return Err(PayloadError(format!("{what} is empty")));
    }
    if id.len() > MAX_PROVIDER_EVENT_ID {
        return Err(PayloadError(format!(
            "{what} is longer than {MAX_PROVIDER_EVENT_ID} bytes"
        )));
    }
    Ok(id)
}

// === test support ===

/// Builders and the vector runner shared by the schemes' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::{RawRequest, Rejection, Verifier};
    use hookgate_config::SourceConfig;
    use hookgate_core::Secret;
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A source as the config crate would hand it over (built directly: the
    /// parser is someone else's and may not exist yet).
    pub(crate) fn source(scheme: &str, secrets: &[&str]) -> SourceConfig {
        SourceConfig {
            id: "src".into(),
            scheme: scheme.into(),
            scheme_line: 1,
            key_lines: BTreeMap::new(),
            secrets: secrets.iter().map(|s| Secret::new(s.as_bytes())).collect(),
            tolerance: None,
            dedup_window: None,
            rate_limit: None,
            types: BTreeMap::new(),
            workers: 32,
            public_url: None,
            params: BTreeMap::new(),
        }
    }

    /// One vector file (`tests/vectors/<scheme>/*.json`).
    #[derive(Deserialize)]
    struct VectorFile {
        secrets: Vec<String>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        #[serde(default)]
        secrets: Option<Vec<String>>,
        now: i64,
        #[serde(default)]
        tolerance_secs: Option<u64>,
        headers: BTreeMap<String, String>,
        body: String,
        expect: String,
    }

    /// Runs every case of a vector file through the public [`Verifier`].
    pub(crate) fn run_vectors(scheme: &str, json: &str) {
        let file: VectorFile = serde_json::from_str(json).expect("vector file parses");
        assert!(!file.cases.is_empty());
        for case in &file.cases {
            let secrets = case.secrets.as_ref().unwrap_or(&file.secrets);
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let mut src = source(scheme, &secrets);
            src.tolerance = case.tolerance_secs.map(Duration::from_secs);
            let verifier = Verifier::from_source(&src).expect("vector source builds");
            let mut headers = http::HeaderMap::new();
            for (k, v) in &case.headers {
                let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
                headers.append(name, http::HeaderValue::from_str(v).expect("header value"));
            }
            let req = RawRequest {
                method: "POST",
                path_and_query: "/ingest/src",
                headers: &headers,
                body: case.body.as_bytes(),
            };
            let got = match verifier.verify(&req, case.now) {
                Ok(()) => "valid",
                Err(r) => Rejection::as_str(r),
            };
            assert_eq!(got, case.expect, "vector {:?}", case.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_states() {
        let mut h = http::HeaderMap::new();
        assert_eq!(header(&h, "x-sig"), Header::Absent);
        h.insert("x-sig", http::HeaderValue::from_static(""));
        assert_eq!(header(&h, "x-sig"), Header::Absent);
        h.insert("x-sig", http::HeaderValue::from_static("a"));
        assert_eq!(header(&h, "X-Sig"), Header::Value("a"));
        h.append("x-sig", http::HeaderValue::from_static("a"));
        assert_eq!(header(&h, "x-sig"), Header::Invalid);
        h.insert("x-sig", http::HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(header(&h, "x-sig"), Header::Invalid);
    }

    #[test]
    fn unix_times_outside_rfc3339_are_a_400() {
        let ok = |secs| unix_rfc3339(secs, "field `t`");
        assert_eq!(ok(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(ok(-62_167_219_200).unwrap(), "0000-01-01T00:00:00Z");
        assert_eq!(ok(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        for secs in [-62_167_219_201, 253_402_300_800, i64::MIN, i64::MAX] {
            let err = ok(secs).unwrap_err().0;
            assert!(
                err.starts_with("field `t` is out of range: ") && err.contains(&secs.to_string()),
                "{err}"
            );
        }
        let num = |json: &str| serde_json::from_str::<serde_json::Number>(json).unwrap();
        assert_eq!(
            json_unix_rfc3339(&num("1700000000"), "x").unwrap(),
            "2023-11-14T22:13:20Z"
        );
        let err = json_unix_rfc3339(&num("18446744073709551615"), "x")
            .unwrap_err()
            .0;
        assert!(
            err.starts_with("x is out of range: 18446744073709551615 "),
            "{err}"
        );
        let err = json_unix_rfc3339(&num("1.5"), "x").unwrap_err().0;
        assert_eq!(err, "x must be an integer");
    }

    #[test]
    fn tolerance_boundaries() {
        assert!(within_tolerance(1000, 1000, 300));
        assert!(within_tolerance(1000, 701, 300));
        assert!(within_tolerance(1000, 700, 300));
        assert!(!within_tolerance(1000, 699, 300));
        assert!(within_tolerance(1000, 1300, 300));
        assert!(!within_tolerance(1000, 1301, 300));
        assert!(!within_tolerance(i64::MAX, i64::MIN, i64::MAX));
        assert!(!within_tolerance(i64::MIN, i64::MAX, i64::MAX));
    }

    #[test]
    fn unix_parsing() {
        assert_eq!(parse_unix("1614265330"), Some(1_614_265_330));
        assert_eq!(parse_unix("+5"), Some(5));
        assert_eq!(parse_unix("-5"), Some(-5));
        for bad in [
            "",
            " 5",
            "5 ",
            "5x",
            "1_000",
            "1.5",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(parse_unix(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2 ("Jefe"), split across parts.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

// === HMAC with a chosen hash (sumsub, twilio, hmac) ===

/// The hash functions the HMAC schemes support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// HMAC-SHA1 (Twilio; Sumsub `HMAC_SHA1_HEX`; configurable `sha1`).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// HMAC of the concatenation of `parts` with `alg`.
pub(crate) fn hmac_with(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => hmac_sha256(key, parts).to_vec(),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Lowercase hex SHA-256 of `data` (Twilio's `bodySHA256`).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(Sha256::digest(data))
}

// === one signature header, any-of comparison, event fields (adyen, github, shopify, checkout, onfido, persona) ===

/// The value of a scheme's single signature header: `Missing` when absent
/// or empty, `Malformed` when repeated or not visible ASCII (see [`header`]).
pub(crate) fn signature_header<'a>(
    headers: &'a http::HeaderMap,
    name: &str,
) -> Result<&'a str, crate::Rejection> {
    match header(headers, name) {
        Header::Absent => Err(crate::Rejection::Missing),
        Header::Invalid => Err(crate::Rejection::Malformed),
        Header::Value(v) => Ok(v),
    }
}

/// Whether `candidate` equals any of `expected`. Every comparison runs
/// (constant time each, no early exit), so timing does not say which key
/// matched.
pub(crate) fn matches_any<E: AsRef<[u8]>>(
    expected: impl IntoIterator<Item = E>,
    candidate: &[u8],
) -> bool {
    let mut matched = false;
    for e in expected {
        matched |= hookgate_core::secret::ct_eq(e.as_ref(), candidate);
    }
    matched
}

/// [`signature_header`] for a value that must be standard base64 (Square,
/// Twilio): not base64 at all is `malformed`; any other base64 simply
/// mismatches later.
pub(crate) fn base64_signature_header<'a>(
    headers: &'a http::HeaderMap,
    name: &str,
) -> Result<&'a str, crate::Rejection> {
    use base64::Engine as _;
    let value = signature_header(headers, name)?;
    match base64::engine::general_purpose::STANDARD.decode(value) {
        Ok(_) => Ok(value),
        Err(_) => Err(crate::Rejection::Malformed),
    }
}

/// Every header in `names`, each as [`signature_header`] reads it, but
/// with the precedence decided over all of them (docs/schemes.md): any one absent
/// or empty is `missing`, even when another is repeated or not visible
/// ASCII; only then is any invalid one `malformed`.
pub(crate) fn required_headers<'a>(
    headers: &'a http::HeaderMap,
    names: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Vec<&'a str>, crate::Rejection> {
    let states: Vec<Header<'a>> = names
        .into_iter()
        .map(|name| header(headers, name.as_ref()))
        .collect();
    if states.contains(&Header::Absent) {
        return Err(crate::Rejection::Missing);
    }
    states
        .into_iter()
        .map(|state| match state {
            Header::Value(v) => Ok(v),
            _ => Err(crate::Rejection::Malformed),
        })
        .collect()
}

/// Whether any of `secrets` signs (through `sign`) to any of `candidates`.
/// Every (secret, candidate) pair is compared in constant time, without
/// stopping at the first match, so timing does not say which one matched.
pub(crate) fn any_secret_signs<E: AsRef<[u8]>, C: AsRef<[u8]>>(
    secrets: &[Secret],
    sign: impl Fn(&[u8]) -> E,
    candidates: &[C],
) -> bool {
    let mut matched = false;
    for secret in secrets {
        let expected = sign(secret.expose());
        matched |= matches_any(candidates, expected.as_ref());
    }
    matched
}

/// `Ok` when a signature matched, else `mismatch`.
pub(crate) fn matched_or_mismatch(matched: bool) -> Result<(), crate::Rejection> {
    if matched {
        Ok(())
    } else {
        Err(crate::Rejection::Mismatch)
    }
}

/// `mismatch` unless `body` is UTF-8: the providers that sign "the body"
/// sign a string their SDK decoded, so other bytes cannot carry their
/// signature.
pub(crate) fn require_utf8_body(body: &[u8]) -> Result<(), crate::Rejection> {
    match std::str::from_utf8(body) {
        Ok(_) => Ok(()),
        Err(_) => Err(crate::Rejection::Mismatch),
    }
}

/// The header named by scheme key `key`, when set; a name `http` refuses
/// is an error naming `key`.
pub(crate) fn header_name_param(
    source: &SourceConfig,
    key: &str,
) -> Result<Option<http::HeaderName>, SchemeError> {
    let Some(raw) = source.params.get(key) else {
        return Ok(None);
    };
    http::HeaderName::from_bytes(raw.as_bytes())
        .map(Some)
        .map_err(|_| scheme_error(source, key, format!("{raw:?} is not a valid header name")))
}

/// The secrets of a scheme that reads no scheme keys and takes its secrets
/// as configured ([`reject_unused_keys`], then [`require_secrets`]).
pub(crate) fn plain_secrets(
    source: &SourceConfig,
    scheme: &str,
) -> Result<Vec<Secret>, SchemeError> {
    reject_unused_keys(source, scheme)?;
    Ok(require_secrets(source, scheme)?.to_vec())
}

/// An optional string field read for extraction: `Some` only for a
/// non-empty string.
pub(crate) fn optional_str(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A provider time kept verbatim when it is RFC 3339, else `None` (the
/// gateway then uses the receive time: a verified event is never refused
/// for its clock format).
pub(crate) fn rfc3339_or_none(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if hookgate_core::time::parse_rfc3339_ms(s).is_some() => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// A header read for extraction (after verification): its value when sent
/// exactly once, non-empty and visible ASCII.
pub(crate) fn header_str(headers: &http::HeaderMap, name: &str) -> Option<String> {
    match header(headers, name) {
        Header::Value(v) => Some(v.to_owned()),
        _ => None,
    }
}

/// Like [`reject_unused_keys`] for schemes that read some keys: fails
/// closed on any scheme key outside `allowed`, and on `public_url` unless
/// the scheme signs the URL.
pub(crate) fn reject_other_keys(
    source: &SourceConfig,
    scheme: &str,
    allowed: &[&str],
    uses_public_url: bool,
) -> Result<(), SchemeError> {
    if let Some(key) = source
        .params
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(scheme_error(
            source,
            key.clone(),
            format!("not used by scheme {scheme:?}"),
        ));
    }
    if !uses_public_url && source.public_url.is_some() {
        return Err(scheme_error(
            source,
            "public_url",
            format!("not used by scheme {scheme:?} (it does not sign the URL)"),
        ));
    }
    Ok(())
}

/// A vector runner for schemes that need more than `run_vectors` sets:
/// `public_url` (URL-signing schemes), scheme `params`, and a request
/// target per case.
#[cfg(test)]
pub(crate) mod testing_ext {
    use crate::{RawRequest, Rejection, Verifier};
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[derive(Deserialize)]
    struct VectorFile {
        secrets: Vec<String>,
        #[serde(default)]
        public_url: Option<String>,
        #[serde(default)]
        params: BTreeMap<String, String>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        #[serde(default)]
        secrets: Option<Vec<String>>,
        #[serde(default)]
        public_url: Option<String>,
        #[serde(default)]
        path_and_query: Option<String>,
        now: i64,
        #[serde(default)]
        tolerance_secs: Option<u64>,
        headers: Vec<(String, String)>,
        body: String,
        expect: String,
    }

    /// Fills in what a scheme needs beyond a secret so a registry test can
    /// build it: `public_url` for URL-signing schemes, the required params
    /// of the configurable ones, and a `user:password` secret for basic-auth.
    pub(crate) fn complete(src: &mut hookgate_config::SourceConfig) {
        match src.scheme.as_str() {
            "square" | "twilio" => {
                src.public_url = Some("https://gateway.example.com/ingest/src".into());
            }
            "hmac" | "header-token" | "basic-auth" => {
                if src.scheme != "basic-auth" {
                    src.params.insert("header".into(), "x-signature".into());
                } else {
                    src.secrets = vec![hookgate_core::Secret::new(&b"user:password"[..])];
                }
                src.params.insert("event_id".into(), "/id".into());
                src.params.insert("event_type".into(), "/type".into());
            }
            _ => {}
        }
    }

    /// Runs every case of a vector file through the public [`Verifier`].
    /// Headers are a list of pairs, so a case can repeat one.
    pub(crate) fn run(scheme: &str, json: &str) {
        let file: VectorFile = serde_json::from_str(json).expect("vector file parses");
        assert!(!file.cases.is_empty());
        for case in &file.cases {
            let secrets = case.secrets.as_ref().unwrap_or(&file.secrets);
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let mut src = super::testing::source(scheme, &secrets);
            src.tolerance = case.tolerance_secs.map(Duration::from_secs);
            src.public_url = case.public_url.clone().or_else(|| file.public_url.clone());
            src.params = file.params.clone();
            let verifier = Verifier::from_source(&src).expect("vector source builds");
            let mut headers = http::HeaderMap::new();
            for (k, v) in &case.headers {
                let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
                headers.append(name, http::HeaderValue::from_str(v).expect("header value"));
            }
            let req = RawRequest {
                method: "POST",
                path_and_query: case.path_and_query.as_deref().unwrap_or("/ingest/src"),
                headers: &headers,
                body: case.body.as_bytes(),
            };
            let got = match verifier.verify(&req, case.now) {
                Ok(()) => "valid",
                Err(r) => Rejection::as_str(r),
            };
            assert_eq!(got, case.expect, "vector {:?}", case.name);
        }
    }
}
