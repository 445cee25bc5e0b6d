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

mod admin;
mod batch;
mod conn;
mod copy;
pub mod keys;
mod records;

pub use keys::Keys;

use crate::contract::{Attempted, Backend, StoreStatus};
use crate::copy::{ExportPage, Record};
use crate::{
    ATTEMPT_LOG_CAP, AttemptRecord, AuditRecord, DeliveryRecord, Finish, LeaseOwner, ListOrder,
    NewEvent, RECLAIM_LIMIT, RouteClaim, RouteDepth, Settings, StoreError, StoredEvent,
};
use conn::{Conn, Pool};
use hookgate_config::RedisStoreConfig;
use hookgate_config::pem::PemKind;
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use redis::{Script, Value};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A PEM file of `[store]` (`key` names it in errors), read as check-config
/// reads it: the client would take a file without certificates as an empty
/// trust store and fail every call later with a less helpful error.
fn read_pem(path: &std::path::Path, key: &str, kind: PemKind) -> Result<Vec<u8>, StoreError> {
    hookgate_config::pem::read(path, kind)
        .map_err(|why| StoreError::Protocol(format!("store.{key} {why}")))
}

/// Eviction-policy gate states.
const POLICY_UNKNOWN: u8 = 0;
const POLICY_OK: u8 = 1;
const POLICY_REFUSED: u8 = 2;

/// How often the policy watcher reads `maxmemory-policy` again (see
/// [`RedisStore::watch_policy`]).
const POLICY_WATCH_INTERVAL: Duration = Duration::from_millis(500);

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
                    fanout_commit: Script::new(include_str!("scripts/fanout_commit.lua")),
                    route_claim: Script::new(include_str!("scripts/route_claim.lua")),
                    route_finish: Script::new(include_str!("scripts/route_finish.lua")),
                    route_takeback: Script::new(include_str!("scripts/route_takeback.lua")),
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

    /// Checks `maxmemory-policy` (docs/ingest.md durability): an evicting Redis is
    /// refused unless `allow_eviction`. Returns the policy seen (`None` when
    /// the server does not allow CONFIG, as some managed services do; the
    /// gateway then proceeds and says so).
    ///
    /// On a cluster every master is asked: one evicting master refuses the
    /// store (its policy is returned in the error); `None` when some master
    /// refuses CONFIG and none evicts; an unreachable master is an error
    /// (checked again before the next write). Replicas are not asked.
    pub async fn check_eviction_policy(&self) -> Result<Option<String>, StoreError> {
        let mut c = self.conn();
        let policies = match tokio::time::timeout(self.inner.timeout, c.maxmemory_policies()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.inner.conns.failed(&e);
                if conn::connection_lost(&e) {
                    self.forget_policy();
                }
                return Err(StoreError::from_redis(e));
            }
            Err(_) => return Err(StoreError::Unavailable("no answer to CONFIG GET".into())),
        };
        let evicting = policies
            .iter()
            .flatten()
            .find(|p| p.as_str() != "noeviction")
            .cloned();
        let policy = match evicting {
            Some(p) => Some(p),
            None if policies.is_empty() || policies.iter().any(Option::is_none) => None,
            None => Some("noeviction".to_owned()),
        };
        let ok = match policy.as_deref() {
            Some("noeviction") | None => true,
            Some(_) => self.inner.allow_eviction,
        };
        // Every connection now goes to the Redis whose policy was read, so
        // a restart is noticed by whichever is used next (see
        // `Pool::warm`; bounded like any call).
        let _ = tokio::time::timeout(self.inner.timeout, self.inner.conns.warm()).await;
        self.inner.policy.store(
            if ok { POLICY_OK } else { POLICY_REFUSED },
            Ordering::Relaxed,
        );
        match (ok, policy) {
            (true, p) => Ok(p),
            (false, p) => Err(StoreError::EvictingPolicy(p.unwrap_or_default())),
        }
    }

    /// A connection was lost: the Redis behind it may have restarted with
    /// another configuration, so the policy is read again before the next
    /// write (and by the watcher within [`POLICY_WATCH_INTERVAL`]).
    fn forget_policy(&self) {
        self.inner.policy.store(POLICY_UNKNOWN, Ordering::Relaxed);
    }

    /// Starts the policy watcher unless it runs (or eviction is allowed,
    /// or there is no runtime to run it on): a task that reads
    /// `maxmemory-policy` again every [`POLICY_WATCH_INTERVAL`], so a Redis
    /// switched to an evicting policy at runtime (`CONFIG SET`) refuses
    /// writes within a second whether or not anything probes `/readyz`,
    /// and a fix is picked up as fast. A Redis restarted with another
    /// policy is caught sooner: the lost connection makes the next write
    /// read the policy first ([`Self::forget_policy`]). The task holds the
    /// store weakly and ends with its last handle (or its runtime; it is
    /// started again then).
    fn watch_policy(&self) {
        if self.inner.allow_eviction {
            return;
        }
        let mut slot = self.inner.watcher.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        *slot = Some(runtime.spawn(async move {
            let mut tick = tokio::time::interval(POLICY_WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let store = RedisStore { inner };
                let before = store.inner.policy.load(Ordering::Relaxed);
                match store.check_eviction_policy().await {
                    Err(StoreError::EvictingPolicy(policy)) if before != POLICY_REFUSED => {
                        tracing::error!(
                            request_id = %hookgate_core::trace::new_request_id(),
                            maxmemory_policy = %policy,
                            "Redis evicts keys: writes are refused (set maxmemory-policy noeviction, or allow_eviction = true)"
                        );
                    }
                    Ok(_) if before == POLICY_REFUSED => {
                        tracing::warn!(
                            request_id = %hookgate_core::trace::new_request_id(),
                            "Redis no longer evicts: writes are accepted again"
                        );
                    }
                    // Unreachable: the calls fail on their own meanwhile.
                    _ => {}
                }
            }
        }));
    }

    /// Writes are allowed only once the eviction policy was seen acceptable.
    async fn ensure_writable(&self) -> Result<(), StoreError> {
        self.watch_policy();
        match self.inner.policy.load(Ordering::Relaxed) {
            POLICY_OK => Ok(()),
            // Unknown (Redis was down at start) or refused (re-checked, so an
            // operator's fix is picked up without a restart).
            POLICY_UNKNOWN | POLICY_REFUSED => self.check_eviction_policy().await.map(|_| ()),
            _ => unreachable!("policy gate holds one of three values"),
        }
    }

    /// Atomic dedup + durable enqueue of one callback's events (all of one
    /// source). Returns, per event, true if stored, false if a duplicate.
    pub async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        self.ensure_writable().await?;
        let keys = &self.inner.keys;
        let ttl = (dedup_window.as_millis().max(1) as u64)
            .to_string()
            .into_bytes();
        let retention = self.inner.settings.retention_ms().to_string().into_bytes();
        let mut job_keys = Vec::with_capacity(2 * events.len());
        let mut args = Vec::with_capacity(6 * events.len());
        for ev in events {
            job_keys.push(keys.dedup(source, ev.id));
            job_keys.push(keys.event(source, ev.id));
            args.push(ev.id.as_str().as_bytes().to_vec());
            args.push(ev.ty.as_bytes().to_vec());
            args.push(ev.cloudevent.to_vec());
            args.push(ev.traceparent.as_bytes().to_vec());
            args.push(ttl.clone());
            args.push(retention.clone());
        }
        let flags = self
            .batched(Batched::Ingest, source, job_keys, args, events.len())
            .await?;
        if flags.len() != events.len() {
            return Err(StoreError::Protocol("ingest reply length".into()));
        }
        Ok(flags.into_iter().map(|f| f == 1).collect())
    }

    /// Reads up to `max` due events of a source's fan-out queue queued at
    /// least `min_age` ago: (event id, normalized type) pairs. Nothing is
    /// leased: the events stay queued until [`Self::fanout_commit`] takes
    /// them.
    pub async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.fanout_due.prepare_invoke();
        inv.key(keys.fanout_queue(source))
            .key(keys.fanout_leases(source))
            .key(keys.event_index(source));
        let now = now_ms();
        inv.arg(now)
            .arg(max)
            .arg(format!("{}e:", keys.source_base(source)))
            .arg(self.inner.settings.retention_ms())
            .arg(now.saturating_sub(min_age.as_millis() as i64));
        let mut c = self.conn();
        let flat: Vec<String> = self.timed(inv.invoke_async(&mut c)).await?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let id = EventId::parse(&pair[0])
                .ok_or_else(|| StoreError::Protocol("fan-out queue holds a foreign id".into()))?;
            out.push((id, pair[1].clone()));
        }
        Ok(out)
    }

    /// Takes read events off the fan-out queue and creates their
    /// deliveries, atomically; an event another worker already took is
    /// skipped, so each is fanned out once. `items` pairs each event with
    /// the ids of the subscriptions it goes to (possibly none). Returns how
    /// many events this call fanned out.
    pub async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.fanout_commit.prepare_invoke();
        inv.key(keys.fanout_queue(source));
        inv.arg(now_ms())
            .arg(self.inner.settings.retention_ms())
            .arg(keys.source_base(source));
        for (id, subs) in items {
            inv.arg(id.as_str()).arg(subs.len());
            for sub in subs {
                inv.arg(*sub);
            }
        }
        let mut c = self.conn();
        let fanned: i64 = self.timed(inv.invoke_async(&mut c)).await?;
        Ok(fanned.max(0) as usize)
    }

    /// Leases up to `max` due deliveries of a route, to `owner` (recorded
    /// in each delivery's record, see `scripts/route_claim.lua`).
    pub async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.route_claim.prepare_invoke();
        inv.key(keys.route_queue(source, sub))
            .key(keys.route_leases(source, sub))
            .key(keys.route_dlq(source, sub));
        inv.arg(now_ms())
            .arg(self.inner.settings.lease_ms())
            .arg(max)
            .arg(RECLAIM_LIMIT)
            .arg(keys.source_base(source))
            .arg(sub)
            .arg(self.inner.settings.retention_ms())
            .arg(ATTEMPT_LOG_CAP);
        if let Some(owner) = owner {
            inv.arg(&owner.instance).arg(&owner.run);
        }
        let mut c = self.conn();
        let reply: Value = self.timed(inv.invoke_async(&mut c)).await?;
        records::parse_route_claim(reply)
    }

    /// Takes back the leases `owner.instance` held in its earlier runs on
    /// `routes` (see `scripts/route_takeback.lua`): each route's leases are
    /// looked at a page at a time, in one script call per page.
    pub async fn take_back(
        &self,
        owner: &LeaseOwner,
        routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        const PAGE: usize = 500;
        // A route holds at most a few thousand leases (every instance's
        // in-flight deliveries); this bounds the loop whatever it holds.
        const MAX_PAGES: usize = 10_000;
        let keys = &self.inner.keys;
        let mut total = 0u64;
        for (source, sub) in routes {
            let mut offset = 0usize;
            for _ in 0..MAX_PAGES {
                let mut inv = self.inner.scripts.route_takeback.prepare_invoke();
                inv.key(keys.route_queue(source, sub))
                    .key(keys.route_leases(source, sub))
                    .key(keys.route_dlq(source, sub));
                inv.arg(now_ms())
                    .arg(self.inner.settings.lease_ms())
                    .arg(RECLAIM_LIMIT)
                    .arg(keys.source_base(source))
                    .arg(*sub)
                    .arg(self.inner.settings.retention_ms())
                    .arg(ATTEMPT_LOG_CAP)
                    .arg(&owner.instance)
                    .arg(&owner.run)
                    .arg(offset)
                    .arg(PAGE);
                let mut c = self.conn();
                let (taken, seen): (u64, usize) = self.timed(inv.invoke_async(&mut c)).await?;
                total += taken;
                if seen < PAGE {
                    break;
                }
                // What was taken left the set; the rest of the page stays.
                offset += seen.saturating_sub(taken as usize);
            }
        }
        Ok(total)
    }

    /// Records an attempt and its outcome for a leased delivery. Returns
    /// false when the lease had been taken over (nothing written).
    pub async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        let Attempted {
            id,
            lease,
            attempts: attempts_after,
            finish,
            record: attempt,
        } = *done;
        let keys = &self.inner.keys;
        let job_keys = vec![
            keys.route_queue(source, sub),
            keys.route_leases(source, sub),
            keys.route_dlq(source, sub),
            keys.delivery(source, id, sub),
            keys.attempts(source, id, sub),
        ];
        let (outcome, due, reason) = match finish {
            Finish::Delivered => ("delivered", 0, ""),
            Finish::Retry { due_ms } => ("retry", *due_ms, ""),
            Finish::Dead { reason } => ("dead", 0, reason.as_str()),
            Finish::Release => ("release", 0, ""),
        };
        let attempt_json = match attempt {
            Some(a) => serde_json::to_vec(a).map_err(|e| StoreError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let code = attempt
            .and_then(|a| a.status_code)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let args = vec![
            id.as_str().as_bytes().to_vec(),
            lease.to_string().into_bytes(),
            outcome.as_bytes().to_vec(),
            due.to_string().into_bytes(),
            attempts_after.to_string().into_bytes(),
            attempt_json,
            code.into_bytes(),
            reason.as_bytes().to_vec(),
            self.inner.settings.retention_ms().to_string().into_bytes(),
            ATTEMPT_LOG_CAP.to_string().into_bytes(),
        ];
        let done = self
            .batched(Batched::Finish, source, job_keys, args, 1)
            .await?;
        Ok(done == [1])
    }

    /// Queues one job on the (write, source) group-commit queue and waits
    /// for its share of the reply, all within `store_timeout`.
    async fn batched(
        &self,
        kind: Batched,
        source: &str,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
        replies: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let (done, reply) = oneshot::channel();
        let job = batch::Job {
            keys,
            args,
            replies,
            done,
        };
        let wait = async {
            if let Err(mpsc::error::SendError(job)) =
                self.queue(kind, source, false).send(job).await
            {
                // The queue's worker is gone (its runtime ended): a new one.
                self.queue(kind, source, true)
                    .send(job)
                    .await
                    .map_err(|_| StoreError::Unavailable("store queue closed".into()))?;
            }
            reply
                .await
                .map_err(|_| StoreError::Unavailable("store call abandoned".into()))?
        };
        match tokio::time::timeout(self.inner.timeout, wait).await {
            Ok(result) => result,
            // The caller answers 503 (and the error is counted) though the
            // call it waited for may still succeed late (it started after
            // the job queued): a store slower than `store_timeout` must show
            // in the errors the StoreErrors alert watches.
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.inner.timeout
            ))),
        }
    }

    /// The (write, source) queue, started on first use (or anew).
    fn queue(&self, kind: Batched, source: &str, renew: bool) -> mpsc::Sender<batch::Job> {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queues = &mut queues[kind as usize];
        if !renew && let Some(tx) = queues.get(source) {
            return tx.clone();
        }
        // The worker holds the store weakly: dropping the last handle
        // drops the senders, which ends the worker.
        let weak = Arc::downgrade(&self.inner);
        let id = source.to_owned();
        let tx = batch::spawn(kind.op(), move |jobs| {
            let weak = weak.clone();
            let source = id.clone();
            async move {
                let reply = match weak.upgrade() {
                    Some(inner) => RedisStore { inner }.run_batch(kind, &source, &jobs).await,
                    None => Err(StoreError::Unavailable("store closed".into())),
                };
                batch::answer(jobs, reply);
            }
        });
        queues.insert(source.to_owned(), tx.clone());
        tx
    }

    /// One batched script call: the script's own KEYS and `now`, then each
    /// job's keys and args in order.
    async fn run_batch(
        &self,
        kind: Batched,
        source: &str,
        jobs: &[batch::Job],
    ) -> Result<Vec<i64>, StoreError> {
        let keys = &self.inner.keys;
        let scripts = &self.inner.scripts;
        let mut inv = match kind {
            Batched::Ingest => {
                let mut inv = scripts.ingest.prepare_invoke();
                inv.key(keys.fanout_queue(source))
                    .key(keys.event_index(source));
                inv
            }
            Batched::Finish => scripts.route_finish.prepare_invoke(),
        };
        inv.arg(now_ms());
        for job in jobs {
            for k in &job.keys {
                inv.key(k);
            }
            for a in &job.args {
                inv.arg(a);
            }
        }
        let mut c = self.conn();
        match self.bounded(inv.invoke_async(&mut c)).await {
            Ok(flat) => Ok(flat),
            // A pooled connection went stale (Redis restarted): once more,
            // on the reconnected handle. Safe whether or not the first call
            // ran: a repeated ingest finds its events stored and reports
            // duplicates (a duplicate is only ever reported for a stored
            // event); a repeated finish finds its lease gone and changes
            // nothing.
            Err((_, true)) => {
                // The Redis behind it may be a restarted one with an
                // evicting policy: read it before writing there.
                if kind == Batched::Ingest {
                    self.ensure_writable().await?;
                }
                self.timed(inv.invoke_async(&mut c)).await
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

#[async_trait::async_trait]
impl Backend for RedisStore {
    fn beside(&self) -> Result<Arc<dyn Backend>, StoreError> {
        Ok(Arc::new(RedisStore::beside(self)?))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.watch_policy();
        let policy = self.check_eviction_policy().await?;
        Ok(StoreStatus {
            backend: "redis",
            warning: policy.is_none().then(|| {
                "store does not allow CONFIG GET; cannot check maxmemory-policy".to_owned()
            }),
            details: policy
                .map(|p| vec![("maxmemory_policy", p)])
                .unwrap_or_default(),
        })
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // Reachable, and taking writes: each probe checks the policy anew
        // (one CONFIG GET), so a Redis switched to evicting while the
        // gateway runs is refused from the next probe on.
        // And not out of memory: a Redis at its maxmemory with noeviction
        // answers PING and CONFIG GET but refuses every write.
        self.ping().await?;
        self.check_eviction_policy().await?;
        self.write_probe().await
    }

    async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        RedisStore::ingest(self, source, dedup_window, events).await
    }

    async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        RedisStore::fanout_due(self, source, max, min_age).await
    }

    async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        RedisStore::fanout_commit(self, source, items).await
    }

    async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        RedisStore::route_claim(self, source, sub, max, owner).await
    }

    async fn take_back(
        &self,
        owner: &LeaseOwner,
        routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        RedisStore::take_back(self, owner, routes).await
    }

    async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        RedisStore::route_finish(self, source, sub, done).await
    }

    async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        RedisStore::paused(self).await
    }

    async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        RedisStore::set_paused(self, sub, paused).await
    }

    async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        RedisStore::route_gauges(self, source, sub).await
    }

    async fn event_index_range(
        &self,
        source: &str,
        min_ms: i64,
        max_ms: i64,
        order: ListOrder,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        RedisStore::event_index_range(self, source, (min_ms, max_ms), order, offset, count).await
    }

    async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        RedisStore::dead_letter_range(self, source, sub, min_ms, max_ms, offset, count).await
    }

    async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        RedisStore::event_types(self, source, ids).await
    }

    async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        RedisStore::events(self, source, ids).await
    }

    async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        RedisStore::deliveries_of(self, source, id, subs).await
    }

    async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        RedisStore::delivery_records(self, source, ids, sub).await
    }

    async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError> {
        RedisStore::replay(self, source, sub, due).await
    }

    async fn redeliver(&self, source: &str, sub: &str, id: &EventId) -> Result<bool, StoreError> {
        RedisStore::redeliver(self, source, sub, id).await
    }

    async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        RedisStore::audit_append(self, record).await
    }

    async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        RedisStore::audit_page(self, after, count).await
    }

    async fn export(&self, cursor: Option<&str>, max: usize) -> Result<ExportPage, StoreError> {
        self.export_records(cursor, max).await
    }

    async fn import(&self, records: &[Record]) -> Result<u64, StoreError> {
        self.import_records(records).await
    }
}
