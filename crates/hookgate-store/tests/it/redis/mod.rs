//! What only the Redis backend has (see the crate's `redis` module). The
//! behaviour every backend shares is the contract's (`contract`), which
//! also runs on one Redis and on a Redis Cluster; nothing here asserts it
//! again.
//!
//! - [`layout_ingest`]: the keys one ingest writes and their TTLs, the key
//!   prefix and the source's hash tag, group commit of concurrent callbacks
//!   into shared script calls, the claim undone when a later write of the
//!   script fails.
//! - [`layout_queues`]: delivery hashes and their fields, queue, lease and
//!   dead-letter scores, the attempt log's JSON and TTLs, the `requeue` mark
//!   of a redeliver during an attempt, the scripts' housekeeping (dead
//!   letters and the event index trimmed past retention, recreated records
//!   given a TTL), and what they do with keys earlier versions left (fan-out
//!   leases; an event an older worker put back in the fan-out queue).
//! - [`layout_ordering`]: ordering keys: an event's places and positions,
//!   held deliveries and blocked keys, a line moving on, dead first entries
//!   skipped, unreadable or missing places delivered unordered, a copy
//!   between two Redis stores, random workloads checked step by step.
//! - [`policy`]: the `maxmemory-policy` gate (`check`, `ready`, writes),
//!   `allow_eviction`, a Redis without CONFIG, a refused login.
//! - [`faults`]: out of memory, Redis down (also at start), slow, crashed
//!   with `appendfsync always` (nothing acknowledged lost), restarted empty
//!   (scripts reloaded after NOSCRIPT), pooled connections after a restart.
//! - [`cluster`]: a real three-master Redis Cluster: each source's keys on
//!   its master, group commit on every master, the global keys, the
//!   eviction check on every master, a moved slot, the cluster down (also
//!   at open) and back, one master down.
//! - [`tls`]: `rediss://` with `[store] ca_file`, an untrusted certificate,
//!   mutual TLS.
//! - [`compat`]: records written by earlier versions, replayed with raw
//!   commands from `tests/fixtures/v<N>/`, read and worked on by the
//!   current code; the current writer's layout pinned to the newest one.

mod cluster;
mod compat;
mod faults;
mod layout_ingest;
mod layout_ordering;
mod layout_queues;
mod policy;
mod tls;
