//! `scheme = "basic-auth"`: HTTP Basic authentication (RFC 7617) for
//! providers that can only send credentials, not sign.
//!
//! Each secret is `user:password` (the user may not contain `:`, as in
//! RFC 7617); several secrets = rotation. The request must carry exactly
//! one `Authorization: Basic <base64(user:password)>` header: absent or
//! empty is `missing`; another auth scheme, a value that is not standard
//! padded base64, or credentials without `:` are `malformed`; credentials
//! that equal no secret are `mismatch`. The scheme name is matched
//! case-insensitively (RFC 7235), the credentials byte for byte in constant
//! time. Nothing is signed: the body is trusted as sent over TLS, and there
//! is no timestamp, so replays are absorbed only by the dedup window.
//!
//! Event id and type come from the required `event_id` / `event_type` keys
//! (`header:<Name>` or a JSON pointer); `event_time` and `event_subject`
//! are optional (see `fields`).

use super::common;
use super::fields::{self, Fields};
use crate::{RawRequest, Rejection, SchemeError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "basic-auth";
/// Unknown provider retry horizon: 7 days (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A basic-auth source, checked at start.
#[derive(Debug)]
pub struct Params {
    /// `user:password` pairs.
    credentials: Vec<Secret>,
    fields: Fields,
}

impl Params {
    /// Builds from the source's config: every secret must be `user:password`
    /// with a non-empty user; `event_id` and `event_type` are required.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_other_keys(source, NAME, fields::KEYS, false)?;
        let secrets = common::require_secrets(source, NAME)?;
        for (i, s) in secrets.iter().enumerate() {
            if s.expose()
                .iter()
                .position(|&b| b == b':')
                .is_none_or(|p| p == 0)
            {
                return Err(common::scheme_error(
                    source,
                    format!("secrets[{i}]"),
                    "must be \"user:password\" with a non-empty user",
                ));
            }
        }
        Ok(Params {
            credentials: secrets.to_vec(),
            fields: Fields::from_source(source, NAME)?,
        })
    }
}

one_event_scheme!(configurable);

/// The `Authorization` value for `user:password`. Public so test kits and
/// benches build requests exactly as the verifier checks them.
pub fn sign(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Checks the credentials (no timestamp: `now_unix` is unused).
pub fn verify(params: &Params, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, http::header::AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ').ok_or(Rejection::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Rejection::Malformed);
    }
    let given = STANDARD.decode(token).map_err(|_| Rejection::Malformed)?;
    if !given.contains(&b':') {
        return Err(Rejection::Malformed);
    }
    let credentials = params.credentials.iter().map(Secret::expose);
    common::matched_or_mismatch(common::matches_any(credentials, &given))
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
            include_str!("../../tests/vectors/basic-auth/rfc7617.json"),
        );
    }

    #[test]
    fn sign_is_pinned() {
        // RFC 7617 §2's example.
        assert_eq!(
            sign("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
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
        let ok = [("event_id", "header:x-id"), ("event_type", "/type")];
        assert_eq!(with(&["u:p"], &ok), Ok(()));
        assert_eq!(with(&["nopassword"], &ok), Err("secrets[0]".into()));
        assert_eq!(with(&["u:p", ":p"], &ok), Err("secrets[1]".into()));
        assert_eq!(
            with(&["u:p"], &[("event_id", "/id")]),
            Err("event_type".into())
        );
        assert_eq!(
            with(
                &["u:p"],
                &[("event_id", "/id"), ("event_type", "/t"), ("header", "x")]
            ),
            Err("header".into())
        );
        let mut src = source(NAME, &["u:topsecret"]);
        src.params.insert("event_id".into(), "/id".into());
        src.params.insert("event_type".into(), "/t".into());
        assert!(!format!("{:?}", Params::from_source(&src).unwrap()).contains("topsecret"));
    }
}
