//! Provider signature verification and event extraction.
//!
//! Each scheme (SPEC §5) lives in its own module under [`schemes`] with one
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
/// is fixed: `Missing` > `Malformed` > `Mismatch` > `Stale` (SPEC §5);
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
    /// The scheme's default dedup window (SPEC §2).
    fn default_dedup_window(&self) -> Duration;
}

/// A source's verifier: its scheme, built and checked at start.
#[derive(Debug)]
pub struct Verifier {
    scheme: Box<dyn Scheme>,
    dedup_window: Duration,
}

impl Verifier {
    /// Builds the verifier for a source, or says why the source is unusable.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        let scheme = schemes::build(source)?;
        let dedup_window = source
            .dedup_window
            .unwrap_or_else(|| scheme.default_dedup_window());
        Ok(Verifier {
            scheme,
            dedup_window,
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
        self.scheme.extract(req)
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
