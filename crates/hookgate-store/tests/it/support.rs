//! Shared helpers: a store config for a test's Redis, owned test events, and
//! raw Redis reads that bypass the store's own parsing.

use hookgate_config::{StoreConfig, StoreTopology};
use hookgate_core::{EventId, Secret};
use hookgate_store::{AttemptRecord, NewEvent, Store};
use hookgate_testkit::{RedisCluster, RedisServer};
use redis::aio::ConnectionLike;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// Default store call timeout in tests: short enough that a fault test
/// fails fast, long enough for a loaded CI machine.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// Generous upper bound for one store call in fault tests (not a speed
/// target: only there so a hang fails the test instead of blocking it).
pub const FAIL_FAST: Duration = Duration::from_secs(5);

pub const DAY: Duration = Duration::from_secs(24 * 3600);
pub const DEDUP: Duration = Duration::from_secs(7 * 24 * 3600);
pub const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// The store config the gateway would build for `server`.
pub fn config(server: &RedisServer) -> StoreConfig {
    StoreConfig {
        url: Secret::new(server.url()),
        timeout: STORE_TIMEOUT,
        allow_eviction: false,
        pool_size: 2,
        key_prefix: "hg".to_owned(),
        topology: StoreTopology::Single,
        ca_file: None,
        client_tls: None,
    }
}

/// The store config the gateway would build for `cluster`'s seed node
/// (with `[store] cluster = true`).
pub fn cluster_config(cluster: &RedisCluster) -> StoreConfig {
    StoreConfig {
        url: Secret::new(cluster.url()),
        timeout: STORE_TIMEOUT,
        allow_eviction: false,
        pool_size: 2,
        key_prefix: "hg".to_owned(),
        topology: StoreTopology::Cluster,
        ca_file: None,
        client_tls: None,
    }
}

/// Opens a cluster store on `cluster` and passes the eviction-policy gate.
pub async fn open_cluster(cluster: &RedisCluster) -> Store {
    let store = Store::open(&cluster_config(cluster)).expect("open cluster store");
    let policy = bounded(store.check_eviction_policy()).await;
    assert_eq!(policy.expect("policy check"), Some("noeviction".to_owned()));
    store
}

/// Opens a store on `server` and passes the eviction-policy gate.
pub async fn open(server: &RedisServer) -> Store {
    let store = Store::open(&config(server)).expect("open store");
    let policy = bounded(store.check_eviction_policy()).await;
    assert_eq!(policy.expect("policy check"), Some("noeviction".to_owned()));
    store
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
        }
    }

    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            ty: &self.ty,
            cloudevent: &self.ce,
            traceparent: &self.tp,
        }
    }
}

/// Ingests `events` on `source` with the default windows.
pub async fn ingest(
    store: &Store,
    source: &str,
    events: &[&TestEvent],
) -> Result<Vec<bool>, hookgate_store::StoreError> {
    let new: Vec<NewEvent<'_>> = events.iter().map(|e| e.as_new()).collect();
    bounded(store.ingest(source, &new, DEDUP, RETENTION)).await
}

/// Ingests one event, fans it out to `subs` (claim + commit) and returns it.
pub async fn ingest_and_fan_out(
    store: &Store,
    source: &str,
    name: &str,
    subs: &[&str],
) -> TestEvent {
    let ev = TestEvent::new(source, name, "payment.succeeded");
    assert_eq!(ingest(store, source, &[&ev]).await.expect("ingest"), [true]);
    let claimed = bounded(store.fanout_due(source, 10))
        .await
        .expect("fan-out read");
    assert_eq!(claimed, [(ev.id.clone(), ev.ty.clone())]);
    bounded(store.fanout_commit(source, &[(ev.id.clone(), subs.to_vec())], RETENTION))
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

/// Retries a store call like the delivery loops do (after a Redis restart
/// each pooled connection fails once before it reconnects) until it
/// succeeds, or panics with every error seen once `within` has passed.
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
