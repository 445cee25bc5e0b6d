//! The "HMAC of the raw body in one header" family (`checkout`, `onfido`,
//! `github`, `shopify`, `adyen-hmac-header`): one header carries the
//! provider's encoding of HMAC-SHA256 of the raw body, and the header's
//! text is compared with what [`Sign`] produces for each configured key.
//!
//! What the family shares is decided here once (docs/schemes.md): the header is
//! read with [`common::signature_header`] (absent or empty `missing`,
//! repeated or not visible ASCII `malformed`); the body must be UTF-8
//! (every one of these providers' SDKs signs a string), else `mismatch`;
//! the value is compared as the exact string against every key (so
//! upper-case hex or another base64 spelling simply mismatches), without
//! stopping at the first match. What differs per provider (the encoding,
//! a prefix, extra required headers) stays in the scheme's module, which
//! runs its own checks before [`check`].

use super::common;
use crate::{RawRequest, Rejection};
use hookgate_core::Secret;

/// A scheme's public `sign(key, body) -> header value`.
pub(crate) type Sign = fn(&[u8], &[u8]) -> String;

/// Reads `header`, then [`check`]s it.
pub(crate) fn verify(
    req: &RawRequest<'_>,
    header: &str,
    keys: &[Secret],
    sign: Sign,
) -> Result<(), Rejection> {
    let value = common::signature_header(req.headers, header)?;
    check(value, req.body, keys, sign)
}

/// `value` (the header's text, already read) against `sign(key, body)`
/// for every key: `mismatch` for a non-UTF-8 body or when no key matches.
pub(crate) fn check(
    value: &str,
    body: &[u8],
    keys: &[Secret],
    sign: Sign,
) -> Result<(), Rejection> {
    common::require_utf8_body(body)?;
    common::matched_or_mismatch(common::any_secret_signs(
        keys,
        |key| sign(key, body),
        &[value],
    ))
}
