//! Hookgate's admin listener (SPEC §7, §8), loopback by default.
//!
//! This first cut serves the endpoints that need no token: `/healthz`
//! (the process is up), `/readyz` (the store answers; the config was loaded,
//! or the process would not be running) and `/metrics` (Prometheus text).
//! The authenticated operators' API joins it here.

use hookgate_core::shutdown::Drain;
use hookgate_http::{Body, ServeOptions, json, text};
use hookgate_store::Store;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The admin listener's state.
pub struct Admin {
    store: Store,
    metrics: Option<PrometheusHandle>,
}

impl Admin {
    /// Admin state over the store and the installed metrics recorder.
    pub fn new(store: Store, metrics: Option<PrometheusHandle>) -> Self {
        Admin { store, metrics }
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "error": "method_not_allowed" }),
            );
        }
        match req.uri().path() {
            "/healthz" => json(StatusCode::OK, &json!({ "status": "ok" })),
            "/readyz" => match self.store.ping().await {
                Ok(()) => json(StatusCode::OK, &json!({ "status": "ready" })),
                Err(_) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not_ready", "store": "unreachable" }),
                ),
            },
            "/metrics" => {
                let body = self
                    .metrics
                    .as_ref()
                    .map(|h| h.render())
                    .unwrap_or_default();
                text(StatusCode::OK, "text/plain; version=0.0.4", body)
            }
            _ => json(StatusCode::NOT_FOUND, &json!({ "error": "not_found" })),
        }
    }
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
