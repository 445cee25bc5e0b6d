//! `scheme = "twilio"`: `X-Twilio-Signature`, byte-exact with Twilio's
//! helper libraries' `RequestValidator` (twilio/twilio-python
//! `twilio/request_validator.py`, twilio/twilio-node
//! `src/webhooks/webhooks.ts`).
//!
//! The signature is the standard base64 HMAC-SHA1, keyed with the account's
//! auth token, of the URL Twilio called followed by the POST parameters:
//! every name in sorted order, each followed by its value; a name sent
//! several times contributes each distinct value, values sorted
//! (`sorted(set(values))` in Python, `Array.from(new Set(v)).sort()` in
//! Node). The URL is the source's `public_url` with the actual request's
//! query appended (docs/schemes.md), tried like the libraries do: with any port
//! removed, and with its port (the scheme's default added when none).
//!
//! JSON bodies (Studio and other `application/json` callbacks): Twilio adds
//! `bodySHA256=<hex SHA-256 of the body>` to the URL's query and signs the
//! URL with no parameters; the body must hash to that value (lowercase hex,
//! compared as a string by both libraries).
//!
//! Where the libraries disagree, or where their callers' frameworks would,
//! the stricter verdict wins (docs/schemes.md):
//! - twilio-node normalizes the URL with WHATWG `new URL()`, which
//!   percent-encodes `'`, spaces, `"`, `<`, `>` and non-ASCII bytes in the
//!   query; twilio-python signs it as received. A query containing such a
//!   byte cannot satisfy both: `mismatch`. (`public_url` itself is checked
//!   at start to be in normalized form.)
//! - twilio-node switches to body validation when `bodySHA256` appears
//!   anywhere in the URL, twilio-python only when it is a query key; a URL
//!   that contains it only elsewhere: `mismatch`.
//! - names and values are sorted by code point (Python, Rust); Node's
//!   default sort uses UTF-16 code units, which differs only around
//!   characters above U+FFFF; when the two orders differ: `mismatch`.
//! - form bodies are decoded as WHATWG forms (`+` is a space, `%XX`
//!   escapes, invalid UTF-8 becomes U+FFFD), as the web frameworks the
//!   libraries are used with do. A non-empty body that is neither a form
//!   (by `content-type`) nor covered by `bodySHA256` is `mismatch`: the
//!   libraries would sign the URL alone and leave the body unchecked.
//! - a signature that is not base64 at all is `malformed`; otherwise
//!   it is compared as a string, so any other spelling mismatches.
//!
//! There is no timestamp in Twilio's scheme: replays are absorbed by the
//! dedup window.
//!
//! Event identity: the `I-Twilio-Idempotency-Token` header when present
//! (Twilio sends the same token with every retry of one webhook). That
//! header is not signed: a replayed request with a forged token becomes a
//! new delivery, which at-least-once subscribers absorb anyway. Without it,
//! the id is `{sid}:{type}` plus `:{SequenceNumber}` when present, where
//! `sid` is the first of `MessageSid`, `SmsSid`, `CallSid`, `RecordingSid`,
//! `TranscriptionSid`, `ConferenceSid`, `EventSid`, `Sid`. The type is
//! `EventType` as sent (TaskRouter, Conversations), else
//! `message.<MessageStatus|SmsStatus>`, `call.<CallStatus>`,
//! `recording.<RecordingStatus>`, `transcription.<TranscriptionStatus>`,
//! `conference.<StatusCallbackEvent>`, else `webhook`. Subject = the sid.
//! Form bodies become a JSON object (a repeated name maps to the array of
//! its values, in body order); JSON bodies are passed through.

use super::common::{self, Algorithm, Header};
use super::form;
use super::public_url::{self};
use crate::{PayloadError, ProviderEvent, RawRequest, Rejection};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookgate_core::secret::ct_eq;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "twilio";
/// The signature header.
pub const HEADER: &str = "x-twilio-signature";
/// The header Twilio repeats on every retry of one webhook.
pub const IDEMPOTENCY_HEADER: &str = "i-twilio-idempotency-token";
/// The query key that carries the hash of a JSON body.
pub const BODY_SHA256: &str = "bodySHA256";
/// Twilio retries within minutes (connection overrides); 7 days is the
/// default for a short or unknown horizon (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

plain_params!(
    public_url,
    "A Twilio source, checked at start: its auth tokens (primary and secondary during a rotation) and the URL Twilio signs."
);

// === verification ===

/// The `X-Twilio-Signature` of a request to `url` (query included) with
/// form `params`. Public so test kits and benches sign exactly as the
/// verifier checks.
pub fn sign(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut data = url.to_owned();
    for (name, value) in sorted_params(params) {
        data.push_str(name);
        data.push_str(value);
    }
    STANDARD.encode(common::hmac_with(
        Algorithm::Sha1,
        auth_token,
        &[data.as_bytes()],
    ))
}

/// The `bodySHA256` query value for a JSON body.
pub fn body_sha256(body: &[u8]) -> String {
    common::sha256_hex(body)
}

/// Names sorted, each name's distinct values sorted (code point order).
fn sorted_params(params: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether UTF-16 code unit order (twilio-node's `sort()`) agrees with
/// code point order on these sorted params.
fn utf16_order_agrees(sorted: &[(&str, &str)]) -> bool {
    let utf16_le =
        |a: &str, b: &str| a.encode_utf16().cmp(b.encode_utf16()) != std::cmp::Ordering::Greater;
    sorted.windows(2).all(|w| {
        let ((n1, v1), (n2, v2)) = (w[0], w[1]);
        if n1 == n2 {
            utf16_le(v1, v2)
        } else {
            utf16_le(n1, n2)
        }
    })
}

/// What the signature covers besides the URL.
enum Signed {
    /// Form parameters.
    Form(Vec<(String, String)>),
    /// A JSON body checked against `bodySHA256`.
    Body,
}

/// Decides how the request is signed; `Err` for what no library would
/// accept the same way.
fn signed_content(req: &RawRequest<'_>, query: &str) -> Result<Signed, Rejection> {
    // Bytes WHATWG URL serialization would percent-encode in a query.
    if query
        .bytes()
        .any(|b| b <= b' ' || b >= 0x7f || matches!(b, b'"' | b'#' | b'<' | b'>' | b'\''))
    {
        return Err(Rejection::Mismatch);
    }
    let query_pairs = form::pairs(query.strip_prefix('?').unwrap_or(query).as_bytes());
    match form::first(&query_pairs, BODY_SHA256) {
        Some(expected) => {
            if std::str::from_utf8(req.body).is_err() {
                return Err(Rejection::Mismatch);
            }
            let actual = body_sha256(req.body);
            if ct_eq(expected.as_bytes(), actual.as_bytes()) {
                Ok(Signed::Body)
            } else {
                Err(Rejection::Mismatch)
            }
        }
        None if query.contains(BODY_SHA256) => Err(Rejection::Mismatch),
        None if req.body.is_empty() => Ok(Signed::Form(Vec::new())),
        None if form::is_form(req.headers) => Ok(Signed::Form(form::pairs(req.body))),
        None => Err(Rejection::Mismatch),
    }
}

/// Checks the signature (no timestamp: `now_unix` is unused).
pub fn verify(params: &Params, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
    let value = common::base64_signature_header(req.headers, HEADER)?;
    let query = public_url::query_of(req.path_and_query);
    let form_params = match signed_content(req, query)? {
        Signed::Form(p) => p,
        Signed::Body => Vec::new(),
    };
    if !utf16_order_agrees(&sorted_params(&form_params)) {
        return Err(Rejection::Mismatch);
    }
    let mut matched = false;
    for url in params.url.twilio_variants(query) {
        matched |=
            common::any_secret_signs(&params.secrets, |s| sign(s, &url, &form_params), &[value]);
    }
    common::matched_or_mismatch(matched)
}

// === extraction ===

const SID_FIELDS: &[&str] = &[
    "MessageSid",
    "SmsSid",
    "CallSid",
    "RecordingSid",
    "TranscriptionSid",
    "ConferenceSid",
    "EventSid",
    "Sid",
];

const STATUS_FIELDS: &[(&str, &str)] = &[
    ("MessageStatus", "message"),
    ("SmsStatus", "message"),
    ("CallStatus", "call"),
    ("RecordingStatus", "recording"),
    ("TranscriptionStatus", "transcription"),
    ("StatusCallbackEvent", "conference"),
];

/// One Twilio event; see the module docs for id and type.
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<ProviderEvent<'a>, PayloadError> {
    let query = public_url::query_of(req.path_and_query);
    let query_pairs = form::pairs(query.strip_prefix('?').unwrap_or(query).as_bytes());
    let json_body = form::first(&query_pairs, BODY_SHA256).is_some();
    let (fields, data_json): (serde_json::Map<String, Value>, Cow<'a, [u8]>) = if json_body {
        (common::json_object(req.body)?, Cow::Borrowed(req.body))
    } else {
        let pairs = form::pairs(req.body);
        let mut map = serde_json::Map::new();
        for (n, v) in &pairs {
            map.entry(n.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        (map, Cow::Owned(form::to_json(&pairs)))
    };
    let get = |name: &str| -> Option<&str> {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let provider_type = match get("EventType") {
        Some(t) => t.to_owned(),
        None => STATUS_FIELDS
            .iter()
            .find_map(|(field, kind)| get(field).map(|s| format!("{kind}.{s}")))
            .unwrap_or_else(|| "webhook".to_owned()),
    };
    let sid = SID_FIELDS.iter().find_map(|f| get(f)).map(str::to_owned);
    let provider_event_id = match common::header(req.headers, IDEMPOTENCY_HEADER) {
        Header::Value(token) => {
            common::event_id(token.to_owned(), "header I-Twilio-Idempotency-Token")?
        }
        Header::Invalid => {
            return Err(PayloadError(
                "header I-Twilio-Idempotency-Token is repeated or not visible ASCII".into(),
            ));
        }
        Header::Absent => {
            let Some(sid) = &sid else {
                return Err(PayloadError(format!(
                    "no I-Twilio-Idempotency-Token header and none of {} in the payload",
                    SID_FIELDS.join(", ")
                )));
            };
            let mut id = format!("{sid}:{provider_type}");
            if let Some(seq) = get("SequenceNumber") {
                id.push(':');
                id.push_str(seq);
            }
            common::event_id(id, "sid:type")?
        }
    };
    Ok(ProviderEvent {
        provider_event_id,
        provider_type,
        time: None,
        subject: sid,
        data_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    /// twilio-python's RequestValidator tests; see the file's `source`.
    #[test]
    fn sdk_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/twilio/request_validator.json"),
        );
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn sign_is_pinned() {
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign(b"12345", url, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let dup = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign(b"12345", url, &dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        // A repeated identical value counts once (`set(values)`).
        let dup2 = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign(b"12345", url, &dup2), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert_eq!(
            body_sha256(br#"{"property": "value", "boolean": true}"#),
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
    }

    #[test]
    fn utf16_order() {
        // U+FF61 < U+1F600 by code point, but not in UTF-16 (0xD83D < 0xFF61).
        let p = params(&[("a", "\u{ff61}"), ("a", "\u{1f600}")]);
        assert!(!utf16_order_agrees(&sorted_params(&p)));
        let p = params(&[("a", "x"), ("b", "é")]);
        assert!(utf16_order_agrees(&sorted_params(&p)));
    }

    #[test]
    fn build_fails_closed() {
        assert_eq!(
            Params::from_source(&source(NAME, &["t"])).unwrap_err().key,
            "public_url"
        );
        let mut src = source(NAME, &["t"]);
        src.public_url = Some("https://GW.example.com/x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
        src.public_url = Some("https://gw.example.com/x".into());
        assert!(Params::from_source(&src).is_ok());
        src.params.insert("header".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
    }

    fn req<'a>(h: &'a http::HeaderMap, pq: &'a str, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest {
            method: "POST",
            path_and_query: pq,
            headers: h,
            body,
        }
    }

    #[test]
    fn extraction() {
        let mut h = http::HeaderMap::new();
        let body = b"MessageSid=SM123&SmsSid=SM123&MessageStatus=delivered&AccountSid=AC1&To=%2B15558675310";
        let ev = extract(&req(&h, "/ingest/tw", body)).unwrap();
        assert_eq!(ev.provider_event_id, "SM123:message.delivered");
        assert_eq!(ev.provider_type, "message.delivered");
        assert_eq!(ev.subject.as_deref(), Some("SM123"));
        let data: Value = serde_json::from_slice(&ev.data_json).unwrap();
        assert_eq!(data["To"], "+15558675310");
        h.insert(
            IDEMPOTENCY_HEADER,
            http::HeaderValue::from_static("AC1-abc"),
        );
        assert_eq!(
            extract(&req(&h, "/ingest/tw", body))
                .unwrap()
                .provider_event_id,
            "AC1-abc"
        );
        let h = http::HeaderMap::new();
        let call = b"CallSid=CA1&CallStatus=completed&SequenceNumber=3";
        assert_eq!(
            extract(&req(&h, "/ingest/tw", call))
                .unwrap()
                .provider_event_id,
            "CA1:call.completed:3"
        );
        let task = b"EventType=task.created&EventSid=EV1&TaskSid=WT1";
        let ev = extract(&req(&h, "/ingest/tw", task)).unwrap();
        assert_eq!(
            (ev.provider_type.as_str(), ev.provider_event_id.as_str()),
            ("task.created", "EV1:task.created")
        );
        let json = br#"{"CallSid":"CA9","Caller":"+1"}"#;
        let pq = format!("/ingest/tw?bodySHA256={}", body_sha256(json));
        let ev = extract(&req(&h, &pq, json)).unwrap();
        assert_eq!(ev.provider_event_id, "CA9:webhook");
        assert!(matches!(ev.data_json, Cow::Borrowed(_)));
        assert!(extract(&req(&h, "/ingest/tw", b"Foo=bar")).is_err());
        assert!(extract(&req(&h, &pq, b"not json")).is_err());
    }
}
