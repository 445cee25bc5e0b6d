//! Rules that span sections, run once every section is built.
//!
//! Why a module: they read several sections' finished values and must not
//! repeat an error a section already reported.

use crate::duration;
use crate::raw::Ctx;
use crate::subscription;
use std::time::Duration;

/// A source's routes are served by its pool: with fewer `workers` than the
/// `max_in_flight` of the subscriptions its events can reach, together,
/// one stuck subscriber can hold pool capacity the others need. Allowed (a
/// deliberate cap), but said. A subscription none of whose patterns can
/// match the source's types (`{source}.…`, or a `[sources.types]` value)
/// never takes its workers and is not counted.
pub(super) fn check_pool_sizes(
    ctx: &mut Ctx<'_>,
    sources: &[crate::SourceConfig],
    subscriptions: &[crate::SubscriptionConfig],
) {
    for src in sources {
        let prefix = format!("{}.", src.id);
        let reached: Vec<&crate::SubscriptionConfig> = subscriptions
            .iter()
            .filter(|s| {
                s.events.iter().any(|p| {
                    p.may_match_prefix(&prefix) || src.types.values().any(|t| p.matches(t))
                })
            })
            .collect();
        let wanted: usize = reached.iter().map(|s| s.max_in_flight).sum();
        if reached.len() > 1 && src.workers < wanted {
            ctx.warn(
                None,
                &format!("sources.{}.workers", src.id),
                format!(
                    "{} workers serve routes whose max_in_flight add up to {wanted}: a stuck \
                     subscriber can hold capacity the others need; set workers >= {wanted} for \
                     full isolation",
                    src.workers
                ),
            );
        }
    }
}

/// A leased delivery must not return to its queue while its attempt may
/// still be running, so `visibility_timeout` must exceed every `timeout`.
pub(super) fn check_visibility_timeout(
    ctx: &mut Ctx<'_>,
    vt: Duration,
    visibility_line: Option<usize>,
    timeouts: &[subscription::TimeoutAt],
) {
    for s in timeouts {
        let timeout = s.timeout;
        if vt <= timeout {
            let id = &s.name;
            let at = s.line.map(|l| format!(", line {l}")).unwrap_or_default();
            ctx.error(
                visibility_line.or(s.line),
                "delivery.visibility_timeout",
                format!(
                    "{} must exceed the timeout of subscription {id:?} ({}{at}): \
                     a delivery would be reclaimed while its attempt is still running",
                    duration::show(vt),
                    duration::show(timeout),
                ),
            );
        }
    }
}
