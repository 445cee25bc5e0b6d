//! What every scheme needs and must get right the same way, split by what
//! it holds:
//! - here, the verification helpers: reading a header (absent, duplicated,
//!   non-ASCII), comparing signatures against every key, HMAC, and
//!   timestamps with their tolerance;
//! - [`config`]: building a scheme from its source's config;
//! - [`json`]: reading the JSON body once verified (a payload's 400s);
//! - `testing`: the builders and vector runner of the unit tests.
//!
//! Keeping these in one place means the precedence rules of docs/schemes.md (an
//! empty header is *missing*, a duplicated one *malformed*) and the tolerance
//! boundary are decided once, not re-derived per provider. The parts are
//! re-exported here, so a scheme names every helper as `common::…`.

mod config;
mod json;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use config::{
    header_name_param, plain_secrets, reject_other_keys, reject_unused_keys, require_secrets,
    scheme_error, tolerance_secs,
};
pub(crate) use json::{
    event_id, json_object, json_unix_rfc3339, optional_str, out_of_range, required_str,
    rfc3339_or_none, unix_rfc3339,
};

/// The vector runner under its older name, for schemes whose vectors need
/// `public_url`, scheme `params` or repeated headers (one runner reads both
/// shapes).
#[cfg(test)]
pub(crate) mod testing_ext {
    pub(crate) use super::testing::{complete, run_vectors as run};
}

use hmac::{Hmac, Mac};
use hookgate_core::Secret;
use sha2::Sha256;

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

/// A header read for extraction (after verification): its value when sent
/// exactly once, non-empty and visible ASCII.
pub(crate) fn header_str(headers: &http::HeaderMap, name: &str) -> Option<String> {
    match header(headers, name) {
        Header::Value(v) => Some(v.to_owned()),
        _ => None,
    }
}

// === signature headers and comparison ===

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
