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
    let defaults = DeliveryConfig::default();
    let (visibility_timeout, visibility) = match t.and_then(|t| t.get("visibility_timeout")) {
        Some(f) => match duration(ctx, &f, Zero::Refused) {
            Some(d) => (d, Some(f.line)),
            None => (defaults.visibility_timeout, None),
        },
        None => (defaults.visibility_timeout, Some(None)),
    };
    let d = |ctx: &mut Ctx<'_>, key: &str, default: Duration| {
        opt(ctx, t, key, |c, f| duration(c, f, Zero::Refused)).unwrap_or(default)
    };
    let config = DeliveryConfig {
        visibility_timeout,
        retention: d(ctx, "retention", defaults.retention),
        poll_interval: d(ctx, "poll_interval", defaults.poll_interval),
        nice: opt(ctx, t, "nice", |c, f| c.uint(f, 0, 19)).map_or(defaults.nice, |n| n as u8),
        ca_file: opt(ctx, t, "ca_file", certificates_file),
    };
    (config, visibility)
}
