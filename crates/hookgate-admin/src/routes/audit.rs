//! `/admin/v1/audit`: the append-only log of mutating calls, admin only.
//!
//! A tenant-scoped admin token reads only the records about its tenants'
//! subscriptions (every record's target names one: `sub` or
//! `evt_…/sub`), like everything else it reads. Its pages can then hold
//! fewer than `limit` items, even none, with a `next_cursor` to go on.

use crate::api::{AuditView, Page};
use crate::error::ApiError;
use crate::query::{LAST_AUDIT_CURSOR, Query, audit_cursor};
use crate::{Call, ok};
use hookgate_config::Role;
use hookgate_http::Body;
use http::Response;

/// `GET /admin/v1/audit?limit&cursor`, oldest first.
pub(crate) async fn list(call: &Call<'_>, raw: Option<&str>) -> Result<Response<Body>, ApiError> {
    call.require(Role::Admin)?;
    let q = Query::parse(raw, &["limit", "cursor"])?;
    let limit = q.limit()?;
    let after = q.get("cursor").map(audit_cursor).transpose()?;
    if after.as_deref() == Some(LAST_AUDIT_CURSOR) {
        return ok(&Page::<AuditView> {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let mut records = call
        .admin
        .store
        .audit_page(after.as_deref(), limit + 1)
        .await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let next_cursor = if more {
        records.last().map(|(id, _)| id.clone())
    } else {
        None
    };
    let visible: Option<Vec<&str>> = call.caller.tenants.as_ref().map(|_| {
        call.visible_subscriptions()
            .iter()
            .map(|s| s.id.as_str())
            .collect()
    });
    let items = records
        .into_iter()
        .filter(|(_, r)| match &visible {
            None => true,
            Some(subs) => {
                let sub = r.target.rsplit('/').next().unwrap_or_default();
                subs.contains(&sub)
            }
        })
        .map(|(id, r)| AuditView {
            id,
            actor: r.actor,
            role: r.role,
            action: r.action,
            target: r.target,
            filter: r.filter,
            count: r.count,
            request_id: r.request_id,
            at: r.at,
        })
        .collect();
    ok(&Page { items, next_cursor })
}
