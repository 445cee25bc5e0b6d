//! The store on a real three-master Redis Cluster (`[store] cluster =
//! true`): every script, pipeline and command of the ingest, delivery and
//! admin paths, for sources whose hash tags live on different nodes; group
//! commit under concurrency; the eviction check on every master; a slot
//! moved under a running store (MOVED); the cluster down (fast errors, no
//! hang) and back (recovery with the same handle).

use crate::support::*;
use hookgate_core::time::now_ms;
use hookgate_store::{AuditRecord, DeliveryStatus, Finish, RouteDepth, Store, StoreError};
use hookgate_testkit::RedisCluster;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Sources whose hash tags land on three different masters of a fresh
/// cluster (slots 321, 10239, 15137 of 0-5460 / 5461-10922 / 10923-16383);
/// the first test asserts it rather than trusting this comment.
const SOURCES: [&str; 3] = ["stripe", "github", "shopify"];

const LEASE: Duration = Duration::from_secs(30);

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
async fn ingest_and_duplicates_for_sources_on_different_nodes() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    assert!(bounded(store.ping()).await.is_ok());

    // The hash tags really are spread: CLUSTER KEYSLOT differs, and the
    // slots are served by at least two (here all three) masters.
    let mut slots = BTreeSet::new();
    for s in SOURCES {
        slots.insert(slot_of(&cluster, &format!("hg:{{{s}}}:fq")).await);
    }
    assert_eq!(slots.len(), 3, "{slots:?}");
    let nodes: BTreeSet<usize> = owners(&cluster, &SOURCES).await.into_iter().collect();
    assert!(nodes.len() >= 2, "every source on one node: {nodes:?}");
    assert_eq!(nodes.len(), 3);

    for (s, owner) in SOURCES.iter().zip(owners(&cluster, &SOURCES).await) {
        let ev = TestEvent::new(s, "evt_1", "payment.succeeded");
        assert_eq!(ingest(&store, s, &[&ev]).await.unwrap(), [true], "{s}");
        // A provider retry is a duplicate; a batch with a repeat stores once.
        assert_eq!(ingest(&store, s, &[&ev]).await.unwrap(), [false], "{s}");
        let b = TestEvent::new(s, "evt_2", "payment.succeeded");
        assert_eq!(
            ingest(&store, s, &[&b, &ev, &b]).await.unwrap(),
            [true, false, false],
            "{s}"
        );

        // Every key of the source is on its owner, read with a plain
        // connection to that node (no redirect could hide a misplacement).
        let mut node = cluster.node_conn(owner).await;
        let id = ev.id.as_str();
        let hash = hgetall(&mut node, &format!("hg:{{{s}}}:e:{id}")).await;
        assert_eq!(hash["type"], "payment.succeeded");
        assert_eq!(hash["ce"].as_bytes(), ev.ce.as_slice());
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

        let stored = store.event(s, &ev.id).await.unwrap().expect("stored");
        assert_eq!(stored.cloudevent, ev.ce);
        assert_eq!(stored.traceparent, ev.tp);
    }
}

#[tokio::test]
async fn group_commit_of_many_concurrent_ingests_on_every_node() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    const DISTINCT: usize = 60;
    const RACERS: usize = 20;

    // All at once: per source, 60 distinct callbacks and 20 copies of one
    // more racing each other.
    let mut tasks = tokio::task::JoinSet::new();
    for s in SOURCES {
        for i in 0..DISTINCT {
            let store = store.clone();
            tasks.spawn(async move {
                let ev = TestEvent::new(s, &format!("evt_{i}"), "payment.succeeded");
                (s, false, ingest(&store, s, &[&ev]).await)
            });
        }
        for _ in 0..RACERS {
            let store = store.clone();
            tasks.spawn(async move {
                let ev = TestEvent::new(s, "evt_raced", "payment.succeeded");
                (s, true, ingest(&store, s, &[&ev]).await)
            });
        }
    }
    let mut raced_stored = std::collections::HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (s, raced, result) = done.expect("task");
        let flags = result.unwrap_or_else(|e| panic!("{s}: {e}"));
        if raced {
            *raced_stored.entry(s).or_insert(0) += flags.iter().filter(|f| **f).count();
        } else {
            assert_eq!(flags, [true], "{s}");
        }
    }

    // Group commit: the 240 callbacks shared far fewer script calls.
    let mut calls = 0;
    for i in 0..3 {
        let mut node = cluster.node_conn(i).await;
        let info: String = raw(&mut node, &["INFO", "commandstats"]).await;
        calls += info
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
    }
    let callbacks = SOURCES.len() * (DISTINCT + RACERS);
    assert!(
        calls > 0 && calls < callbacks,
        "{calls} script calls for {callbacks} callbacks"
    );

    let mut cc = cluster.conn().await;
    for s in SOURCES {
        assert_eq!(raced_stored[s], 1, "{s}: racing copies stored once");
        let queued = zmembers(&mut cc, &format!("hg:{{{s}}}:fq")).await;
        assert_eq!(queued.len(), DISTINCT + 1, "{s}");
    }
}

#[tokio::test]
async fn fan_out_claim_finish_and_the_admin_reads_on_every_node() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;
    let mut cc = cluster.conn().await;
    let subs = ["ledger", "crm"];

    for s in SOURCES {
        let from = now_ms();
        let a = ingest_and_fan_out(&store, s, "evt_a", &subs).await;
        let b = ingest_and_fan_out(&store, s, "evt_b", &["ledger"]).await;
        assert!(bounded(store.fanout_due(s, 10)).await.unwrap().is_empty());

        // Route claims and outcomes (finishes go through group commit).
        let claim = bounded(store.route_claim(s, "ledger", 10, LEASE))
            .await
            .unwrap();
        let mut ids: Vec<_> = claim.deliveries.iter().map(|d| d.id.clone()).collect();
        ids.sort();
        let mut want = vec![a.id.clone(), b.id.clone()];
        want.sort();
        assert_eq!(ids, want, "{s}");
        assert!(
            claim
                .deliveries
                .iter()
                .all(|d| d.cloudevent == a.ce || d.cloudevent == b.ce)
        );
        let finishes = claim.deliveries.iter().map(|d| {
            let store = store.clone();
            async move {
                let rec = attempt(1, Some(200), None);
                store
                    .route_finish(
                        s,
                        "ledger",
                        &d.id,
                        d.lease,
                        1,
                        &Finish::Delivered,
                        Some(&rec),
                        RETENTION,
                    )
                    .await
            }
        });
        for done in bounded(futures::future::join_all(finishes)).await {
            assert!(done.unwrap(), "{s}");
        }
        let crm = bounded(store.route_claim(s, "crm", 10, LEASE))
            .await
            .unwrap();
        assert_eq!(crm.deliveries.len(), 1);
        let d = &crm.deliveries[0];
        let dead = Finish::Dead {
            reason: "status 410".to_owned(),
        };
        let rec = attempt(1, Some(410), None);
        assert!(
            bounded(store.route_finish(s, "crm", &d.id, d.lease, 1, &dead, Some(&rec), RETENTION))
                .await
                .unwrap()
        );

        // What the admin API reads (pipelines of one source: one slot).
        let delivered = store.delivery(s, &a.id, "ledger").await.unwrap().unwrap();
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert_eq!(store.attempts(s, &a.id, "ledger").await.unwrap().len(), 1);
        let both = store.deliveries_of(s, &a.id, &subs).await.unwrap();
        let states: Vec<_> = both
            .iter()
            .map(|(sub, r, log)| (sub.as_str(), r.status, log.len()))
            .collect();
        assert_eq!(
            states,
            [
                ("ledger", DeliveryStatus::Delivered, 1),
                ("crm", DeliveryStatus::Dead, 1)
            ]
        );
        let records = store
            .delivery_records(s, &[a.id.clone(), b.id.clone()], "crm")
            .await
            .unwrap();
        assert_eq!(
            records[0].as_ref().map(|r| r.status),
            Some(DeliveryStatus::Dead)
        );
        assert!(records[1].is_none(), "evt_b never went to crm");

        let listed = store
            .event_index_range(s, from, now_ms(), 0, 10)
            .await
            .unwrap();
        let listed: BTreeSet<_> = listed.into_iter().map(|(id, _)| id).collect();
        assert_eq!(listed, [a.id.clone(), b.id.clone()].into_iter().collect());
        let types = store
            .event_types(s, &[a.id.clone(), b.id.clone()])
            .await
            .unwrap();
        assert_eq!(
            types,
            [
                Some("payment.succeeded".to_owned()),
                Some("payment.succeeded".to_owned())
            ]
        );
        let events = store
            .events(s, &[a.id.clone(), b.id.clone()])
            .await
            .unwrap();
        assert_eq!(events[0].as_ref().unwrap().cloudevent, a.ce);
        assert_eq!(events[1].as_ref().unwrap().cloudevent, b.ce);
        let (src, found) = store
            .find_event(&SOURCES, &b.id)
            .await
            .unwrap()
            .expect("found");
        assert_eq!((src.as_str(), found.cloudevent), (s, b.ce.clone()));

        let dl = store.dead_letters(s, "crm").await.unwrap();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].0, a.id);
        let page = store
            .dead_letter_range(s, "crm", 0, now_ms(), 0, 10)
            .await
            .unwrap();
        assert_eq!(page, dl);
        let depth = store.route_depths(s, "crm").await.unwrap();
        assert_eq!(
            depth,
            RouteDepth {
                queued: 0,
                in_flight: 0,
                dead: 1
            }
        );
        let (gauges, head) = store.route_gauges(s, "ledger").await.unwrap();
        assert_eq!(gauges, RouteDepth::default());
        assert_eq!(head, None);
        assert_eq!(store.route_depth(s, "ledger").await.unwrap(), 0);

        // Operators' writes: replay the dead letter, redeliver a delivered one.
        let replayed = bounded(store.replay(
            s,
            "crm",
            std::slice::from_ref(&a.id),
            Duration::ZERO,
            0,
            RETENTION,
        ))
        .await
        .unwrap();
        assert_eq!(replayed, 1);
        assert!(
            bounded(store.redeliver(s, "ledger", &b.id, RETENTION))
                .await
                .unwrap()
        );
        let (gauges, head) = store.route_gauges(s, "crm").await.unwrap();
        assert_eq!(
            gauges,
            RouteDepth {
                queued: 1,
                in_flight: 0,
                dead: 0
            }
        );
        assert!(head.is_some());
        assert_eq!(store.route_depth(s, "ledger").await.unwrap(), 1);
        assert_eq!(
            zmembers(&mut cc, &format!("hg:{{{s}}}:q:crm")).await.len(),
            1
        );
    }
}

#[tokio::test]
async fn pause_flags_and_the_audit_stream_live_on_their_own_slots() {
    let cluster = RedisCluster::start().await;
    let store = open_cluster(&cluster).await;

    assert!(store.paused().await.unwrap().is_empty());
    assert!(store.set_paused("ledger", true).await.unwrap());
    assert!(!store.set_paused("ledger", true).await.unwrap());
    assert!(store.set_paused("crm", true).await.unwrap());
    let paused = store.paused().await.unwrap();
    assert_eq!(
        paused,
        ["ledger".to_owned(), "crm".to_owned()]
            .into_iter()
            .collect()
    );
    assert!(store.set_paused("crm", false).await.unwrap());
    assert_eq!(store.paused().await.unwrap().len(), 1);

    let record = |n: u64| AuditRecord {
        actor: "oncall".to_owned(),
        role: "operator".to_owned(),
        action: "dead_letters.replay".to_owned(),
        target: "ledger".to_owned(),
        filter: serde_json::json!({ "n": n }),
        count: n,
        request_id: format!("req-{n}"),
        at: "2025-01-02T03:04:05Z".to_owned(),
    };
    let first = store.audit_append(&record(1)).await.unwrap();
    let second = store.audit_append(&record(2)).await.unwrap();
    let all = store.audit_page(None, 10).await.unwrap();
    assert_eq!(
        all,
        [(first.clone(), record(1)), (second.clone(), record(2))]
    );
    let after = store.audit_page(Some(&first), 10).await.unwrap();
    assert_eq!(after, [(second, record(2))]);

    // Both global keys exist where the cluster says they do.
    let mut cc = cluster.conn().await;
    assert!(exists(&mut cc, "hg:paused").await);
    assert!(exists(&mut cc, "hg:audit").await);
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
    match bounded(store.check_eviction_policy()).await {
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
    cfg.allow_eviction = true;
    let lenient = Store::open(&cfg).unwrap();
    assert_eq!(
        bounded(lenient.check_eviction_policy()).await.unwrap(),
        Some("allkeys-lru".to_owned())
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
        bounded(store.fanout_commit("stripe", &items, RETENTION))
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
    assert!(bounded(store.ping()).await.is_err());
    let started = Instant::now();
    let policy = bounded(store.check_eviction_policy()).await;
    assert!(
        matches!(policy, Err(StoreError::Unavailable(_))),
        "{policy:?}"
    );
    assert!(started.elapsed() < STORE_TIMEOUT + Duration::from_millis(500));
    assert!(
        bounded(store.route_claim("github", "ledger", 10, LEASE))
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
    until_ok(RECOVERY, "ping", || store.ping()).await;
}

#[tokio::test]
async fn cluster_down_at_open_then_up_and_the_url_never_leaks() {
    let mut cluster = RedisCluster::start().await;
    cluster.stop();

    // A password in the URL must not reach an error or a Debug line.
    let mut cfg = cluster_config(&cluster);
    let with_password = cluster.url().replace("redis://", "redis://:s3cret-pw@");
    cfg.url = hookgate_core::Secret::new(with_password);
    let leaky = Store::open(&cfg).expect("opens without connecting");
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    let started = Instant::now();
    let err = ingest(&leaky, "stripe", &[&ev]).await.unwrap_err();
    assert!(started.elapsed() < STORE_TIMEOUT + Duration::from_millis(500));
    for text in [err.to_string(), format!("{err:?}"), format!("{leaky:?}")] {
        assert!(!text.contains("s3cret-pw"), "password leaked: {text}");
    }
    let policy = bounded(leaky.check_eviction_policy()).await.unwrap_err();
    assert!(!policy.to_string().contains("s3cret-pw"), "{policy}");

    // The gateway starts on a cluster that is down and works once it is up.
    let store = Store::open(&cluster_config(&cluster)).expect("opens");
    assert!(ingest(&store, "stripe", &[&ev]).await.is_err());
    cluster.start_again().await;
    let flags = until_ok(RECOVERY, "ingest", || async {
        ingest(&store, "stripe", &[&ev]).await
    })
    .await;
    assert_eq!(flags, [true]);
    assert_eq!(
        until_ok(RECOVERY, "policy", || store.check_eviction_policy()).await,
        Some("noeviction".to_owned())
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
