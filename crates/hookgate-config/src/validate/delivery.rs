//! `[delivery]`: gateway-wide delivery settings.
//!
//! Why a module: `visibility_timeout` is also handed to the cross-section
//! check against every subscription's `timeout` ([`super::cross`]).

use super::files::certificates_file;
use super::opt;
use crate::duration::{Zero, duration};
use crate::model::*;
use crate::raw::{Ctx, Fields};
use std::time::Duration;

pub(super) const DELIVERY_KEYS: &[&str] = &[
    "visibility_timeout",
    "retention",
    "poll_interval",
    "nice",
    "ca_file",
];

/// `[delivery]`. Also returns, for the cross-check, `Some(line of
/// visibility_timeout if written)` when `visibility_timeout` is usable, and
/// `None` when it is bad (already reported: no second error about it).
pub(super) fn delivery(
    ctx: &mut Ctx<'_>,
    t: Option<&Fields<'_>>,
) -> (DeliveryConfig, Option<Option<usize>>) {
    let (visibility_timeout, visibility) = match t.and_then(|t| t.get("visibility_timeout")) {
        Some(f) => match duration(ctx, &f, Zero::Refused) {
            Some(d) => (d, Some(f.line)),
            None => (Duration::from_secs(60), None),
        },
        None => (Duration::from_secs(60), Some(None)),
    };
    let d = |ctx: &mut Ctx<'_>, key: &str, default: Duration| {
        opt(ctx, t, key, |c, f| duration(c, f, Zero::Refused)).unwrap_or(default)
    };
    let config = DeliveryConfig {
        visibility_timeout,
        retention: d(ctx, "retention", Duration::from_secs(14 * 86400)),
        poll_interval: d(ctx, "poll_interval", Duration::from_millis(500)),
        nice: opt(ctx, t, "nice", |c, f| c.uint(f, 0, 19)).map_or(10, |n| n as u8),
        ca_file: opt(ctx, t, "ca_file", certificates_file),
    };
    (config, visibility)
}
