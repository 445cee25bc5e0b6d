//! `scheme = "paddle"`: Paddle Billing's `Paddle-Signature` header,
//! byte-exact with PaddleHQ/paddle-node-sdk
//! (`src/notifications/helpers/webhooks-validator.ts`) and
//! PaddleHQ/paddle-python-sdk (`paddle_billing/Notifications/PaddleSignature.py`,
//! `Verifier.py`). Paddle Classic (public-key signatures in the body) is a
//! different product and is not supported.
//!
//! The header is `ts=<unix>;h1=<hex>`; `h1` is the lowercase hex
//! HMAC-SHA256, keyed with the notification destination's secret key
//! (`pdl_ntfset_...`, used as given), of `"{ts}:{raw body}"`, where `ts`
//! is formatted from the parsed integer (both SDKs do). Tolerance 5 s (the
//! SDKs' `MAX_VALID_TIME_DIFFERENCE` / `maximum_variance`).
//!
//! Where the SDKs disagree the stricter verdict wins (docs/schemes.md):
//! - a part with more than one `=` or with a key other than `ts`/`h1`
//!   makes the Python SDK raise (`Unrecognized Paddle-Signature key`); the
//!   Node SDK ignores it. `malformed`. Parts without `=` are skipped by both.
//! - several `h1`: the Python SDK accepts if any matches, the Node SDK
//!   keeps only the last non-empty one. Only that last one is compared.
//! - `ts` must be an optionally signed integer (Node's `parseInt` takes
//!   `"12abc"`, Python's `int` takes `" 12"`); a missing or empty `ts` is
//!   `malformed` (the Node SDK throws; the Python one would use 0 and call
//!   it stale). No `h1` is `malformed` (both).
//! - the body must be UTF-8 (both SDKs sign a string). Otherwise `mismatch`.
//! - neither SDK checks timestamps in the future; docs/schemes.md does (stale when
//!   more than the tolerance ahead). Exactly 5 s old is accepted, as both
//!   SDKs' `now > ts + 5` (see `common::within_tolerance`).
//!
//! Event: id = `event_id`, type = `event_type`, time = `occurred_at`,
//! subject = `data.id`.

use super::fields::{At, EventFields, Subject, Time};
use super::{common, timestamped};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "paddle";
/// The signature header.
pub const HEADER: &str = "paddle-signature";
/// The SDKs' tolerance (docs/schemes.md: Paddle 5 s).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5);
/// Paddle retries for up to 3 days (live); the window outlasts that.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    tolerance,
    "A Paddle source, checked at start: its notification destination secret keys."
);

// === verification ===

/// The parsed header: the timestamp and the `h1` that is compared.
#[derive(Debug, PartialEq, Eq)]
struct SignatureHeader<'h> {
    timestamp: i64,
    h1: &'h str,
}

fn parse_header(value: &str) -> Result<SignatureHeader<'_>, Rejection> {
    let mut timestamp = None;
    let mut h1 = None;
    for part in value.split(';') {
        let mut kv = part.split('=');
        let (Some(key), Some(val)) = (kv.next(), kv.next()) else {
            continue; // no '=': both SDKs skip the part
        };
        if kv.next().is_some() {
            return Err(Rejection::Malformed);
        }
        match key {
            "ts" => timestamp = Some(common::parse_unix(val).ok_or(Rejection::Malformed)?),
            "h1" if val.is_empty() => {}
            "h1" => h1 = Some(val),
            _ => return Err(Rejection::Malformed),
        }
    }
    match (timestamp, h1) {
        (Some(timestamp), Some(h1)) => Ok(SignatureHeader { timestamp, h1 }),
        _ => Err(Rejection::Malformed),
    }
}

/// The `h1` of `body` at `timestamp` under `secret`, lowercase hex.
/// Public so test kits and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    hex::encode(common::hmac_sha256(secret, &[ts.as_bytes(), b":", body]))
}

/// A complete `Paddle-Signature` value.
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("ts={timestamp};h1={}", sign(secret, timestamp, body))
}

/// Checks the signature, then the timestamp (docs/schemes.md precedence).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, HEADER)?;
    let parsed = parse_header(value)?;
    timestamped::check(
        req.body,
        &params.secrets,
        |secret| sign(secret, parsed.timestamp, req.body),
        &[parsed.h1],
        parsed.timestamp,
        now_unix,
        params.tolerance_secs,
    )
}

// === extraction ===

/// Where a Paddle event's fields stand.
const EVENT: EventFields = EventFields {
    id: At::Json("/event_id"),
    kind: At::Json("/event_type"),
    time: Some((At::Json("/occurred_at"), Time::Rfc3339)),
    subject: Some((At::Json("/data/id"), Subject::AnyString)),
};

/// One Paddle event: `event_id`, `event_type`, `occurred_at`, `data.id`.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    EVENT.extract(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    /// paddle-node-sdk's validator tests at their fake clock; see `source`.
    #[test]
    fn sdk_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/paddle/paddle_node_sdk.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        // paddle-node-sdk webhooks-validator.node.test.ts "Valid signature".
        assert_eq!(
            sign(b"VALID_SECRET", 1_698_796_800, br#"{"data": ["1", "2"]}"#),
            "a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9"
        );
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            parse_header("ts=5;h1=aa;h1=bb;;junk").unwrap(),
            SignatureHeader {
                timestamp: 5,
                h1: "bb"
            }
        );
        assert_eq!(parse_header("ts=5;h1=aa;h1=").unwrap().h1, "aa");
        assert_eq!(parse_header("h1=aa;ts=+5").unwrap().timestamp, 5);
        for bad in [
            "",
            "ts=5",
            "h1=aa",
            "ts=;h1=aa",
            "ts=5x;h1=aa",
            "ts=5;h1=a=b",
            "ts=5;h1=aa;h2=bb",
            "ts=5;H1=aa",
            "ts=5;h1=",
        ] {
            assert_eq!(parse_header(bad), Err(Rejection::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        let mut src = source(NAME, &["k"]);
        src.params.insert("header".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
        let params = Params::from_source(&source(NAME, &["pdl_ntfset_topsecret"])).unwrap();
        assert!(!format!("{params:?}").contains("topsecret"));
    }

    #[test]
    fn extraction() {
        let body = br#"{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.completed","occurred_at":"2023-08-21T11:57:47.390028Z","notification_id":"ntf_01h8bzam1z32agrxjwhjgqk8w6","data":{"id":"txn_01h8bz6ah2w2g9s7ve0e8pzqnq"}}"#;
        let headers = http::HeaderMap::new();
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/paddle",
            headers: &headers,
            body,
        };
        let ev = extract(&req).unwrap();
        assert_eq!(ev.provider_event_id, "evt_01h8bzakzx3hm2fmen703n5q45");
        assert_eq!(ev.provider_type, "transaction.completed");
        assert_eq!(ev.time.as_deref(), Some("2023-08-21T11:57:47.390028Z"));
        assert_eq!(
            ev.subject.as_deref(),
            Some("txn_01h8bz6ah2w2g9s7ve0e8pzqnq")
        );
        let bad = br#"{"event_id":"e","event_type":"t","occurred_at":"yesterday"}"#;
        assert!(extract(&RawRequest { body: bad, ..req }).is_err());
        let bad = br#"{"event_type":"t"}"#;
        assert!(extract(&RawRequest { body: bad, ..req }).is_err());
    }
}
