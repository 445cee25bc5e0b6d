//! `/admin/v1/events`: list, show with deliveries and attempts, redeliver.

use crate::api::{AttemptView, DeliveryView, EventDetail, EventSummary, Page, RedeliverRequest};
use crate::error::ApiError;
use crate::query::{Cursor, Query};
use crate::{Call, ok};
use hookgate_config::Role;
use hookgate_core::EventId;
use hookgate_core::glob::Pattern;
use hookgate_core::time::rfc3339_ms;
use hookgate_http::{Body, json};
use hookgate_store::{ListOrder, StoredEvent};
use http::{Response, StatusCode};
use serde_json::{Value, json};

/// Index entries read per store round trip while scanning.
const SCAN_BATCH: usize = 200;
/// Index entries one listing call reads per source at most. A type filter
/// (or a tenant's view) that matches few events would otherwise read the
/// whole index in one call: past this, the page ends where the scan
/// stopped, with fewer items than `limit` (even none) and a `next_cursor`
/// to go on from there.
const SCAN_BUDGET: usize = 1_000;

fn envelope(ev: &StoredEvent) -> Value {
    serde_json::from_slice(&ev.cloudevent).unwrap_or(Value::Null)
}

fn text_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn summary(source: &str, id: &EventId, ev: &StoredEvent) -> EventSummary {
    let ce = envelope(ev);
    EventSummary {
        id: id.to_string(),
        source: source.to_owned(),
        ty: ev.ty.clone(),
        time: text_field(&ce, "time"),
        subject: text_field(&ce, "subject"),
        received_at: rfc3339_ms(ev.received_ms).unwrap_or_default(),
    }
}

/// `GET /admin/v1/events?source&type&since&until&order&limit&cursor`, by
/// receive time: oldest first, or newest first with `order=newest`.
pub(crate) async fn list(call: &Call<'_>, raw: Option<&str>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(
        raw,
        &[
            "source", "type", "since", "until", "order", "limit", "cursor",
        ],
    )?;
    let cfg = &call.admin.config;
    if let Some(s) = q.get("source")
        && !cfg.sources.iter().any(|x| x.id == s)
    {
        return Err(ApiError::bad_request(format!("no source {s:?}")));
    }
    let scan = Scan {
        order: match q.get("order") {
            None | Some("oldest") => ListOrder::OldestFirst,
            Some("newest") => ListOrder::NewestFirst,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "order must be \"oldest\" or \"newest\"",
                ));
            }
        },
        limit: q.limit()?,
        since: q.time("since")?.unwrap_or(0),
        until: q.time("until")?.unwrap_or(i64::MAX),
        pattern: q.get("type").map(Pattern::new),
        after: q.get("cursor").map(Cursor::decode).transpose()?,
    };
    let mut found: Vec<(Cursor, EventId)> = Vec::new();
    // The earliest point (in the listing's order) where a source's scan
    // stopped on its budget: nothing past it is known complete.
    let mut stopped: Option<Cursor> = None;
    for (idx, src) in cfg.sources.iter().enumerate() {
        if q.get("source").is_none_or(|s| s == src.id) {
            let (part, stop) = scan.source(call, idx, &src.id).await?;
            found.extend(part);
            if let Some(stop) = stop
                && stopped.as_ref().is_none_or(|s| scan.before(&stop, s))
            {
                stopped = Some(stop);
            }
        }
    }
    found.sort();
    if scan.order == ListOrder::NewestFirst {
        found.reverse();
    }
    if let Some(stop) = &stopped {
        found.retain(|(c, _)| !scan.before(stop, c));
    }
    let full = found.len() > scan.limit;
    found.truncate(scan.limit);
    let store = &call.admin.store;
    let mut items = Vec::with_capacity(found.len());
    for (cursor, id) in &found {
        let source = &cfg.sources[cursor.source].id;
        if let Some(ev) = store.event(source, id).await? {
            items.push(summary(source, id, &ev));
        }
    }
    let next_cursor = if full {
        found.last().map(|(c, _)| c.encode())
    } else {
        stopped.map(|c| c.encode())
    };
    ok(&Page { items, next_cursor })
}

/// What an events listing asks for.
struct Scan {
    order: ListOrder,
    limit: usize,
    since: i64,
    until: i64,
    pattern: Option<Pattern>,
    after: Option<Cursor>,
}

impl Scan {
    /// Whether `c` comes after the page's cursor in the listing's order.
    fn past_cursor(&self, c: &Cursor) -> bool {
        self.after.as_ref().is_none_or(|a| match self.order {
            ListOrder::OldestFirst => c > a,
            ListOrder::NewestFirst => c < a,
        })
    }

    /// Whether `a` comes before `b` in the listing's order.
    fn before(&self, a: &Cursor, b: &Cursor) -> bool {
        match self.order {
            ListOrder::OldestFirst => a < b,
            ListOrder::NewestFirst => a > b,
        }
    }

    /// Up to `limit + 1` events of source `idx` past the cursor that the
    /// caller may see and the type filter takes, read from the store's
    /// index in the listing's order; and, when the scan stopped on
    /// [`SCAN_BUDGET`] first, the last index entry it read.
    async fn source(
        &self,
        call: &Call<'_>,
        idx: usize,
        source: &str,
    ) -> Result<(Vec<(Cursor, EventId)>, Option<Cursor>), ApiError> {
        // Where this source's part of the listing resumes. The listing is
        // ordered by (time, source index, id), so past the cursor are: for
        // the cursor's own source, its (time, id) strictly past the
        // cursor's; for a source after it in that order, the cursor's time
        // again (all its ties); for one before it, the next millisecond.
        let mut range = (self.since, self.until);
        let mut after: Option<(i64, EventId)> = None;
        if let Some(c) = &self.after {
            let later = match self.order {
                ListOrder::OldestFirst => idx > c.source,
                ListOrder::NewestFirst => idx < c.source,
            };
            match (self.order, idx == c.source, later) {
                (_, true, _) => {
                    let id = EventId::parse(&c.id).ok_or_else(|| {
                        ApiError::bad_request("cursor is not one this API returned")
                    })?;
                    after = Some((c.ms, id));
                }
                (ListOrder::OldestFirst, false, true) => range.0 = range.0.max(c.ms),
                (ListOrder::OldestFirst, false, false) => {
                    range.0 = range.0.max(c.ms.saturating_add(1));
                }
                (ListOrder::NewestFirst, false, true) => range.1 = range.1.min(c.ms),
                (ListOrder::NewestFirst, false, false) => {
                    range.1 = range.1.min(c.ms.saturating_sub(1));
                }
            }
        }
        let store = &call.admin.store;
        let mut found = Vec::new();
        if range.0 > range.1 {
            return Ok((found, None));
        }
        let mut read = 0;
        // Keyset paging through the store's index: each batch resumes after
        // the last entry read, so a deep page or a sparse type filter costs
        // what it reads, never an offset skipped again.
        loop {
            let batch = store
                .event_index_after(
                    source,
                    range,
                    self.order,
                    after.as_ref().map(|(ms, id)| (*ms, id)),
                    SCAN_BATCH,
                )
                .await?;
            let fetched = batch.len();
            read += fetched;
            after = batch.last().cloned().map(|(id, ms)| (ms, id));
            let last = batch.last().map(|(id, ms)| Cursor {
                ms: *ms,
                source: idx,
                id: id.to_string(),
            });
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
                .filter(|(c, _)| self.past_cursor(c))
                .collect();
            let ids: Vec<EventId> = batch.iter().map(|(_, id)| id.clone()).collect();
            let types = store.event_types(source, &ids).await?;
            for ((cursor, id), ty) in batch.into_iter().zip(types) {
                let Some(ty) = ty else { continue };
                if self.pattern.as_ref().is_some_and(|p| !p.matches(&ty)) || !call.sees_type(&ty) {
                    continue;
                }
                found.push((cursor, id));
            }
            if found.len() > self.limit || fetched < SCAN_BATCH {
                return Ok((found, None));
            }
            if read >= SCAN_BUDGET {
                return Ok((found, last));
            }
        }
    }
}

/// Finds an event the caller may see: one that goes to no subscription of
/// its tenants is answered exactly as one that does not exist.
async fn find(call: &Call<'_>, id: &str) -> Result<(EventId, String, StoredEvent), ApiError> {
    let missing = || call.event_not_found(id);
    let event_id = EventId::parse(id).ok_or_else(missing)?;
    let sources: Vec<&str> = call
        .admin
        .config
        .sources
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    let (source, ev) = call
        .admin
        .store
        .find_event(&sources, &event_id)
        .await?
        .ok_or_else(missing)?;
    if !call.sees_type(&ev.ty) {
        return Err(missing());
    }
    Ok((event_id, source, ev))
}

/// `GET /admin/v1/events/{id}`.
pub(crate) async fn show(call: &Call<'_>, id: &str) -> Result<Response<Body>, ApiError> {
    let (event_id, source, ev) = find(call, id).await?;
    let subs: Vec<&str> = call
        .visible_subscriptions()
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    let deliveries = call
        .admin
        .store
        .deliveries_of(&source, &event_id, &subs)
        .await?
        .into_iter()
        .map(|(subscription, record, attempts)| DeliveryView {
            subscription,
            status: record.status.as_str().to_owned(),
            reason: record.reason,
            attempts: attempts
                .into_iter()
                .map(|a| AttemptView {
                    n: a.n,
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                    response: a.response,
                })
                .collect(),
        })
        .collect();
    let s = summary(&source, &event_id, &ev);
    let data = envelope(&ev).get("data").cloned().unwrap_or(Value::Null);
    ok(&EventDetail {
        id: s.id,
        source: s.source,
        ty: s.ty,
        time: s.time,
        subject: s.subject,
        received_at: s.received_at,
        data,
        deliveries,
    })
}

/// `POST /admin/v1/events/{id}/redeliver` `{"subscription": "..."}`.
pub(crate) async fn redeliver(
    call: &Call<'_>,
    id: &str,
    req: RedeliverRequest,
) -> Result<Response<Body>, ApiError> {
    call.require(Role::Operator)?;
    let sub = call.subscription(&req.subscription)?;
    let (event_id, source, ev) = find(call, id).await?;
    // Only to a subscription the event is (or was) for: one whose patterns
    // match its type, or one it has a delivery for (the patterns may have
    // changed since). Anything else would send a subscriber events it
    // never asked for.
    if !call.subscribes(&sub.id, &ev.ty)
        && call
            .admin
            .store
            .deliveries_of(&source, &event_id, &[sub.id.as_str()])
            .await?
            .is_empty()
    {
        return Err(ApiError::conflict(
            "not_subscribed",
            format!(
                "subscription {:?} does not subscribe to events of type {:?} and has no delivery of this event",
                sub.id, ev.ty
            ),
        ));
    }
    let done = call
        .admin
        .store
        .redeliver(&source, &sub.id, &event_id)
        .await?;
    if !done {
        return Err(call.event_not_found(id));
    }
    let target = format!("{event_id}/{}", sub.id);
    call.audit(
        "event.redeliver",
        &target,
        json!({ "event_id": event_id.as_str(), "subscription": sub.id }),
        1,
    )
    .await;
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({ "event_id": event_id.as_str(), "subscription": sub.id, "status": "pending" }),
    ))
}
