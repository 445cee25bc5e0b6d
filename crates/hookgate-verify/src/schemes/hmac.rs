//! `scheme = "hmac"`: a configurable HMAC signature for providers without
//! a built-in scheme (docs/schemes.md). Everything is read from the source's keys
//! and checked at start; a source that does not parse stops the gateway.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `header` | the signature header (required) | — |
//! | `algorithm` | `sha1`, `sha256` or `sha512` | `sha256` |
//! | `encoding` | `hex` or `base64` (standard, padded) | `hex` |
//! | `prefix` | text before the encoded MAC in the header, e.g. `sha256=` | `""` |
//! | `signed_content` | template of the signed bytes | `{body}` |
//! | `timestamp_header` | header with unix seconds; enables `tolerance` | none |
//! | `event_id`, `event_type` | `header:<Name>` or a JSON pointer (required) | — |
//! | `event_time`, `event_subject` | same, optional | none |
//!
//! The template is literal text with placeholders: `{body}` (the raw body,
//! exactly once), `{timestamp}` (the `timestamp_header` value as sent;
//! required exactly when `timestamp_header` is set, so the timestamp the
//! tolerance checks is always signed) and `{header:<Name>}` (another
//! header's value as sent). `{{` and `}}` are literal braces; any other
//! brace is an error. Example (a Slack-like scheme):
//! `signed_content = "v0:{timestamp}:{body}"`, `prefix = "v0="`.
//!
//! Verification: the header must be present once (`missing` /
//! `malformed`), start with `prefix` (`malformed`) and decode in the
//! configured encoding (`malformed`); the decoded MAC is compared in
//! constant time with the one computed under each secret (`mismatch`).
//! Hex is accepted in either case (there is no SDK to be byte-exact with,
//! and both spellings encode the same MAC). With `timestamp_header`, the
//! timestamp must be an optionally signed integer (`malformed`) within
//! `tolerance` (default 300 s) on both sides, checked after the MAC
//! (`stale`). A header named in `{header:...}` that is absent is `missing`.
//! The body need not be UTF-8.

use super::common::{self, Algorithm};
use super::fields::{self, Fields};
use super::timestamped;
use crate::{RawRequest, Rejection, SchemeError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "hmac";
/// Tolerance when `timestamp_header` is set (docs/schemes.md default).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Unknown provider retry horizon: 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

const KEYS: &[&str] = &[
    "header",
    "algorithm",
    "encoding",
    "prefix",
    "signed_content",
    "timestamp_header",
    "event_id",
    "event_type",
    "event_time",
    "event_subject",
];

/// How the MAC is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex (either case accepted).
    Hex,
    /// Standard base64, padded.
    Base64,
}

/// One piece of the `signed_content` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// The raw body.
    Body,
    /// The `timestamp_header` value as sent.
    Timestamp,
    /// Another header's value as sent.
    Header(http::HeaderName),
}

/// Parses a `signed_content` template.
pub fn parse_template(template: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("{{") {
            literal.push('{');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("}}") {
            literal.push('}');
            rest = r;
        } else if c == '}' {
            return Err("unmatched '}' (write '}}' for a literal brace)".into());
        } else if c == '{' {
            let end = rest
                .find('}')
                .ok_or("unclosed '{' (write '{{' for a literal brace)")?;
            let name = &rest[1..end];
            let segment = match name {
                "body" => Segment::Body,
                "timestamp" => Segment::Timestamp,
                _ => match name.strip_prefix("header:") {
                    Some(h) => Segment::Header(
                        http::HeaderName::from_bytes(h.as_bytes())
                            .map_err(|_| format!("{{{name}}}: {h:?} is not a valid header name"))?,
                    ),
                    None => {
                        return Err(format!(
                            "unknown placeholder {{{name}}}; known: {{body}}, {{timestamp}}, {{header:<Name>}}"
                        ));
                    }
                },
            };
            if !literal.is_empty() {
                out.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            out.push(segment);
            rest = &rest[end + 1..];
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        out.push(Segment::Literal(literal));
    }
    match out.iter().filter(|s| **s == Segment::Body).count() {
        1 => Ok(out),
        0 => Err(
            "must contain {body} (a signature that does not cover the body proves nothing)".into(),
        ),
        _ => Err("must contain {body} exactly once".into()),
    }
}

/// An `hmac` source, checked at start.
#[derive(Debug)]
pub struct Params {
    secrets: Vec<Secret>,
    header: http::HeaderName,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    template: Vec<Segment>,
    timestamp_header: Option<http::HeaderName>,
    tolerance_secs: i64,
    fields: Fields,
}

impl Params {
    /// Builds from the source's config; every problem is a [`SchemeError`]
    /// naming its key.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_other_keys(source, NAME, KEYS, false)?;
        let err = |key: &str, msg: String| common::scheme_error(source, key, msg);
        let header = common::header_name_param(source, "header")?.ok_or_else(|| {
            err(
                "header",
                "scheme \"hmac\" needs the signature header name".into(),
            )
        })?;
        let algorithm = match source.params.get("algorithm").map(String::as_str) {
            None | Some("sha256") => Algorithm::Sha256,
            Some("sha1") => Algorithm::Sha1,
            Some("sha512") => Algorithm::Sha512,
            Some(other) => {
                return Err(err(
                    "algorithm",
                    format!("unknown algorithm {other:?}; known: sha1, sha256, sha512"),
                ));
            }
        };
        let encoding = match source.params.get("encoding").map(String::as_str) {
            None | Some("hex") => Encoding::Hex,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(err(
                    "encoding",
                    format!("unknown encoding {other:?}; known: hex, base64"),
                ));
            }
        };
        let template = parse_template(
            source
                .params
                .get("signed_content")
                .map_or("{body}", String::as_str),
        )
        .map_err(|m| err("signed_content", m))?;
        let timestamp_header = common::header_name_param(source, "timestamp_header")?;
        let signs_timestamp = template.contains(&Segment::Timestamp);
        match (&timestamp_header, signs_timestamp) {
            (Some(_), false) => {
                return Err(err("signed_content", "must contain {timestamp} when timestamp_header is set (an unsigned timestamp protects nothing)".into()));
            }
            (None, true) => {
                return Err(err(
                    "signed_content",
                    "uses {timestamp} but timestamp_header is not set".into(),
                ));
            }
            _ => {}
        }
        Ok(Params {
            secrets: common::require_secrets(source, NAME)?.to_vec(),
            header,
            algorithm,
            encoding,
            prefix: source.params.get("prefix").cloned().unwrap_or_default(),
            template,
            timestamp_header,
            tolerance_secs: common::tolerance_secs(source, DEFAULT_TOLERANCE),
            fields: Fields::from_source(source, NAME)?,
        })
    }
}

// Keep the shared list of field keys in step with ours.
const _: () = assert!(fields::KEYS.len() == 4);

one_event_scheme!(configurable);

// === verification ===

/// The raw MAC of `content` (the signed bytes, already assembled from the
/// template) under `secret`.
pub fn mac(algorithm_name: &str, secret: &[u8], content: &[u8]) -> Option<Vec<u8>> {
    let alg = match algorithm_name {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        _ => return None,
    };
    Some(common::hmac_with(alg, secret, &[content]))
}

/// The header value for `content` under `secret`: `prefix` + encoded MAC.
/// Public so test kits and benches sign exactly as the verifier checks.
pub fn sign(
    algorithm_name: &str,
    encoding: Encoding,
    prefix: &str,
    secret: &[u8],
    content: &[u8],
) -> Option<String> {
    let mac = mac(algorithm_name, secret, content)?;
    Some(match encoding {
        Encoding::Hex => format!("{prefix}{}", hex::encode(mac)),
        Encoding::Base64 => format!("{prefix}{}", STANDARD.encode(mac)),
    })
}

/// Checks the MAC, then the timestamp (docs/schemes.md precedence).
pub fn verify(params: &Params, req: &RawRequest<'_>, now_unix: i64) -> Result<(), Rejection> {
    // Every header the check reads, looked up together so that `missing`
    // beats `malformed` whichever header it concerns: the signature, the
    // timestamp when configured, then the template's headers in order.
    let names = std::iter::once(&params.header)
        .chain(&params.timestamp_header)
        .chain(params.template.iter().filter_map(|s| match s {
            Segment::Header(h) => Some(h),
            _ => None,
        }));
    let values = common::required_headers(req.headers, names)?;
    let (sig, rest) = values.split_first().ok_or(Rejection::Missing)?;
    let (ts_raw, signed_headers) = match params.timestamp_header {
        Some(_) => {
            let (ts, signed) = rest.split_first().ok_or(Rejection::Missing)?;
            (Some(*ts), signed)
        }
        None => (None, rest),
    };
    let timestamp = match ts_raw {
        Some(raw) => Some(common::parse_unix(raw).ok_or(Rejection::Malformed)?),
        None => None,
    };
    let encoded = sig
        .strip_prefix(params.prefix.as_str())
        .ok_or(Rejection::Malformed)?;
    let given = match params.encoding {
        Encoding::Hex => hex::decode(encoded).map_err(|_| Rejection::Malformed)?,
        Encoding::Base64 => STANDARD.decode(encoded).map_err(|_| Rejection::Malformed)?,
    };
    let mut content = Vec::with_capacity(req.body.len() + 64);
    let mut signed_headers = signed_headers.iter();
    for segment in &params.template {
        match segment {
            Segment::Literal(s) => content.extend_from_slice(s.as_bytes()),
            Segment::Body => content.extend_from_slice(req.body),
            Segment::Timestamp => content.extend_from_slice(ts_raw.unwrap_or("").as_bytes()),
            Segment::Header(_) => {
                if let Some(v) = signed_headers.next() {
                    content.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
    common::matched_or_mismatch(common::any_secret_signs(
        &params.secrets,
        |secret| common::hmac_with(params.algorithm, secret, &[&content]),
        &[&given],
    ))?;
    match timestamp {
        Some(ts) => timestamped::fresh(now_unix, ts, params.tolerance_secs),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;
    use crate::schemes::common::testing_ext;

    #[test]
    fn computed_vectors() {
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/hmac/github_style.json"),
        );
        testing_ext::run(
            NAME,
            include_str!("../../tests/vectors/hmac/timestamped_base64.json"),
        );
    }

    #[test]
    fn templates() {
        assert_eq!(parse_template("{body}").unwrap(), vec![Segment::Body]);
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Segment::Literal("v0:".into()),
                Segment::Timestamp,
                Segment::Literal(":".into()),
                Segment::Body
            ]
        );
        assert_eq!(
            parse_template("{{{header:X-Id}}}.{body}").unwrap(),
            vec![
                Segment::Literal("{".into()),
                Segment::Header(http::HeaderName::from_static("x-id")),
                Segment::Literal("}.".into()),
                Segment::Body
            ]
        );
        for bad in [
            "",
            "x",
            "{body}{body}",
            "{bdy}",
            "{body",
            "}{body}",
            "{header:bad name}{body}",
            "{header:}{body}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
    }

    fn base() -> SourceConfig {
        let mut src = source(NAME, &["secret"]);
        for (k, v) in [
            ("header", "x-sig"),
            ("event_id", "/id"),
            ("event_type", "/type"),
        ] {
            src.params.insert(k.into(), v.into());
        }
        src
    }

    #[test]
    fn build_fails_closed() {
        assert!(Params::from_source(&base()).is_ok());
        for (key, value, bad_key) in [
            ("header", "", "header"),
            ("header", "bad header", "header"),
            ("algorithm", "md5", "algorithm"),
            ("algorithm", "SHA256", "algorithm"),
            ("encoding", "base32", "encoding"),
            ("signed_content", "{timestamp}.{body}", "signed_content"),
            ("signed_content", "{nope}", "signed_content"),
            ("timestamp_header", "x-ts", "signed_content"),
            ("event_id", "id", "event_id"),
        ] {
            let mut src = base();
            src.params.insert(key.into(), value.into());
            assert_eq!(
                Params::from_source(&src).unwrap_err().key,
                bad_key,
                "{key}={value}"
            );
        }
        let mut src = base();
        src.params.remove("header");
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
        let mut src = base();
        src.params.remove("event_type");
        assert_eq!(Params::from_source(&src).unwrap_err().key, "event_type");
        let mut src = base();
        src.public_url = Some("https://x/y".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "public_url");
        let mut src = base();
        src.secrets = vec![Secret::new(&b"topsecret"[..])];
        assert!(!format!("{:?}", Params::from_source(&src).unwrap()).contains("topsecret"));
    }

    #[test]
    fn sign_is_pinned() {
        // GitHub's documented example (docs.github.com, "Validating webhook
        // deliveries"): secret "It's a Secret to Everybody", body "Hello, World!".
        assert_eq!(
            sign(
                "sha256",
                Encoding::Hex,
                "sha256=",
                b"It's a Secret to Everybody",
                b"Hello, World!"
            )
            .unwrap(),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert!(sign("md5", Encoding::Hex, "", b"k", b"x").is_none());
    }
}
