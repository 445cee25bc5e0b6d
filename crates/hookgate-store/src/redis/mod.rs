//! The Redis backend: one Redis or a Redis Cluster, shared by any number of
//! gateway instances.
//!
//! Every operation of the contract is one atomic Lua script (or a plain
//! command). [`RedisStore::ingest`] claims each idempotency key and stores
//! its event together (the claim is undone if a later write of the script
//! fails, so no key is ever claimed without its event). Queues are sorted
//! sets scored by due time, so a retry schedule is just a future score and
//! survives any restart. A lease is a score in a second sorted set; a lease
//! that expires (its worker died) returns the delivery to the queue on the
//! next claim, by any instance; the lease's expiry is also its token, so a
//! worker whose lease was retaken cannot finish it.
//!
//! Connections: a few multiplexed, auto-reconnecting redis-rs
//! `ConnectionManager`s, created lazily so the gateway starts (and answers
//! 503) while Redis is down, and recovers by itself when it returns. Not
//! deadpool-redis: its pool PINGs on every checkout, which would double the
//! round trips of every ingest. Scripts run by EVALSHA and are reloaded
//! transparently after a Redis restart (NOSCRIPT).
//!
//! Redis Cluster (`[store] cluster = true`): the same calls over redis-rs's
//! async cluster connections, behind the same connection type (`conn`),
//! equally lazy. Nothing in the store had to change for it, by
//! construction: every key of a source carries the hash tag `{source}`
//! ([`keys`]), so each script (its KEYS and the names it builds from the
//! source's key base), each group-committed batch (one queue per source)
//! and each pipeline (reads of one source) touches one slot; the client
//! routes it by its first key and follows `MOVED`/`ASK`. The global keys
//! (`P:paused`, `P:audit`) are single-key commands. The eviction check asks
//! every master; `PING` goes to every master. A cluster connection that
//! reports unreachable nodes is replaced (at most once a second), because
//! redis-rs 1.x retries a failed slot-map refresh in a tight loop.
//!
//! # Layout
//! - [`keys`]: every key name (a storage format).
//! - `scripts/*.lua`: the atomic operations, one file each.
//! - `batch`: group commit: concurrent ingests (and attempt outcomes) of a
//!   source share one script call, each still atomic.
//! - `conn`: one Redis or a Redis Cluster behind one connection type.
//! - `records`: parsing of stored hashes and script replies.
//! - `admin`: what operators read and do: listings, replay, redeliver,
//!   pause flags, the audit stream.
//! - `copy`: export and import of the store's contents.
//! - `policy`: the eviction-policy gate and its watcher.
//! - `write`: the contract's writes (ingest, fan-out, route claim and finish).
//! - `backend`: [`Backend`](crate::contract::Backend) for [`RedisStore`].
//! - this file: the handle, its connection setup, and the bounded call every
//!   Redis command goes through (with PING and the write probe).

mod admin;
mod backend;
mod batch;
mod conn;
mod copy;
pub mod keys;
mod policy;
mod records;
mod write;

pub use keys::Keys;

use policy::POLICY_UNKNOWN;

use crate::{Settings, StoreError};
use conn::{Conn, Pool};
use hookgate_config::RedisStoreConfig;
use hookgate_config::pem::PemKind;
use redis::Script;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// A PEM file of `[store]` (`key` names it in errors), read as check-config
/// reads it: the client would take a file without certificates as an empty
/// trust store and fail every call later with a less helpful error.
fn read_pem(path: &std::path::Path, key: &str, kind: PemKind) -> Result<Vec<u8>, StoreError> {
    hookgate_config::pem::read(path, kind)
        .map_err(|why| StoreError::Protocol(format!("store.{key} {why}")))
}

/// A script that moves ordering keys' lines: `#!lua`, the shared helpers
/// of `scripts/lines.lua`, then the given files (no script can call
/// another, so shared Lua is put in front of each that needs it).
macro_rules! with_lines {
    ($($file:literal),+) => {
        concat!(
            "#!lua\n",
            include_str!("scripts/lines.lua"),
            $(include_str!($file)),+
        )
    };
}
pub(crate) use with_lines;

struct Scripts {
    ingest: Script,
    fanout_due: Script,
    fanout_commit: Script,
    route_claim: Script,
    route_finish: Script,
    route_takeback: Script,
}

/// The writes that go through group commit (see `batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batched {
    Ingest,
    Finish,
}

impl Batched {
    /// The `op` label of its metrics.
    fn op(self) -> &'static str {
        match self {
            Batched::Ingest => "ingest",
            Batched::Finish => "finish",
        }
    }
}

/// Per write, by source id (looked up by `&str`: no allocation per call).
type Queues = [std::collections::HashMap<String, mpsc::Sender<batch::Job>>; 2];

struct Inner {
    conns: Pool,
    /// Group-commit queues, one per (write, source), started on first use.
    queues: std::sync::Mutex<Queues>,
    next: AtomicUsize,
    keys: Keys,
    timeout: Duration,
    allow_eviction: bool,
    policy: AtomicU8,
    /// The task that re-reads the eviction policy (see
    /// [`RedisStore::watch_policy`]), started on first use.
    watcher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    settings: Settings,
    /// What [`RedisStore::beside`] opens again.
    cfg: RedisStoreConfig,
    scripts: Scripts,
}

/// A handle on a Redis store; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Builds a store handle without connecting (connections open lazily):
    /// on one Redis, or on the Redis Cluster that `cfg.url` is a node of
    /// (`[store] cluster = true`, [`RedisStoreConfig::topology`]); each
    /// call is bounded by `timeout`.
    pub fn open(
        cfg: &RedisStoreConfig,
        timeout: Duration,
        settings: Settings,
    ) -> Result<Self, StoreError> {
        let topology = cfg.topology;
        let n = cfg.pool_size.clamp(1, 64);
        // TLS to the store (`rediss://`) goes through rustls; its process
        // provider is ring, as for subscribers. Installing it twice is a
        // no-op (the error says one is there).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root_cert = match &cfg.ca_file {
            Some(path) => Some(read_pem(path, "ca_file", PemKind::Certificates)?),
            None => None,
        };
        let client_tls = match &cfg.client_tls {
            Some((cert, key)) => Some(redis::ClientTlsConfig {
                client_cert: read_pem(cert, "client_cert_file", PemKind::Certificates)?,
                client_key: read_pem(key, "client_key_file", PemKind::Key)?,
            }),
            None => None,
        };
        let tls = (root_cert.is_some() || client_tls.is_some()).then_some(redis::TlsCertificates {
            client_tls,
            root_cert,
        });
        // Only the error's kind: its text could quote the URL.
        let conns = Pool::open(&cfg.url, topology, timeout, n, tls).map_err(|e| {
            StoreError::Protocol(format!("store url or ca_file is invalid ({:?})", e.kind()))
        })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conns,
                queues: Default::default(),
                next: AtomicUsize::new(0),
                keys: Keys::new(&cfg.key_prefix),
                timeout,
                allow_eviction: cfg.allow_eviction,
                policy: AtomicU8::new(POLICY_UNKNOWN),
                watcher: std::sync::Mutex::new(None),
                settings,
                cfg: cfg.clone(),
                scripts: Scripts {
                    ingest: Script::new(include_str!("scripts/ingest.lua")),
                    fanout_due: Script::new(include_str!("scripts/fanout_due.lua")),
                    fanout_commit: Script::new(with_lines!("scripts/fanout_commit.lua")),
                    // The two scripts that give up leases share reclaim.lua, put
                    // after lines.lua (no script can call another).
                    route_claim: Script::new(with_lines!(
                        "scripts/reclaim.lua",
                        "scripts/route_claim.lua"
                    )),
                    route_finish: Script::new(with_lines!("scripts/route_finish.lua")),
                    route_takeback: Script::new(with_lines!(
                        "scripts/reclaim.lua",
                        "scripts/route_takeback.lua"
                    )),
                },
            }),
        })
    }

    /// Another handle on the same store with connections and group-commit
    /// queues of its own (see [`crate::Store::open_beside`]).
    pub fn beside(&self) -> Result<Self, StoreError> {
        Self::open(&self.inner.cfg, self.inner.timeout, self.inner.settings)
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn conn(&self) -> Conn {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.inner.conns.get(i)
    }

    /// Runs one Redis call under `store_timeout`: every call goes through
    /// here. (The caller's [`crate::Store`] measures it.)
    pub(crate) async fn timed<T, F>(&self, fut: F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        self.bounded(fut).await.map_err(|(err, _)| err)
    }

    /// [`Self::timed`], also saying whether the failure was a connection
    /// lost under the call (a pooled connection to a Redis that
    /// restarted), which the caller may retry once.
    async fn bounded<T, F>(&self, fut: F) -> Result<T, (StoreError, bool)>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.inner.conns.failed(&e);
                let lost = conn::connection_lost(&e);
                if lost {
                    self.forget_policy();
                }
                Err((StoreError::from_redis(e), lost))
            }
            Err(_) => Err((
                StoreError::Unavailable(format!("no answer within {:?}", self.inner.timeout)),
                false,
            )),
        }
    }

    /// PING: is the store reachable now?
    /// A connection found lost is replaced and PING sent once more, so a
    /// Redis that restarted is reachable at the first probe after it.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn();
        let ping = redis::cmd("PING");
        match self.bounded(ping.query_async::<String>(&mut c)).await {
            Ok(_) => Ok(()),
            Err((_, true)) => {
                let mut c = self.conn();
                self.timed(ping.query_async::<String>(&mut c))
                    .await
                    .map(drop)
            }
            Err((err, false)) => Err(err),
        }
    }

    /// Whether the store takes writes now: the write probe of
    /// [`conn::Conn::write_probe`] (an `OOM` refusal is
    /// [`StoreError::OutOfMemory`]).
    async fn write_probe(&self) -> Result<(), StoreError> {
        let mut c = self.conn();
        self.timed(c.write_probe()).await
    }
}
