//! `scheme = "slack"`: Slack's request signing (signature version `v0`,
//! the current one), byte-exact with slackapi/python-slack-sdk
//! `slack_sdk/signature` (`SignatureVerifier`) and slackapi/node-slack-sdk
//! / bolt-js `verifyRequestSignature`.
//!
//! `X-Slack-Signature: v0=<hex>` where `<hex>` is the lowercase hex
//! HMAC-SHA256, keyed with the app's signing secret, of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`. The timestamp is signed as
//! the exact header string (both SDKs interpolate the header, not a parsed
//! number). Tolerance 300 s, both directions (python-slack-sdk rejects
//! `abs(now - ts) > 300`).
//!
//! Where the SDKs disagree the stricter verdict wins (docs/schemes.md):
//! - the timestamp must be an optionally signed integer: Python's `int()`
//!   also takes `" 5"` and `"1_000"`, Node's `Number()` takes `"0x10"` and
//!   `""`; only what both accept the same way is kept. Otherwise
//!   `malformed`.
//! - the signature must be `v0=` then the value; another version is
//!   `malformed` (bolt-js throws on it). Only the full string is compared
//!   (python-slack-sdk), so `v0=<hex>=junk` mismatches although bolt-js'
//!   `split('=')` would drop the junk. Upper-case hex mismatches (both
//!   compare strings).
//! - a body that is not UTF-8 mismatches (python-slack-sdk decodes it
//!   first and raises).
//! - exactly 300 s old or ahead is accepted (python-slack-sdk's
//!   `abs(now - ts) > 300`, bolt-js' `ts < now - 300`); see
//!   `common::within_tolerance`.
//!
//! Payloads (extraction), in the forms Slack sends to one Request URL:
//! - Events API JSON `event_callback`: id = `event_id`, type =
//!   `event.type`, time = `event_time` (unix seconds; one RFC 3339 cannot
//!   write, year 10000, is a 400).
//! - Events API JSON `url_verification`: id = `url_verification:{challenge}`,
//!   type = `url_verification`. Slack expects the `challenge` echoed back in
//!   the response; Hookgate answers with its fixed JSON acknowledgement, so
//!   the URL handshake must be done once by another endpoint (documented in
//!   `docs/slack.md`).
//! - Events API JSON `app_rate_limited`: id =
//!   `app_rate_limited:{team_id}:{minute_rate_limited}`.
//! - any other JSON `type` with an `event_id`: id = `event_id`, type =
//!   `type`.
//! - form-encoded interactivity (`payload=<JSON>`): type = the payload's
//!   `type` (`block_actions`, `view_submission`, `shortcut`, ...), id = its
//!   `trigger_id`, else `{type}:{SHA-256 of the raw body}`; the event data is
//!   the decoded payload object.
//! - form-encoded slash commands (`command=...`): type = `slash_command`,
//!   id = `trigger_id`, else `slash_command:{SHA-256 of the raw body}`; the
//!   data is the form as a JSON object.

use super::{common, form, timestamped};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection, Scheme, SchemeError};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "slack";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The SDKs' tolerance (`60 * 5`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Slack retries an event 3 times within about an hour; 7 days outlasts it.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The signature version this scheme checks.
pub const VERSION: &str = "v0";

/// A Slack source, checked at start.
#[derive(Debug)]
pub struct Params {
    /// Signing secrets; several during a rotation.
    secrets: Vec<Secret>,
    tolerance_secs: i64,
}

impl Params {
    /// Builds from the source's config: at least one secret that is not
    /// blank (python-slack-sdk refuses a blank signing secret), no scheme keys.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_unused_keys(source, NAME)?;
        let secrets = common::require_secrets(source, NAME)?;
        if let Some(i) = secrets
            .iter()
            .position(|s| s.expose().iter().all(u8::is_ascii_whitespace))
        {
            return Err(common::scheme_error(
                source,
                format!("secrets[{i}]"),
                "is blank",
            ));
        }
        Ok(Params {
            secrets: secrets.to_vec(),
            tolerance_secs: common::tolerance_secs(source, DEFAULT_TOLERANCE),
        })
    }
}

impl Scheme for Params {
    fn verify(&self, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
        verify(self, req, now_unix)
    }

    fn extract<'a>(&self, req: &RawRequest<'a>) -> Result<Vec<ProviderEvent<'a>>, PayloadError> {
        extract(req).map(|event| vec![event])
    }

    /// Slack's Events API `url_verification`: answer the `challenge` as
    /// plain text (Slack's documented reply); it is not an event.
    fn handshake(&self, req: &RawRequest<'_>) -> Option<(&'static str, Vec<u8>)> {
        let v: Value = serde_json::from_slice(req.body).ok()?;
        if v.get("type")?.as_str()? != "url_verification" {
            return None;
        }
        let challenge = v.get("challenge")?.as_str()?;
        Some(("text/plain", challenge.as_bytes().to_vec()))
    }

    fn default_dedup_window(&self) -> Duration {
        DEFAULT_DEDUP_WINDOW
    }
}

// === verification ===

/// The complete `X-Slack-Signature` value for `body` sent with the
/// timestamp header `timestamp` (signed as the exact string). Public so
/// test kits and benches sign exactly as the verifier checks.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mac = common::hmac_sha256(secret, &[b"v0:", timestamp.as_bytes(), b":", body]);
    format!("{VERSION}={}", hex::encode(mac))
}

/// Checks the signature, then the timestamp (docs/schemes.md precedence).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    let values = common::required_headers(req.headers, [SIGNATURE_HEADER, TIMESTAMP_HEADER])?;
    let (sig, ts_raw) = (values[0], values[1]);
    let timestamp = common::parse_unix(ts_raw).ok_or(Rejection::Malformed)?;
    let value = sig.strip_prefix("v0=").ok_or(Rejection::Malformed)?;
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Rejection::Malformed);
    }
    timestamped::check(
        req.body,
        &params.secrets,
        |secret| sign(secret, ts_raw, req.body),
        &[sig],
        timestamp,
        now_unix,
        params.tolerance_secs,
    )
}

// === extraction ===

/// One Slack event, from a JSON (Events API) or form (interactivity, slash
/// command) body; see the module docs.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    if req.body.first() == Some(&b'{') {
        return extract_json(req);
    }
    let pairs = form::pairs(req.body);
    if let Some(payload) = form::first(&pairs, "payload") {
        let obj = match serde_json::from_str::<Value>(payload) {
            Ok(Value::Object(obj)) => obj,
            _ => {
                return Err(PayloadError(
                    "form field `payload` must be a JSON object".into(),
                ));
            }
        };
        let kind = common::required_str(&obj, "type")?;
        let id = match obj.get("trigger_id").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => format!("{kind}:{}", common::sha256_hex(req.body)),
        };
        return Ok(ProviderEvent {
            provider_event_id: common::event_id(id, "trigger_id")?,
            provider_type: kind,
            time: None,
            subject: None,
            data_json: Cow::Owned(payload.as_bytes().to_vec()),
        });
    }
    if form::first(&pairs, "command").is_some_and(|c| !c.is_empty()) {
        let id = match form::first(&pairs, "trigger_id") {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => format!("slash_command:{}", common::sha256_hex(req.body)),
        };
        return Ok(ProviderEvent {
            provider_event_id: common::event_id(id, "trigger_id")?,
            provider_type: "slash_command".into(),
            time: None,
            subject: None,
            data_json: Cow::Owned(form::to_json(&pairs)),
        });
    }
    Err(PayloadError(
        "body is neither an Events API JSON object nor a form with `payload` or `command`".into(),
    ))
}

fn extract_json<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let obj = common::json_object(req.body)?;
    let outer = common::required_str(&obj, "type")?;
    let (id, kind, time) = match outer.as_str() {
        "event_callback" => {
            let event = obj
                .get("event")
                .and_then(Value::as_object)
                .ok_or_else(|| PayloadError("field `event` must be an object".into()))?;
            let kind = common::required_str(event, "type")
                .map_err(|e| PayloadError(format!("event: {e}")))?;
            let time = match obj.get("event_time") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(common::json_unix_rfc3339(n, "field `event_time`")?),
                Some(_) => {
                    return Err(PayloadError("field `event_time` must be an integer".into()));
                }
            };
            (common::required_str(&obj, "event_id")?, kind, time)
        }
        "url_verification" => {
            let challenge = common::required_str(&obj, "challenge")?;
            (format!("url_verification:{challenge}"), outer.clone(), None)
        }
        "app_rate_limited" => {
            let team = common::required_str(&obj, "team_id")?;
            let minute = obj
                .get("minute_rate_limited")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    PayloadError("field `minute_rate_limited` must be an integer".into())
                })?;
            (
                format!("app_rate_limited:{team}:{minute}"),
                outer.clone(),
                None,
            )
        }
        _ => (common::required_str(&obj, "event_id")?, outer.clone(), None),
    };
    Ok(ProviderEvent {
        provider_event_id: common::event_id(id, "event id")?,
        provider_type: kind,
        time,
        subject: None,
        data_json: Cow::Borrowed(req.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    /// Slack's documented example (python-slack-sdk's test vector) and
    /// cases derived from it; see the file's `source`.
    #[test]
    fn sdk_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/slack/documented_example.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign(
                b"8f742231b10e8888abcd99yyyzzz85a5",
                "1531420618",
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &[])).unwrap_err().key,
            "secrets"
        );
        assert_eq!(
            Params::from_source(&source(NAME, &["   "]))
                .unwrap_err()
                .key,
            "secrets[0]"
        );
        let mut src = source(NAME, &["s"]);
        src.public_url = Some("https://x/y".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
        let params = Params::from_source(&source(NAME, &["topsecret"])).unwrap();
        assert!(!format!("{params:?}").contains("topsecret"));
    }

    fn ev(body: &[u8]) -> Result<ProviderEvent<'_>, PayloadError> {
        static HEADERS: std::sync::OnceLock<http::HeaderMap> = std::sync::OnceLock::new();
        extract(&RawRequest {
            method: "POST",
            path_and_query: "/ingest/slack",
            headers: HEADERS.get_or_init(http::HeaderMap::new),
            body,
        })
    }

    #[test]
    fn events_api() {
        let e = ev(br#"{"token":"t","team_id":"T1","api_app_id":"A1","event":{"type":"app_mention","user":"U1","channel":"C1"},"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1700000000}"#).unwrap();
        assert_eq!(e.provider_event_id, "Ev08MFMKH6");
        assert_eq!(e.provider_type, "app_mention");
        assert_eq!(e.time.as_deref(), Some("2023-11-14T22:13:20Z"));
        let e = ev(br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#).unwrap();
        assert_eq!(e.provider_type, "url_verification");
        assert_eq!(
            e.provider_event_id,
            "url_verification:3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        let e = ev(br#"{"token":"t","type":"app_rate_limited","team_id":"T123456","minute_rate_limited":1518467820,"api_app_id":"A1"}"#).unwrap();
        assert_eq!(e.provider_event_id, "app_rate_limited:T123456:1518467820");
        assert!(ev(br#"{"type":"event_callback","event":{"type":"x"}}"#).is_err());
        assert!(ev(br#"{"type":"event_callback","event_id":"E","event":{}}"#).is_err());
        assert!(ev(br#"{"type":"something_new"}"#).is_err());
    }

    #[test]
    fn event_time_must_be_an_expressible_unix_time() {
        let at = |t: &str| {
            let body = format!(
                r#"{{"type":"event_callback","event_id":"Ev1","event":{{"type":"x"}},"event_time":{t}}}"#
            );
            ev(body.as_bytes()).map(|e| e.time).map_err(|e| e.0)
        };
        assert_eq!(at("0").unwrap().as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(at("null").unwrap(), None);
        for t in ["253402300800", "-99999999999999", "18446744073709551615"] {
            let err = at(t).unwrap_err();
            assert!(
                err.starts_with("field `event_time` is out of range: "),
                "{t}: {err}"
            );
        }
        // Not an integer: refused, not dropped (a string already was).
        for t in ["1.5", "\"1700000000\""] {
            assert_eq!(
                at(t).unwrap_err(),
                "field `event_time` must be an integer",
                "{t}"
            );
        }
    }

    #[test]
    fn forms() {
        let e = ev(
            b"payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%2212.34.ab%22%7D",
        )
        .unwrap();
        assert_eq!(e.provider_type, "block_actions");
        assert_eq!(e.provider_event_id, "12.34.ab");
        assert_eq!(
            &*e.data_json,
            br#"{"type":"block_actions","trigger_id":"12.34.ab"}"#
        );
        let e = ev(b"payload=%7B%22type%22%3A%22view_closed%22%7D").unwrap();
        assert!(e.provider_event_id.starts_with("view_closed:"));
        let e = ev(b"command=%2Fweather&text=94070&trigger_id=1.2.3").unwrap();
        assert_eq!(e.provider_type, "slash_command");
        assert_eq!(e.provider_event_id, "1.2.3");
        assert_eq!(
            &*e.data_json,
            br#"{"command":"/weather","text":"94070","trigger_id":"1.2.3"}"#
        );
        assert!(ev(b"payload=notjson").is_err());
        assert!(ev(b"a=b").is_err());
        assert!(ev(b"").is_err());
    }
}
