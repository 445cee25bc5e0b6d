//! Provider signature verification and event extraction.
//!
//! Each scheme (docs/schemes.md) lives in its own module under [`schemes`] with one
//! shape: a `Params` built from the source's config (fails closed at start),
//! `verify` (signature, timestamp tolerance; constant-time comparisons) and
//! `extract` (provider event id, type, time, subject, payload). Adding a
//! provider touches one new file and one arm in [`schemes::build`].
//!
//! Everything here is synchronous and pure: the caller passes the request
//! and the current time. No secret or expected signature ever appears in an
//! error, a `Debug` output or a log line.

pub mod schemes;

use hookgate_config::SourceConfig;
use std::borrow::Cow;
use std::time::Duration;

/// The request as received, raw (the body exactly as the provider sent it).
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path and query as received, e.g. `/ingest/twilio?a=b`.
    pub path_and_query: &'a str,
    /// Request headers (names are case-insensitive).
    pub headers: &'a http::HeaderMap,
    /// Raw body bytes.
    pub body: &'a [u8],
}

/// Why a signature was rejected: the `reason` of the 401 body. Precedence
/// is fixed: `Missing` > `Malformed` > `Mismatch` > `Stale` (docs/schemes.md);
/// `Stale` is reported only for a signature that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A required header (or signature field) is absent or empty.
    Missing,
    /// Present but unparseable.
    Malformed,
    /// No signature matched any configured secret.
    Mismatch,
    /// The signature matched but the timestamp is outside the tolerance.
    Stale,
}

impl Rejection {
    /// The wire name used in the 401 body.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Malformed => "malformed",
            Rejection::Mismatch => "mismatch",
            Rejection::Stale => "stale",
        }
    }
}

/// The payload is not what the scheme requires (answered 400). The message
/// is shown to the caller: it names what is wrong, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// One provider event extracted from a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent<'a> {
    /// The scheme's event id (parts joined by `:`), non-empty, at most
    /// [`MAX_PROVIDER_EVENT_ID`] bytes.
    pub provider_event_id: String,
    /// The provider's event type, non-empty.
    pub provider_type: String,
    /// The provider's event time, RFC 3339; `None` when the payload has none
    /// (the gateway then uses the receive time).
    pub time: Option<String>,
    /// The provider object id, when the scheme knows one.
    pub subject: Option<String>,
    /// The payload as a JSON value, verbatim where the body is JSON.
    pub data_json: Cow<'a, [u8]>,
}

/// Longest provider event id accepted (a hostile id cannot bloat keys).
pub const MAX_PROVIDER_EVENT_ID: usize = 512;

/// What the gateway answers on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// The gateway's JSON answer `{"status":"accepted","events":[...]}`.
    Json,
    /// A fixed body the provider requires (Adyen: `[accepted]`).
    Fixed {
        /// `content-type` of the body.
        content_type: &'static str,
        /// The body.
        body: &'static str,
    },
}

/// A scheme could not be built from a source's config: the gateway refuses
/// to start (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sources.{source_id}.{key}: {message}")]
pub struct SchemeError {
    /// The source id.
    pub source_id: String,
    /// The offending key under the source (`scheme`, `secrets`, ...).
    pub key: String,
    /// What is wrong; never contains a secret.
    pub message: String,
}

/// The behaviour every scheme module provides.
pub trait Scheme: Send + Sync + std::fmt::Debug {
    /// Checks the signature (and timestamp, for timestamped schemes).
    fn verify(&self, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection>;
    /// Extracts the events of a verified request.
    fn extract<'a>(&self, req: &RawRequest<'a>) -> Result<Vec<ProviderEvent<'a>>, PayloadError>;
    /// The success answer.
    fn ack(&self) -> Ack {
        Ack::Json
    }
    /// A verified handshake the provider expects answered instead of an
    /// event (Slack's `url_verification` echoes its `challenge`): the
    /// answer's content type and body. Nothing is stored for it.
    fn handshake(&self, _req: &RawRequest<'_>) -> Option<(&'static str, Vec<u8>)> {
        None
    }
    /// The scheme's default dedup window (docs/ingest.md).
    fn default_dedup_window(&self) -> Duration;
}

/// A source's verifier: its scheme, built and checked at start.
#[derive(Debug)]
pub struct Verifier {
    scheme: Box<dyn Scheme>,
    dedup_window: Duration,
    overrides: Overrides,
}

/// A built-in scheme's event identity overridden by the config (docs/ingest.md:
/// "or a header or JSON pointer named in the config"): `event_id`,
/// `event_type`, `event_time`, `event_subject` as `header:<Name>` or a
/// JSON pointer into the body. Not for batch schemes, whose items each
/// carry their own identity.
#[derive(Debug, Default)]
struct Overrides {
    id: Option<schemes::fields::Field>,
    kind: Option<schemes::fields::Field>,
    time: Option<schemes::fields::Field>,
    subject: Option<schemes::fields::Field>,
}

impl Overrides {
    /// Splits the identity keys off a built-in scheme's source.
    fn take(source: &SourceConfig) -> Result<(Self, SourceConfig), SchemeError> {
        let mut rest = source.clone();
        let mut parse = |key: &str| -> Result<Option<schemes::fields::Field>, SchemeError> {
            match rest.params.remove(key) {
                None => Ok(None),
                Some(raw) => schemes::fields::Field::parse(&raw)
                    .map(Some)
                    .map_err(|why| SchemeError {
                        source_id: source.id.clone(),
                        key: key.to_owned(),
                        message: why,
                    }),
            }
        };
        let o = Overrides {
            id: parse("event_id")?,
            kind: parse("event_type")?,
            time: parse("event_time")?,
            subject: parse("event_subject")?,
        };
        if !o.is_empty() && schemes::BATCH.contains(&source.scheme.as_str()) {
            return Err(SchemeError {
                source_id: source.id.clone(),
                key: "event_id".into(),
                message: format!(
                    "scheme {:?} identifies each item of a batch itself; identity keys cannot override it",
                    source.scheme
                ),
            });
        }
        Ok((o, rest))
    }

    fn is_empty(&self) -> bool {
        self.id.is_none() && self.kind.is_none() && self.time.is_none() && self.subject.is_none()
    }

    /// Replaces the extracted identity with the configured fields.
    fn apply(
        &self,
        req: &RawRequest<'_>,
        events: &mut [ProviderEvent<'_>],
    ) -> Result<(), PayloadError> {
        for ev in events {
            let json: Option<serde_json::Value> = serde_json::from_slice(&ev.data_json).ok();
            let read = |f: &schemes::fields::Field| -> Result<Option<String>, PayloadError> {
                Ok(f.get(req, json.as_ref())?.filter(|v| !v.is_empty()))
            };
            if let Some(f) = &self.id {
                let v = read(f)?
                    .ok_or_else(|| PayloadError(format!("{} is missing or empty", f.describe())))?;
                if v.len() > MAX_PROVIDER_EVENT_ID {
                    return Err(PayloadError(format!(
                        "{} is longer than {MAX_PROVIDER_EVENT_ID} bytes",
                        f.describe()
                    )));
                }
                ev.provider_event_id = v;
            }
            if let Some(f) = &self.kind {
                ev.provider_type = read(f)?
                    .ok_or_else(|| PayloadError(format!("{} is missing or empty", f.describe())))?;
            }
            if let Some(f) = &self.time {
                ev.time = match read(f)? {
                    None => None,
                    Some(v) => Some(schemes::fields::to_rfc3339(&v, &f.describe())?),
                };
            }
            if let Some(f) = &self.subject {
                ev.subject = read(f)?;
            }
        }
        Ok(())
    }
}

impl Verifier {
    /// Builds the verifier for a source, or says why the source is unusable.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        let (scheme, overrides) = if schemes::CONFIGURABLE.contains(&source.scheme.as_str()) {
            // These schemes read the identity keys themselves.
            (schemes::build(source)?, Overrides::default())
        } else {
            let (overrides, rest) = Overrides::take(source)?;
            (schemes::build(&rest)?, overrides)
        };
        let dedup_window = source
            .dedup_window
            .unwrap_or_else(|| scheme.default_dedup_window());
        Ok(Verifier {
            scheme,
            dedup_window,
            overrides,
        })
    }

    /// Verifies the request's signature at `now_unix`.
    pub fn verify(&self, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
        self.scheme.verify(req, now_unix)
    }

    /// Extracts the events of a verified request.
    pub fn extract<'a>(
        &self,
        req: &RawRequest<'a>,
    ) -> Result<Vec<ProviderEvent<'a>>, PayloadError> {
        let mut events = self.scheme.extract(req)?;
        if !self.overrides.is_empty() {
            self.overrides.apply(req, &mut events)?;
        }
        Ok(events)
    }

    /// The answer to a verified handshake, if the request is one.
    pub fn handshake(&self, req: &RawRequest<'_>) -> Option<(&'static str, Vec<u8>)> {
        self.scheme.handshake(req)
    }

    /// The success answer.
    pub fn ack(&self) -> Ack {
        self.scheme.ack()
    }

    /// The effective dedup window: the source's, else the scheme's default.
    pub fn dedup_window(&self) -> Duration {
        self.dedup_window
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;
    use crate::schemes::common::testing::source;

    fn with(scheme: &str, secret: &str, params: &[(&str, &str)]) -> SourceConfig {
        let mut src = source(scheme, &[secret]);
        for (k, v) in params {
            src.params.insert((*k).into(), (*v).into());
        }
        src
    }

    #[test]
    fn identity_keys_override_a_built_in_scheme() {
        let secret = "whsec_override";
        let v = Verifier::from_source(&with(
            "stripe",
            secret,
            &[
                ("event_id", "header:X-Delivery-Id"),
                ("event_type", "/data/object/object"),
            ],
        ))
        .unwrap();
        let body = br#"{"id":"evt_1","type":"charge.succeeded","created":1700000000,"data":{"object":{"id":"ch_1","object":"charge"}}}"#;
        let mut headers = http::HeaderMap::new();
        let sig =
            crate::schemes::stripe::signature_header(&[secret.as_bytes()], 1_700_000_000, body);
        headers.insert("stripe-signature", sig.parse().unwrap());
        headers.insert("x-delivery-id", "d-42".parse().unwrap());
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/s",
            headers: &headers,
            body,
        };
        assert_eq!(v.verify(&req, 1_700_000_000), Ok(()));
        let ev = v.extract(&req).unwrap().remove(0);
        assert_eq!(ev.provider_event_id, "d-42");
        assert_eq!(ev.provider_type, "charge");
        // What was not overridden stays the scheme's.
        assert_eq!(ev.subject.as_deref(), Some("ch_1"));
        assert_eq!(ev.time.as_deref(), Some("2023-11-14T22:13:20Z"));
        // The override's field missing is a 400, not a silent fallback.
        headers.remove("x-delivery-id");
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/s",
            headers: &headers,
            body,
        };
        assert!(
            v.extract(&req)
                .unwrap_err()
                .0
                .to_lowercase()
                .contains("x-delivery-id")
        );
    }

    #[test]
    fn bad_or_misplaced_identity_keys_fail_at_start() {
        let err =
            Verifier::from_source(&with("stripe", "whsec_x", &[("event_id", "not a pointer")]))
                .unwrap_err();
        assert_eq!(err.key, "event_id");
        let key = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
        let err = Verifier::from_source(&with("adyen", key, &[("event_id", "/pspReference")]))
            .unwrap_err();
        assert_eq!(err.key, "event_id");
        assert!(err.message.contains("batch"));
        // Other scheme keys are still refused by the scheme itself.
        assert!(Verifier::from_source(&with("stripe", "whsec_x", &[("header", "x")])).is_err());
    }
}
