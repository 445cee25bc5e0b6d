//! The testkit's own integration tests: one binary, one module per helper.
//!
//! The helpers are what every other crate's tests stand on, so each promise
//! they make (cleanup on drop, scripted order, bounded waits, keep-alive
//! accounting, signature compatibility) is checked here against real
//! processes and sockets on loopback.

mod admin;
mod gateway;
mod receiver;
mod redis_cluster;
mod redis_server;
mod sign;

use std::time::Duration;

/// Generous upper bound for anything that should happen "at once" on loopback.
pub const SOON: Duration = Duration::from_secs(10);
