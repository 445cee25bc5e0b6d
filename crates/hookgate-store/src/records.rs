//! The records every backend stores and hands back: attempts, delivery
//! states, events. Their field names are part of the admin API and of the
//! stores' formats.

use serde::{Deserialize, Serialize};

/// One attempt, as kept in a delivery's log (docs/delivery.md: time, status code or
/// error, latency). Serialized as JSON in the store: a storage format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based attempt number within the current budget.
    pub n: u32,
    /// When the attempt started, RFC 3339.
    pub at: String,
    /// The subscriber's status code, if it answered.
    pub status_code: Option<u16>,
    /// Transport error or timeout, if it did not.
    pub error: Option<String>,
    /// Latency.
    pub duration_ms: u64,
    /// The start of the subscriber's response body (up to 1 KiB, lossy
    /// UTF-8), when it sent one. Absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// A delivery's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting, scheduled for retry, or in flight.
    Pending,
    /// A 2xx was received.
    Delivered,
    /// Parked in the dead letters.
    Dead,
}

impl DeliveryStatus {
    /// Wire name (`pending|delivered|dead`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// A delivery's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// State.
    pub status: DeliveryStatus,
    /// Attempts made in the current budget.
    pub attempts: u32,
    /// Why it is dead, when it is.
    pub reason: Option<String>,
    /// Status code of the last attempt, if the subscriber answered.
    pub last_status_code: Option<u16>,
    /// When it died (ms).
    pub dead_at_ms: Option<i64>,
    /// Times its lease expired and it was reclaimed.
    pub reclaims: u32,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Normalized type.
    pub ty: String,
    /// CloudEvent JSON body.
    pub cloudevent: Vec<u8>,
    /// Receive time (ms).
    pub received_ms: i64,
    /// Stored traceparent (`""` when none).
    pub traceparent: String,
}

/// One audit record (docs/admin-api.md): every mutating admin call. A storage format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Token name.
    pub actor: String,
    /// Token role.
    pub role: String,
    /// e.g. `dead_letters.replay`, `subscription.pause`.
    pub action: String,
    /// e.g. the subscription id, or `event/subscription`.
    pub target: String,
    /// The filter or ids the call named, as sent.
    pub filter: serde_json::Value,
    /// How many entries it changed.
    pub count: u64,
    /// The admin request id.
    pub request_id: String,
    /// When, RFC 3339.
    pub at: String,
}

/// Which end of a time-ordered listing comes first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first (ties by id, ascending).
    #[default]
    OldestFirst,
    /// Newest first (ties by id, descending): the exact reverse.
    NewestFirst,
}

/// A route's backlog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteDepth {
    /// Waiting: due, scheduled for retry, or held behind its ordering key.
    pub queued: u64,
    /// Of `queued`, those held behind an earlier event of their ordering
    /// key.
    pub held: u64,
    /// Ordering keys whose first waiting delivery has failed at least once
    /// (see [`BlockedKey`]).
    pub blocked_keys: u64,
    /// The budget start (ms) of the oldest such head, if any.
    pub oldest_blocked_ms: Option<i64>,
    /// Leased to a worker now.
    pub in_flight: u64,
    /// Dead letters.
    pub dead: u64,
}

/// An ordering key of a route whose head, the delivery that goes first,
/// has failed at least once and waits for its retry: every later event of
/// the key waits behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedKey {
    /// The key.
    pub key: hookgate_core::OrderKey,
    /// The head's event.
    pub head: hookgate_core::EventId,
    /// The head's attempts in its current budget.
    pub attempts: u32,
    /// Its last attempt's status code, when the subscriber answered.
    pub last_status_code: Option<u16>,
    /// Its last attempt's error or dead reason, when there was one.
    pub last_error: Option<String>,
    /// When the head's budget started (ms): when it became the key's head.
    pub since_ms: i64,
    /// Deliveries of the key waiting behind it.
    pub waiting: u64,
}
