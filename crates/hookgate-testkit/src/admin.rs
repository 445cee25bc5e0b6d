//! The gateway's admin API as tests read it: events, each delivery with its
//! attempts, subscriptions with their routes, dead letters.
//!
//! Why this exists: a test checks what the gateway stored and did through
//! the product's outside (docs/admin-api.md: `GET /admin/v1/events/{id}`,
//! `/admin/v1/events`, `/admin/v1/subscriptions`, dead letters), never
//! through one store backend's key or table layout, so the same test holds
//! on the embedded store and on Redis. Like the rest of this crate it shares
//! no code with the gateway: the views below are parsed from JSON by hand,
//! and strictly — a field of the wrong type panics naming the field and the
//! document, so a drifting API fails the tests that read it.
//!
//! Every call is bounded (the [`Client`]'s deadline, 10 s); every wait
//! ([`AdminApi::wait_delivery`]) has a deadline and says what it saw last.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::http::{Client, Response};

/// Pages a list helper follows at most (a runaway cursor is a bug).
const MAX_PAGES: usize = 1000;

/// A client of one gateway's admin listener with one bearer token.
#[derive(Debug, Clone)]
pub struct AdminApi {
    base: String,
    token: String,
    client: Client,
}

/// One attempt of a delivery (`deliveries[].attempts[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based within its attempt budget.
    pub n: u32,
    /// When it started, RFC 3339.
    pub at: String,
    /// The subscriber's status code, when it answered.
    pub status_code: Option<u16>,
    /// The transport error or timeout, when it did not.
    pub error: Option<String>,
    /// Latency.
    pub duration_ms: u64,
    /// The start of the subscriber's response body, when it sent one.
    pub response: Option<String>,
}

/// One delivery (event, subscription) as `GET /admin/v1/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's source.
    pub source: String,
    /// The subscription.
    pub subscription: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Why it is dead, when it is.
    pub reason: Option<String>,
    /// Attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// Attempts made in the current budget: the last attempt's `n` (0 when
    /// none was made).
    pub fn attempt_count(&self) -> u32 {
        self.attempts.last().map_or(0, |a| a.n)
    }

    /// The status code of the last attempt, if the subscriber answered it.
    pub fn last_status_code(&self) -> Option<u16> {
        self.attempts.last().and_then(|a| a.status_code)
    }

    /// The reason, or `""`.
    pub fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or_default()
    }
}

/// One route of a subscription (`routes[]` of `/admin/v1/subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Waiting plus in flight.
    pub queue_depth: u64,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
}

// === impl AdminApi ===

impl AdminApi {
    /// The admin API at `http://{admin_addr}`, authenticated with `token`.
    pub fn new(admin_addr: &str, token: &str) -> Self {
        AdminApi {
            base: format!("http://{admin_addr}"),
            token: token.to_owned(),
            client: Client::new(),
        }
    }

    /// `http://{admin_addr}`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET {path}` (path and query) with the token; any status. Panics if
    /// no answer arrives within the client's deadline.
    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, Bytes::new()).await
    }

    /// `POST {path}` with a JSON `body` and the token; any status.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.call(Method::POST, path, Bytes::from(body.to_string()))
            .await
    }

    /// `GET {path}`, asserting 200; the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    async fn call(&self, method: Method, path: &str, body: Bytes) -> Response {
        let auth = format!("Bearer {}", self.token);
        let url = format!("{}{path}", self.base);
        self.client
            .request(
                method.clone(),
                &url,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// Every item of a list route (`{"items":[...],"next_cursor":...}`),
    /// following `next_cursor`. `query` is the query string without `?`
    /// (may be empty).
    pub async fn list(&self, route: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params: Vec<String> = Vec::new();
            if !query.is_empty() {
                params.push(query.to_owned());
            }
            if let Some(c) = &cursor {
                params.push(format!("cursor={}", encode_query_value(c)));
            }
            let path = if params.is_empty() {
                route.to_owned()
            } else {
                format!("{route}?{}", params.join("&"))
            };
            let page = self.get_json(&path).await;
            let page_items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("GET {path}: no items array: {page}"));
            items.extend(page_items.iter().cloned());
            match &page["next_cursor"] {
                Value::Null => return items,
                Value::String(next) => cursor = Some(next.clone()),
                other => panic!("GET {path}: next_cursor is {other}"),
            }
        }
        panic!("{route}?{query}: more than {MAX_PAGES} pages");
    }

    /// `GET /admin/v1/events/{id}`: the event with its deliveries, or
    /// `None` when the gateway answers 404 (no such event stored).
    pub async fn event(&self, id: &str) -> Option<Value> {
        let path = format!("/admin/v1/events/{id}");
        let r = self.get(&path).await;
        match r.status {
            200 => Some(r.json()),
            404 => None,
            s => panic!("GET {path}: status {s}: {}", r.text()),
        }
    }

    /// Every stored event (`GET /admin/v1/events`), oldest first; `query`
    /// filters (`source=stripe`, `type=...`), may be empty.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        self.list("/admin/v1/events", query).await
    }

    /// The delivery of event `id` (stored from `source`) to `subscription`,
    /// or `None` when the event is not stored or has no such delivery yet
    /// (not fanned out). Panics if the event came from another source.
    pub async fn delivery(&self, source: &str, id: &str, subscription: &str) -> Option<Delivery> {
        let ev = self.event(id).await?;
        let ev_source = str_field(&ev, "source", &ev);
        assert_eq!(
            ev_source, source,
            "event {id} is stored from another source: {ev}"
        );
        let deliveries = ev["deliveries"]
            .as_array()
            .unwrap_or_else(|| panic!("event {id}: no deliveries array: {ev}"));
        let mut found = deliveries
            .iter()
            .filter(|d| d["subscription"] == subscription);
        let d = found.next()?;
        assert!(
            found.next().is_none(),
            "event {id}: two deliveries to {subscription}: {ev}"
        );
        Some(parse_delivery(source, d, &ev))
    }

    /// Waits (bounded by `deadline`) until the delivery of (`id`,
    /// `subscription`) exists and satisfies `done`; returns it. Panics with
    /// `what` and the last view seen.
    pub async fn wait_delivery<F>(
        &self,
        source: &str,
        id: &str,
        subscription: &str,
        what: &str,
        deadline: Duration,
        done: F,
    ) -> Delivery
    where
        F: Fn(&Delivery) -> bool,
    {
        let last = std::sync::Mutex::new(None);
        let found = crate::wait::eventually_some(deadline, Duration::from_millis(50), || {
            let (done, last) = (&done, &last);
            async move {
                let d = self.delivery(source, id, subscription).await;
                let ok = d.as_ref().is_some_and(done);
                let value = if ok { d.clone() } else { None };
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
                value
            }
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {deadline:?} waiting for: delivery of {id} to {subscription} \
                 {what}; last seen: {:?}",
                last.into_inner().unwrap_or_else(|p| p.into_inner())
            )
        })
    }

    /// Every subscription the token sees (`GET /admin/v1/subscriptions`).
    pub async fn subscriptions(&self) -> Vec<Value> {
        self.list("/admin/v1/subscriptions", "").await
    }

    /// Subscription `id` as the list shows it. Panics if it is not listed.
    pub async fn subscription(&self, id: &str) -> Value {
        let all = self.subscriptions().await;
        all.iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("subscription {id} not listed: {all:?}"))
    }

    /// Route (`source`, `subscription`): its depth and breaker state.
    pub async fn route(&self, source: &str, subscription: &str) -> Route {
        let s = self.subscription(subscription).await;
        let route = s["routes"]
            .as_array()
            .unwrap_or_else(|| panic!("subscription {subscription}: no routes array: {s}"))
            .iter()
            .find(|r| r["source"] == source)
            .unwrap_or_else(|| panic!("route ({source}, {subscription}) not listed: {s}"));
        Route {
            queue_depth: u64_field(route, "queue_depth", &s),
            breaker: str_field(route, "breaker", &s),
        }
    }

    /// The dead letters of `subscription`; `query` filters, may be empty.
    pub async fn dead_letters(&self, subscription: &str, query: &str) -> Vec<Value> {
        self.list(
            &format!("/admin/v1/subscriptions/{subscription}/dead-letters"),
            query,
        )
        .await
    }
}

fn parse_delivery(source: &str, d: &Value, doc: &Value) -> Delivery {
    let attempts = d["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("delivery without an attempts array: {doc}"))
        .iter()
        .map(|a| Attempt {
            n: u64_field(a, "n", doc)
                .try_into()
                .unwrap_or_else(|_| panic!("attempt n out of range: {doc}")),
            at: str_field(a, "at", doc),
            status_code: opt_u64_field(a, "status_code", doc).map(|c| {
                u16::try_from(c).unwrap_or_else(|_| panic!("status_code out of range: {doc}"))
            }),
            error: opt_str_field(a, "error", doc),
            duration_ms: u64_field(a, "duration_ms", doc),
            response: opt_str_field(a, "response", doc),
        })
        .collect();
    let status = str_field(d, "status", doc);
    assert!(
        ["pending", "delivered", "dead"].contains(&status.as_str()),
        "delivery status {status:?}: {doc}"
    );
    Delivery {
        source: source.to_owned(),
        subscription: str_field(d, "subscription", doc),
        status,
        reason: opt_str_field(d, "reason", doc),
        attempts,
    }
}

fn str_field(v: &Value, key: &str, doc: &Value) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key:?} is not a string in {doc}"))
        .to_owned()
}

fn opt_str_field(v: &Value, key: &str, doc: &Value) -> Option<String> {
    match &v[key] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("field {key:?} is {other}, not a string or null, in {doc}"),
    }
}

fn u64_field(v: &Value, key: &str, doc: &Value) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("field {key:?} is not an unsigned integer in {doc}"))
}

fn opt_u64_field(v: &Value, key: &str, doc: &Value) -> Option<u64> {
    match &v[key] {
        Value::Null => None,
        other => Some(
            other
                .as_u64()
                .unwrap_or_else(|| panic!("field {key:?} is {other}, not an integer, in {doc}")),
        ),
    }
}

/// Percent-encodes a query value (cursors are opaque to the client).
fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
