//! The values ingest and delivery hand the store and get back: events to
//! store, lease owners, claimed deliveries and attempt outcomes. Apart from
//! `records` (what the store hands back to operators) and from the facade.

use hookgate_core::{EventId, OrderKey};

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
    /// The event's places in line: one per subscription with `ordering`
    /// that wants its type and found its key (empty: delivered unordered
    /// everywhere). See the contract's "Ordering keys".
    pub order: &'a [OrderSlot],
}

/// An event's ordering key for one subscription: its deliveries on the
/// route (the event's source, `sub`) go one at a time per key, in the
/// order the store stored the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSlot {
    /// The subscription.
    pub sub: String,
    /// The key.
    pub key: OrderKey,
}

/// Who holds the leases a store handle takes: a gateway instance (its
/// `[server] instance_id`) and this run of it. A restarted instance takes
/// back the leases of its earlier runs
/// ([`Store::take_back_leases`](crate::Store::take_back_leases)).
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
    /// [`Store::route_finish`](crate::Store::route_finish).
    pub lease: i64,
    /// Attempts already made in the current budget.
    pub attempts: u32,
    /// Start of the current budget (ms), for `max_age`.
    pub first_ms: i64,
    /// The CloudEvent body (shared, not copied, into each request).
    pub cloudevent: bytes::Bytes,
    /// The stored traceparent (`""` when none).
    pub traceparent: String,
    /// Where the store keeps the delivery, when it can say (SQLite: its
    /// row): passed back in [`Attempted::row`](crate::Attempted), it saves
    /// the finish a lookup by id.
    pub row: Option<i64>,
}

/// What a route claim returned.
#[derive(Debug, Clone, Default)]
pub struct RouteClaim {
    /// Leased deliveries.
    pub deliveries: Vec<ClaimedDelivery>,
    /// When the earliest delivery still waiting falls due (ms), if any.
    pub next_due_ms: Option<i64>,
}

/// The outcome written by [`Store::route_finish`](crate::Store::route_finish).
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
