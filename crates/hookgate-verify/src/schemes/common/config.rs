//! Building a scheme from its source's config, the same way for every
//! scheme: errors that name the key (never a secret), secrets that must
//! be there and non-empty, scheme keys and `public_url` refused unless the
//! scheme reads them (a typo'd option fails closed instead of being
//! ignored), and the tolerance in whole seconds.

use crate::SchemeError;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use std::time::Duration;

/// A build error for `source`, naming `key` (never a secret value).
pub(crate) fn scheme_error(
    source: &SourceConfig,
    key: impl Into<String>,
    message: impl Into<String>,
) -> SchemeError {
    SchemeError {
        source_id: source.id.clone(),
        key: key.into(),
        message: message.into(),
    }
}

/// The source's secrets: at least one, none empty (an empty secret is an
/// unset environment variable, not a key).
pub(crate) fn require_secrets<'s>(
    source: &'s SourceConfig,
    scheme: &str,
) -> Result<&'s [Secret], SchemeError> {
    if source.secrets.is_empty() {
        return Err(scheme_error(
            source,
            "secrets",
            format!("scheme {scheme:?} needs at least one secret"),
        ));
    }
    if let Some(i) = source.secrets.iter().position(|s| s.expose().is_empty()) {
        return Err(scheme_error(source, format!("secrets[{i}]"), "is empty"));
    }
    Ok(&source.secrets)
}

/// Fails closed on scheme keys this scheme does not read, so a typo'd or
/// misplaced option is never silently ignored.
pub(crate) fn reject_unused_keys(source: &SourceConfig, scheme: &str) -> Result<(), SchemeError> {
    reject_other_keys(source, scheme, &[], false)
}

/// The effective tolerance in whole seconds.
pub(crate) fn tolerance_secs(source: &SourceConfig, default: Duration) -> i64 {
    let tolerance = source.tolerance.unwrap_or(default);
    i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX)
}

/// The header named by scheme key `key`, when set; a name `http` refuses
/// is an error naming `key`.
pub(crate) fn header_name_param(
    source: &SourceConfig,
    key: &str,
) -> Result<Option<http::HeaderName>, SchemeError> {
    let Some(raw) = source.params.get(key) else {
        return Ok(None);
    };
    http::HeaderName::from_bytes(raw.as_bytes())
        .map(Some)
        .map_err(|_| scheme_error(source, key, format!("{raw:?} is not a valid header name")))
}

/// The secrets of a scheme that reads no scheme keys and takes its secrets
/// as configured ([`reject_unused_keys`], then [`require_secrets`]).
pub(crate) fn plain_secrets(
    source: &SourceConfig,
    scheme: &str,
) -> Result<Vec<Secret>, SchemeError> {
    reject_unused_keys(source, scheme)?;
    Ok(require_secrets(source, scheme)?.to_vec())
}

/// Like [`reject_unused_keys`] for schemes that read some keys: fails
/// closed on any scheme key outside `allowed`, and on `public_url` unless
/// the scheme signs the URL.
pub(crate) fn reject_other_keys(
    source: &SourceConfig,
    scheme: &str,
    allowed: &[&str],
    uses_public_url: bool,
) -> Result<(), SchemeError> {
    if let Some(key) = source
        .params
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(scheme_error(
            source,
            key.clone(),
            format!("not used by scheme {scheme:?}"),
        ));
    }
    if !uses_public_url && source.public_url.is_some() {
        return Err(scheme_error(
            source,
            "public_url",
            format!("not used by scheme {scheme:?} (it does not sign the URL)"),
        ));
    }
    Ok(())
}
