//! What only a real three-master Redis Cluster (`[store] cluster = true`)
//! shows: each source's keys on the master of its hash tag's slot, group
//! commit on every master, the eviction check on every master, a slot moved
//! under a running store (MOVED), the cluster down (fast errors, no hang)
//! and back (recovery with the same handle), one master down. (Every
//! operation's behaviour on a cluster is the contract's: each conformance
//! test also runs on a cluster, see `contract`.)

use crate::support::*;
use hookgate_store::{AuditRecord, Settings, Store, StoreError, StoreStatus};
use hookgate_testkit::RedisCluster;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Sources whose hash tags land on three different masters of a fresh
/// cluster (slots 321, 10239, 15137 of 0-5460 / 5461-10922 / 10923-16383);
/// the first test asserts it rather than trusting this comment.
const SOURCES: [&str; 3] = ["stripe", "github", "shopify"];

/// How long a cluster that came back may take to be usable through the
/// same handle (slot map refresh, reconnects).
const RECOVERY: Duration = Duration::from_secs(20);

/// The nodes serving each source's keys, checked with `CLUSTER KEYSLOT`.
async fn owners(cluster: &RedisCluster, sources: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for s in sources {
        out.push(cluster.node_of(&format!("hg:{{{s}}}:fq")).await);
    }
    out
}

async fn slot_of(cluster: &RedisCluster, key: &str) -> u16 {
    let mut c = cluster.node_conn(0).await;
    raw(&mut c, &["CLUSTER", "KEYSLOT", key]).await
}

#[tokio::test]
async fn each_sources_keys_live_on_the_master_of_its_hash_tag() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;

    // The hash tags really are spread: CLUSTER KEYSLOT differs, and the
    // slots are served by all three masters.
    let mut slots = BTreeSet::new();
    for s in SOURCES {
        slots.insert(slot_of(&cluster, &format!("hg:{{{s}}}:fq")).await);
    }
    assert_eq!(slots.len(), 3, "{slots:?}");
    let nodes: BTreeSet<usize> = owners(&cluster, &SOURCES).await.into_iter().collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}");

    for (s, owner) in SOURCES.iter().zip(owners(&cluster, &SOURCES).await) {
        let a = TestEvent::new(s, "evt_1", "payment.succeeded");
        let b = TestEvent::new(s, "evt_2", "payment.succeeded");
        assert_eq!(ingest(&store, s, &[&a, &b]).await.unwrap(), [true, true]);

        // Every key of the source is on its owner, read with a plain
        // connection to that node (no redirect could hide a misplacement).
        let mut node = cluster.node_conn(owner).await;
        let id = a.id.as_str();
        let hash = hgetall(&mut node, &format!("hg:{{{s}}}:e:{id}")).await;
        assert_eq!(hash["type"], "payment.succeeded");
        assert_eq!(hash["ce"].as_bytes(), a.ce.as_slice());
        let marker: String = raw(&mut node, &["GET", &format!("hg:{{{s}}}:d:{id}")]).await;
        assert_eq!(marker, "1");
        assert_eq!(
            zmembers(&mut node, &format!("hg:{{{s}}}:fq")).await.len(),
            2
        );
        assert_eq!(
            zmembers(&mut node, &format!("hg:{{{s}}}:ei")).await.len(),
            2
        );
        let keys: i64 = raw(&mut node, &["DBSIZE"]).await;
        assert_eq!(keys, 6, "{s}: 2 markers, 2 events, fq, ei on node {owner}");
    }
}

#[tokio::test]
async fn concurrent_ingests_share_script_calls_on_every_master() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    const CALLBACKS: usize = 80;

    // All at once: per source, 80 callbacks of one event each.
    let mut tasks = tokio::task::JoinSet::new();
    for s in SOURCES {
        for i in 0..CALLBACKS {
            let store = store.clone();
            tasks.spawn(async move {
                let ev = TestEvent::new(s, &format!("evt_{i}"), "payment.succeeded");
                (s, ingest(&store, s, &[&ev]).await)
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (s, result) = done.expect("task");
        result.unwrap_or_else(|e| panic!("{s}: {e}"));
    }

    // Group commit: each master ran far fewer script calls than it got
    // callbacks (each master serves one source).
    for (s, owner) in SOURCES.iter().zip(owners(&cluster, &SOURCES).await) {
        let mut node = cluster.node_conn(owner).await;
        let info: String = raw(&mut node, &["INFO", "commandstats"]).await;
        let calls = info
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            calls > 0 && calls < CALLBACKS,
            "{s}: {calls} script calls for {CALLBACKS} callbacks"
        );
        let queued = zmembers(&mut node, &format!("hg:{{{s}}}:fq")).await;
        assert_eq!(queued.len(), CALLBACKS, "{s}");
    }
}

#[tokio::test]
async fn pause_flags_and_the_audit_stream_are_global_keys() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;

    assert!(bounded(store.set_paused("ledger", true)).await.unwrap());
    let record = AuditRecord {
        actor: "oncall".to_owned(),
        role: "operator".to_owned(),
        action: "subscription.pause".to_owned(),
        target: "ledger".to_owned(),
        filter: serde_json::Value::Null,
        count: 1,
        request_id: "req-1".to_owned(),
        at: "2025-01-02T03:04:05Z".to_owned(),
    };
    let id = bounded(store.audit_append(&record)).await.unwrap();

    // Each on the master of its own slot (no hash tag), as one key.
    let mut paused = cluster.node_conn(cluster.node_of("hg:paused").await).await;
    assert!(
        hgetall(&mut paused, "hg:paused")
            .await
            .contains_key("ledger")
    );
    let mut audit = cluster.node_conn(cluster.node_of("hg:audit").await).await;
    let entries: Vec<(String, Vec<(String, String)>)> =
        raw(&mut audit, &["XRANGE", "hg:audit", "-", "+"]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, id, "the audit id is the stream id");
    let json: AuditRecord = serde_json::from_str(&entries[0].1[0].1).unwrap();
    assert_eq!((entries[0].1[0].0.as_str(), json), ("r", record));
}

#[tokio::test]
async fn eviction_policy_is_checked_on_every_master() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await; // all noeviction
    let mut node = cluster.node_conn(2).await;
    let _: String = raw(
        &mut node,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    )
    .await;

    // One evicting master is enough to refuse, whichever source it serves.
    match bounded(store.check()).await {
        Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "allkeys-lru"),
        other => panic!("expected EvictingPolicy, got {other:?}"),
    }
    for s in SOURCES {
        let ev = TestEvent::new(s, "evt_1", "payment.succeeded");
        match ingest(&store, s, &[&ev]).await {
            Err(StoreError::EvictingPolicy(p)) => assert_eq!(p, "allkeys-lru"),
            other => panic!("{s}: expected EvictingPolicy, got {other:?}"),
        }
    }
    let mut cc = cluster.conn().await;
    for s in SOURCES {
        assert!(
            zmembers(&mut cc, &format!("hg:{{{s}}}:fq"))
                .await
                .is_empty()
        );
    }

    // With allow_eviction the operator accepts it.
    let mut cfg = cluster_config(&cluster);
    redis_mut(&mut cfg).allow_eviction = true;
    let lenient = Store::open(&cfg, Settings::default()).unwrap();
    assert_eq!(
        bounded(lenient.check()).await.unwrap(),
        StoreStatus {
            backend: "redis",
            details: vec![("maxmemory_policy", "allkeys-lru".to_owned())],
            warning: None,
        }
    );

    // Fixed: the same handle writes again, without a restart.
    let _: String = raw(
        &mut node,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    )
    .await;
    let ev = TestEvent::new("shopify", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "shopify", &[&ev]).await.unwrap(), [true]);
}

#[tokio::test]
async fn a_slot_moved_under_a_running_store_is_followed() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    let old = TestEvent::new("stripe", "evt_before", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&old]).await.unwrap(), [true]);
    let from = cluster.node_of("hg:{stripe}:fq").await;
    let to = (from + 1) % 3;
    let slot = slot_of(&cluster, "hg:{stripe}:fq").await;

    // Resharding moves the source's slot (and its keys) to another master:
    // the store's cached slot map is stale, the old owner answers MOVED.
    cluster.move_slot(slot, to).await;
    assert_eq!(cluster.node_of("hg:{stripe}:fq").await, to);

    assert_eq!(ingest(&store, "stripe", &[&old]).await.unwrap(), [false]);
    let new = TestEvent::new("stripe", "evt_after", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&new]).await.unwrap(), [true]);
    let due = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(due.len(), 2);
    let items: Vec<_> = due
        .iter()
        .map(|(id, _)| (id.clone(), vec!["ledger"]))
        .collect();
    assert_eq!(
        bounded(store.fanout_commit("stripe", &items))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.route_depths("stripe", "ledger").await.unwrap().queued,
        2
    );
    let mut node = cluster.node_conn(to).await;
    assert_eq!(zmembers(&mut node, "hg:{stripe}:q:ledger").await.len(), 2);
}

#[tokio::test]
async fn cluster_down_fails_fast_and_the_same_handle_recovers() {
    let mut cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    let ev = TestEvent::new("github", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "github", &[&ev]).await.unwrap(), [true]);

    cluster.stop();
    // Within store_timeout (plus scheduling slack), never a hang.
    let down = TestEvent::new("github", "evt_down", "payment.succeeded");
    for s in SOURCES {
        let started = Instant::now();
        let result = ingest(&store, s, &[&down]).await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{s}: {result:?}"
        );
        assert!(
            took < STORE_TIMEOUT + Duration::from_millis(500),
            "{s}: took {took:?}"
        );
    }
    assert!(bounded(store.ready()).await.is_err());
    let started = Instant::now();
    let policy = bounded(store.check()).await;
    assert!(
        matches!(policy, Err(StoreError::Unavailable(_))),
        "{policy:?}"
    );
    assert!(started.elapsed() < STORE_TIMEOUT + Duration::from_millis(500));
    assert!(
        bounded(store.route_claim("github", "ledger", 10))
            .await
            .is_err()
    );
    assert!(
        bounded(store.route_depths("github", "ledger"))
            .await
            .is_err()
    );

    // Back (empty: persistence is off): the same handle works again.
    cluster.start_again().await;
    let flags = until_ok(RECOVERY, "ingest", || async {
        ingest(&store, "github", &[&down]).await
    })
    .await;
    assert_eq!(flags, [true]);
    for s in SOURCES {
        let ev = TestEvent::new(s, "evt_back", "payment.succeeded");
        let flags = until_ok(RECOVERY, "ingest", || async {
            ingest(&store, s, &[&ev]).await
        })
        .await;
        assert_eq!(flags, [true], "{s}");
    }
    until_ok(RECOVERY, "ready", || store.ready()).await;
}

#[tokio::test]
async fn cluster_down_at_open_then_up_and_the_url_never_leaks() {
    let mut cluster = RedisCluster::start().await;
    cluster.stop();

    // A password in the URL must not reach an error or a Debug line.
    let mut cfg = cluster_config(&cluster);
    let with_password = cluster.url().replace("redis://", "redis://:s3cret-pw@");
    redis_mut(&mut cfg).url = with_password.parse().expect("a valid store url");
    let leaky = Store::open(&cfg, Settings::default()).expect("opens without connecting");
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    let started = Instant::now();
    let err = ingest(&leaky, "stripe", &[&ev]).await.unwrap_err();
    assert!(started.elapsed() < STORE_TIMEOUT + Duration::from_millis(500));
    for text in [err.to_string(), format!("{err:?}"), format!("{leaky:?}")] {
        assert!(!text.contains("s3cret-pw"), "password leaked: {text}");
    }
    let policy = bounded(leaky.check()).await.unwrap_err();
    assert!(!policy.to_string().contains("s3cret-pw"), "{policy}");

    // The gateway starts on a cluster that is down and works once it is up.
    let store = Store::open(&cluster_config(&cluster), Settings::default()).expect("opens");
    assert!(ingest(&store, "stripe", &[&ev]).await.is_err());
    cluster.start_again().await;
    let flags = until_ok(RECOVERY, "ingest", || async {
        ingest(&store, "stripe", &[&ev]).await
    })
    .await;
    assert_eq!(flags, [true]);
    assert_eq!(
        until_ok(RECOVERY, "check", || store.check()).await.details,
        [("maxmemory_policy", "noeviction".to_owned())]
    );
}

#[tokio::test]
async fn one_master_down_fails_its_sources_only_and_they_recover() {
    let mut cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    let owners = owners(&cluster, &SOURCES).await;
    let dead = owners[1]; // github's master
    cluster.stop_node(dead);

    // For a while (long enough for the store to replace its connections
    // after the failures, which it does at most once a second), the other
    // sources keep working and the dead master's source fails fast.
    let until = Instant::now() + Duration::from_millis(2500);
    let mut n = 0;
    while Instant::now() < until {
        for (s, owner) in SOURCES.iter().zip(&owners) {
            let ev = TestEvent::new(s, &format!("evt_partial_{n}"), "payment.succeeded");
            let started = Instant::now();
            let result = ingest(&store, s, &[&ev]).await;
            if *owner == dead {
                assert!(result.is_err(), "{s} on the dead master: {result:?}");
                assert!(started.elapsed() < STORE_TIMEOUT + Duration::from_millis(500));
            } else {
                assert_eq!(result.unwrap_or_else(|e| panic!("{s}: {e}")), [true], "{s}");
            }
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(n >= 10, "only {n} rounds");

    cluster.start_node_again(dead).await;
    let ev = TestEvent::new("github", "evt_back", "payment.succeeded");
    let flags = until_ok(RECOVERY, "ingest", || async {
        ingest(&store, "github", &[&ev]).await
    })
    .await;
    assert_eq!(flags, [true]);
}

#[tokio::test]
async fn readiness_says_out_of_memory_when_any_master_refuses_writes() {
    // One master at its maxmemory with noeviction answers PING and CONFIG
    // GET but refuses every write: the store is not ready (its sources
    // would answer 503), and is again once memory returns.
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    bounded(store.ready()).await.expect("ready");
    let mut node = cluster.node_conn(1).await;
    let _: String = raw(&mut node, &["CONFIG", "SET", "maxmemory", "1"]).await;
    match bounded(store.ready()).await {
        Err(StoreError::OutOfMemory) => {}
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    let _: String = raw(&mut node, &["CONFIG", "SET", "maxmemory", "0"]).await;
    bounded(store.ready()).await.expect("ready again");
}
