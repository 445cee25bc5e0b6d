//! Shared helpers: a store on each backend, owned test events, the
//! conformance macro, and raw Redis reads that bypass the store's own
//! parsing (for the Redis layout tests).

use hookgate_config::{
    RedisStoreConfig, SqliteStoreConfig, StoreBackend, StoreConfig, StoreTopology,
};
use hookgate_core::{EventId, OrderKey};
use hookgate_store::{
    AttemptRecord, Attempted, ClaimedDelivery, Finish, NewEvent, OrderSlot, Settings, Store,
};
use hookgate_testkit::{RedisCluster, RedisServer};
use redis::aio::ConnectionLike;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Default store call timeout in tests: short enough that a fault test
/// fails fast, long enough for a loaded CI machine (an fsync included).
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Generous upper bound for one store call in tests (not a speed target:
/// only there so a hang fails the test instead of blocking it).
pub const FAIL_FAST: Duration = Duration::from_secs(5);

pub const DAY: Duration = Duration::from_secs(24 * 3600);
pub const DEDUP: Duration = Duration::from_secs(7 * 24 * 3600);
pub const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// Runs one test body against every backend: `conformance!(name)` for an
/// `async fn name(kind: Kind)` defined just before it makes the module
/// `name` with one `#[tokio::test]` per backend (`name::sqlite`,
/// `name::redis`, `name::cluster`). The bodies are the same; only the
/// store under them changes.
macro_rules! conformance {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$name($crate::support::Kind::Redis).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$name($crate::support::Kind::Cluster).await
            }
        }
    };
}
pub(crate) use conformance;

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The embedded store on a file in a temp dir.
    Sqlite,
    /// One `redis-server` of the test's own.
    Redis,
    /// A three-master Redis Cluster of the test's own.
    Cluster,
}

/// What keeps a backend alive (and removes it at the end of the test).
#[allow(dead_code, reason = "held for its Drop; read only by some tests")]
enum Guard {
    Dir(tempfile::TempDir),
    Redis(RedisServer),
    Cluster(RedisCluster),
}

/// A store on one backend, with what it runs on.
pub struct Fixture {
    pub kind: Kind,
    pub store: Store,
    pub settings: Settings,
    config: StoreConfig,
    guard: Guard,
}

/// The store config of the SQLite file `path`.
pub fn sqlite_config(path: PathBuf) -> StoreConfig {
    StoreConfig {
        timeout: STORE_TIMEOUT,
        backend: StoreBackend::Sqlite(SqliteStoreConfig { path }),
    }
}

/// The store config the gateway would build for `server`.
pub fn config(server: &RedisServer) -> StoreConfig {
    redis_config(server.url(), StoreTopology::Single)
}

/// The store config the gateway would build for `cluster`'s seed node
/// (with `[store] cluster = true`).
pub fn cluster_config(cluster: &RedisCluster) -> StoreConfig {
    redis_config(cluster.url(), StoreTopology::Cluster)
}

fn redis_config(url: String, topology: StoreTopology) -> StoreConfig {
    StoreConfig {
        timeout: STORE_TIMEOUT,
        backend: StoreBackend::Redis(RedisStoreConfig {
            url: url.parse().expect("a valid store url"),
            allow_eviction: false,
            pool_size: 2,
            key_prefix: "hg".to_owned(),
            topology,
            ca_file: None,
            client_tls: None,
        }),
    }
}

/// The Redis settings of a store config (tests change them in place).
pub fn redis_mut(cfg: &mut StoreConfig) -> &mut RedisStoreConfig {
    match &mut cfg.backend {
        StoreBackend::Redis(r) => r,
        StoreBackend::Sqlite(_) => panic!("not a Redis config"),
    }
}

impl Fixture {
    /// A fresh store of `kind` with the default settings.
    pub async fn open(kind: Kind) -> Self {
        Self::open_with(kind, Settings::default()).await
    }

    /// A fresh store of `kind` with `settings`.
    pub async fn open_with(kind: Kind, settings: Settings) -> Self {
        let (config, guard) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (
                    sqlite_config(dir.path().join("hookgate.db")),
                    Guard::Dir(dir),
                )
            }
            Kind::Redis => {
                let server = RedisServer::start().await;
                (config(&server), Guard::Redis(server))
            }
            Kind::Cluster => {
                let cluster = RedisCluster::start().await;
                (cluster_config(&cluster), Guard::Cluster(cluster))
            }
        };
        let store = open_config(&config, settings).await;
        Fixture {
            kind,
            store,
            settings,
            config,
            guard,
        }
    }

    /// The store closed and opened again on the same data (a gateway
    /// restart), with `settings`.
    pub async fn reopen_with(self, settings: Settings) -> Self {
        let Fixture {
            kind,
            store,
            config,
            guard,
            ..
        } = self;
        // Closed first: the SQLite file is one process's at a time.
        drop(store);
        // The file lock is an `flock`, shared with any child another test
        // spawns at that moment (redis-server) until the child's exec
        // closes it: a reopen right after the close may find it held by
        // this very process for a few microseconds more.
        let deadline = tokio::time::Instant::now() + FAIL_FAST;
        let store = loop {
            match Store::open(&config, settings) {
                Ok(store) => break store,
                Err(hookgate_store::StoreError::InUse(_))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("reopen store: {e:?}"),
            }
        };
        bounded(store.check()).await.expect("store check");
        Fixture {
            kind,
            store,
            settings,
            config,
            guard,
        }
    }

    /// Another handle on the same data with other settings (a second
    /// gateway instance on Redis); `None` on SQLite (one process per file).
    pub async fn another(&self, settings: Settings) -> Option<Store> {
        match self.kind {
            Kind::Sqlite => None,
            Kind::Redis | Kind::Cluster => Some(open_config(&self.config, settings).await),
        }
    }

    /// The test's own Redis server, when it has one.
    #[allow(dead_code, reason = "for backend-specific tests")]
    pub fn redis(&mut self) -> Option<&mut RedisServer> {
        match &mut self.guard {
            Guard::Redis(r) => Some(r),
            _ => None,
        }
    }

    /// The SQLite file, when the backend is SQLite.
    #[allow(dead_code, reason = "for backend-specific tests")]
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.config.sqlite().map(|s| s.path.clone())
    }
}

/// Opens a store and checks it (for Redis: the eviction-policy gate).
pub async fn open_config(config: &StoreConfig, settings: Settings) -> Store {
    let store = Store::open(config, settings).expect("open store");
    bounded(store.check()).await.expect("store check");
    store
}

/// Opens a store on `server` with the default settings.
pub async fn open(server: &RedisServer) -> Store {
    open_config(&config(server), Settings::default()).await
}

/// Opens a cluster store on `cluster` with the default settings.
pub async fn open_cluster(cluster: &RedisCluster) -> Store {
    open_config(&cluster_config(cluster), Settings::default()).await
}

/// Awaits `fut`, failing the test if it does not finish within [`FAIL_FAST`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(FAIL_FAST, fut)
        .await
        .unwrap_or_else(|_| panic!("store call did not return within {FAIL_FAST:?}"))
}

/// An owned event to ingest.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub id: EventId,
    pub ty: String,
    pub ce: Vec<u8>,
    pub tp: String,
    /// Places in line (see `ordered`).
    pub order: Vec<OrderSlot>,
}

impl TestEvent {
    /// The event of provider id `provider_id` on `source`, as ingest builds it.
    pub fn new(source: &str, provider_id: &str, ty: &str) -> Self {
        let id = EventId::derive(&hookgate_core::ids::idempotency_key(source, provider_id));
        let ce = serde_json::json!({
            "specversion": "1.0",
            "id": id.as_str(),
            "source": format!("hookgate/{source}"),
            "type": ty,
            "datacontenttype": "application/json",
            "data": { "provider_id": provider_id },
        });
        TestEvent {
            id,
            ty: ty.to_owned(),
            ce: serde_json::to_vec(&ce).expect("serialize CloudEvent"),
            tp: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            order: Vec::new(),
        }
    }

    /// This event with ordering key `key` for subscription `sub`.
    #[allow(dead_code)] // the ordering suite uses it
    pub fn ordered(mut self, sub: &str, key: &str) -> Self {
        self.order.push(OrderSlot {
            sub: sub.to_owned(),
            key: OrderKey::new(key).expect("a non-empty key"),
        });
        self
    }

    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            ty: &self.ty,
            cloudevent: &self.ce,
            traceparent: &self.tp,
            order: &self.order,
        }
    }
}

/// Ingests `events` on `source` with the default dedup window.
pub async fn ingest(
    store: &Store,
    source: &str,
    events: &[&TestEvent],
) -> Result<Vec<bool>, hookgate_store::StoreError> {
    ingest_for(store, source, DEDUP, events).await
}

/// Ingests `events` on `source` with the dedup window `dedup`.
pub async fn ingest_for(
    store: &Store,
    source: &str,
    dedup: Duration,
    events: &[&TestEvent],
) -> Result<Vec<bool>, hookgate_store::StoreError> {
    let new: Vec<NewEvent<'_>> = events.iter().map(|e| e.as_new()).collect();
    bounded(store.ingest(source, dedup, &new)).await
}

/// Ingests one event, fans it out to `subs` (read + commit) and returns it.
pub async fn ingest_and_fan_out(
    store: &Store,
    source: &str,
    name: &str,
    subs: &[&str],
) -> TestEvent {
    let ev = TestEvent::new(source, name, "payment.succeeded");
    assert_eq!(ingest(store, source, &[&ev]).await.expect("ingest"), [true]);
    let due = bounded(store.fanout_due(source, 10))
        .await
        .expect("fan-out read");
    assert_eq!(due, [(ev.id.clone(), ev.ty.clone())]);
    bounded(store.fanout_commit(source, &[(ev.id.clone(), subs.to_vec())]))
        .await
        .expect("fan-out commit");
    ev
}

/// An attempt record as the delivery workers write it.
pub fn attempt(n: u32, status_code: Option<u16>, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        n,
        at: "2025-01-02T03:04:05.678Z".to_owned(),
        status_code,
        error: error.map(str::to_owned),
        duration_ms: 12,
        response: None,
    }
}

/// Claims up to `max` due deliveries of `source`'s route to `sub`.
pub async fn claim(
    store: &Store,
    source: &str,
    sub: &str,
    max: usize,
) -> hookgate_store::RouteClaim {
    bounded(store.route_claim(source, sub, max))
        .await
        .expect("route claim")
}

/// Claims exactly one due delivery.
pub async fn claim_one(store: &Store, source: &str, sub: &str) -> ClaimedDelivery {
    let mut claim = claim(store, source, sub, 10).await;
    assert_eq!(
        claim.deliveries.len(),
        1,
        "expected one delivery: {claim:?}"
    );
    claim.deliveries.remove(0)
}

/// Finishes attempt `n` of a claimed delivery as `how` (a 2xx/4xx/5xx
/// status `code`, or a connection error when `None`). Returns whether the
/// lease still held.
pub async fn finish(
    store: &Store,
    source: &str,
    sub: &str,
    d: &ClaimedDelivery,
    n: u32,
    how: Finish,
    code: Option<u16>,
) -> bool {
    let record = attempt(n, code, code.is_none().then_some("connect refused"));
    let record = (how != Finish::Release).then_some(&record);
    bounded(store.route_finish(
        source,
        sub,
        &Attempted {
            id: &d.id,
            lease: d.lease,
            attempts: n,
            finish: &how,
            record,
            row: d.row,
        },
    ))
    .await
    .expect("route finish")
}

/// Retries a store call like the delivery loops do until it succeeds, or
/// panics with every error seen once `within` has passed.
pub async fn until_ok<T, F, Fut>(within: Duration, what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, hookgate_store::StoreError>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut errors = Vec::new();
    loop {
        match bounded(call()).await {
            Ok(v) => return v,
            Err(e) => errors.push(e.to_string()),
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what} did not recover within {within:?}: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `check` holds, polling; panics after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// === raw Redis reads ===

/// Runs one raw command.
pub async fn raw<T: redis::FromRedisValue>(conn: &mut impl ConnectionLike, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    bounded(cmd.query_async(conn))
        .await
        .unwrap_or_else(|e| panic!("raw {args:?}: {e}"))
}

pub async fn hgetall(conn: &mut impl ConnectionLike, key: &str) -> HashMap<String, String> {
    raw(conn, &["HGETALL", key]).await
}

pub async fn zmembers(conn: &mut impl ConnectionLike, key: &str) -> Vec<(String, f64)> {
    raw(conn, &["ZRANGE", key, "0", "-1", "WITHSCORES"]).await
}

pub async fn lrange(conn: &mut impl ConnectionLike, key: &str) -> Vec<String> {
    raw(conn, &["LRANGE", key, "0", "-1"]).await
}

pub async fn pttl(conn: &mut impl ConnectionLike, key: &str) -> i64 {
    raw(conn, &["PTTL", key]).await
}

pub async fn exists(conn: &mut impl ConnectionLike, key: &str) -> bool {
    raw::<i64>(conn, &["EXISTS", key]).await == 1
}

/// Every key matching `pattern` (SCAN, so it works on a full server).
pub async fn scan(conn: &mut impl ConnectionLike, pattern: &str) -> Vec<String> {
    let mut cursor = "0".to_owned();
    let mut keys = Vec::new();
    loop {
        let (next, batch): (String, Vec<String>) =
            raw(conn, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]).await;
        keys.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

/// Asserts a TTL is set and within the last minute of `window`.
pub fn assert_ttl_near(ttl_ms: i64, window: Duration, what: &str) {
    let window = window.as_millis() as i64;
    assert!(
        ttl_ms > window - 60_000 && ttl_ms <= window,
        "{what}: PTTL {ttl_ms} ms, expected just under {window} ms"
    );
}

/// A source's event index received in `range`, in `order`, read to its end
/// two entries at a time (each page after the last one read, as listings
/// page).
pub async fn event_index(
    store: &Store,
    source: &str,
    range: (i64, i64),
    order: hookgate_store::ListOrder,
) -> Vec<(EventId, i64)> {
    let mut all: Vec<(EventId, i64)> = Vec::new();
    loop {
        let after = all.last().map(|(id, ms)| (*ms, id));
        let page = bounded(store.event_index_after(source, range, order, after, 2))
            .await
            .expect("event index");
        let done = page.len() < 2;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// Every event of a source's index, oldest first.
pub async fn all_events(store: &Store, source: &str) -> Vec<(EventId, i64)> {
    event_index(
        store,
        source,
        (0, i64::MAX),
        hookgate_store::ListOrder::OldestFirst,
    )
    .await
}
