//! The store contract's conformance suite: every test body here runs on
//! each backend (`conformance!`: the embedded SQLite store, one Redis, a
//! three-master Redis Cluster) and checks behaviour through the store's
//! API only, never a backend's layout.
//!
//! - [`ingest`]: atomic dedup + durable enqueue, dedup windows, retention.

mod ingest;
