//! The eviction-policy gate (docs/ingest.md "Durability"): an evicting Redis could
//! drop a dedup marker or an event silently, so writes are refused unless the
//! operator opted in with `allow_eviction = true`. `Store::check` reports the
//! policy (or why it could not be read); `Store::ready` checks it anew.

use crate::support::*;
use hookgate_store::{Settings, Store, StoreError, StoreStatus};
use hookgate_testkit::RedisServer;

fn status(policy: &str) -> StoreStatus {
    StoreStatus {
        backend: "redis",
        details: vec![("maxmemory_policy", policy.to_owned())],
        warning: None,
    }
}

fn open_lazy(cfg: &hookgate_config::StoreConfig) -> Store {
    Store::open(cfg, Settings::default()).expect("open is lazy")
}

#[tokio::test]
async fn a_noeviction_redis_passes_the_check() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]).await;
    let store = open_lazy(&config(&redis));
    assert_eq!(bounded(store.check()).await.unwrap(), status("noeviction"));
    bounded(store.ready()).await.expect("ready");
}

#[tokio::test]
async fn an_evicting_redis_is_refused_and_ingest_writes_nothing() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]).await;
    let store = open_lazy(&config(&redis));
    let mut c = redis.conn().await;

    match bounded(store.check()).await {
        Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "allkeys-lru"),
        other => panic!("expected EvictingPolicy, got {other:?}"),
    }
    assert!(matches!(
        bounded(store.ready()).await,
        Err(StoreError::EvictingPolicy(_))
    ));

    // Ingest is refused on its own too (also without a prior check: the
    // gate is not only a start-up formality).
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    for store in [store.clone(), open_lazy(&config(&redis))] {
        match ingest(&store, "stripe", &[&ev]).await {
            Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "allkeys-lru"),
            other => panic!("expected EvictingPolicy, got {other:?}"),
        }
    }
    let dbsize: i64 = raw(&mut c, &["DBSIZE"]).await;
    assert_eq!(dbsize, 0, "a refused ingest wrote keys");

    // The operator fixes Redis: the same handle accepts writes again,
    // without a gateway restart.
    let _: String = raw(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]).await;
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
}

#[tokio::test]
async fn a_redis_switched_to_evicting_while_running_fails_the_readiness_probe() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]).await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    bounded(store.ready()).await.expect("ready");

    let _: String = raw(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
    )
    .await;
    match bounded(store.ready()).await {
        Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "volatile-lru"),
        other => panic!("expected EvictingPolicy, got {other:?}"),
    }
    // And writes stop with it.
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert!(matches!(
        ingest(&store, "stripe", &[&ev]).await,
        Err(StoreError::EvictingPolicy(_))
    ));
}

#[tokio::test]
async fn an_evicting_redis_is_accepted_with_allow_eviction() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]).await;
    let mut cfg = config(&redis);
    redis_mut(&mut cfg).allow_eviction = true;
    let store = open_lazy(&cfg);

    assert_eq!(bounded(store.check()).await.unwrap(), status("allkeys-lru"));
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
}

#[tokio::test]
async fn a_redis_without_the_config_command_is_accepted_with_a_warning() {
    // Some managed services disable CONFIG; the gateway proceeds (and says
    // so) rather than refusing to start.
    let redis = RedisServer::start_with(&["--rename-command", "CONFIG", ""]).await;
    let store = open_lazy(&config(&redis));

    let checked = bounded(store.check()).await.unwrap();
    assert_eq!(checked.backend, "redis");
    assert!(checked.details.is_empty(), "{checked:?}");
    let warning = checked.warning.expect("a warning");
    assert!(warning.contains("maxmemory-policy"), "{warning}");
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
}

#[tokio::test]
async fn a_redis_that_refuses_the_login_is_checked_once_it_lets_the_gateway_in() {
    // Before, a wrong password at start was taken for "CONFIG disabled":
    // the check was skipped for good and, once the password worked, writes
    // went into an evicting Redis.
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]).await;
    let mut c = redis.conn().await;
    let _: String = raw(&mut c, &["CONFIG", "SET", "requirepass", "right-pw"]).await;
    let mut cfg = config(&redis);
    let url = redis.url().replacen("redis://", "redis://:later-pw@", 1);
    redis_mut(&mut cfg).url = url.parse().expect("a valid store url");
    let store = open_lazy(&cfg);

    let checked = bounded(store.check()).await;
    assert!(
        matches!(checked, Err(StoreError::Unavailable(_))),
        "a refused login is the store unreachable, not CONFIG disabled: {checked:?}"
    );
    assert!(!format!("{checked:?}").contains("later-pw"), "{checked:?}");

    // The operator changes Redis's password to the gateway's: the gate
    // runs before the first write and refuses the evicting policy.
    let _: String = raw(&mut c, &["CONFIG", "SET", "requirepass", "later-pw"]).await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    let mut result = ingest(&store, "stripe", &[&ev]).await;
    for _ in 0..20 {
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        result = ingest(&store, "stripe", &[&ev]).await;
    }
    match result {
        Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "allkeys-lru"),
        other => panic!("expected EvictingPolicy, got {other:?}"),
    }
    let dbsize: i64 = raw(&mut c, &["DBSIZE"]).await;
    assert_eq!(dbsize, 0, "a refused ingest wrote keys");
}
