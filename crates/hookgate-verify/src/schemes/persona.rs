//! `scheme = "persona"`: Persona webhooks, byte-exact with Persona's
//! documented check (docs.withpersona.com "Webhook Best Practices" →
//! "Checking signatures"; Persona publishes no server-side SDK).
//!
//! The header `Persona-Signature` is `t=<unix>,v1=<hex>`: lowercase hex
//! HMAC-SHA256, keyed with the webhook secret exactly as configured
//! (`wbhsec_...`, not decoded), over `"{t}.{raw body}"`, with `t` exactly as
//! sent (the documented samples interpolate the header's text). While a
//! secret is rotated the header holds two such sets separated by a space,
//! `t=..,v1=.. t=..,v1=..`, one per secret; any set matching any configured
//! secret accepts. The documented samples compare strings, so upper-case
//! hex mismatches.
//!
//! The samples check no timestamp; Hookgate enforces `tolerance` (default
//! 300 s, docs/schemes.md gateway policy) against replays, both directions, with
//! the boundary of `common::within_tolerance`, on the `t` of a set whose
//! signature matched (`stale` only then).
//!
//! Cost: the HMAC is computed once per distinct `t` per secret and
//! compared with every `v1` of the sets carrying that `t`; more than
//! `MAX_SIGNATURES` `v1` values (so sets) in one header is
//! `malformed` (Persona sends at most 2, during a rotation), so a header of
//! thousands of sets cannot tie a worker up.
//!
//! Stricter choices (docs/schemes.md), all `malformed`: a set that is not
//! `key=value` items separated by `,` with exactly one `=` each; a set
//! without `t` or without `v1`; `t` given twice in a set; `t` that is not
//! plain ASCII digits (`+5` or ` 5` would sign differently from the integer
//! they denote); an empty set (two spaces, or a leading/trailing space).
//! Unknown keys (a future `v2`) are ignored. The body must be UTF-8 (the
//! samples sign a string); otherwise `mismatch`.
//!
//! Extraction (JSON:API event `{"data":{"type":"event","id":"evt_...",
//! "attributes":{"name","created-at","payload":{"data":{...}}}}}`):
//! `provider_event_id` = `data.id`, `provider_type` = `data.attributes.name`
//! (`inquiry.completed`), `time` = `data.attributes.created-at` when RFC
//! 3339, `subject` = `data.attributes.payload.data.id` (`inq_...`).

use super::common;
use super::fields::{At, EventFields, Subject, Time};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "persona";
/// The signature header.
pub const HEADER: &str = "persona-signature";
/// Gateway policy (docs/schemes.md): Persona's samples check no timestamp.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Persona's retry horizon is not documented: the unknown default of 7 days
/// (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    tolerance,
    "A Persona source, checked at start: its webhook secrets."
);

// === verification ===

/// One `t=..,v1=..` set of the header.
#[derive(Debug, PartialEq, Eq)]
struct SignatureSet<'h> {
    /// `t` as sent (plain digits), signed verbatim.
    t: &'h str,
    /// `t` as a number, for the tolerance.
    timestamp: i64,
    /// The `v1` values, unchecked (anything not our lowercase hex
    /// mismatches).
    v1: Vec<&'h str>,
}

/// Most `v1` values one header may carry (so sets; Persona sends one per
/// active secret, two during a rotation): each distinct `t` costs an HMAC
/// of the body, so a hostile header must not list thousands.
const MAX_SIGNATURES: usize = 8;

/// Parses the header value; every failure is `malformed`, including more
/// than [`MAX_SIGNATURES`] `v1` values in all.
fn parse_header(value: &str) -> Result<Vec<SignatureSet<'_>>, Rejection> {
    let mut sets = Vec::new();
    let mut signatures = 0;
    for set in value.split(' ') {
        let set = parse_set(set)?;
        signatures += set.v1.len();
        if signatures > MAX_SIGNATURES {
            return Err(Rejection::Malformed);
        }
        sets.push(set);
    }
    Ok(sets)
}

fn parse_set(set: &str) -> Result<SignatureSet<'_>, Rejection> {
    let mut t = None;
    let mut v1 = Vec::new();
    for item in set.split(',') {
        let mut kv = item.split('=');
        let (Some(key), Some(val), None) = (kv.next(), kv.next(), kv.next()) else {
            return Err(Rejection::Malformed);
        };
        match key {
            "t" if t.is_none() => t = Some(val),
            "t" => return Err(Rejection::Malformed),
            "v1" => v1.push(val),
            _ => {}
        }
    }
    let t = t.ok_or(Rejection::Malformed)?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::Malformed);
    }
    let timestamp = common::parse_unix(t).ok_or(Rejection::Malformed)?;
    if v1.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(SignatureSet { t, timestamp, v1 })
}

/// The `v1` signature of `body` at `t` (the header's text) under `secret`,
/// lowercase hex. Public so test kits and benches sign exactly as the
/// verifier checks.
pub fn sign(secret: &[u8], t: &str, body: &[u8]) -> String {
    hex::encode(common::hmac_sha256(secret, &[t.as_bytes(), b".", body]))
}

/// A complete `Persona-Signature` value: one `t=..,v1=..` set per secret,
/// space-separated, as Persona sends it while a secret is rotated.
pub fn signature_header(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    secrets
        .iter()
        .map(|secret| format!("t={t},v1={}", sign(secret, &t, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks the header, the signatures, then the timestamp of the matching
/// set (docs/schemes.md precedence: missing > malformed > mismatch > stale).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, HEADER)?;
    let sets = parse_header(value)?;
    common::require_utf8_body(req.body)?;
    // One HMAC per distinct `t` per secret, compared with the `v1` of every
    // set carrying that `t`; every pair is compared without stopping early,
    // so timing says nothing about which one matched.
    let mut matched = false;
    let mut fresh = false;
    for (i, set) in sets.iter().enumerate() {
        if sets[..i].iter().any(|earlier| earlier.t == set.t) {
            continue;
        }
        let candidates: Vec<&str> = sets[i..]
            .iter()
            .filter(|same| same.t == set.t)
            .flat_map(|same| same.v1.iter().copied())
            .collect();
        let t_matched =
            common::any_secret_signs(&params.secrets, |s| sign(s, set.t, req.body), &candidates);
        matched |= t_matched;
        fresh |=
            t_matched && common::within_tolerance(now_unix, set.timestamp, params.tolerance_secs);
    }
    match (matched, fresh) {
        (false, _) => Err(Rejection::Mismatch),
        (true, false) => Err(Rejection::Stale),
        (true, true) => Ok(()),
    }
}

// === extraction ===

/// Where a Persona event's fields stand in its JSON:API envelope.
const EVENT: EventFields = EventFields {
    id: At::Json("/data/id"),
    kind: At::Json("/data/attributes/name"),
    time: Some((At::Json("/data/attributes/created-at"), Time::Rfc3339OrNone)),
    subject: Some((
        At::Json("/data/attributes/payload/data/id"),
        Subject::NonEmpty,
    )),
};

/// One event from the JSON:API envelope (module docs).
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
            include_str!("../../tests/vectors/persona/persona_docs.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        // Computed independently with Python's `hmac`.
        assert_eq!(
            sign(b"wbhsec_test_secret", "1700000000", br#"{"data":{}}"#),
            "2cbbf544ab94373ff83d33dfe341baebcb9de0553093a51a7abd7167ad6eb3ca"
        );
    }

    #[test]
    fn header_parsing() {
        let sets = parse_header("t=5,v1=aa,v2=zz t=6,v1=bb,v1=cc").unwrap();
        assert_eq!(
            sets,
            vec![
                SignatureSet {
                    t: "5",
                    timestamp: 5,
                    v1: vec!["aa"]
                },
                SignatureSet {
                    t: "6",
                    timestamp: 6,
                    v1: vec!["bb", "cc"]
                },
            ]
        );
        for bad in [
            "t=5",                          // no v1
            "v1=aa",                        // no t
            "t=5,v1=aa v1=bb",              // second set without t
            "t=5,t=5,v1=aa",                // t twice
            "t=+5,v1=aa",                   // signed t
            "t=,v1=aa",                     // empty t
            "t=5x,v1=aa",                   // not digits
            "t=5,v1=aa  t=5,v1=bb",         // empty set
            " t=5,v1=aa",                   // leading space
            "t=5,v1=aa,",                   // empty item
            "t=5,v1=a=b",                   // two '='
            "t=5;v1=aa",                    // wrong separator
            "t=99999999999999999999,v1=aa", // overflows i64
        ] {
            assert_eq!(parse_header(bad), Err(Rejection::Malformed), "{bad:?}");
        }
        // At most MAX_SIGNATURES v1 values, whether in sets or in one set.
        let sets = |n: usize| vec!["t=5,v1=aa"; n].join(" ");
        assert_eq!(parse_header(&sets(8)).unwrap().len(), 8);
        for bad in [
            sets(9),
            sets(5000),
            format!("t=5{}", ",v1=aa".repeat(9)),
            format!("t=5,v1=aa,v1=bb {}", sets(7)),
        ] {
            assert_eq!(parse_header(&bad), Err(Rejection::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["s"]);
        src.params.insert("timestamp_header".into(), "x".into());
        assert_eq!(
            Params::from_source(&src).unwrap_err().key,
            "timestamp_header"
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
        let body = br#"{"data":{"type":"event","id":"evt_XGuYWp1WfQ3p5ydAmNhJ5cqn","attributes":{"name":"inquiry.completed","payload":{"data":{"type":"inquiry","id":"inq_2CVZ4HyVg7qaboXz6pPYtBXR"}},"created-at":"2023-01-02T15:04:05.000Z"}}}"#;
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/persona",
            headers: &headers,
            body,
        };
        let e = extract(&req).unwrap();
        assert_eq!(e.provider_event_id, "evt_XGuYWp1WfQ3p5ydAmNhJ5cqn");
        assert_eq!(e.provider_type, "inquiry.completed");
        assert_eq!(e.time.as_deref(), Some("2023-01-02T15:04:05.000Z"));
        assert_eq!(e.subject.as_deref(), Some("inq_2CVZ4HyVg7qaboXz6pPYtBXR"));
        for (bad, want) in [
            (&br#"{"x":1}"#[..], "field `data` must be an object"),
            (
                br#"{"data":{"attributes":{"name":"a"}}}"#,
                "data: field `id` is missing",
            ),
            (
                br#"{"data":{"id":"evt_1"}}"#,
                "field `data.attributes` must be an object",
            ),
            (
                br#"{"data":{"id":"evt_1","attributes":{}}}"#,
                "data.attributes: field `name` is missing",
            ),
        ] {
            let req = RawRequest { body: bad, ..req };
            assert_eq!(extract(&req).unwrap_err().0, want);
        }
    }
}
