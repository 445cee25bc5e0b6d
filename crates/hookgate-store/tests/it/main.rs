//! Integration tests of `hookgate-store` against a real `redis-server`.
//!
//! One binary, one module per kind of behaviour (STYLE 12):
//!
//! - [`ingest`]: atomic dedup + durable enqueue (SPEC §2 step 6), TTLs,
//!   batches, racing identical callbacks.
//! - [`policy`]: the `maxmemory-policy` gate (SPEC §2 "Durability").
//! - [`queues`]: fan-out and route queues, leases, retries, dead letters,
//!   poison messages (SPEC §4).
//! - [`faults`]: out of memory, store down, slow store, restarts (durable and
//!   empty) (SPEC §2, §9).
//! - [`cluster`]: all of the above that the gateway uses, on a real
//!   three-master Redis Cluster (`[store] cluster = true`): sources on
//!   different nodes, group commit, admin reads, the eviction check on
//!   every master, a moved slot, the cluster down and back.
//! - [`tls`]: the store over `rediss://`, with `[store] ca_file`, and a
//!   server certificate nobody trusts.
//! - [`compat`]: records written by earlier versions, replayed with raw
//!   commands from `tests/fixtures/v<N>/`, read by the current code
//!   (STYLE 13, SPEC §9).
//!
//! Every test starts its own `RedisServer` (testkit), so tests never share
//! state, and checks the exact keys with raw Redis commands where the
//! store's own readers could hide a mistake. Every wait is bounded.

mod cluster;
mod compat;
mod faults;
mod ingest;
mod policy;
mod queues;
mod support;
mod tls;
