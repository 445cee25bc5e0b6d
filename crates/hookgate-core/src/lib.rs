//! Hookgate's shared vocabulary.
//!
//! Every other crate speaks in these types: the ids that name sources,
//! subscriptions and events, the redacting [`Secret`], the normalized
//! [`event::EventRecord`] that ingest writes and delivery reads, and the
//! [`shutdown::Drain`] every long-lived task is spawned through.
//!
//! This crate does no I/O: no sockets, no Redis, no clock reads outside
//! [`time::now_unix`]. That keeps it cheap to depend on from the pure crates
//! (`hookgate-verify`, `hookgate-config`).
//!
//! # Layout
//! - [`ids`]: the event id derived from the idempotency key (a storage format).
//! - [`secret`]: secrets that never print.
//! - [`event`]: the CloudEvents 1.0 envelope subscribers receive.
//! - [`glob`]: subscription patterns on normalized types.
//! - [`shutdown`]: cancellation plus task tracking.
//! - [`rate_limit`]: token buckets for sources and subscriptions.
//! - [`time`]: RFC 3339 formatting and the unix clock.
//! - [`trace`]: W3C trace context carried from ingest to every attempt.

pub mod event;
pub mod glob;
pub mod ids;
pub mod order_key;
pub mod rate_limit;
pub mod secret;
pub mod shutdown;
pub mod time;
pub mod trace;

pub use ids::{EventId, idempotency_key};
pub use order_key::OrderKey;
pub use secret::Secret;
