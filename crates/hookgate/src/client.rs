//! A small client of the admin API (docs/admin-api.md) for the operators' CLI.
//!
//! One call = one request with `Authorization: Bearer $HOOKGATE_TOKEN`,
//! bounded by [`CALL_TIMEOUT`] from connect to the last body byte. A 2xx
//! answer comes back as its raw body (so `--json` can print it unchanged);
//! everything else becomes a [`ClientError`] whose `Display` is the message
//! for the human at the terminal. The token is read from the environment
//! only, sent as a sensitive header, and never appears in any message.

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// The environment variable holding the bearer token.
pub const TOKEN_ENV: &str = "HOOKGATE_TOKEN";
/// Where the admin listener is by default.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9090";
/// Deadline of one call, connect to last byte.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read (a page is at most 1000 items).
const MAX_RESPONSE: usize = 64 << 20;

/// Why a call failed, worded for a human.
#[derive(Debug)]
pub enum ClientError {
    /// `HOOKGATE_TOKEN` is unset or empty.
    NoToken,
    /// `HOOKGATE_TOKEN` cannot be put in a header.
    BadToken,
    /// `--admin-url` is not an `http://host:port[/prefix]` URL.
    BadUrl { url: String, why: String },
    /// Connection refused, DNS failure, timeout...
    Unreachable { url: String, detail: String },
    /// 401.
    Unauthorized,
    /// 403, with the API's message.
    Forbidden { message: String },
    /// 404, with the API's message (if it sent one).
    NotFound {
        url: String,
        message: Option<String>,
    },
    /// Any other non-2xx answer.
    Status {
        status: StatusCode,
        message: Option<String>,
    },
    /// A 2xx answer that is not the expected JSON.
    BadAnswer { url: String, detail: String },
    /// `--subscription` left out while the token sees other than exactly
    /// one subscription: the ids it sees (the first few).
    NeedSubscription { seen: Vec<String>, more: bool },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NoToken => write!(
                f,
                "{TOKEN_ENV} is not set: export {TOKEN_ENV}=<an admin API token>"
            ),
            ClientError::BadToken => write!(
                f,
                "{TOKEN_ENV} contains characters that cannot be sent in an HTTP header \
                 (a stray newline or quote?): export {TOKEN_ENV}=<an admin API token>"
            ),
            ClientError::BadUrl { url, why } => write!(
                f,
                "--admin-url {url:?} is not usable: {why} (expected e.g. {DEFAULT_ADMIN_URL})"
            ),
            ClientError::Unreachable { url, detail } => write!(
                f,
                "cannot reach the admin API at {url}: is the gateway running? \
                 (set --admin-url or HOOKGATE_ADMIN_URL)\n  cause: {detail}"
            ),
            ClientError::Unauthorized => write!(
                f,
                "the admin API refused the token in {TOKEN_ENV} (401): check it is one of \
                 the tokens configured in [[admin.tokens]]"
            ),
            ClientError::Forbidden { message } => write!(
                f,
                "{message} (403): your token's role or tenants do not allow this"
            ),
            ClientError::NotFound {
                message: Some(m), ..
            } => write!(f, "{m} (404)"),
            ClientError::NotFound { url, message: None } => write!(
                f,
                "{url} answered 404 without an admin API error: is --admin-url the \
                 gateway's admin listener?"
            ),
            ClientError::Status { status, message } => {
                write!(f, "the admin API answered {status}")?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            ClientError::BadAnswer { url, detail } => write!(
                f,
                "unexpected answer from {url} ({detail}): is --admin-url the gateway's \
                 admin listener, and the same Hookgate version as this CLI?"
            ),
            ClientError::NeedSubscription { seen, more } => match seen.as_slice() {
                [] => write!(f, "this token sees no subscription"),
                _ => write!(
                    f,
                    "--subscription is required: this token sees {}{}",
                    seen.iter()
                        .map(|s| printable(s))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if *more { ", ..." } else { "" }
                ),
            },
        }
    }
}

impl std::error::Error for ClientError {}

/// The admin API client.
pub struct AdminClient {
    base: String,
    auth: HeaderValue,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    /// A client of the admin API at `base`, with the token from
    /// `HOOKGATE_TOKEN`.
    pub fn from_env(base: &str) -> Result<Self, ClientError> {
        let token = std::env::var_os(TOKEN_ENV).unwrap_or_default();
        let token = token.to_str().ok_or(ClientError::BadToken)?;
        Self::new(base, token)
    }

    /// A client of the admin API at `base` with `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(ClientError::NoToken);
        }
        let base = check_base(base)?;
        let mut auth =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| ClientError::BadToken)?;
        auth.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CALL_TIMEOUT));
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(AdminClient { base, auth, http })
    }

    /// The base URL, as the human gave it (without a trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (with its query); the raw body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<Bytes, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body; the raw body of a 2xx answer.
    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<Bytes, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::BadAnswer {
            url: self.url(path),
            detail: format!("cannot encode the request: {e}"),
        })?;
        self.call(Method::POST, path, Some(Bytes::from(body))).await
    }

    /// Parses a 2xx body from `path` as `T`.
    pub fn parse<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::BadAnswer {
            url: self.url(path),
            detail: format!("not the expected JSON: {e}"),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(path);
        let uri: Uri = url.parse().map_err(|e| ClientError::BadUrl {
            url: url.clone(),
            why: format!("{e}"),
        })?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req =
            req.body(Full::new(body.unwrap_or_default()))
                .map_err(|e| ClientError::BadUrl {
                    url: url.clone(),
                    why: e.to_string(),
                })?;
        let unreachable = |detail: String| ClientError::Unreachable {
            url: self.base.clone(),
            detail,
        };
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| unreachable(root_cause(&e)))?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, ClientError>((parts.status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", CALL_TIMEOUT.as_secs())))??;
        if status.is_success() {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<hookgate_admin::api::ErrorBody>(&bytes)
            .ok()
            .and_then(|b| b.message.or(Some(b.error)))
            .map(|m| printable(&m));
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
            StatusCode::FORBIDDEN => ClientError::Forbidden {
                message: message.unwrap_or_else(|| "forbidden".to_owned()),
            },
            StatusCode::NOT_FOUND => ClientError::NotFound { url, message },
            status => ClientError::Status { status, message },
        })
    }
}

/// Checks `--admin-url`: plain `http://` with a host; a path prefix (a
/// reverse proxy) is kept.
fn check_base(base: &str) -> Result<String, ClientError> {
    let bad = |why: &str| ClientError::BadUrl {
        url: base.to_owned(),
        why: why.to_owned(),
    };
    let trimmed = base.trim().trim_end_matches('/');
    let uri: Uri = trimmed.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "this CLI speaks plain http:// only (the admin listener is loopback HTTP; \
                 use an SSH tunnel to reach a remote one)",
            ));
        }
        _ => return Err(bad("it must start with http://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(bad("no host"));
    }
    if uri.query().is_some() {
        return Err(bad("no query string allowed"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad(
            "no user-info allowed (the token comes from HOOKGATE_TOKEN)",
        ));
    }
    Ok(trimmed.to_owned())
}

/// The innermost error of a chain (e.g. "Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if text.is_empty() {
        format!("{err}")
    } else {
        text
    }
}

/// Text safe for a terminal: control characters become `?`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Percent-encodes a path segment or query component (everything but
/// RFC 3986 unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?k=v&...` over the parameters that are set.
pub fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut out = path.to_owned();
    let mut sep = '?';
    for (k, v) in params {
        if let Some(v) = v {
            out.push(sep);
            out.push_str(&encode(k));
            out.push('=');
            out.push_str(&encode(v));
            sep = '&';
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_blank_token_is_named() {
        for t in ["", "   "] {
            let err = AdminClient::new(DEFAULT_ADMIN_URL, t).err().unwrap();
            assert!(err.to_string().contains("HOOKGATE_TOKEN is not set"));
        }
    }

    #[test]
    fn a_bad_token_is_refused_without_echoing_it() {
        let err = AdminClient::new(DEFAULT_ADMIN_URL, "abc\ndef-secret")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("def-secret"));
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base("http://127.0.0.1:9090/").unwrap(),
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            check_base("http://gw.internal/hookgate").unwrap(),
            "http://gw.internal/hookgate"
        );
        for bad in [
            "127.0.0.1:9090",
            "https://x",
            "ftp://x",
            "http://",
            "http://u:p@x",
            "http://x/?a=1",
        ] {
            assert!(check_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            with_query(
                "/p",
                &[
                    ("type", Some("stripe.*")),
                    ("since", Some("2024-01-01T00:00:00+01:00")),
                    ("x", None),
                    ("reason", Some("status 4")),
                ]
            ),
            "/p?type=stripe.%2A&since=2024-01-01T00%3A00%3A00%2B01%3A00&reason=status%204"
        );
        assert_eq!(with_query("/p", &[("a", None)]), "/p");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a?[31mb?c");
    }
}
