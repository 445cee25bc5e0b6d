//! The admin API's wire types (docs/admin-api.md), shared by the server and the CLI
//! so the two cannot drift. Times are RFC 3339 strings.

use serde::{Deserialize, Serialize};

/// A page of a list: `{"items":[...],"next_cursor":...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// An event in a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventSummary {
    /// Event id.
    pub id: String,
    /// Source id.
    pub source: String,
    /// Normalized type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Provider's event time.
    pub time: Option<String>,
    /// Provider object id.
    pub subject: Option<String>,
    /// When the gateway stored it.
    pub received_at: String,
}

/// One attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptView {
    /// 1-based within its budget.
    pub n: u32,
    /// Start time.
    pub at: String,
    /// Subscriber's status code.
    pub status_code: Option<u16>,
    /// Transport error.
    pub error: Option<String>,
    /// Latency.
    pub duration_ms: u64,
    /// The start of the subscriber's response body, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// One delivery of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Subscription id.
    pub subscription: String,
    /// `pending | delivered | dead`.
    pub status: String,
    /// Why it is dead.
    pub reason: Option<String>,
    /// Attempts, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// An event with its deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDetail {
    /// Event id.
    pub id: String,
    /// Source id.
    pub source: String,
    /// Normalized type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Provider's event time.
    pub time: Option<String>,
    /// Provider object id.
    pub subject: Option<String>,
    /// When the gateway stored it.
    pub received_at: String,
    /// The provider's payload.
    pub data: serde_json::Value,
    /// Per subscription.
    pub deliveries: Vec<DeliveryView>,
}

/// `POST /admin/v1/events/{id}/redeliver`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    /// Subscription id.
    pub subscription: String,
}

/// A route of a subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteView {
    /// Source id.
    pub source: String,
    /// Waiting + in flight.
    pub queue_depth: u64,
    /// `closed | open | half_open` on the instance that answered.
    pub breaker: String,
    /// Of `queue_depth`, deliveries held behind an earlier event of their
    /// ordering key (0 from a gateway without ordering keys).
    #[serde(default)]
    pub held: u64,
    /// Ordering keys whose first delivery has failed and holds the key's
    /// later events back.
    #[serde(default)]
    pub blocked_keys: u64,
}

/// A subscription's `ordering`, as configured: `"subject"`,
/// `{"pointer": "/a/b"}` or `{"header": "x-name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderingView {
    /// The event's subject.
    Subject,
    /// A JSON pointer into the provider's payload.
    Pointer(String),
    /// A header of the provider's request (lowercase).
    Header(String),
}

impl std::fmt::Display for OrderingView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderingView::Subject => f.write_str("subject"),
            OrderingView::Pointer(p) => write!(f, "pointer {p}"),
            OrderingView::Header(h) => write!(f, "header {h}"),
        }
    }
}

/// The delivery at the head of a blocked ordering key: it has failed at
/// least once and waits for its retry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedHeadView {
    /// Its event.
    pub event_id: String,
    /// Attempts in its current budget.
    pub attempts: u32,
    /// The last attempt's status code, when the subscriber answered.
    pub last_status_code: Option<u16>,
    /// The last attempt's error, when there was one.
    pub last_error: Option<String>,
    /// Since when it is the key's head (its budget's start).
    pub since: String,
}

/// A blocked ordering key of a subscription's route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedKeyView {
    /// The route's source.
    pub source: String,
    /// The key (a key over 200 bytes is its first 128 and a hash).
    pub key: String,
    /// The delivery that goes first.
    pub head: BlockedHeadView,
    /// Deliveries of the key waiting behind it.
    pub waiting: u64,
}

/// A subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionView {
    /// Id.
    pub id: String,
    /// Owner.
    pub tenant: Option<String>,
    /// Endpoint (credentials in it are masked).
    pub url: String,
    /// Paused by an operator.
    pub paused: bool,
    /// Waiting + in flight over its routes.
    pub queue_depth: u64,
    /// Dead letters over its routes.
    pub dlq_depth: u64,
    /// Where its ordering keys come from; `null` = unordered.
    #[serde(default)]
    pub ordering: Option<OrderingView>,
    /// Per source.
    pub routes: Vec<RouteView>,
}

/// A dead letter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetterView {
    /// Event id.
    pub event_id: String,
    /// Source id.
    pub source: String,
    /// Normalized type.
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Status of the last attempt.
    pub last_status_code: Option<u16>,
    /// Attempts in the last budget.
    pub attempts: u32,
    /// When.
    pub dead_at: Option<String>,
}

/// Dead-letter filter (list query and replay body).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    /// Glob on the normalized type (`*` spans dots).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Prefix of the reason (`status 4`, `max_attempts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Only this source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Dead at or after (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Dead at or before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `POST /admin/v1/subscriptions/{id}/dead-letters/replay`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Replay exactly these (those still dead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_ids: Option<Vec<String>>,
    /// Or every dead letter matching this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<DeadLetterFilter>,
    /// Count only.
    #[serde(default)]
    pub dry_run: bool,
}

/// Replay answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayResult {
    /// Dead letters that matched.
    pub matched: u64,
    /// Replayed now (0 on a dry run; less than matched when another call
    /// replayed some first).
    pub replayed: u64,
}

/// An audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    /// Stream id (the cursor).
    pub id: String,
    /// Token name.
    pub actor: String,
    /// Token role.
    pub role: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// With which ids or filter.
    pub filter: serde_json::Value,
    /// How many entries changed.
    pub count: u64,
    /// The admin request id.
    pub request_id: String,
    /// When.
    pub at: String,
}

/// `GET /admin/v1/whoami`: the calling token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WhoAmI {
    /// Token name (the audit actor).
    pub name: String,
    /// `viewer | operator | admin`.
    pub role: String,
    /// The tenants it is scoped to; `null` = every tenant.
    pub tenants: Option<Vec<String>>,
}

/// Every error answer: `{"error": "...", "message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: String,
    /// For a human.
    #[serde(default)]
    pub message: Option<String>,
}
