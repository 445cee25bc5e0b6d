//! What the timestamped schemes (`stripe`, `paddle`, `slack`,
//! `standard-webhooks`, `persona`, and `hmac` with a `timestamp_header`)
//! do the same way once each has parsed its own header: the verdict after
//! parsing.
//!
//! Parsing stays in each scheme's module: the `t=…,v1=…` shapes look alike
//! but their SDKs disagree on separators, repeated keys, unknown keys and
//! how the timestamp is spelled and signed, and each module doc records
//! which verdict wins. Here only the order of what follows is decided once
//! (docs/schemes.md precedence `mismatch` > `stale`): the body must be UTF-8, some
//! secret must sign some candidate (every pair compared), and only a
//! matching signature's timestamp is then checked against the tolerance
//! (boundaries in [`common::within_tolerance`]).

use super::common;
use crate::Rejection;
use hookgate_core::Secret;

/// The verdict for a parsed header: `mismatch` for a non-UTF-8 body or
/// when no `sign(secret)` equals any of `candidates`, then `stale` when
/// `timestamp` is outside `tolerance_secs` of `now_unix`.
pub(crate) fn check<C: AsRef<[u8]>>(
    body: &[u8],
    secrets: &[Secret],
    sign: impl Fn(&[u8]) -> String,
    candidates: &[C],
    timestamp: i64,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), Rejection> {
    common::require_utf8_body(body)?;
    common::matched_or_mismatch(common::any_secret_signs(secrets, sign, candidates))?;
    fresh(now_unix, timestamp, tolerance_secs)
}

/// `stale` unless `timestamp` is within `tolerance_secs` of `now_unix`.
pub(crate) fn fresh(now_unix: i64, timestamp: i64, tolerance_secs: i64) -> Result<(), Rejection> {
    if common::within_tolerance(now_unix, timestamp, tolerance_secs) {
        Ok(())
    } else {
        Err(Rejection::Stale)
    }
}
