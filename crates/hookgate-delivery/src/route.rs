//! A route (source, subscription) and its driver: the claim loop.
//!
//! A route is the unit of isolation (docs/delivery.md): its own queue in
//! the store and its own breaker, on the capacity its subscription and its
//! source share out. The driver asks, in this order, whether it may claim
//! and how much: pause, capacity (the subscription's `max_in_flight` and
//! the source's `workers`), the breaker, the rate limit; then it leases
//! that many due deliveries from the store and starts an attempt for each
//! (`attempt.rs`), and, when they filled its places, leases the next ones
//! ahead (see [`drive_route`]). It lives apart from the attempt so that
//! each of the two reads as one loop: what to claim here, what one send
//! comes to there.

use crate::attempt::attempt;
use crate::breaker::{Breaker, BreakerState, Permit, Probe};
use crate::client::{self, HttpClient};
use crate::pool::{STORE_BACKOFF, Settings, idle};
use crate::rate::{Rate, TokenDue};
use hookgate_config::{RetryPolicy, SubscriptionConfig};
use hookgate_core::Secret;
use hookgate_core::glob::Pattern;
use hookgate_core::shutdown::Drain;
use hookgate_core::time::now_ms;
use hookgate_store::{ClaimedDelivery, Store};
use hookgate_telemetry::Tracer;
use http::HeaderValue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Deliveries claimed per store round trip, at most.
const CLAIM_BATCH: usize = 64;

/// One subscription, shared by its routes.
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) url: http::Uri,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    patterns: Vec<Pattern>,
    in_flight: Arc<Semaphore>,
    /// `max_in_flight`: also how many deliveries are leased ahead, at most.
    max_in_flight: usize,
    rate: Option<Rate>,
    pub(crate) client: HttpClient,
    pub(crate) user_agent: HeaderValue,
    pub(crate) sub_header: HeaderValue,
    /// Paused by an operator: its routes claim nothing, so the backlog
    /// accumulates and no attempt is burned.
    pub(crate) paused: AtomicBool,
}

impl Subscription {
    pub(crate) fn new(cfg: &SubscriptionConfig, tls: &rustls::ClientConfig) -> Self {
        Subscription {
            id: cfg.id.clone(),
            url: cfg.url.clone(),
            secrets: cfg.secrets.clone(),
            timeout: cfg.timeout,
            retry: cfg.retry,
            patterns: cfg.events.clone(),
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            max_in_flight: cfg.max_in_flight.max(1),
            rate: cfg.rate_limit.map(|r| Rate::new(r.per_second, r.burst)),
            client: client::build(cfg.timeout, cfg.max_in_flight, tls),
            user_agent: HeaderValue::from_static(concat!("hookgate/", env!("CARGO_PKG_VERSION"))),
            // The config admits only `[A-Za-z0-9_-]` ids: always a valid
            // header value.
            sub_header: HeaderValue::from_str(&cfg.id).expect("subscription ids are header-safe"),
            paused: AtomicBool::new(false),
        }
    }

    /// Whether the subscription's `events` patterns match type `ty`.
    pub(crate) fn wants(&self, ty: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(ty))
    }

    /// Takes rate tokens for a claim of up to `want` deliveries: how many
    /// it may claim, or a future that ends once one may be (see
    /// [`Rate::take`]). The unused ones are given back after the claim
    /// ([`Self::give_back`]).
    fn take_tokens(&self, want: usize) -> Result<usize, TokenDue<'_>> {
        match &self.rate {
            None => Ok(want),
            Some(rate) => rate.take(want),
        }
    }

    /// Gives back the rate tokens a claim did not use: a subscription's
    /// routes poll while idle, and polls that find nothing must not spend
    /// the tokens of the route that has work.
    fn give_back(&self, unused: usize) {
        if let Some(rate) = &self.rate {
            rate.give_back(unused);
        }
    }
}

/// One route: (source, subscription).
pub(crate) struct Route {
    pub(crate) source: String,
    pub(crate) sub: Arc<Subscription>,
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) wake: Notify,
    pub(crate) tracer: Tracer,
}

/// A subscription permit and a source worker permit, held by one attempt.
type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);

/// Takes up to `max` permit pairs: waits for the first, takes the rest only
/// if free now.
async fn take_capacity(
    sub: &Subscription,
    workers: &Arc<Semaphore>,
    max: usize,
    drain: &Drain,
) -> Option<Vec<Permits>> {
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
///
/// Leasing ahead: once a claim filled every permit it had, the driver
/// leases the next batch at once, while those attempts are in flight, and
/// starts it as permits come back, without a claim in between. A claim is
/// a round trip to the store writer; made with the permits in hand, it
/// kept them idle that long on every turn, and a subscription's
/// deliveries fell behind its callbacks once claims slowed under load.
/// The leases taken ahead are given back unsent (due at once, no attempt
/// counted) when the subscription is paused, its breaker stops the flow,
/// or the gateway drains. Not with a `rate_limit` (its tokens are taken
/// per claim, and deliveries held back would go out later in a burst),
/// and not when `visibility_timeout` is under twice the subscription's
/// `timeout` (a lease taken ahead waits up to one attempt's time for a
/// permit, then runs its own).
pub(crate) async fn drive_route(
    store: Store,
    route: Arc<Route>,
    workers: Arc<Semaphore>,
    settings: Settings,
    drain: Drain,
) {
    let sub = route.sub.clone();
    let may_lease_ahead = sub.rate.is_none() && settings.visibility_timeout >= sub.timeout * 2;
    let mut ahead: VecDeque<ClaimedDelivery> = VecDeque::new();
    while !drain.is_cancelled() {
        if sub.paused.load(Ordering::Relaxed) {
            give_back(&store, &route, &mut ahead).await;
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
        let (max, probe) = match route.breaker.permit(Instant::now()) {
            Permit::Flow => (CLAIM_BATCH, None),
            // The probe is this route's to send, unless an attempt still in
            // flight settled the breaker meanwhile (it is no longer
            // half-open then).
            Permit::Probe => {
                give_back(&store, &route, &mut ahead).await;
                (
                    1,
                    (route.breaker.state(Instant::now()) == BreakerState::HalfOpen)
                        .then(|| Probe::new(route.breaker.clone())),
                )
            }
            Permit::WaitUntil(t) => {
                drop(permits);
                give_back(&store, &route, &mut ahead).await;
                idle(t, &Notify::new(), &drain).await;
                continue;
            }
        };
        permits.truncate(max);
        if probe.is_none() && !ahead.is_empty() {
            // Paused while this driver waited for capacity: none goes out.
            if sub.paused.load(Ordering::Relaxed) {
                drop(permits);
                give_back(&store, &route, &mut ahead).await;
                continue;
            }
            let n = permits.len().min(ahead.len());
            permits.truncate(n);
            start_attempts(
                &store,
                &route,
                ahead.drain(..n).collect(),
                permits,
                None,
                &drain,
            );
            if ahead.is_empty() {
                lease_ahead(&store, &route, &mut ahead).await;
            }
            continue;
        }
        // Rate tokens are taken for the claim and the unused ones given
        // back after it.
        match sub.take_tokens(permits.len()) {
            Ok(allowed) => permits.truncate(allowed),
            Err(token_due) => {
                drop(permits);
                // Unsent: the probe is given back.
                drop(probe);
                tokio::select! {
                    _ = token_due => {}
                    _ = drain.cancelled() => {}
                }
                continue;
            }
        }
        let claim = match store
            .route_claim(&route.source, &sub.id, permits.len())
            .await
        {
            Ok(c) => c,
            Err(err) => {
                sub.give_back(permits.len());
                drop(permits);
                drop(probe);
                tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %route.source, subscription = %sub.id, error = %err, "route claim failed");
                idle(Instant::now() + STORE_BACKOFF, &route.wake, &drain).await;
                continue;
            }
        };
        sub.give_back(permits.len().saturating_sub(claim.deliveries.len()));
        if claim.deliveries.is_empty() {
            drop(permits);
            drop(probe);
            let deadline = next_poll(settings, claim.next_due_ms);
            idle(deadline, &route.wake, &drain).await;
            continue;
        }
        let probing = probe.is_some();
        if start_attempts(&store, &route, claim.deliveries, permits, probe, &drain) {
            // As many were due as we could carry: more may be.
            if may_lease_ahead && !probing {
                lease_ahead(&store, &route, &mut ahead).await;
            }
        } else {
            // Less was due than we could carry: nothing more right now.
            tokio::task::yield_now().await;
        }
    }
    give_back(&store, &route, &mut ahead).await;
}

/// Leases the next batch while the last one's attempts are in flight: no
/// more than `max_in_flight`, so that each waits at most for one attempt
/// in flight to end. A failure leases nothing: the next turn claims as
/// usual.
async fn lease_ahead(store: &Store, route: &Route, ahead: &mut VecDeque<ClaimedDelivery>) {
    let max = route.sub.max_in_flight.min(CLAIM_BATCH);
    if let Ok(claim) = store.route_claim(&route.source, &route.sub.id, max).await {
        ahead.extend(claim.deliveries);
    }
}

/// Gives the leases taken ahead back unsent: due at once, no attempt
/// counted. When the store fails, the rest run out by themselves.
async fn give_back(store: &Store, route: &Route, ahead: &mut VecDeque<ClaimedDelivery>) {
    while let Some(d) = ahead.pop_front() {
        if let Err(err) = crate::attempt::release(store, route, &d).await {
            tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %route.source, subscription = %route.sub.id, error = %err, left = ahead.len() + 1, "giving back leases taken ahead failed; they run out by themselves");
            ahead.clear();
        }
    }
}

/// When a route that found nothing due claims again: after
/// `poll_interval`, or sooner when its earliest waiting delivery falls due.
fn next_poll(settings: Settings, next_due_ms: Option<i64>) -> Instant {
    let mut deadline = Instant::now() + settings.poll_interval;
    if let Some(due) = next_due_ms {
        let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
        deadline = deadline.min(Instant::now() + wait);
    }
    deadline
}

/// Starts one attempt per claimed delivery, each holding a pair of
/// permits (and the probe, when this claim was the breaker's probe); the
/// permits left over are released. Whether the claim was full (as many
/// deliveries as permits: more may be due).
fn start_attempts(
    store: &Store,
    route: &Arc<Route>,
    deliveries: Vec<ClaimedDelivery>,
    mut permits: Vec<Permits>,
    mut probe: Option<Probe>,
    drain: &Drain,
) -> bool {
    let full = deliveries.len() == permits.len();
    for (delivery, (in_flight, worker)) in deliveries.into_iter().zip(permits.drain(..)) {
        let store = store.clone();
        let route = route.clone();
        let probe = probe.take();
        drain.spawn(async move {
            // The subscription's permit goes back with the subscriber's
            // answer; the source's worker stays busy until the outcome
            // is recorded.
            attempt(&store, &route, delivery, probe, in_flight).await;
            drop(worker);
        });
    }
    full
}
