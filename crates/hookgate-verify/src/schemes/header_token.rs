//! `scheme = "header-token"`: a shared token in a header, for providers
//! that neither sign nor support Basic auth.
//!
//! `header` (required) names the header; its value must equal one of the
//! secrets byte for byte (constant-time; several secrets = rotation).
//! Absent or empty is `missing`, repeated or not visible ASCII is
//! `malformed`, anything else that is not a secret is `mismatch`. Nothing
//! is signed and there is no timestamp (see `basic_auth` for what that
//! means). Event id and type come from the required `event_id` /
//! `event_type` keys (`header:<Name>` or a JSON pointer).

use super::common;
use super::fields::{self, Fields};
use crate::{RawRequest, Rejection, SchemeError};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "header-token";
/// Unknown provider retry horizon: 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A header-token source, checked at start.
#[derive(Debug)]
pub struct Params {
    tokens: Vec<Secret>,
    header: http::HeaderName,
    fields: Fields,
}

impl Params {
    /// Builds from the source's config: `header`, `event_id`, `event_type`
    /// and at least one visible-ASCII token (a header cannot carry others).
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        let mut allowed = vec!["header"];
        allowed.extend_from_slice(fields::KEYS);
        common::reject_other_keys(source, NAME, &allowed, false)?;
        let header = common::header_name_param(source, "header")?.ok_or_else(|| {
            common::scheme_error(
                source,
                "header",
                "scheme \"header-token\" needs the token header name",
            )
        })?;
        let tokens = common::require_secrets(source, NAME)?;
        if let Some(i) = tokens
            .iter()
            .position(|t| !t.expose().iter().all(u8::is_ascii_graphic))
        {
            return Err(common::scheme_error(
                source,
                format!("secrets[{i}]"),
                "must be visible ASCII without spaces (it is sent in a header)",
            ));
        }
        Ok(Params {
            tokens: tokens.to_vec(),
            header,
            fields: Fields::from_source(source, NAME)?,
        })
    }
}

one_event_scheme!(configurable);

/// The header value for `token` (the token itself). Public for symmetry
/// with the other schemes' helpers.
pub fn sign(token: &str) -> String {
    token.to_owned()
}

/// Checks the token (no timestamp: `now_unix` is unused).
pub fn verify(params: &Params, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, params.header.as_str())?;
    // `signature_header` lets spaces and tabs through (Standard Webhooks
    // lists signatures with spaces); a token never has them, so a value
    // with them is a token mangled on the way, not a wrong one.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::Malformed);
    }
    let tokens = params.tokens.iter().map(Secret::expose);
    common::matched_or_mismatch(common::matches_any(tokens, value.as_bytes()))
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
            include_str!("../../tests/vectors/header-token/cases.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        assert_eq!(sign("tok_123"), "tok_123");
    }

    #[test]
    fn spaces_and_tabs_are_malformed_not_a_mismatch() {
        let mut src = source(NAME, &["tok_1"]);
        for (k, v) in [
            ("header", "x-token"),
            ("event_id", "/id"),
            ("event_type", "/t"),
        ] {
            src.params.insert(k.into(), v.into());
        }
        let params = Params::from_source(&src).unwrap();
        let check = |value: &'static [u8]| {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-token", http::HeaderValue::from_bytes(value).unwrap());
            let req = RawRequest {
                method: "POST",
                path_and_query: "/ingest/s",
                headers: &headers,
                body: b"{}",
            };
            verify(&params, &req, 0)
        };
        assert_eq!(check(b"tok_1"), Ok(()));
        assert_eq!(check(b"tok_2"), Err(Rejection::Mismatch));
        for bad in [&b"tok 1"[..], b"tok_1 x", b"tok\t1", b"Bearer tok_1"] {
            assert_eq!(
                check(bad),
                Err(Rejection::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn build_fails_closed() {
        let with = |secrets: &[&str], params: &[(&str, &str)]| {
            let mut src = source(NAME, secrets);
            for (k, v) in params {
                src.params.insert((*k).into(), (*v).into());
            }
            Params::from_source(&src).map(|_| ()).map_err(|e| e.key)
        };
        let ok = [
            ("header", "x-token"),
            ("event_id", "/id"),
            ("event_type", "/type"),
        ];
        assert_eq!(with(&["t"], &ok), Ok(()));
        assert_eq!(with(&["t"], &ok[1..]), Err("header".into()));
        assert_eq!(
            with(&["t"], &[("header", "bad header"), ok[1], ok[2]]),
            Err("header".into())
        );
        assert_eq!(with(&["has space"], &ok), Err("secrets[0]".into()));
        assert_eq!(with(&[], &ok), Err("secrets".into()));
        assert_eq!(with(&["t"], &ok[..2]), Err("event_type".into()));
        assert_eq!(
            with(&["t"], &[ok[0], ok[1], ok[2], ("algorithm", "sha1")]),
            Err("algorithm".into())
        );
    }
}
