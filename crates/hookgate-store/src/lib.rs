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
//! - `settings`: [`Settings`], what a store owns of the configuration.
//! - `queue`: what ingest and delivery hand the store and get back.
//! - this file: the [`Store`] handle, opening it, and the measuring every
//!   call goes through; its calls, by caller: `pipeline` (ingest and
//!   delivery) and `operators` (the admin API and the CLI).
//! - [`sqlite`], [`redis`]: the backends.

pub mod contract;
pub mod copy;
pub mod error;
mod feed;
mod operators;
mod pipeline;
mod queue;
mod records;
pub mod redis;
mod settings;
pub mod sqlite;

pub use contract::{Attempted, Backend, StoreStatus};
pub use error::StoreError;
pub use feed::{FEED_CAPACITY, FanoutFeed};
pub use queue::{ClaimedDelivery, Finish, LeaseOwner, NewEvent, OrderSlot, RouteClaim};
pub use records::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, DeliveryStatus, ListOrder, RouteDepth,
    StoredEvent,
};
pub use settings::Settings;

use hookgate_config::{StoreBackend, StoreConfig};
use hookgate_telemetry::event::{StoreCall, StoreFailed};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An entry reclaimed this many times is a poison message.
pub const RECLAIM_LIMIT: u32 = 5;

/// Attempts kept per delivery in its log.
pub const ATTEMPT_LOG_CAP: usize = hookgate_config::ATTEMPT_LOG_CAP;

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
    StoreFailed { op }.emit();
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
        StoreCall {
            op,
            elapsed: started.elapsed(),
            failed: result.is_err(),
        }
        .emit();
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
}
