//! Integration tests of `hookgate-store` against real stores: SQLite files
//! in temp dirs, `redis-server`s and Redis Clusters of the tests' own.
//!
//! One binary:
//!
//! - [`contract`]: the conformance suite. The same test bodies run on every
//!   backend; whatever the contract promises is checked here.
//! - [`redis`]: what only the Redis backend has: its key layout (pinned with
//!   raw commands), the `maxmemory-policy` gate, out of memory and
//!   restarts, the cluster's slots and failures, TLS, and records written
//!   by earlier versions (`tests/fixtures/v<N>/`).
//!
//! Every test starts its own store, so tests never share state. Every wait
//! is bounded.

mod contract;
mod redis;
mod sqlite;
mod support;
