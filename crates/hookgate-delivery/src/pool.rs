//! The per-source worker pools: fan-out loop, route drivers, attempts.

use crate::breaker::{Breaker, BreakerState, Permit};
use crate::classify::{Classified, classify_error, classify_status};
use crate::client::{self, HttpClient};
use crate::{backoff, sign};
use hookgate_config::{Config, RetryPolicy, SubscriptionConfig};
use hookgate_core::event::CLOUDEVENTS_CONTENT_TYPE;
use hookgate_core::glob::Pattern;
use hookgate_core::rate_limit::TokenBucket;
use hookgate_core::shutdown::Drain;
use hookgate_core::time::{now_ms, now_unix, rfc3339_ms};
use hookgate_core::{Secret, trace};
use hookgate_store::{AttemptRecord, Attempted, ClaimedDelivery, Finish, Store};
use hookgate_telemetry::{Kind, SpanData, Tracer, otlp};
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Deliveries claimed per store round trip, at most.
const CLAIM_BATCH: usize = 64;
/// Events fanned out per store round trip, at most.
const FANOUT_BATCH: usize = 256;
/// Response bytes kept in the attempt log.
const RESPONSE_CAP: usize = 1024;
/// The fan-out scan leaves events younger than this to the in-process feed
/// of the gateway that stored them (see `hookgate_store::FanoutFeed`).
const FANOUT_GRACE: Duration = Duration::from_secs(2);
/// Pause after a store error before a loop tries again.
const STORE_BACKOFF: Duration = Duration::from_millis(250);

/// Gateway-wide delivery settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    poll_interval: Duration,
}

/// One subscription, shared by its routes.
struct Subscription {
    id: String,
    url: http::Uri,
    secrets: Vec<Secret>,
    timeout: Duration,
    retry: RetryPolicy,
    patterns: Vec<Pattern>,
    in_flight: Arc<Semaphore>,
    rate: Option<TokenBucket>,
    client: HttpClient,
    user_agent: HeaderValue,
    sub_header: HeaderValue,
    /// Paused by an operator: its routes claim nothing, so the backlog
    /// accumulates and no attempt is burned.
    paused: AtomicBool,
}

impl Subscription {
    fn new(cfg: &SubscriptionConfig, tls: &rustls::ClientConfig) -> Self {
        Subscription {
            id: cfg.id.clone(),
            url: cfg.url.clone(),
            secrets: cfg.secrets.clone(),
            timeout: cfg.timeout,
            retry: cfg.retry,
            patterns: cfg.events.clone(),
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            rate: cfg
                .rate_limit
                .map(|r| TokenBucket::new(r.per_second, r.burst)),
            client: client::build(cfg.timeout, cfg.max_in_flight, tls),
            user_agent: HeaderValue::from_static(concat!("hookgate/", env!("CARGO_PKG_VERSION"))),
            // The config admits only `[A-Za-z0-9_-]` ids: always a valid
            // header value.
            sub_header: HeaderValue::from_str(&cfg.id).expect("subscription ids are header-safe"),
            paused: AtomicBool::new(false),
        }
    }

    fn wants(&self, ty: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(ty))
    }
}

/// One route: (source, subscription).
struct Route {
    source: String,
    sub: Arc<Subscription>,
    breaker: Breaker,
    wake: Notify,
    tracer: Tracer,
}

/// A route's state, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStatus {
    /// Source id.
    pub source: String,
    /// Subscription id.
    pub subscription: String,
    /// Breaker state on this instance.
    pub breaker: BreakerState,
}

/// The running delivery side.
#[derive(Clone)]
pub struct Delivery {
    routes: Arc<Vec<Arc<Route>>>,
    /// Counts pauses and resumes made on this instance. The pause watcher
    /// applies what it read from the store only when no such call came in
    /// between: a read from before the call would undo it.
    pause_epoch: Arc<Mutex<u64>>,
}

impl Delivery {
    /// Starts one pool per source; every task is spawned through `drain`.
    /// Fails only when the TLS settings cannot be loaded.
    pub fn start(
        cfg: &Config,
        store: Store,
        drain: &Drain,
        tracer: Tracer,
    ) -> Result<Self, String> {
        let tls = client::tls_config(cfg.delivery.ca_file.as_deref())?;
        let settings = Settings {
            poll_interval: cfg.delivery.poll_interval,
        };
        let subs: Vec<Arc<Subscription>> = cfg
            .subscriptions
            .iter()
            .map(|s| Subscription::new(s, &tls))
            .map(Arc::new)
            .collect();
        let mut all_routes = Vec::new();
        for src in &cfg.sources {
            let workers = Arc::new(Semaphore::new(src.workers.max(1)));
            let routes: Vec<Arc<Route>> = subs
                .iter()
                .map(|sub| {
                    let b = cfg
                        .subscriptions
                        .iter()
                        .find(|s| s.id == sub.id)
                        .map(|s| s.breaker)
                        .expect("every subscription runtime comes from the config");
                    Arc::new(Route {
                        source: src.id.clone(),
                        sub: sub.clone(),
                        breaker: Breaker::new(b.failures, b.cooldown),
                        wake: Notify::new(),
                        tracer: tracer.clone(),
                    })
                })
                .collect();
            for route in &routes {
                drain.spawn(drive_route(
                    store.clone(),
                    route.clone(),
                    workers.clone(),
                    settings,
                    drain.clone(),
                ));
            }
            drain.spawn(fan_out(
                store.clone(),
                src.id.clone(),
                routes.clone(),
                settings,
                drain.clone(),
            ));
            all_routes.extend(routes);
        }
        let delivery = Delivery {
            routes: Arc::new(all_routes),
            pause_epoch: Arc::new(Mutex::new(0)),
        };
        drain.spawn(take_back_leases(
            store.clone(),
            delivery.routes.clone(),
            settings.poll_interval,
            drain.clone(),
        ));
        drain.spawn(watch_pauses(
            store,
            delivery.clone(),
            settings.poll_interval,
            drain.clone(),
        ));
        Ok(delivery)
    }

    /// Applies a pause or resume on this instance at once (other instances
    /// pick the stored flag up within `poll_interval`).
    pub fn set_paused(&self, subscription: &str, paused: bool) {
        let mut epoch = self.pause_epoch.lock().unwrap_or_else(|e| e.into_inner());
        *epoch += 1;
        self.apply_paused(subscription, paused);
    }

    fn apply_paused(&self, subscription: &str, paused: bool) {
        // Routes of one subscription share its flag: flip it once, then
        // wake every route on a resume.
        let mut routes = self
            .routes
            .iter()
            .filter(|r| r.sub.id == subscription)
            .peekable();
        let Some(first) = routes.peek() else { return };
        let was = first.sub.paused.swap(paused, Ordering::Relaxed);
        if was && !paused {
            for route in routes {
                route.wake.notify_one();
            }
        }
    }

    /// Whether the subscription is paused on this instance (`None` when it
    /// has no route here).
    pub fn is_paused(&self, subscription: &str) -> Option<bool> {
        self.routes
            .iter()
            .find(|r| r.sub.id == subscription)
            .map(|r| r.sub.paused.load(Ordering::Relaxed))
    }

    /// The breaker state of a route on this instance.
    pub fn breaker(&self, source: &str, subscription: &str) -> Option<BreakerState> {
        let now = Instant::now();
        self.routes
            .iter()
            .find(|r| r.source == source && r.sub.id == subscription)
            .map(|r| r.breaker.state(now))
    }

    /// Every route's state on this instance.
    pub fn routes(&self) -> Vec<RouteStatus> {
        let now = Instant::now();
        self.routes
            .iter()
            .map(|r| RouteStatus {
                source: r.source.clone(),
                subscription: r.sub.id.clone(),
                breaker: r.breaker.state(now),
            })
            .collect()
    }
}

/// Keeps the pause flags of this instance in step with the store.
/// At start: takes back the leases this instance (`[server] instance_id`)
/// held before it restarted, so what a killed process had in flight goes
/// again at once instead of after `visibility_timeout`, and wakes the
/// routes to claim them. Tried again every `every` until the store answers
/// (it may be down at start). Safe beside the route loops: only leases of
/// an earlier run are taken back.
async fn take_back_leases(
    store: Store,
    routes: Arc<Vec<Arc<Route>>>,
    every: Duration,
    drain: Drain,
) {
    let Some(owner) = store.lease_owner() else {
        return;
    };
    let instance = owner.instance.clone();
    let pairs: Vec<(&str, &str)> = routes
        .iter()
        .map(|r| (r.source.as_str(), r.sub.id.as_str()))
        .collect();
    while !drain.is_cancelled() {
        match store.take_back_leases(&pairs).await {
            Ok(taken) => {
                if taken > 0 {
                    tracing::info!(
                        request_id = %hookgate_core::trace::new_request_id(),
                        instance_id = %instance,
                        leases = taken,
                        "took back the leases this instance held before it restarted"
                    );
                    for route in routes.iter() {
                        route.wake.notify_one();
                    }
                }
                return;
            }
            Err(err) => {
                tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), error = %err, "taking back earlier leases failed; trying again")
            }
        }
        idle(Instant::now() + every, &Notify::new(), &drain).await;
    }
}

async fn watch_pauses(store: Store, delivery: Delivery, every: Duration, drain: Drain) {
    let mut subs: Vec<String> = delivery.routes.iter().map(|r| r.sub.id.clone()).collect();
    subs.dedup();
    while !drain.is_cancelled() {
        let before = *delivery
            .pause_epoch
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match store.paused().await {
            Ok(paused) => {
                let epoch = delivery
                    .pause_epoch
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                // A pause or resume made here while the store was read is
                // newer than what was read: leave it for the next round.
                if *epoch == before {
                    for sub in &subs {
                        delivery.apply_paused(sub, paused.contains(sub));
                    }
                }
            }
            Err(err) => {
                tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), error = %err, "reading pause flags failed")
            }
        }
        idle(Instant::now() + every, &Notify::new(), &drain).await;
    }
}

/// A duration in seconds for a reason text: `3s`, `2.35s`.
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", text.trim_end_matches('0'))
    }
}

/// Sleeps until `deadline`, a wake-up, or shutdown, whichever comes first.
async fn idle(deadline: Instant, wake: &Notify, drain: &Drain) {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => {}
        _ = wake.notified() => {}
        _ = drain.cancelled() => {}
    }
}

/// The source's fan-out loop: stored events become deliveries on every
/// route whose subscription wants the type.
///
/// Events this process stored arrive through the source's feed with their
/// types and are committed at once. Every `poll_interval` (and when the feed
/// overflowed) the loop also scans the durable fan-out queue for events the
/// feed did not bring: stored by an instance that died, or whose commit
/// failed. The scan skips events younger than `FANOUT_GRACE`, which the
/// feed of the gateway that stored them is about to bring; an event read
/// twice is still fanned out once (the commit that takes it off the queue
/// creates its deliveries). The first scan after start skips nothing: what
/// is queued then was stored before this process ran (a process that died
/// left it, and no feed will bring it), so a restart resumes at once.
async fn fan_out(
    store: Store,
    source: String,
    routes: Vec<Arc<Route>>,
    settings: Settings,
    drain: Drain,
) {
    let feed = store.fanout_feed(&source);
    let mut next_scan = Instant::now();
    let mut started = true;
    while !drain.is_cancelled() {
        let mut batch = feed.take(FANOUT_BATCH);
        let missed = feed.take_missed();
        let now = Instant::now();
        if missed || now >= next_scan {
            let min_age = if missed || started {
                Duration::ZERO
            } else {
                FANOUT_GRACE
            };
            match store.fanout_due_older(&source, FANOUT_BATCH, min_age).await {
                Ok(found) => {
                    started = false;
                    // A full read may leave more: scan again at once.
                    next_scan = if found.len() < FANOUT_BATCH {
                        now + settings.poll_interval
                    } else {
                        now
                    };
                    batch.extend(found);
                }
                Err(err) => {
                    tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %source, error = %err, "fan-out read failed");
                    if missed {
                        feed.mark_missed();
                    }
                    next_scan = now + STORE_BACKOFF;
                }
            }
        }
        if batch.is_empty() {
            idle(next_scan, feed.signal(), &drain).await;
            continue;
        }
        let items: Vec<_> = batch
            .iter()
            .map(|(id, ty)| {
                let subs: Vec<&str> = routes
                    .iter()
                    .filter(|r| r.sub.wants(ty))
                    .map(|r| r.sub.id.as_str())
                    .collect();
                (id.clone(), subs)
            })
            .collect();
        match store.fanout_commit(&source, &items).await {
            Ok(_) => {
                for route in &routes {
                    if items
                        .iter()
                        .any(|(_, subs)| subs.contains(&route.sub.id.as_str()))
                    {
                        route.wake.notify_one();
                    }
                }
            }
            Err(err) => {
                // The events stay queued; the scan reads them again once
                // past the grace period, and each is fanned out once, by
                // the commit that takes it.
                tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %source, error = %err, "fan-out commit failed");
                idle(Instant::now() + STORE_BACKOFF, feed.signal(), &drain).await;
            }
        }
    }
}

/// Takes up to `max` permit pairs: waits for the first, takes the rest only
/// if free now.
async fn take_capacity(
    sub: &Subscription,
    workers: &Arc<Semaphore>,
    max: usize,
    drain: &Drain,
) -> Option<Vec<(OwnedSemaphorePermit, OwnedSemaphorePermit)>> {
    let first = tokio::select! {
        p = sub.in_flight.clone().acquire_owned() => p.ok()?,
        _ = drain.cancelled() => return None,
    };
    let first_worker = tokio::select! {
        p = workers.clone().acquire_owned() => p.ok()?,
        _ = drain.cancelled() => return None,
    };
    let mut permits = vec![(first, first_worker)];
    while permits.len() < max {
        let Ok(s) = sub.in_flight.clone().try_acquire_owned() else {
            break;
        };
        let Ok(w) = workers.clone().try_acquire_owned() else {
            break;
        };
        permits.push((s, w));
    }
    Some(permits)
}

/// One route's driver: claims as many due deliveries as it has capacity
/// for, and starts an attempt for each.
async fn drive_route(
    store: Store,
    route: Arc<Route>,
    workers: Arc<Semaphore>,
    settings: Settings,
    drain: Drain,
) {
    let sub = route.sub.clone();
    while !drain.is_cancelled() {
        if sub.paused.load(Ordering::Relaxed) {
            idle(Instant::now() + settings.poll_interval, &route.wake, &drain).await;
            continue;
        }
        // Capacity first, the breaker second: waiting for capacity can take
        // as long as the attempts in flight, and one of them may open the
        // breaker meanwhile; asking before the wait would then send one
        // more attempt on an open breaker (burning its attempt).
        let Some(mut permits) = take_capacity(&sub, &workers, CLAIM_BATCH, &drain).await else {
            break;
        };
        let max = match route.breaker.permit(Instant::now()) {
            Permit::Flow => CLAIM_BATCH,
            Permit::Probe => 1,
            Permit::WaitUntil(t) => {
                drop(permits);
                idle(t, &Notify::new(), &drain).await;
                continue;
            }
        };
        permits.truncate(max);
        let probing = max == 1 && route.breaker.state(Instant::now()) == BreakerState::HalfOpen;
        // Rate tokens are taken for the claim and the unused ones given
        // back after it: a subscription's routes poll while idle, and polls
        // that find nothing must not spend the tokens of the route that has
        // work.
        let give_back = |unused: usize| {
            if let Some(rate) = &sub.rate
                && unused > 0
            {
                rate.give_back(unused as f64);
            }
        };
        if let Some(rate) = &sub.rate {
            if let Err(wait) = rate.try_take(1.0) {
                drop(permits);
                if probing {
                    route.breaker.cancel_probe();
                }
                idle(Instant::now() + wait, &Notify::new(), &drain).await;
                continue;
            }
            // Extra permits only as far as the bucket allows.
            let mut allowed = 1;
            while allowed < permits.len() && rate.try_take(1.0).is_ok() {
                allowed += 1;
            }
            permits.truncate(allowed);
        }
        let claim = match store
            .route_claim(&route.source, &sub.id, permits.len())
            .await
        {
            Ok(c) => c,
            Err(err) => {
                give_back(permits.len());
                drop(permits);
                if probing {
                    route.breaker.cancel_probe();
                }
                tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %route.source, subscription = %sub.id, error = %err, "route claim failed");
                idle(Instant::now() + STORE_BACKOFF, &route.wake, &drain).await;
                continue;
            }
        };
        give_back(permits.len().saturating_sub(claim.deliveries.len()));
        if claim.deliveries.is_empty() {
            drop(permits);
            if probing {
                route.breaker.cancel_probe();
            }
            let mut deadline = Instant::now() + settings.poll_interval;
            if let Some(due) = claim.next_due_ms {
                let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
                deadline = deadline.min(Instant::now() + wait);
            }
            idle(deadline, &route.wake, &drain).await;
            continue;
        }
        let full = claim.deliveries.len() == permits.len();
        for (delivery, permit) in claim.deliveries.into_iter().zip(permits.drain(..)) {
            let store = store.clone();
            let route = route.clone();
            drain.spawn(async move {
                attempt(&store, &route, delivery, probing).await;
                drop(permit);
            });
        }
        drop(permits);
        if !full {
            // Less was due than we could carry: nothing more right now.
            tokio::task::yield_now().await;
        }
    }
}

/// What a single send produced.
struct Sent {
    classified: Classified,
    status_code: Option<u16>,
    error: Option<String>,
    response: Option<String>,
}

async fn send(route: &Route, d: &ClaimedDelivery, n: u32, traceparent: Option<&str>) -> Sent {
    let sub = &route.sub;
    let ts = now_unix();
    let signature = sign::signature(&sub.secrets, d.id.as_str(), ts, &d.cloudevent);
    let mut req = Request::post(sub.url.clone());
    let h = req.headers_mut().expect("a fresh builder has headers");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CLOUDEVENTS_CONTENT_TYPE),
    );
    h.insert(header::USER_AGENT, sub.user_agent.clone());
    // Ids are base32 and numbers: always valid header values.
    h.insert(
        "webhook-id",
        HeaderValue::from_str(d.id.as_str()).expect("base32 id"),
    );
    h.insert("webhook-timestamp", HeaderValue::from(ts));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&signature).expect("base64 signature"),
    );
    h.insert("hookgate-attempt", HeaderValue::from(n));
    h.insert("hookgate-subscription", sub.sub_header.clone());
    if let Some(tp) = traceparent.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("traceparent", tp);
    }
    let req = match req.body(Full::new(d.cloudevent.clone())) {
        Ok(r) => r,
        Err(e) => {
            return Sent {
                classified: Classified::Dead {
                    reason: format!("invalid request: {e}"),
                },
                status_code: None,
                error: Some("invalid request".into()),
                response: None,
            };
        }
    };
    let exchange = async {
        let resp = sub.client.request(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // Keep a small prefix of the body for the attempt log; stop
        // reading past the cap.
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        while kept.len() < RESPONSE_CAP {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = RESPONSE_CAP - kept.len();
                        kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                _ => break,
            }
        }
        Ok::<_, hyper_util::client::legacy::Error>((status, headers, kept))
    };
    match tokio::time::timeout(sub.timeout, exchange).await {
        Ok(Ok((status, headers, body))) => Sent {
            classified: classify_status(status, &headers, SystemTime::now()),
            status_code: Some(status.as_u16()),
            error: None,
            response: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
        },
        Ok(Err(err)) => {
            let text = describe(&err);
            Sent {
                classified: classify_error(&text),
                status_code: None,
                error: Some(text),
                response: None,
            }
        }
        Err(_) => {
            let text = format!("timeout after {}ms", sub.timeout.as_millis());
            Sent {
                classified: classify_error(&text),
                status_code: None,
                error: Some(text),
                response: None,
            }
        }
    }
}

/// A short, secret-free description of a transport error.
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = if err.is_connect() {
        "connect error".to_owned()
    } else {
        "transport error".to_owned()
    };
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        // A TLS failure (untrusted, expired or misnamed certificate, bad
        // handshake) says so: rustls's own text does not.
        if is_tls(s) {
            text.push_str("TLS: ");
        }
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether `err` is a rustls error, itself or wrapped in `io::Error`s (as
/// the TLS connector hands it over).
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<rustls::Error>() {
        return true;
    }
    match err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

/// One attempt, from send to the recorded outcome.
/// `probing`: this is the half-open breaker's one probe.
async fn attempt(store: &Store, route: &Route, d: ClaimedDelivery, probing: bool) {
    let sub = &route.sub;
    let n = d.attempts + 1;
    // Every line about this attempt carries its own request id (docs/operations.md).
    let request_id = hookgate_core::trace::new_request_id();
    // A retry held back past `max_age` (pause, open breaker, rate limit, a
    // backlog) is dead-lettered unsent; a delivery never attempted is
    // always attempted once.
    let age = Duration::from_millis((now_ms() - d.first_ms).max(0) as u64);
    if d.attempts > 0 && age >= sub.retry.max_age {
        let reason = format!(
            "max_age: {} passed before attempt {n} ({} after the first), after {} attempts",
            secs(sub.retry.max_age),
            secs(age),
            d.attempts
        );
        metrics::counter!("hookgate_deliveries_total", "subscription" => sub.id.clone(), "outcome" => "dead")
            .increment(1);
        tracing::info!(%request_id, event_id = %d.id, source = %route.source, subscription = %sub.id, %reason, "delivery expired");
        let finish = Finish::Dead { reason };
        record_finish(store, route, &d, d.attempts, &finish, None, &request_id).await;
        // Nothing was sent: a probe this was is given back, or the breaker
        // would wait for its outcome forever.
        if probing {
            route.breaker.cancel_probe();
        }
        return;
    }
    let started_ms = now_ms();
    let started = Instant::now();
    let started_at = SystemTime::now();
    // This attempt's span: same trace as the ingest request, new span id.
    let traceparent = trace::child_of(&d.traceparent);
    let sent = send(route, &d, n, traceparent.as_deref()).await;
    let elapsed = started.elapsed();
    let record = AttemptRecord {
        n,
        at: rfc3339_ms(started_ms).unwrap_or_default(),
        status_code: sent.status_code,
        error: sent.error.clone(),
        duration_ms: elapsed.as_millis() as u64,
        response: sent.response.clone(),
    };
    let now = now_ms();
    let (finish, outcome) = match &sent.classified {
        Classified::Delivered => {
            route.breaker.on_success();
            (Finish::Delivered, "delivered")
        }
        Classified::Dead { reason } => {
            // A 4xx comes from a subscriber that is up and refuses this
            // event: it counts for the breaker as an answer, not a failure
            // (an open breaker would only hold the next events back for
            // the cooldown before they are dead-lettered the same way).
            route.breaker.on_success();
            (
                Finish::Dead {
                    reason: reason.clone(),
                },
                "dead",
            )
        }
        Classified::Retry {
            reason,
            retry_after,
        } => {
            route.breaker.on_failure(Instant::now());
            let age = Duration::from_millis((now - d.first_ms).max(0) as u64);
            let wait = backoff::delay(sub.retry.base_delay, sub.retry.max_delay, n, *retry_after);
            // The next attempt would come after `max_age`: dead now.
            let age_then = age + wait;
            if n >= sub.retry.max_attempts {
                let reason = format!("max_attempts: {n} attempts, last {reason}");
                (Finish::Dead { reason }, "dead")
            } else if age_then >= sub.retry.max_age {
                let reason = format!(
                    "max_age: {} would pass before attempt {} (due {} after the first), last {reason}",
                    secs(sub.retry.max_age),
                    n + 1,
                    secs(age_then)
                );
                (Finish::Dead { reason }, "dead")
            } else {
                let due_ms = now + wait.as_millis() as i64;
                metrics::counter!("hookgate_retries_scheduled_total", "subscription" => sub.id.clone())
                    .increment(1);
                (Finish::Retry { due_ms }, "retry")
            }
        }
    };
    if route.tracer.enabled()
        && let Some((trace_id, span_id)) = traceparent.as_deref().and_then(otlp::ids_of)
    {
        route.tracer.record(SpanData {
            trace_id,
            span_id,
            parent_span_id: otlp::ids_of(&d.traceparent).map(|(_, s)| s),
            name: format!("deliver {}", sub.id),
            kind: Kind::Client,
            start_unix_nanos: otlp::unix_nanos(started_at),
            end_unix_nanos: otlp::unix_nanos(started_at + elapsed),
            attributes: vec![
                ("hookgate.source", route.source.clone()),
                ("hookgate.subscription", sub.id.clone()),
                ("hookgate.event_id", d.id.to_string()),
                ("hookgate.attempt", n.to_string()),
                ("hookgate.outcome", outcome.to_owned()),
            ],
            status_code: sent.status_code,
            error: outcome != "delivered",
        });
    }
    metrics::counter!("hookgate_deliveries_total", "subscription" => sub.id.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("hookgate_delivery_duration_seconds", "subscription" => sub.id.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        %request_id,
        event_id = %d.id,
        source = %route.source,
        subscription = %sub.id,
        attempt = n,
        status_code = sent.status_code,
        error = sent.error.as_deref(),
        outcome,
        duration_ms = elapsed.as_millis() as u64,
        "delivery attempt"
    );
    record_finish(store, route, &d, n, &finish, Some(&record), &request_id).await;
}

/// Records an outcome; a store hiccup is retried briefly. If it still
/// fails, the lease expires and the delivery is sent again (at-least-once),
/// never lost.
async fn record_finish(
    store: &Store,
    route: &Route,
    d: &ClaimedDelivery,
    attempts: u32,
    finish: &Finish,
    record: Option<&AttemptRecord>,
    request_id: &str,
) {
    for pause in [50u64, 200, 1000] {
        match store
            .route_finish(
                &route.source,
                &route.sub.id,
                &Attempted {
                    id: &d.id,
                    lease: d.lease,
                    attempts,
                    finish,
                    record,
                },
            )
            .await
        {
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(request_id, event_id = %d.id, subscription = %route.sub.id, error = %err, "recording attempt failed");
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}
