//! `/admin/v1/subscriptions/{id}/ordering`: the subscription's blocked
//! ordering keys, the ones an operator has to look at.
//!
//! A key is blocked when its head, the delivery that goes first, has
//! failed and waits for a retry: every later event of the key waits behind
//! it while other keys flow. That is the one ordering state worth a page:
//! a key that merely has a delivery in flight is not listed. The store
//! answers the oldest blocked keys of one route at a time; they are merged
//! here over the subscription's routes, oldest first.

use crate::api::{BlockedHeadView, BlockedKeyView, Page};
use crate::error::ApiError;
use crate::query::Query;
use crate::{Call, ok};
use hookgate_core::time::rfc3339_ms;
use hookgate_http::Body;
use http::Response;

/// Largest `limit`: each key costs the store a head lookup.
pub(crate) const MAX_BLOCKED_LIMIT: usize = 500;

/// `GET /admin/v1/subscriptions/{id}/ordering?source&limit`: the oldest
/// `limit` blocked keys over the subscription's routes (or one route's,
/// with `source`), oldest blocked first. The list is the oldest ones, not
/// a page of a walk: `next_cursor` is always `null`.
pub(crate) async fn blocked(
    call: &Call<'_>,
    id: &str,
    raw: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let sub = call.subscription(id)?;
    let q = Query::parse(raw, &["source", "limit"])?;
    let limit = q.limit_up_to(MAX_BLOCKED_LIMIT)?;
    let source = q.get("source");
    if let Some(s) = source
        && !call.admin.config.sources.iter().any(|x| x.id == s)
    {
        return Err(ApiError::bad_request(format!("no source {s:?}")));
    }
    let mut found = Vec::new();
    for src in &call.admin.config.sources {
        if source.is_some_and(|s| s != src.id) {
            continue;
        }
        let keys = call
            .admin
            .store
            .blocked_keys(&src.id, &sub.id, limit)
            .await?;
        found.extend(keys.into_iter().map(|k| (src.id.as_str(), k)));
    }
    found.sort_by(|(sa, a), (sb, b)| (a.since_ms, *sa, &a.key).cmp(&(b.since_ms, *sb, &b.key)));
    found.truncate(limit);
    let items = found
        .into_iter()
        .map(|(source, k)| BlockedKeyView {
            source: source.to_owned(),
            key: k.key.to_string(),
            head: BlockedHeadView {
                event_id: k.head.to_string(),
                attempts: k.attempts,
                last_status_code: k.last_status_code,
                last_error: k.last_error,
                since: rfc3339_ms(k.since_ms).unwrap_or_default(),
            },
            waiting: k.waiting,
        })
        .collect();
    ok(&Page {
        items,
        next_cursor: None,
    })
}
