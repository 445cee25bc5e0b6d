//! Test support for Hookgate: the real parts, on loopback, cleaned up after.
//!
//! Hookgate's promises are about processes and sockets — a provider gets no
//! 2xx before the store has the event, a subscriber receives signed
//! CloudEvents, a crash or a store restart loses nothing — so its tests run
//! a real store (the embedded one's file, or a real Redis), a real
//! subscriber and, end to end, the real binary. This crate starts
//! those parts for any Hookgate crate's tests (as a dev-dependency only) so
//! each test does not grow its own half-working copy.
//!
//! It depends on no `hookgate-*` crate on purpose: it is an independent check
//! of the gateway. Signatures are computed from the providers' docs, the
//! gateway's config is written as TOML text, and the subscriber verifies what
//! it receives the way a Standard Webhooks library would. A bug shared by the
//! gateway and its tests would otherwise pass unnoticed.
//!
//! # Layout
//!
//! - [`redis`] — [`RedisServer`]: a `redis-server` per test on a
//!   free port and temp dir; stop, restart, restart empty, for fault tests.
//! - [`redis_cluster`] — [`RedisCluster`]: a three-master Redis Cluster per
//!   test (`redis-server --cluster-enabled yes`, each started from a
//!   `nodes.conf` that already holds the cluster; a few spare clusters are
//!   kept ready after the first); stop, start again, which node serves a
//!   key, move a slot.
//! - [`receiver`] — [`Receiver`]: a local HTTP/1.1 subscriber with scripted
//!   [`Reply`]s (status, headers, delay, hang, close) that records every
//!   request and counts connections.
//! - [`gateway`] — [`GatewayProcess`]: the `hookgate` binary as a child
//!   process with its config and logs in a temp dir; kill, SIGTERM, wait; and
//!   [`free_port`]/[`free_addr`] for the addresses in its config.
//! - [`sign`] — Stripe, GitHub and Standard Webhooks signatures, and
//!   [`verify_standard_webhooks`] for what subscribers receive.
//! - [`http`] — a small client ([`post`](crate::http::post),
//!   [`get`](crate::http::get), keep-alive [`Client`]) and [`RawConn`] for
//!   hostile byte-level tests (partial bodies, stalls).
//! - [`wait`] — [`eventually`] and [`assert_eventually`]: bounded polling.
//! - [`admin`] — [`AdminApi`]: what the gateway stored and did, read through
//!   its admin API (events, deliveries and their attempts, routes, dead
//!   letters), so a check holds on every store backend.
//! - [`small_fs`] — [`SmallFs`]: a small tmpfs of a test's own, to fill
//!   (disk-full tests of the embedded store).
//! - [`tls`] — a throwaway CA with server and client certificates
//!   ([`tls::TestPems`]), for TLS Redis and TLS subscribers.
//!
//! # Rules every helper here follows
//!
//! - **Every wait is bounded.** Nothing blocks without a deadline; on timeout
//!   the panic says what was awaited and what was seen (counts, logs).
//! - **Every process dies with its handle.** Child processes are killed on
//!   `Drop` (also while a failing test unwinds), and temp dirs are removed.
//! - **Only loopback.** Servers bind `127.0.0.1`, ports are picked free at
//!   run time, and nothing touches the shared Redis on 6379.

pub mod admin;
pub mod gateway;
pub mod http;
pub mod receiver;
pub mod redis;
pub mod redis_cluster;
pub mod sign;
pub mod small_fs;
pub mod tls;
pub mod wait;

// `crate::` because the modules `redis` and `http` share names with crates.
pub use crate::admin::{AdminApi, Attempt, Delivery, Route};
pub use crate::gateway::{GatewayProcess, free_addr, free_port};
pub use crate::http::{Client, RawConn, RequestError, Response, raw_exchange};
pub use crate::receiver::{Received, Receiver, Reply};
pub use crate::redis::RedisServer;
pub use crate::redis_cluster::RedisCluster;
pub use crate::sign::{
    github_signature, now_unix, standard_webhooks_headers, standard_webhooks_signature,
    stripe_signature, verify_standard_webhooks,
};
pub use crate::small_fs::SmallFs;
pub use crate::wait::{assert_eventually, eventually, eventually_some};
