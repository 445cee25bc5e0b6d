//! The store contract: every operation that ingest, delivery, the admin API
//! and the CLI perform on the gateway's state, as one trait.
//!
//! Two backends implement it: [`crate::sqlite`] (the embedded store, one
//! process per file) and [`crate::redis`] (one Redis or a Redis Cluster,
//! shared by many instances). Callers hold a [`crate::Store`], which picks
//! the backend from the config and adds what is the same on both (the
//! in-process fan-out feed, the store metrics); nothing above it knows
//! which backend runs. The conformance suite (`tests/it/contract/`) runs
//! the same test bodies against every backend.
//!
//! What each operation promises, whatever the backend:
//!
//! - [`Backend::ingest`] claims each event's idempotency key and stores the
//!   event in one atomic, durable step: a key is never claimed without its
//!   event, and an event reported stored survives a crash of the gateway
//!   (on Redis: within what its persistence keeps). Concurrent identical
//!   events: exactly one is reported stored.
//! - The fan-out queue holds each stored event until
//!   [`Backend::fanout_commit`] takes it and creates its deliveries, once,
//!   in the same atomic step; reading it ([`Backend::fanout_due`]) leases
//!   nothing.
//! - A route's queue is a durable schedule: [`Backend::route_claim`] leases
//!   due deliveries for the store's `visibility_timeout`; a lease that
//!   expires returns its delivery to the queue at the next claim (an
//!   attempt with no known outcome is logged), and the fifth such return
//!   dead-letters it as poison. A lease's token is its expiry: a worker
//!   whose lease was retaken cannot finish it ([`Backend::route_finish`]
//!   answers false and writes nothing).
//! - A lease records the instance that holds it ([`LeaseOwner`]: the
//!   gateway's `[server] instance_id` and this run of it). A restarted
//!   instance takes back its own earlier leases at once
//!   ([`Backend::take_back`]): they are returned to the queue as if they
//!   had expired (counting as a reclaim, logged as an attempt with no known
//!   outcome), never another instance's, nor one of the current run. A
//!   lease without an owner (written by an earlier version, or by a handle
//!   without one) is only ever returned when it expires.
//! - Records live for the store's `retention`; dedup claims for the
//!   source's `dedup_window`. Expired data is invisible at once and removed
//!   in the background.
//!
//! # Ordering keys
//!
//! An event stored with [`crate::OrderSlot`]s takes, in the same atomic
//! step as its claim, a place at the back of each slot's *line*: the
//! (source, subscription, key) triple, ordered by when the store stored
//! the events (the order of acknowledgement). On each route, only the
//! first delivery of a line, its *head*, is ever queued or leased; the
//! others are *held* (pending, not claimable). So:
//!
//! - [`Backend::fanout_commit`] creates an event's delivery for a
//!   subscription it has a place with as that line's: queued when the
//!   event is the line's first, held otherwise. Fan-out order does not
//!   matter (the places were taken at ingest). A place for a subscription
//!   the fan-out does not name (its patterns changed since) is given up.
//! - A head that is delivered or dead-lettered (by an outcome, as poison,
//!   or because its event expired) leaves its line, and the next delivery
//!   of the line is queued, due now, its budget starting now. A retrying
//!   head keeps its place: only its own line waits; other lines, and
//!   deliveries without a key, flow as usual.
//! - [`Backend::replay`] and [`Backend::redeliver`] of a delivered or dead
//!   delivery put it at the back of its line (behind what is already
//!   queued there); a redeliver of a pending one keeps its place.
//! - A line's first entry whose delivery can never come (its event expired
//!   before fan-out, its record past retention) is skipped when found.
//! - [`Backend::blocked_keys`] lists the lines whose head has failed at
//!   least once; [`Backend::route_gauges`] counts held deliveries and
//!   blocked keys.

use crate::copy::{ExportPage, Record};
use crate::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, Finish, LeaseOwner, ListOrder,
    NewEvent, RouteClaim, RouteDepth, StoreError, StoredEvent,
};
use hookgate_core::EventId;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// One attempt's outcome, for [`Backend::route_finish`].
#[derive(Debug, Clone, Copy)]
pub struct Attempted<'a> {
    /// The event.
    pub id: &'a EventId,
    /// The lease token the claim handed out.
    pub lease: i64,
    /// Attempts made in the current budget, this one included.
    pub attempts: u32,
    /// What happens to the delivery now.
    pub finish: &'a Finish,
    /// The attempt for the log (`None`: nothing was sent).
    pub record: Option<&'a AttemptRecord>,
    /// The claim's [`ClaimedDelivery::row`](crate::ClaimedDelivery), if any.
    pub row: Option<i64>,
}

/// What a store says of itself when the gateway starts, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// `sqlite` or `redis`.
    pub backend: &'static str,
    /// Facts worth a log field (`("maxmemory_policy", "noeviction")`,
    /// `("path", "...")`, `("schema", "1")`), never a secret.
    pub details: Vec<(&'static str, String)>,
    /// Something the operator should know (a check that could not run).
    pub warning: Option<String>,
}

/// The store contract (see the module docs).
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Another handle on the same store for another runtime (the delivery
    /// side's, see [`crate::Store::open_beside`]).
    fn beside(&self) -> Result<Arc<dyn Backend>, StoreError>;

    /// Checks the store at start: reachable, and safe to write to (an
    /// evicting Redis is refused with [`StoreError::EvictingPolicy`]).
    async fn check(&self) -> Result<StoreStatus, StoreError>;

    /// Whether the store takes writes now (`/readyz`).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Atomic dedup + durable enqueue of one callback's events, all of one
    /// source. Returns, per event, true if stored, false if a duplicate.
    async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError>;

    /// Up to `max` due events of a source's fan-out queue that were queued
    /// at least `min_age` ago, with their normalized types. Leases nothing.
    async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError>;

    /// Takes events off the fan-out queue and creates their deliveries
    /// (each paired with the subscriptions it goes to), atomically; an
    /// event already taken is skipped. Returns how many this call took.
    async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError>;

    /// Leases up to `max` due deliveries of a route, to `owner` (`None`:
    /// a lease only its expiry returns).
    async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError>;

    /// Returns to their queues, due now, the leases that `owner.instance`
    /// took in an earlier run on these routes (source, subscription), as
    /// if they had expired: each counts as a reclaim. Never a lease of
    /// another instance, of `owner.run`, or without an owner. Returns how
    /// many. (The embedded store took back every lease when it opened its
    /// file, which is one process's alone: nothing is left here.)
    async fn take_back(
        &self,
        owner: &LeaseOwner,
        routes: &[(&str, &str)],
    ) -> Result<u64, StoreError>;

    /// Records an attempt and moves its delivery on. False when the lease
    /// had been taken over (nothing written).
    async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError>;

    /// Every paused subscription id.
    async fn paused(&self) -> Result<HashSet<String>, StoreError>;

    /// Pauses or resumes a subscription; whether the flag changed.
    async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError>;

    /// A route's backlog and the due time (ms) of its earliest waiting
    /// delivery.
    async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError>;

    /// Up to `limit` blocked ordering keys of a route (see the module
    /// docs), oldest blocked first.
    async fn blocked_keys(
        &self,
        source: &str,
        sub: &str,
        limit: usize,
    ) -> Result<Vec<BlockedKey>, StoreError>;

    /// A page of a source's events received in `[min_ms, max_ms]`, in
    /// `order`, strictly past `after` (receive ms, id) in that order (keyset
    /// paging, no offset). A page costs its own
    /// size plus the events received in the very millisecond of `after`,
    /// never the events before it, however deep the listing goes.
    async fn event_index_after(
        &self,
        source: &str,
        range: (i64, i64),
        order: ListOrder,
        after: Option<(i64, EventId)>,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError>;

    /// A page of a route's dead letters by dead-at time (id, dead-at ms).
    async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError>;

    /// Normalized types of events of one source (`None` where expired).
    async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError>;

    /// The events themselves (`None` where expired).
    async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError>;

    /// Delivery records of one event for several subscriptions, with their
    /// attempt logs (oldest first); subscriptions without one are left out.
    async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError>;

    /// Delivery records of several events for one subscription.
    async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError>;

    /// Replays dead letters of a route, each queued at its due time (ms)
    /// with a fresh attempt budget. Entries no longer dead, or whose event
    /// has expired, are skipped. Returns how many were replayed.
    async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError>;

    /// Queues a stored event for a subscription again, whatever its
    /// delivery's state, with a fresh budget. A delivery in flight is not
    /// sent twice at once: when its attempt ends, that outcome is recorded
    /// and it is queued again at once, counting on from that attempt.
    /// False when the event is not stored (expired or unknown).
    async fn redeliver(&self, source: &str, sub: &str, id: &EventId) -> Result<bool, StoreError>;

    /// Appends an audit record; returns its id (`<ms>-<seq>`, increasing).
    async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError>;

    /// Audit records after id `after` (exclusive), oldest first.
    async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError>;

    /// A page of this store's contents, from `cursor` (`None`: the
    /// start), at most about `max` records (see [`crate::copy`]).
    async fn export(&self, cursor: Option<&str>, max: usize) -> Result<ExportPage, StoreError>;

    /// Writes the records this store does not hold yet; returns how many.
    async fn import(&self, records: &[Record]) -> Result<u64, StoreError>;
}
