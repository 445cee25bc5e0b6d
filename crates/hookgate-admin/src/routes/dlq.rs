//! `/admin/v1/subscriptions/{id}/dead-letters`: list with filters, replay
//! by ids or by filter (paced, idempotent, audited, with a dry run).

use crate::api::{DeadLetterFilter, DeadLetterView, Page, ReplayRequest, ReplayResult};
use crate::error::ApiError;
use crate::query::{Cursor, Query, parse_time};
use crate::{Call, ok};
use hookgate_config::{Role, SubscriptionConfig};
use hookgate_core::EventId;
use hookgate_core::glob::Pattern;
use hookgate_core::time::rfc3339_ms;
use hookgate_http::Body;
use hookgate_store::DeliveryStatus;
use http::Response;
use std::time::Duration;

/// Dead letters read per store round trip while scanning.
const SCAN_BATCH: usize = 500;
/// Dead letters one listing call reads per route at most. A `type` or
/// `reason` filter that matches few of a deep dead letter queue would
/// otherwise read all of it in one call: past this, the page ends where
/// the read stopped, with fewer items than `limit` (even none) and a
/// `next_cursor` to go on from there. (Replay by filter reads on to
/// [`MAX_FILTER_MATCHES`].)
const SCAN_BUDGET: usize = 1_000;
/// Most ids one replay call may name.
const MAX_IDS: usize = 10_000;
/// Most dead letters one replay-by-filter call handles, so memory stays
/// bounded however deep the dead letters are; replay is idempotent, so the
/// operator repeats the call for the rest (oldest first each time).
const MAX_FILTER_MATCHES: usize = 100_000;

/// A filter value, unless absent or empty.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// A compiled filter.
struct Matcher {
    ty: Option<Pattern>,
    reason: Option<String>,
    source: Option<String>,
    since: i64,
    until: i64,
}

impl Matcher {
    fn new(f: &DeadLetterFilter, call: &Call<'_>) -> Result<Self, ApiError> {
        if let Some(s) = f.source.as_deref().filter(|s| !s.is_empty())
            && !call.admin.config.sources.iter().any(|x| x.id == s)
        {
            return Err(ApiError::bad_request(format!("no source {s:?}")));
        }
        // An empty value is no filter, as an empty query parameter is:
        // a replay filter copied from the list's parameters matches what
        // the list showed.
        Ok(Matcher {
            ty: given(&f.ty).map(Pattern::new),
            reason: given(&f.reason).map(str::to_owned),
            source: given(&f.source).map(str::to_owned),
            since: parse_time("since", given(&f.since))?.unwrap_or(0),
            until: parse_time("until", given(&f.until))?.unwrap_or(i64::MAX),
        })
    }

    fn keeps(&self, v: &DeadLetterView) -> bool {
        let ty_ok = match (&self.ty, &v.ty) {
            (None, _) => true,
            (Some(p), Some(t)) => p.matches(t),
            (Some(_), None) => false,
        };
        let reason_ok = match (&self.reason, &v.reason) {
            (None, _) => true,
            (Some(prefix), Some(r)) => r.starts_with(prefix.as_str()),
            (Some(_), None) => false,
        };
        ty_ok && reason_ok
    }
}

/// What a scan found: the matches in (dead-at, source, id) order and, when
/// a route's read stopped on the budget, the earliest point where one did
/// (nothing past it is known complete).
struct Found {
    matches: Vec<(Cursor, DeadLetterView)>,
    stopped: Option<Cursor>,
}

/// Scans a subscription's dead letters over its routes, in (dead-at,
/// source, id) order after `after`, until `want` matched on each route or
/// `budget` entries of a route were read.
///
/// Reads by keyset: each round trip starts at the last dead-at time read,
/// skipping only the entries of that millisecond already seen, so a deep
/// queue costs each call what it reads, not everything before it.
async fn scan(
    call: &Call<'_>,
    sub: &SubscriptionConfig,
    m: &Matcher,
    after: Option<&Cursor>,
    want: usize,
    budget: usize,
) -> Result<Found, ApiError> {
    let store = &call.admin.store;
    let mut found = Found {
        matches: Vec::new(),
        stopped: None,
    };
    for (idx, src) in call.admin.config.sources.iter().enumerate() {
        if m.source.as_ref().is_some_and(|s| s != &src.id) {
            continue;
        }
        let mut from = m.since.max(after.map_or(0, |c| c.ms));
        // Entries dead at `from` that earlier round trips returned.
        let mut skip = 0;
        let (mut read, mut kept) = (0, 0);
        loop {
            let batch = store
                .dead_letter_range(&src.id, &sub.id, from, m.until, skip, SCAN_BATCH)
                .await?;
            let fetched = batch.len();
            read += fetched;
            let Some(last) = batch.last().map(|(id, ms)| Cursor {
                ms: *ms,
                source: idx,
                id: id.to_string(),
            }) else {
                break;
            };
            (from, skip) = advance(from, skip, &batch);
            let batch: Vec<(Cursor, EventId)> = batch
                .into_iter()
                .map(|(id, ms)| {
                    let cursor = Cursor {
                        ms,
                        source: idx,
                        id: id.to_string(),
                    };
                    (cursor, id)
                })
                .filter(|(c, _)| after.is_none_or(|a| c > a))
                .collect();
            kept += keep_dead(call, sub, &src.id, m, batch, &mut found.matches).await?;
            if kept >= want || fetched < SCAN_BATCH {
                break;
            }
            if read >= budget {
                if found.stopped.as_ref().is_none_or(|s| last < *s) {
                    found.stopped = Some(last);
                }
                break;
            }
        }
    }
    found.matches.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(stop) = &found.stopped {
        found.matches.retain(|(c, _)| c <= stop);
    }
    Ok(found)
}

/// Where the next read of a route starts, after `batch` was read from
/// `from` skipping `skip` entries: at the batch's last dead-at time,
/// skipping the entries of that millisecond read so far (all of the
/// batch's, plus the earlier ones when the whole batch was of `from`).
fn advance(from: i64, skip: usize, batch: &[(EventId, i64)]) -> (i64, usize) {
    let Some(&(_, last)) = batch.last() else {
        return (from, skip);
    };
    let at_last = batch.iter().rev().take_while(|(_, ms)| *ms == last).count();
    (last, at_last + if last == from { skip } else { 0 })
}

/// Adds the entries of `batch` that are dead now and pass the filter to
/// `out`; answers how many it added.
async fn keep_dead(
    call: &Call<'_>,
    sub: &SubscriptionConfig,
    source: &str,
    m: &Matcher,
    batch: Vec<(Cursor, EventId)>,
    out: &mut Vec<(Cursor, DeadLetterView)>,
) -> Result<usize, ApiError> {
    let store = &call.admin.store;
    let ids: Vec<EventId> = batch.iter().map(|(_, id)| id.clone()).collect();
    let records = store.delivery_records(source, &ids, &sub.id).await?;
    let types = store.event_types(source, &ids).await?;
    let mut kept = 0;
    for (((cursor, id), record), ty) in batch.into_iter().zip(records).zip(types) {
        let record = record.filter(|r| r.status == DeliveryStatus::Dead);
        let Some(record) = record else { continue };
        let view = DeadLetterView {
            event_id: id.to_string(),
            source: source.to_owned(),
            ty,
            reason: record.reason,
            last_status_code: record.last_status_code,
            attempts: record.attempts,
            dead_at: rfc3339_ms(record.dead_at_ms.unwrap_or(cursor.ms)),
        };
        if m.keeps(&view) {
            out.push((cursor, view));
            kept += 1;
        }
    }
    Ok(kept)
}

/// `GET /admin/v1/subscriptions/{id}/dead-letters?type&reason&source&since&until&limit&cursor`.
pub(crate) async fn list(
    call: &Call<'_>,
    id: &str,
    raw: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let sub = call.subscription(id)?;
    let q = Query::parse(
        raw,
        &[
            "type", "reason", "source", "since", "until", "limit", "cursor",
        ],
    )?;
    let limit = q.limit()?;
    let filter = DeadLetterFilter {
        ty: q.get("type").map(str::to_owned),
        reason: q.get("reason").map(str::to_owned),
        source: q.get("source").map(str::to_owned),
        since: q.get("since").map(str::to_owned),
        until: q.get("until").map(str::to_owned),
    };
    let m = Matcher::new(&filter, call)?;
    let after = q.get("cursor").map(Cursor::decode).transpose()?;
    let Found {
        matches: mut found,
        stopped,
    } = scan(call, sub, &m, after.as_ref(), limit + 1, SCAN_BUDGET).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let next_cursor = if more {
        found.last().map(|(c, _)| c.encode())
    } else {
        stopped.map(|c| c.encode())
    };
    ok(&Page {
        items: found.into_iter().map(|(_, v)| v).collect(),
        next_cursor,
    })
}

/// `POST /admin/v1/subscriptions/{id}/dead-letters/replay`.
pub(crate) async fn replay(
    call: &Call<'_>,
    id: &str,
    req: ReplayRequest,
) -> Result<Response<Body>, ApiError> {
    call.require(Role::Operator)?;
    let sub = call.subscription(id)?;
    let cfg = &call.admin.config;
    let matched = match (&req.event_ids, &req.filter) {
        (Some(ids), None) => named(call, sub, ids).await?,
        (None, Some(filter)) => {
            let m = Matcher::new(filter, call)?;
            // No budget: a replay reads on to its own bound.
            let mut found = scan(call, sub, &m, None, MAX_FILTER_MATCHES, usize::MAX)
                .await?
                .matches;
            found.truncate(MAX_FILTER_MATCHES);
            found
                .into_iter()
                .filter_map(|(cursor, v)| EventId::parse(&v.event_id).map(|id| (cursor.source, id)))
                .collect()
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"event_ids\" or \"filter\"",
            ));
        }
    };
    let total = matched.len() as u64;
    if req.dry_run {
        return ok(&ReplayResult {
            matched: total,
            replayed: 0,
        });
    }
    // Pace: the i-th replayed entry falls due i / replay_rate seconds from now.
    let spacing = Duration::from_secs_f64(1.0 / cfg.admin.replay_rate);
    let mut replayed = 0;
    for (idx, src) in cfg.sources.iter().enumerate() {
        let ids: Vec<EventId> = matched
            .iter()
            .filter(|(i, _)| *i == idx)
            .map(|(_, id)| id.clone())
            .collect();
        for chunk in ids.chunks(SCAN_BATCH) {
            replayed += call
                .admin
                .store
                .replay(&src.id, &sub.id, chunk, spacing, replayed)
                .await?;
        }
    }
    let filter = serde_json::json!({ "event_ids": req.event_ids, "filter": req.filter });
    call.audit("dead_letters.replay", &sub.id, filter, replayed)
        .await;
    ok(&ReplayResult {
        matched: total,
        replayed,
    })
}

/// The named dead letters of a replay that are dead now, as (source index,
/// event id); at most [`MAX_IDS`] ids, each an event id.
async fn named(
    call: &Call<'_>,
    sub: &SubscriptionConfig,
    ids: &[String],
) -> Result<Vec<(usize, EventId)>, ApiError> {
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_IDS} event_ids per call"
        )));
    }
    let mut parsed = Vec::with_capacity(ids.len());
    for raw in ids {
        let id = EventId::parse(raw)
            .ok_or_else(|| ApiError::bad_request(format!("{raw:?} is not an event id")))?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    let mut matched = Vec::new();
    for (idx, src) in call.admin.config.sources.iter().enumerate() {
        let records = call
            .admin
            .store
            .delivery_records(&src.id, &parsed, &sub.id)
            .await?;
        for (id, record) in parsed.iter().zip(records) {
            if record.is_some_and(|r| r.status == DeliveryStatus::Dead) {
                matched.push((idx, id.clone()));
            }
        }
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(times: &[i64]) -> Vec<(EventId, i64)> {
        times
            .iter()
            .enumerate()
            .map(|(i, ms)| (EventId::derive(&format!("s:{ms}:{i}")), *ms))
            .collect()
    }

    #[test]
    fn the_next_read_starts_at_the_last_time_read_skipping_what_was_read_of_it() {
        // (from, skip, the batch's dead-at times) -> (from, skip) next.
        type Case = (i64, usize, &'static [i64], (i64, usize));
        let cases: &[Case] = &[
            // Nothing read: unchanged.
            (5, 3, &[], (5, 3)),
            // Distinct times: start at the last, past its one entry.
            (0, 0, &[1, 2, 3], (3, 1)),
            // Several at the last time.
            (0, 0, &[1, 3, 3, 3], (3, 3)),
            // Moving past `from`: the old skip no longer applies.
            (1, 2, &[1, 1, 2], (2, 1)),
            // A whole batch of `from` (more than a batch share one
            // millisecond): skip them as well as those read before.
            (7, 500, &[7, 7, 7, 7], (7, 504)),
        ];
        for (from, skip, times, want) in cases {
            assert_eq!(
                advance(*from, *skip, &batch(times)),
                *want,
                "from {from}, skip {skip}, batch {times:?}"
            );
        }
    }
}
