//! Hookgate's admin listener (docs/admin-api.md, docs/operations.md), loopback by default.
//!
//! Without a token: `/healthz` (process up), `/readyz` (store reachable;
//! the config is loaded or the process would not run), `/metrics`
//! (Prometheus text) and `/admin/v1/openapi.json` (this API's contract).
//!
//! Under `/admin/v1/`, with `Authorization: Bearer <token>`: events,
//! subscriptions (pause, resume, blocked ordering keys), dead letters
//! (list, replay) and the audit log. Tokens carry a role — viewer reads, operator also replays, pauses
//! and redelivers, admin also reads the audit log — and optional tenants: a
//! tenant-scoped token sees only its tenants' subscriptions (lists are
//! filtered) and only events some of them receive; another tenant's
//! subscription or event is answered exactly as one that does not exist
//! (403 to a scoped token, outside its tenants), so the token learns
//! nothing of what other tenants have. A role that does not allow the call
//! is a 403, checked before any id.
//! Every mutating call appends an audit record. `GET /admin/v1/whoami`
//! tells a token its own name, role and tenants (what the console shows
//! and hides by).
//!
//! `/console/` serves the operator web console (`hookgate-console`,
//! docs/console.md): static files, no token needed to load them; every
//! call the console then makes is one of the API calls above, with the
//! token the operator signed in with.
//!
//! # Layout
//! - [`api`]: wire types shared with the CLI.
//! - [`auth`]: token hashes, roles, tenants.
//! - `routes/*`: one module per resource.
//! - `query`, `error`: parameters, cursors and failure answers.

pub mod api;
pub mod auth;
mod error;
mod query;
mod routes;

use auth::Caller;
use error::ApiError;
use hookgate_config::{Config, Role, SubscriptionConfig};
use hookgate_core::shutdown::Drain;
use hookgate_http::{Body, ServeOptions, json, text};
use hookgate_store::{AuditRecord, Store, StoreError};
use hookgate_telemetry::event::{RouteObserved, SubscriptionObserved};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The OpenAPI document of this API (served at `/admin/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest admin request body.
const MAX_BODY: usize = 1 << 20;

/// What the admin API needs from the running delivery side of this
/// instance (implemented by the binary over `hookgate-delivery`, so the two
/// crates stay independent).
pub trait Runtime: Send + Sync {
    /// Breaker state of a route on this instance (`closed|open|half_open`).
    fn breaker(&self, source: &str, subscription: &str) -> &'static str;
    /// Applies a pause or resume at once on this instance.
    fn set_paused(&self, subscription: &str, paused: bool);
}

/// The admin listener's state.
pub struct Admin {
    config: Arc<Config>,
    store: Store,
    metrics: Option<PrometheusHandle>,
    runtime: Option<Arc<dyn Runtime>>,
}

/// One authenticated call.
pub(crate) struct Call<'a> {
    pub(crate) admin: &'a Admin,
    pub(crate) caller: Caller,
    pub(crate) request_id: String,
}

impl Call<'_> {
    /// 403 unless the caller's role is at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.caller.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this call needs role {} (token {:?} has {})",
                auth::role_name(role),
                self.caller.name,
                self.caller.role_name()
            )))
        }
    }

    /// The subscription, if it exists and is of the caller's tenants; else
    /// 404. Another tenant's subscription gets the very answer of one that
    /// does not exist (status and body), so a tenant-scoped token cannot
    /// learn what other tenants have.
    pub(crate) fn subscription(&self, id: &str) -> Result<&SubscriptionConfig, ApiError> {
        self.admin
            .config
            .subscriptions
            .iter()
            .find(|s| s.id == id && self.caller.sees_tenant(s.tenant.as_deref()))
            .ok_or_else(|| self.subscription_not_found(id))
    }

    /// The answer for subscription `id` when the caller may not see it,
    /// whether it does not exist or is another tenant's: one function, so
    /// the two cannot drift apart. A tenant-scoped token gets 403 (outside
    /// its tenants, which an unknown id is too), any other a 404.
    pub(crate) fn subscription_not_found(&self, id: &str) -> ApiError {
        match &self.caller.tenants {
            Some(_) => {
                ApiError::forbidden(format!("no subscription {id:?} among this token's tenants"))
            }
            None => ApiError::not_found(format!("no subscription {id:?}")),
        }
    }

    /// The answer for event `id` when the caller may not see it, whether
    /// it does not exist or goes to no subscription of the caller's
    /// tenants; as [`Call::subscription_not_found`].
    pub(crate) fn event_not_found(&self, id: &str) -> ApiError {
        match &self.caller.tenants {
            Some(_) => ApiError::forbidden(format!("no event {id:?} among this token's tenants")),
            None => ApiError::not_found(format!("no event {id:?}")),
        }
    }

    /// Subscriptions the caller may see, in config order.
    pub(crate) fn visible_subscriptions(&self) -> Vec<&SubscriptionConfig> {
        self.admin
            .config
            .subscriptions
            .iter()
            .filter(|s| self.caller.sees_tenant(s.tenant.as_deref()))
            .collect()
    }

    /// Whether the caller may see an event of normalized type `ty`: always
    /// for an all-tenants token, else when one of its subscriptions wants it.
    pub(crate) fn sees_type(&self, ty: &str) -> bool {
        self.caller.tenants.is_none()
            || self
                .admin
                .config
                .subscriptions
                .iter()
                .filter(|s| self.caller.sees_tenant(s.tenant.as_deref()))
                .any(|s| s.events.iter().any(|p| p.matches(ty)))
    }

    /// Whether subscription `sub` subscribes to events of type `ty`.
    pub(crate) fn subscribes(&self, sub: &str, ty: &str) -> bool {
        self.admin
            .config
            .subscriptions
            .iter()
            .any(|s| s.id == sub && s.events.iter().any(|p| p.matches(ty)))
    }

    /// Appends an audit record. A failure is logged loudly: the mutation
    /// itself already happened and is not undone.
    pub(crate) async fn audit(
        &self,
        action: &str,
        target: &str,
        filter: serde_json::Value,
        count: u64,
    ) {
        let record = AuditRecord {
            actor: self.caller.name.clone(),
            role: self.caller.role_name().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            filter,
            count,
            request_id: self.request_id.clone(),
            at: hookgate_core::time::rfc3339_ms(hookgate_core::time::now_ms()).unwrap_or_default(),
        };
        tracing::info!(
            request_id = %self.request_id, actor = %record.actor, action, target, count, "admin action"
        );
        if let Err(err) = self.admin.store.audit_append(&record).await {
            tracing::error!(request_id = %self.request_id, action, error = %err, "audit record NOT written");
        }
    }
}

impl Admin {
    /// Admin state over the config, the store, the installed metrics
    /// recorder and this instance's delivery side.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Option<PrometheusHandle>,
        runtime: Option<Arc<dyn Runtime>>,
    ) -> Self {
        Admin {
            config,
            store,
            metrics,
            runtime,
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        match path.as_str() {
            "/healthz" | "/readyz" | "/metrics" | "/admin/v1/openapi.json" => {
                if req.method() != Method::GET && req.method() != Method::HEAD {
                    return ApiError::method_not_allowed("GET, HEAD").into_response();
                }
                self.unauthenticated(&path).await
            }
            p if p == "/console" || p.starts_with(hookgate_console::PREFIX) => {
                let etag = req
                    .headers()
                    .get(header::IF_NONE_MATCH)
                    .and_then(|v| v.to_str().ok());
                hookgate_console::respond(req.method(), p, etag)
            }
            p if p.starts_with("/admin/v1/") => {
                let request_id = hookgate_core::trace::new_request_id();
                let mut resp = match self.api(req, &request_id).await {
                    Ok(resp) => resp,
                    Err(err) => err.into_response(),
                };
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    resp.headers_mut().insert("x-request-id", v);
                }
                resp
            }
            _ => ApiError::not_found("no such route").into_response(),
        }
    }

    async fn unauthenticated(&self, path: &str) -> Response<Body> {
        match path {
            "/healthz" => json(StatusCode::OK, &json!({ "status": "ok" })),
            // Taking writes: the embedded store commits a small probe; a
            // Redis must be reachable and not evicting (each probe checks
            // the policy anew, so a Redis switched to evicting while the
            // gateway runs is refused from the next probe on, and a fix is
            // seen too), and take a write (a Redis out of memory refuses a
            // write probe that writes nothing).
            "/readyz" => match self.store.ready().await {
                Ok(()) => json(StatusCode::OK, &json!({ "status": "ready" })),
                Err(StoreError::EvictingPolicy(policy)) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not_ready", "store": "evicting", "maxmemory_policy": policy }),
                ),
                Err(StoreError::DiskFull) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not_ready", "store": "disk_full" }),
                ),
                Err(StoreError::OutOfMemory) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not_ready", "store": "out_of_memory" }),
                ),
                Err(_) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not_ready", "store": "unreachable" }),
                ),
            },
            "/metrics" => {
                self.update_gauges().await;
                let body = self
                    .metrics
                    .as_ref()
                    .map(|h| h.render())
                    .unwrap_or_default();
                text(StatusCode::OK, "text/plain; version=0.0.4", body)
            }
            _ => text(StatusCode::OK, "application/json", OPENAPI),
        }
    }

    async fn api(
        &self,
        req: Request<Incoming>,
        request_id: &str,
    ) -> Result<Response<Body>, ApiError> {
        // Exactly one header: with two, which one holds is a proxy's
        // accident, so neither does.
        let mut sent = req.headers().get_all(header::AUTHORIZATION).iter();
        let authorization = match (sent.next(), sent.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        };
        let caller = auth::authenticate(&self.config.admin.tokens, authorization)
            .ok_or_else(ApiError::unauthorized)?;
        let call = Call {
            admin: self,
            caller,
            request_id: request_id.to_owned(),
        };
        let (parts, body) = req.into_parts();
        let path = parts
            .uri
            .path()
            .trim_start_matches("/admin/v1/")
            .trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        let query = parts.uri.query();
        let method = parts.method.clone();
        use routes::{audit, dlq, events, ordering, subscriptions};
        match (segments.as_slice(), &method) {
            (["whoami"], &Method::GET) => ok(&call.caller.whoami()),
            (["events"], &Method::GET) => events::list(&call, query).await,
            (["events", id], &Method::GET) => events::show(&call, id).await,
            (["events", id, "redeliver"], &Method::POST) => {
                events::redeliver(&call, id, read_json(body).await?).await
            }
            (["subscriptions"], &Method::GET) => subscriptions::list(&call, query).await,
            (["subscriptions", id, "pause"], &Method::POST) => {
                subscriptions::pause(&call, id, true).await
            }
            (["subscriptions", id, "resume"], &Method::POST) => {
                subscriptions::pause(&call, id, false).await
            }
            (["subscriptions", id, "dead-letters"], &Method::GET) => {
                dlq::list(&call, id, query).await
            }
            (["subscriptions", id, "dead-letters", "replay"], &Method::POST) => {
                dlq::replay(&call, id, read_json(body).await?).await
            }
            (["subscriptions", id, "ordering"], &Method::GET) => {
                ordering::blocked(&call, id, query).await
            }
            (["audit"], &Method::GET) => audit::list(&call, query).await,
            (
                ["events"]
                | ["events", _]
                | ["subscriptions"]
                | ["audit"]
                | ["whoami"]
                | ["subscriptions", _, "dead-letters"]
                | ["subscriptions", _, "ordering"],
                _,
            ) => Err(ApiError::method_not_allowed("GET")),
            (
                ["events", _, "redeliver"]
                | ["subscriptions", _, "pause" | "resume"]
                | ["subscriptions", _, "dead-letters", "replay"],
                _,
            ) => Err(ApiError::method_not_allowed("POST")),
            _ => Err(ApiError::not_found("no such route")),
        }
    }

    /// Sets the backlog gauges from the store at scrape time, so every
    /// instance reports the shared store's state fresh (docs/operations.md). On a
    /// store error the previous values stay (and `/readyz` says why).
    async fn update_gauges(&self) {
        let now = hookgate_core::time::now_ms();
        let Ok(paused) = self.store.paused().await else {
            return;
        };
        for sub in &self.config.subscriptions {
            let (mut dlq, mut oldest_due) = (0u64, None::<i64>);
            for src in &self.config.sources {
                let Ok((depth, head)) = self.store.route_gauges(&src.id, &sub.id).await else {
                    return;
                };
                dlq += depth.dead;
                if let Some(due) = head.filter(|due| *due <= now) {
                    oldest_due = Some(oldest_due.map_or(due, |o| o.min(due)));
                }
                let breaker = match self
                    .runtime
                    .as_ref()
                    .map_or("closed", |r| r.breaker(&src.id, &sub.id))
                {
                    "open" => 2,
                    "half_open" => 1,
                    _ => 0,
                };
                RouteObserved {
                    source: &src.id,
                    subscription: &sub.id,
                    queue_depth: depth.queued + depth.in_flight,
                    breaker,
                    blocked_keys: depth.blocked_keys,
                    oldest_blocked: Duration::from_millis(
                        depth
                            .oldest_blocked_ms
                            .map_or(0, |since| (now - since).max(0) as u64),
                    ),
                }
                .emit();
            }
            SubscriptionObserved {
                subscription: &sub.id,
                dlq_depth: dlq,
                oldest_waiting: Duration::from_millis(
                    oldest_due.map_or(0, |due| (now - due).max(0) as u64),
                ),
                paused: paused.contains(&sub.id),
            }
            .emit();
        }
    }
}

/// Reads a JSON body (bounded in size and time) into `T`.
async fn read_json<T: serde::de::DeserializeOwned>(body: Incoming) -> Result<T, ApiError> {
    let collected = tokio::time::timeout(
        Duration::from_secs(10),
        http_body_util::Limited::new(body, MAX_BODY).collect(),
    )
    .await
    .map_err(|_| ApiError::body_timeout())?
    .map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::body_too_large("1 MiB")
        } else {
            ApiError::bad_request("request body unreadable")
        }
    })?;
    serde_json::from_slice(&collected.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A JSON answer with status 200.
pub(crate) fn ok<T: serde::Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    let v = serde_json::to_value(value).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(json(StatusCode::OK, &v))
}

/// Serves the admin listener until `drain` is cancelled.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, drain: Drain, opts: ServeOptions) {
    hookgate_http::serve(
        listener,
        move |req| {
            let admin = admin.clone();
            async move { admin.handle(req).await }
        },
        drain,
        opts,
    )
    .await
}
