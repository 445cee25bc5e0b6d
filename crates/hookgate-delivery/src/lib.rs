//! Hookgate's delivery side: per-source worker pools (docs/architecture.md, docs/event.md, docs/delivery.md).
//!
//! [`pool`] starts, for each source, one fan-out loop (`fanout`) that turns
//! the source's stored events into deliveries on its routes, and one driver
//! per route (source, subscription; `route`) that leases due deliveries
//! from the store and starts an `attempt` for each (send, classify,
//! decide, record). Limits nest, so one sick integration hurts nobody
//! else:
//!
//! - the route's [`breaker`] stops claiming while its subscriber is failing
//!   (deliveries wait in the store and burn no attempts);
//! - the subscription's `max_in_flight` semaphore and rate limit are shared
//!   by its routes; its timeout bounds every attempt;
//! - the source's `workers` semaphore bounds its pool; another source's
//!   pool is untouched by its flood.
//!
//! The backlog lives in the store; a driver only claims as many deliveries
//! as it has free permits, so memory stays flat however deep the queues
//! are. What
//! an attempt means is decided by [`classify`]; when to retry by
//! [`backoff`]; what then happens to the delivery (delivered, retry at a
//! time, dead with a reason) by [`decide`]; the outbound signature by
//! [`sign`].

mod attempt;
pub mod backoff;
pub mod breaker;
pub mod classify;
mod client;
pub mod decide;
mod fanout;
pub mod pool;
mod rate;
mod route;
pub mod sign;

pub use pool::{Delivery, RouteStatus};
