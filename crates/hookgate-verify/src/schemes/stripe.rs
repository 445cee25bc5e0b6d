//! `scheme = "stripe"`: the `Stripe-Signature` header, byte-exact with
//! Stripe's SDKs (stripe-python `WebhookSignature`, stripe-node
//! `Webhooks`, stripe-go `webhook`).
//!
//! The header is `t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`. The signed
//! payload is `"{t}.{raw body}"`, HMAC-SHA256 keyed with the signing secret
//! exactly as configured (`whsec_...` included, not decoded), as lowercase
//! hex. Stripe sends one `v1` per active secret while a secret is rolled, and
//! a source may hold several secrets: any (entry, secret) pair matching
//! accepts.
//!
//! Where the SDKs disagree the stricter verdict wins (docs/schemes.md):
//! - upper-case hex: stripe-go hex-decodes and accepts it, python/node
//!   compare strings and reject it. Rejected (it simply mismatches).
//! - every item must be `key=value` with exactly one `=` (stripe-go; python
//!   and node skip junk items). Otherwise `malformed`.
//! - `t` must be an optionally signed integer (stripe-go `ParseInt`; node's
//!   `parseInt` would take `12abc`). Several `t` items that disagree are
//!   `malformed` (python takes the first, node and go the last).
//! - the body must be UTF-8: stripe-python decodes it before signing (and
//!   raises otherwise), stripe-node decodes it lossily. Otherwise `mismatch`.
//! - a timestamp further in the future than the tolerance is `stale` (no
//!   Stripe SDK checks it; docs/schemes.md does). Exactly `tolerance` old or ahead
//!   is accepted, as stripe-node's `timestampAge > tolerance`; see
//!   `common::within_tolerance`.
//!
//! The tolerance is always enforced (the SDKs' "no tolerance" mode exists
//! for tests only). `v0` and unknown items are ignored; a header with no
//! `v1` at all is `malformed` (the SDKs' "no signatures found with expected
//! scheme"). The expected signature is computed once per secret and
//! compared with every `v1`.

use super::fields::{At, EventFields, Subject, Time};
use super::{common, timestamped};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "stripe";
/// The signature header.
pub const HEADER: &str = "stripe-signature";
/// The SDKs' default tolerance (`DEFAULT_TOLERANCE = 300`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Stripe retries for up to 3 days; the window outlasts that (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    tolerance,
    "A Stripe source, checked at start: its signing secrets."
);

// === verification ===

/// The parsed `Stripe-Signature` header.
#[derive(Debug, PartialEq, Eq)]
struct SignatureHeader<'h> {
    timestamp: i64,
    /// The `v1` values, unchecked (anything that is not our lowercase hex
    /// mismatches).
    v1: Vec<&'h str>,
}

/// Parses the header value; every failure is `malformed`. Any number of
/// `v1` items, as the SDKs: each costs a comparison, not an HMAC.
fn parse_header(value: &str) -> Result<SignatureHeader<'_>, Rejection> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let mut kv = item.split('=');
        let (Some(key), Some(val), None) = (kv.next(), kv.next(), kv.next()) else {
            return Err(Rejection::Malformed);
        };
        match key {
            "t" => {
                let t = common::parse_unix(val).ok_or(Rejection::Malformed)?;
                if timestamp.is_some_and(|prev| prev != t) {
                    return Err(Rejection::Malformed);
                }
                timestamp = Some(t);
            }
            "v1" => v1.push(val),
            // v0 (legacy, test mode) and future schemes: ignored.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Rejection::Malformed)?;
    if v1.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// The `v1` signature of `body` at `timestamp` under `secret`, lowercase
/// hex. Public so test kits and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // The SDKs format the parsed integer, so `t=+5` signs as "5".
    let t = timestamp.to_string();
    hex::encode(common::hmac_sha256(secret, &[t.as_bytes(), b".", body]))
}

/// A complete `Stripe-Signature` value: `t=<timestamp>` then one `v1` per
/// secret, as Stripe sends it while a secret is rolled.
pub fn signature_header(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let mut out = format!("t={timestamp}");
    for secret in secrets {
        out.push_str(",v1=");
        out.push_str(&sign(secret, timestamp, body));
    }
    out
}

/// Checks the signature, then the timestamp (docs/schemes.md precedence: missing >
/// malformed > mismatch > stale).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, HEADER)?;
    let parsed = parse_header(value)?;
    timestamped::check(
        req.body,
        &params.secrets,
        |secret| sign(secret, parsed.timestamp, req.body),
        &parsed.v1,
        parsed.timestamp,
        now_unix,
        params.tolerance_secs,
    )
}

// === extraction ===

/// Where a Stripe event's fields stand: `created` is unix seconds in snapshot
/// events and an RFC 3339 string in thin (v2) event notifications.
const EVENT: EventFields = EventFields {
    id: At::Json("/id"),
    kind: At::Json("/type"),
    time: Some((At::Json("/created"), Time::UnixOrRfc3339)),
    subject: Some((At::Json("/data/object/id"), Subject::AnyString)),
};

/// One Stripe event: `id`, `type`, `created` and `data.object.id`. A
/// `created` that is no time RFC 3339 can write (year 10000) is a 400, as
/// one that is no time at all: the receive time never stands in for it.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    EVENT.extract(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};
    use std::borrow::Cow;

    /// Stripe's SDK test cases, with fixed clocks; see the file's `source`.
    #[test]
    fn sdk_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/stripe/sdk_webhook_tests.json"),
        );
    }

    /// The payload of stripe-python `tests/test_webhook.py`
    /// (`DUMMY_WEBHOOK_PAYLOAD`), signed with its `DUMMY_WEBHOOK_SECRET`;
    /// expected values computed independently with Python's `hmac`.
    #[test]
    fn sign_is_pinned() {
        let body = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";
        assert_eq!(
            sign(b"whsec_test_secret", 1_700_000_000, body.as_bytes()),
            "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd"
        );
        assert_eq!(
            sign(b"whsec_test_secret_rolled_key", 12345, body.as_bytes()),
            "59e6e8306462e09454903d9b6c4cb12d95aecf6fe4deba61995a4447f6361a45"
        );
        // `t=+12345` signs as the SDKs format the parsed integer.
        assert_eq!(
            sign(b"whsec_test_secret", 12345, body.as_bytes()),
            "07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"
        );
    }

    #[test]
    fn header_parsing() {
        let ok = parse_header("t=5,v1=aa,v0=bb,v1=cc,x=y").unwrap();
        assert_eq!(
            ok,
            SignatureHeader {
                timestamp: 5,
                v1: vec!["aa", "cc"]
            }
        );
        assert_eq!(parse_header("t=5,t=5,v1=aa").unwrap().timestamp, 5);
        for bad in [
            "t=5",           // no v1
            "t=5,v0=aa",     // v0 only
            "v1=aa",         // no t
            "t=,v1=aa",      // empty t
            "t=5x,v1=aa",    // not an integer
            "t=1.5,v1=aa",   // not an integer
            "t=5,t=6,v1=aa", // disagreeing t
            "t=5,v1=a=b",    // two '='
            "t=5,v1",        // no '='
            "t=5,v1=aa,",    // empty item
            "v1,t=1",        // stripe-go's bad header format test
            "bad_header",    // stripe-python's invalid header test
            "t=5, v1=aa",    // " v1" is not "v1": no v1
        ] {
            assert_eq!(parse_header(bad), Err(Rejection::Malformed), "{bad:?}");
        }
        let many = format!("t=5{}", ",v1=aa".repeat(5000));
        assert_eq!(parse_header(&many).unwrap().v1.len(), 5000);
        // Other items are ignored, however many.
        let v0s = format!("t=5,v1=aa{}", ",v0=bb".repeat(5000));
        assert_eq!(parse_header(&v0s).unwrap().v1, vec!["aa"]);
    }

    #[test]
    fn build_fails_closed() {
        let err = Params::from_source(&source(NAME, &[])).unwrap_err();
        assert_eq!(err.key, "secrets");
        let err = Params::from_source(&source(NAME, &["whsec_a", ""])).unwrap_err();
        assert_eq!(err.key, "secrets[1]");
        let mut src = source(NAME, &["whsec_a"]);
        src.params.insert("header".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
        let mut src = source(NAME, &["whsec_a"]);
        src.public_url = Some("https://example.com/".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let params = Params::from_source(&source(NAME, &["whsec_topsecret"])).unwrap();
        let debug = format!("{params:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn extraction() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1"}}}"#;
        let headers = http::HeaderMap::new();
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/stripe",
            headers: &headers,
            body,
        };
        let event = extract(&req).unwrap();
        assert_eq!(event.provider_event_id, "evt_1");
        assert_eq!(event.provider_type, "payment_intent.succeeded");
        assert_eq!(event.time.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(event.subject.as_deref(), Some("pi_1"));
        assert!(matches!(event.data_json, Cow::Borrowed(b) if b == body));
    }

    #[test]
    fn created_out_of_rfc3339_range_is_a_400() {
        let headers = http::HeaderMap::new();
        let extract_created = |created: &str| {
            let body = format!(r#"{{"id":"evt_1","type":"x","created":{created}}}"#);
            let req = RawRequest {
                method: "POST",
                path_and_query: "/ingest/stripe",
                headers: &headers,
                body: body.as_bytes(),
            };
            extract(&req).map(|e| e.time)
        };
        assert_eq!(
            extract_created("253402300799").unwrap().as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        for created in [
            "253402300800",
            "-62167219201",
            "-99999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
        ] {
            let err = extract_created(created).unwrap_err().0;
            assert!(
                err.starts_with("field `created` is out of range: ") && err.contains(created),
                "{created}: {err}"
            );
        }
    }
}
