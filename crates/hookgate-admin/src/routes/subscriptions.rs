//! `/admin/v1/subscriptions`: list with backlog, breakers and ordering;
//! pause, resume.

use crate::api::{OrderingView, Page, RouteView, SubscriptionView};
use crate::error::ApiError;
use crate::query::{Query, SubscriptionCursor};
use crate::{Call, ok};
use hookgate_config::{Ordering, Role, SubscriptionConfig};
use hookgate_http::Body;
use http::Response;
use serde_json::json;

/// The URL with any user-info masked (a URL may carry credentials).
fn masked(url: &http::Uri) -> String {
    let text = url.to_string();
    match url.authority().map(|a| a.as_str()) {
        Some(auth) if auth.contains('@') => {
            let host = auth.rsplit('@').next().unwrap_or_default();
            text.replacen(auth, &format!("***@{host}"), 1)
        }
        _ => text,
    }
}

/// A subscription's `ordering` on the wire.
fn ordering_view(o: &Ordering) -> OrderingView {
    match o {
        Ordering::Subject => OrderingView::Subject,
        Ordering::Pointer(p) => OrderingView::Pointer(p.clone()),
        Ordering::Header(h) => OrderingView::Header(h.as_str().to_owned()),
    }
}

/// `GET /admin/v1/subscriptions?limit&cursor`, in config order.
pub(crate) async fn list(call: &Call<'_>, raw: Option<&str>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(raw, &["limit", "cursor"])?;
    let limit = q.limit()?;
    let after = q
        .get("cursor")
        .map(SubscriptionCursor::decode)
        .transpose()?;
    let subs = &call.admin.config.subscriptions;
    // Resume after the cursor's subscription; if it left the config since,
    // after its old position. Only the caller's subscriptions are looked
    // up: a cursor naming another tenant's is read as one naming a
    // subscription that does not exist (else a crafted cursor would tell
    // which ids exist).
    let start = after.map_or(0, |c| {
        subs.iter()
            .position(|s| s.id == c.id && call.caller.sees_tenant(s.tenant.as_deref()))
            .unwrap_or(c.index)
            .saturating_add(1)
    });
    let mut page: Vec<(usize, &SubscriptionConfig)> = subs
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, s)| call.caller.sees_tenant(s.tenant.as_deref()))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_cursor = if more {
        page.last().map(|(index, s)| {
            SubscriptionCursor {
                index: *index,
                id: s.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    let store = &call.admin.store;
    let paused = store.paused().await?;
    let mut items = Vec::with_capacity(page.len());
    for (_, sub) in page {
        let mut routes = Vec::new();
        let (mut queue_depth, mut dlq_depth) = (0, 0);
        for src in &call.admin.config.sources {
            let d = store.route_depths(&src.id, &sub.id).await?;
            queue_depth += d.queued + d.in_flight;
            dlq_depth += d.dead;
            routes.push(RouteView {
                source: src.id.clone(),
                queue_depth: d.queued + d.in_flight,
                breaker: call
                    .admin
                    .runtime
                    .as_ref()
                    .map_or("closed", |r| r.breaker(&src.id, &sub.id))
                    .to_owned(),
                held: d.held,
                blocked_keys: d.blocked_keys,
            });
        }
        items.push(SubscriptionView {
            id: sub.id.clone(),
            tenant: sub.tenant.clone(),
            url: masked(&sub.url),
            paused: paused.contains(&sub.id),
            queue_depth,
            dlq_depth,
            ordering: sub.ordering.as_ref().map(ordering_view),
            routes,
        });
    }
    ok(&Page { items, next_cursor })
}

/// `POST /admin/v1/subscriptions/{id}/pause` and `.../resume`.
pub(crate) async fn pause(
    call: &Call<'_>,
    id: &str,
    paused: bool,
) -> Result<Response<Body>, ApiError> {
    call.require(Role::Operator)?;
    let sub = call.subscription(id)?;
    let changed = call.admin.store.set_paused(&sub.id, paused).await?;
    if let Some(rt) = &call.admin.runtime {
        rt.set_paused(&sub.id, paused);
    }
    let action = if paused {
        "subscription.pause"
    } else {
        "subscription.resume"
    };
    call.audit(action, &sub.id, serde_json::Value::Null, u64::from(changed))
        .await;
    ok(&json!({ "id": sub.id, "paused": paused }))
}

#[cfg(test)]
mod tests {
    use super::{masked, ordering_view};
    use hookgate_config::Ordering;

    #[test]
    fn ordering_is_null_a_string_or_a_one_key_object_on_the_wire() {
        let wire = |o: &Ordering| serde_json::to_value(ordering_view(o)).unwrap();
        assert_eq!(wire(&Ordering::Subject), serde_json::json!("subject"));
        assert_eq!(
            wire(&Ordering::Pointer("/data/id".into())),
            serde_json::json!({"pointer": "/data/id"})
        );
        assert_eq!(
            wire(&Ordering::Header(http::HeaderName::from_static("x-key"))),
            serde_json::json!({"header": "x-key"})
        );
        // The CLI reads what the server writes.
        let back: crate::api::OrderingView =
            serde_json::from_value(serde_json::json!({"pointer": "/a"})).unwrap();
        assert_eq!(back, crate::api::OrderingView::Pointer("/a".into()));
    }

    #[test]
    fn credentials_are_masked() {
        let u: http::Uri = "https://user:pw@example.com/hook".parse().unwrap();
        assert_eq!(masked(&u), "https://***@example.com/hook");
        let u: http::Uri = "http://127.0.0.1:7001/events".parse().unwrap();
        assert_eq!(masked(&u), "http://127.0.0.1:7001/events");
    }
}
