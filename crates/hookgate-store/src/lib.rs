//! Hookgate's durable store: where ingest and delivery meet.
//!
//! Ingest and delivery never talk to each other: ingest writes a callback's
//! events with [`Store::ingest`] (the idempotency key claimed and the event
//! stored in one atomic, durable step), and each source's worker pool moves
//! them on through two kinds of queue:
//!
//! 1. the source's fan-out queue: [`Store::fanout_due`] reads due events,
//!    the pool matches subscriptions, [`Store::fanout_commit`] takes them
//!    off the queue and creates each delivery once, on its route;
//! 2. each route's queue (source, subscription): [`Store::route_claim`]
//!    leases due deliveries, [`Store::route_finish`] records the attempt and
//!    marks it delivered, schedules the retry, or dead-letters it.
//!
//! Queues are schedules ordered by due time, so a retry is just a later due
//! time and survives any restart. A lease that expires (its worker died)
//! returns the delivery to the queue at the next claim, by any instance.
//! That is the whole at-least-once machinery: no in-memory backlog.
//!
//! # Backends
//!
//! Every operation is in the [`Backend`] trait ([`contract`]), with two
//! implementations, chosen by `[store] backend`:
//!
//! - [`sqlite`]: the embedded store, the default. One file, one gateway
//!   process; every write goes through one writer thread that commits
//!   concurrent callers' writes together (group commit), and a 2xx means
//!   the commit holding the event was fsynced.
//! - [`redis`]: one Redis or a Redis Cluster, shared by any number of
//!   gateway instances; every operation is one atomic Lua script.
//!
//! [`Store`] is the handle callers hold: it opens the configured backend
//! and adds what both share, the in-process fan-out feed ([`FanoutFeed`])
//! and the store metrics (`hookgate_store_duration_seconds` and
//! `hookgate_store_errors_total` by operation, as each caller saw it).
//!
//! # Layout
//! - [`contract`]: the [`Backend`] trait and what every backend promises.
//! - [`copy`]: moving a deployment from one store to another.
//! - `records`: the records both backends hand back.
//! - [`error`]: [`StoreError`], classified for the caller's answer.
//! - `feed`: the in-process fan-out hints.
//! - [`sqlite`], [`redis`]: the backends.

pub mod contract;
pub mod copy;
pub mod error;
mod feed;
mod records;
pub mod redis;
pub mod sqlite;

pub use contract::{Attempted, Backend, StoreStatus};
pub use error::StoreError;
pub use feed::{FEED_CAPACITY, FanoutFeed};
pub use records::{
    AttemptRecord, AuditRecord, DeliveryRecord, DeliveryStatus, ListOrder, RouteDepth, StoredEvent,
};

use hookgate_config::{Config, StoreBackend, StoreConfig};
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An entry reclaimed this many times is a poison message.
pub const RECLAIM_LIMIT: u32 = 5;

/// Attempts kept per delivery in its log.
pub const ATTEMPT_LOG_CAP: usize = hookgate_config::ATTEMPT_LOG_CAP;

/// The settings a store owns, so callers never pass them back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long events, delivery records, attempt logs and dead letters are
    /// kept (`[delivery] retention`).
    pub retention: Duration,
    /// How long a claimed delivery stays leased (`[delivery]
    /// visibility_timeout`).
    pub visibility_timeout: Duration,
}

impl Default for Settings {
    /// The config's defaults: 14 days, 60 seconds.
    fn default() -> Self {
        Settings {
            retention: Duration::from_secs(14 * 86_400),
            visibility_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The settings of a gateway's config.
    pub fn from_config(cfg: &Config) -> Self {
        Settings {
            retention: cfg.delivery.retention,
            visibility_timeout: cfg.delivery.visibility_timeout,
        }
    }

    pub(crate) fn retention_ms(&self) -> i64 {
        self.retention.as_millis().clamp(1, i64::MAX as u128) as i64
    }

    pub(crate) fn lease_ms(&self) -> i64 {
        self.visibility_timeout
            .as_millis()
            .clamp(1, i64::MAX as u128) as i64
    }
}

/// One event to store.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// Derived from the idempotency key.
    pub id: &'a EventId,
    /// Normalized type (fan-out matches on it).
    pub ty: &'a str,
    /// The CloudEvent JSON body, sent as is on every attempt.
    pub cloudevent: &'a [u8],
    /// W3C `traceparent` to continue on deliveries (`""` when none).
    pub traceparent: &'a str,
}

/// Who holds the leases a store handle takes: a gateway instance (its
/// `[server] instance_id`) and this run of it. A restarted instance takes
/// back the leases of its earlier runs ([`Store::take_back_leases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOwner {
    /// The instance id.
    pub instance: String,
    /// This run of the instance: a fresh random id at every start.
    pub run: String,
}

impl LeaseOwner {
    /// `instance`, in a new run.
    pub fn new(instance: &str) -> Self {
        LeaseOwner {
            instance: instance.to_owned(),
            run: hookgate_core::trace::new_request_id(),
        }
    }
}

/// A delivery leased to this worker.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The event.
    pub id: EventId,
    /// Lease token (the lease's expiry, Unix ms): pass it back to
    /// [`Store::route_finish`].
    pub lease: i64,
    /// Attempts already made in the current budget.
    pub attempts: u32,
    /// Start of the current budget (ms), for `max_age`.
    pub first_ms: i64,
    /// The CloudEvent body (shared, not copied, into each request).
    pub cloudevent: bytes::Bytes,
    /// The stored traceparent (`""` when none).
    pub traceparent: String,
}

/// What a route claim returned.
#[derive(Debug, Clone, Default)]
pub struct RouteClaim {
    /// Leased deliveries.
    pub deliveries: Vec<ClaimedDelivery>,
    /// When the earliest delivery still waiting falls due (ms), if any.
    pub next_due_ms: Option<i64>,
}

/// The outcome written by [`Store::route_finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// 2xx.
    Delivered,
    /// Try again at `due_ms`.
    Retry {
        /// Unix ms.
        due_ms: i64,
    },
    /// Park in the dead letters.
    Dead {
        /// Why, e.g. `status 400` or `max_attempts`.
        reason: String,
    },
    /// Give the lease back without an attempt (shutdown, breaker).
    Release,
}

/// A failed read this fast is tried once more (see [`Store::read`]).
const FAST_FAILURE: Duration = Duration::from_millis(250);

/// Fan-out feeds by source, shared by the handles of one process.
type Feeds = Arc<Mutex<HashMap<String, Arc<FanoutFeed>>>>;

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    feeds: Feeds,
    /// Who holds this handle's leases (`None`: leases only their expiry
    /// returns).
    owner: Option<Arc<LeaseOwner>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The backend's settings may carry a password: never print them.
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Counts a failed store call as its caller saw it.
fn count_error(op: &'static str) {
    metrics::counter!("hookgate_store_errors_total", "op" => op).increment(1);
}

impl Store {
    /// Opens the configured backend. Redis connects lazily (the gateway
    /// starts, and answers 503, while Redis is down); SQLite opens (and
    /// creates or migrates) its file now, and fails when another process
    /// holds it.
    pub fn open(cfg: &StoreConfig, settings: Settings) -> Result<Self, StoreError> {
        let backend: Arc<dyn Backend> = match &cfg.backend {
            StoreBackend::Redis(r) => Arc::new(redis::RedisStore::open(r, cfg.timeout, settings)?),
            StoreBackend::Sqlite(s) => {
                Arc::new(sqlite::SqliteStore::open(&s.path, cfg.timeout, settings)?)
            }
        };
        Ok(Self::over(backend))
    }

    /// A store over a backend built by hand (tests).
    pub fn over(backend: Arc<dyn Backend>) -> Self {
        Store {
            backend,
            feeds: Arc::default(),
            owner: None,
        }
    }

    /// This handle (and every handle opened beside it) leasing as instance
    /// `instance` (`[server] instance_id`), in a new run: its leases record
    /// it, and [`Self::take_back_leases`] takes back what the instance
    /// leased in its earlier runs.
    pub fn with_instance(mut self, instance: &str) -> Self {
        self.owner = Some(Arc::new(LeaseOwner::new(instance)));
        self
    }

    /// Who holds this handle's leases, if it has an instance id.
    pub fn lease_owner(&self) -> Option<&LeaseOwner> {
        self.owner.as_deref()
    }

    /// Another handle on the same store, sharing this handle's fan-out
    /// feeds (so an ingest through this one still hands its events to a
    /// fan-out loop that uses the other at once). The gateway gives its
    /// delivery side such a handle: on Redis it has connections of its own
    /// (a connection's I/O runs on the runtime that first uses it, so the
    /// delivery runtime's lower priority never delays ingest's calls).
    pub fn open_beside(&self) -> Result<Self, StoreError> {
        Ok(Store {
            backend: self.backend.beside()?,
            feeds: self.feeds.clone(),
            owner: self.owner.clone(),
        })
    }

    /// The source's in-process fan-out feed: every event this handle (or
    /// one beside it) stores is handed to it with its type, and its signal
    /// wakes the fan-out loop at once. Other instances' writes are found by
    /// scanning the queue ([`Self::fanout_due_older`]).
    pub fn fanout_feed(&self, source: &str) -> Arc<FanoutFeed> {
        let mut map = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = map.get(source) {
            return feed.clone();
        }
        map.entry(source.to_owned()).or_default().clone()
    }

    /// Runs one call, measured by `op` (`hookgate_store_duration_seconds`,
    /// `hookgate_store_errors_total`). Backends bound every call by
    /// `store_timeout` themselves.
    async fn measured<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = fut.await;
        metrics::histogram!("hookgate_store_duration_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            count_error(op);
        }
        result
    }

    /// [`Self::measured`] for an operator's read, tried once more when it
    /// failed fast (a pooled connection found lost under it, as after a
    /// Redis restart): a read changes nothing, and an operator should not
    /// see a 503 for a store that is back. A slow failure (the store
    /// timing out) is not repeated.
    async fn read<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.measured("admin", async {
            let started = std::time::Instant::now();
            match call().await {
                Err(StoreError::Unavailable(_)) if started.elapsed() < FAST_FAILURE => call().await,
                other => other,
            }
        })
        .await
    }

    /// Checks the store at start (see [`Backend::check`]).
    pub async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.measured("ping", self.backend.check()).await
    }

    /// Whether the store takes writes now (`/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.measured("ping", self.backend.ready()).await
    }

    /// Atomic dedup + durable enqueue of one callback's events (all of one
    /// source); the dedup claims last `dedup_window` (the source's).
    /// Returns, per event, true if stored, false if a duplicate.
    pub async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        let flags = self
            .measured("ingest", self.backend.ingest(source, dedup_window, events))
            .await?;
        if flags.len() != events.len() {
            count_error("ingest");
            return Err(StoreError::Protocol("ingest reply length".into()));
        }
        if flags.contains(&true) {
            self.fanout_feed(source).push(
                events
                    .iter()
                    .zip(&flags)
                    .filter(|(_, stored)| **stored)
                    .map(|(ev, _)| (ev.id, ev.ty)),
            );
        }
        Ok(flags)
    }

    /// Reads up to `max` due events of a source's fan-out queue: (event
    /// id, normalized type) pairs. Nothing is leased: the events stay
    /// queued until [`Self::fanout_commit`] takes them.
    pub async fn fanout_due(
        &self,
        source: &str,
        max: usize,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        self.fanout_due_older(source, max, Duration::ZERO).await
    }

    /// [`Self::fanout_due`], only for events queued at least `min_age`
    /// ago: the fan-out loop's scan leaves younger ones to the feed of the
    /// process that stored them.
    pub async fn fanout_due_older(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        self.measured("fanout", self.backend.fanout_due(source, max, min_age))
            .await
    }

    /// Takes read events off the fan-out queue and creates their
    /// deliveries, atomically; an event another worker already took is
    /// skipped, so each is fanned out once. `items` pairs each event with
    /// the ids of the subscriptions it goes to (possibly none). Returns how
    /// many events this call fanned out.
    pub async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        self.measured("fanout", self.backend.fanout_commit(source, items))
            .await
    }

    /// Leases up to `max` due deliveries of a route.
    pub async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
    ) -> Result<RouteClaim, StoreError> {
        self.measured(
            "claim",
            self.backend
                .route_claim(source, sub, max, self.owner.as_deref()),
        )
        .await
    }

    /// Takes back, due now, the leases this handle's instance held in its
    /// earlier runs on `routes` (source, subscription): what a gateway that
    /// died (kill -9, a crash) had in flight goes again at once after its
    /// restart instead of after `visibility_timeout`. Each counts as a
    /// reclaim, as an expired lease does. Never another instance's lease,
    /// nor one of this run. Returns how many; 0 without an instance id.
    pub async fn take_back_leases(&self, routes: &[(&str, &str)]) -> Result<u64, StoreError> {
        let Some(owner) = self.owner.as_deref() else {
            return Ok(0);
        };
        self.measured("claim", self.backend.take_back(owner, routes))
            .await
    }

    /// Records an attempt and its outcome for a leased delivery. Returns
    /// false when the lease had been taken over (nothing written).
    pub async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        self.measured("finish", self.backend.route_finish(source, sub, done))
            .await
    }

    // === operators ===

    /// Every paused subscription id.
    pub async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|| self.backend.paused()).await
    }

    /// Pauses or resumes a subscription. Returns whether the flag changed.
    pub async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        self.measured("admin", self.backend.set_paused(sub, paused))
            .await
    }

    /// A route's gauges: backlog and the due time of its earliest waiting
    /// delivery (ms), if any.
    pub async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        self.read(|| self.backend.route_gauges(source, sub)).await
    }

    /// Backlog of a route.
    pub async fn route_depths(&self, source: &str, sub: &str) -> Result<RouteDepth, StoreError> {
        Ok(self.route_gauges(source, sub).await?.0)
    }

    /// Deliveries waiting or in flight on a route.
    pub async fn route_depth(&self, source: &str, sub: &str) -> Result<u64, StoreError> {
        let d = self.route_depths(source, sub).await?;
        Ok(d.queued + d.in_flight)
    }

    /// A page of a source's event index: ids received in `[min_ms, max_ms]`
    /// in receive order, starting at `offset`.
    pub async fn event_index_range(
        &self,
        source: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        self.event_index_page(
            source,
            (min_ms, max_ms),
            ListOrder::OldestFirst,
            offset,
            count,
        )
        .await
    }

    /// A page of a source's event index in `order`: ids received in
    /// `[min_ms, max_ms]`, starting at `offset` from that end.
    pub async fn event_index_page(
        &self,
        source: &str,
        (min_ms, max_ms): (i64, i64),
        order: ListOrder,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        self.read(|| {
            self.backend
                .event_index_range(source, min_ms, max_ms, order, offset, count)
        })
        .await
    }

    /// A page of a route's dead letters by dead-at time.
    pub async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        self.read(|| {
            self.backend
                .dead_letter_range(source, sub, min_ms, max_ms, offset, count)
        })
        .await
    }

    /// A route's dead letters: (event id, dead-at ms), oldest first.
    pub async fn dead_letters(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .dead_letter_range(source, sub, i64::MIN, i64::MAX, all.len(), 1000)
                .await?;
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Normalized types of events of one source (`None` where expired).
    pub async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.event_types(source, ids)).await
    }

    /// The events themselves (`None` where expired).
    pub async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.events(source, ids)).await
    }

    /// A stored event.
    pub async fn event(
        &self,
        source: &str,
        id: &EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut found = self.events(source, std::slice::from_ref(id)).await?;
        Ok(found.pop().flatten())
    }

    /// Which of `sources` holds event `id`, with the event.
    pub async fn find_event(
        &self,
        sources: &[&str],
        id: &EventId,
    ) -> Result<Option<(String, StoredEvent)>, StoreError> {
        for source in sources {
            if let Some(ev) = self.event(source, id).await? {
                return Ok(Some(((*source).to_owned(), ev)));
            }
        }
        Ok(None)
    }

    /// Delivery records of one event for several subscriptions, with their
    /// attempt logs; subscriptions without a delivery are left out.
    pub async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        if subs.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.deliveries_of(source, id, subs))
            .await
    }

    /// A delivery's state.
    pub async fn delivery(
        &self,
        source: &str,
        id: &EventId,
        sub: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let mut found = self
            .delivery_records(source, std::slice::from_ref(id), sub)
            .await?;
        Ok(found.pop().flatten())
    }

    /// A delivery's attempt log, oldest first.
    pub async fn attempts(
        &self,
        source: &str,
        id: &EventId,
        sub: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let found = self.deliveries_of(source, id, &[sub]).await?;
        Ok(found
            .into_iter()
            .next()
            .map(|(_, _, log)| log)
            .unwrap_or_default())
    }

    /// Delivery records of several events for one subscription.
    pub async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.delivery_records(source, ids, sub))
            .await
    }

    /// Replays dead letters of a route, paced: the i-th is due at
    /// `now + (start_index + i) × spacing`. Entries no longer dead are
    /// skipped. Returns how many were replayed.
    pub async fn replay(
        &self,
        source: &str,
        sub: &str,
        ids: &[EventId],
        spacing: Duration,
        start_index: u64,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let step = spacing.as_millis().min(i64::MAX as u128) as i64;
        let due: Vec<(EventId, i64)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let slot = (start_index as i64).saturating_add(i as i64);
                (id.clone(), now.saturating_add(step.saturating_mul(slot)))
            })
            .collect();
        self.measured("admin", self.backend.replay(source, sub, &due))
            .await
    }

    /// Delivers a stored event to a subscription again. Returns false when
    /// the event is not stored.
    pub async fn redeliver(
        &self,
        source: &str,
        sub: &str,
        id: &EventId,
    ) -> Result<bool, StoreError> {
        self.measured("admin", self.backend.redeliver(source, sub, id))
            .await
    }

    /// Appends an audit record; returns its id.
    pub async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        self.measured("admin", self.backend.audit_append(record))
            .await
    }

    /// Audit records after id `after` (exclusive), oldest first.
    pub async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        self.read(|| self.backend.audit_page(after, count)).await
    }

    /// A page of this store's contents (see [`copy`]).
    pub async fn export(
        &self,
        cursor: Option<&str>,
        max: usize,
    ) -> Result<copy::ExportPage, StoreError> {
        self.measured("admin", self.backend.export(cursor, max))
            .await
    }

    /// Writes the records this store does not hold yet; returns how many.
    pub async fn import(&self, records: &[copy::Record]) -> Result<u64, StoreError> {
        self.measured("admin", self.backend.import(records)).await
    }
}
