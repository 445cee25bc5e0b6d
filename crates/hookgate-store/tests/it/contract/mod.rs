//! The store contract's conformance suite: every test body here runs on
//! each backend (`conformance!`: the embedded SQLite store, one Redis, a
//! three-master Redis Cluster) and checks behaviour through the store's
//! API only, never a backend's layout.
//!
//! - [`ingest`]: atomic dedup + durable enqueue, dedup windows, retention.
//! - [`fanout`]: the fan-out queue: reads that lease nothing, commits that
//!   create each delivery once (racing workers, a worker that dies), an
//!   event sent again after its dedup window.
//! - [`routes`]: route queues: claims and lease tokens, the outcomes
//!   (delivered, retry, dead, release), stale and reclaimed leases, poison
//!   messages, deliveries whose event expired, the attempt log's cap,
//!   records past retention, concurrent finishes, a restart.
//! - [`operators`]: replay (idempotent, paced, skipping expired events),
//!   redeliver (also during an attempt), pause flags, route gauges, the
//!   audit log, the admin listings, sources kept apart.
//! - [`ordering`]: ordering keys: one delivery at a time per key and
//!   route, in store order, held lines, blocked keys, replays to the back.
//! - [`listing`]: keyset paging of the events listing.
//! - [`copy`]: moving a store's contents into another store (`hookgate
//!   store copy`), once, between backends.

mod copy;
mod fanout;
mod ingest;
mod listing;
mod operators;
mod ordering;
mod routes;
