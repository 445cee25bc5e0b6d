//! `/admin/v1/subscriptions`: list with backlog and breakers; pause, resume.

use crate::api::{RouteView, SubscriptionView};
use crate::error::ApiError;
use crate::{Call, ok};
use hookgate_config::Role;
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

/// `GET /admin/v1/subscriptions`.
pub(crate) async fn list(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    let store = &call.admin.store;
    let paused = store.paused().await?;
    let mut items = Vec::new();
    for sub in call.visible_subscriptions() {
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
            });
        }
        items.push(SubscriptionView {
            id: sub.id.clone(),
            tenant: sub.tenant.clone(),
            url: masked(&sub.url),
            paused: paused.contains(&sub.id),
            queue_depth,
            dlq_depth,
            routes,
        });
    }
    ok(&json!({ "items": items, "next_cursor": null }))
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
    use super::masked;

    #[test]
    fn credentials_are_masked() {
        let u: http::Uri = "https://user:pw@example.com/hook".parse().unwrap();
        assert_eq!(masked(&u), "https://***@example.com/hook");
        let u: http::Uri = "http://127.0.0.1:7001/events".parse().unwrap();
        assert_eq!(masked(&u), "http://127.0.0.1:7001/events");
    }
}
