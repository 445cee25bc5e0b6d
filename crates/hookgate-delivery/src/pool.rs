//! The delivery side's orchestrator: builds the routes from the config and
//! starts their tasks, and answers operators about them.
//!
//! Per source it starts one fan-out loop (`fanout.rs`) and one driver per
//! route (`route.rs`), which starts one attempt per claimed delivery
//! (`attempt.rs`); per instance, a task that takes back the leases of an
//! earlier run and a watcher that keeps the pause flags in step with the
//! store. [`Delivery`] is the handle the gateway keeps: pause and resume,
//! breaker states. What happens after an attempt is decided in
//! [`crate::decide`].

use crate::breaker::{Breaker, BreakerState};
use crate::client;
use crate::fanout::fan_out;
use crate::route::{Route, Subscription, drive_route};
use hookgate_config::{Config, SourceConfig};
use hookgate_core::shutdown::Drain;
use hookgate_store::Store;
use hookgate_telemetry::Tracer;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// Pause after a store error before a loop tries again.
pub(crate) const STORE_BACKOFF: Duration = Duration::from_millis(250);

/// Gateway-wide delivery settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) poll_interval: Duration,
    /// How long a lease holds (see `route::drive_route` on leasing ahead).
    pub(crate) visibility_timeout: Duration,
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
            visibility_timeout: cfg.delivery.visibility_timeout,
        };
        let subs: Vec<Arc<Subscription>> = cfg
            .subscriptions
            .iter()
            .map(|s| Subscription::new(s, &tls))
            .map(Arc::new)
            .collect();
        let mut all_routes = Vec::new();
        for src in &cfg.sources {
            let routes = routes_of(cfg, &src.id, &subs, &tracer);
            start_pool(&store, src, &routes, settings, drain);
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

/// A source's routes: one per subscription, each with its own breaker.
fn routes_of(
    cfg: &Config,
    source: &str,
    subs: &[Arc<Subscription>],
    tracer: &Tracer,
) -> Vec<Arc<Route>> {
    subs.iter()
        .map(|sub| {
            let b = cfg
                .subscriptions
                .iter()
                .find(|s| s.id == sub.id)
                .map(|s| s.breaker)
                .expect("every subscription runtime comes from the config");
            Arc::new(Route {
                source: source.to_owned(),
                sub: sub.clone(),
                breaker: Arc::new(Breaker::new(b.failures, b.cooldown)),
                wake: Notify::new(),
                tracer: tracer.clone(),
            })
        })
        .collect()
}

/// Starts a source's pool: a driver per route, sharing the source's
/// `workers`, and the source's fan-out loop.
fn start_pool(
    store: &Store,
    src: &SourceConfig,
    routes: &[Arc<Route>],
    settings: Settings,
    drain: &Drain,
) {
    let workers = Arc::new(Semaphore::new(src.workers.max(1)));
    for route in routes {
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
        routes.to_vec(),
        settings,
        drain.clone(),
    ));
}

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

/// Keeps the pause flags of this instance in step with the store: reads
/// them every `every`.
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

/// Sleeps until `deadline`, a wake-up, or shutdown, whichever comes first.
pub(crate) async fn idle(deadline: Instant, wake: &Notify, drain: &Drain) {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => {}
        _ = wake.notified() => {}
        _ = drain.cancelled() => {}
    }
}
