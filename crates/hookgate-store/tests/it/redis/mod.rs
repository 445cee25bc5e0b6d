//! What only the Redis backend has (see the crate's `redis` module).
//!
//! - [`layout_ingest`], [`layout_queues`]: the exact keys, TTLs and scores
//!   each operation writes, read back with raw commands.
//! - [`policy`]: the `maxmemory-policy` gate.
//! - [`faults`]: out of memory, Redis down, slow, restarted (durable and
//!   empty).
//! - [`cluster`]: a real three-master Redis Cluster: sources on different
//!   nodes, the eviction check on every master, a moved slot, the cluster
//!   down and back.
//! - [`tls`]: `rediss://` with `[store] ca_file`, mutual TLS.
//! - [`compat`]: records written by earlier versions, replayed with raw
//!   commands from `tests/fixtures/v<N>/`, read by the current code.

mod cluster;
mod compat;
mod faults;
mod layout_ingest;
mod layout_queues;
mod policy;
mod tls;
