//! Atomic dedup + durable enqueue (SPEC §2 step 6): what one ingest writes,
//! with which TTLs, and how duplicates (sequential, in a batch, racing) are
//! reported.

use crate::support::*;
use hookgate_store::Store;
use hookgate_testkit::RedisServer;

#[tokio::test]
async fn new_event_is_stored_with_every_key_and_a_repeat_is_a_duplicate() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");

    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);

    // Exactly the keys of the layout, nothing else.
    let id = ev.id.as_str();
    let mut expected = vec![
        format!("hg:{{stripe}}:d:{id}"),
        format!("hg:{{stripe}}:e:{id}"),
        "hg:{stripe}:ei".to_owned(),
        "hg:{stripe}:fq".to_owned(),
    ];
    expected.sort();
    assert_eq!(scan(&mut c, "*").await, expected);

    let hash = hgetall(&mut c, &format!("hg:{{stripe}}:e:{id}")).await;
    assert_eq!(hash["type"], "payment.succeeded");
    assert_eq!(hash["ce"].as_bytes(), ev.ce.as_slice());
    assert_eq!(hash["tp"], ev.tp);
    let recv: i64 = hash["recv"].parse().expect("recv is ms");
    assert_eq!(hash.len(), 4, "event hash fields: {hash:?}");
    let marker: String = raw(&mut c, &["GET", &format!("hg:{{stripe}}:d:{id}")]).await;
    assert_eq!(marker, "1");
    assert_eq!(
        zmembers(&mut c, "hg:{stripe}:fq").await,
        [(id.to_owned(), recv as f64)]
    );
    assert_eq!(
        zmembers(&mut c, "hg:{stripe}:ei").await,
        [(id.to_owned(), recv as f64)]
    );

    // The typed reader agrees.
    let stored = store
        .event("stripe", &ev.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.ty, ev.ty);
    assert_eq!(stored.cloudevent, ev.ce);
    assert_eq!(stored.traceparent, ev.tp);
    assert_eq!(stored.received_ms, recv);

    // A provider retry, even with a different body, is a duplicate and
    // changes nothing.
    let mut retry = ev.clone();
    retry.ce = b"{\"changed\":true}".to_vec();
    assert_eq!(ingest(&store, "stripe", &[&retry]).await.unwrap(), [false]);
    let again = store
        .event("stripe", &ev.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(again, stored);
    assert_eq!(zmembers(&mut c, "hg:{stripe}:fq").await.len(), 1);
    assert_eq!(scan(&mut c, "*").await, expected);
}

#[tokio::test]
async fn dedup_marker_has_the_dedup_ttl_and_event_the_retention_ttl() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("adyen", "psp_1:AUTHORISATION:true", "adyen.AUTHORISATION");
    let dedup = 35 * DAY;
    let retention = 3 * DAY;

    let stored = bounded(store.ingest("adyen", &[ev.as_new()], dedup, retention))
        .await
        .unwrap();
    assert_eq!(stored, [true]);

    let id = ev.id.as_str();
    let marker_ttl = pttl(&mut c, &format!("hg:{{adyen}}:d:{id}")).await;
    assert_ttl_near(marker_ttl, dedup, "dedup marker");
    let event_ttl = pttl(&mut c, &format!("hg:{{adyen}}:e:{id}")).await;
    assert_ttl_near(event_ttl, retention, "event hash");
}

#[tokio::test]
async fn batch_with_a_repeated_id_stores_it_once() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let a = TestEvent::new("adyen", "psp_a:CAPTURE:true", "adyen.CAPTURE");
    let b = TestEvent::new("adyen", "psp_b:CAPTURE:true", "adyen.CAPTURE");

    assert_eq!(
        ingest(&store, "adyen", &[&a, &b, &a]).await.unwrap(),
        [true, true, false]
    );
    let queued: Vec<String> = zmembers(&mut c, "hg:{adyen}:fq")
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut expected = vec![a.id.to_string(), b.id.to_string()];
    expected.sort();
    let mut queued_sorted = queued.clone();
    queued_sorted.sort();
    assert_eq!(queued_sorted, expected);
    assert_eq!(scan(&mut c, "hg:{adyen}:d:*").await.len(), 2);
    assert_eq!(scan(&mut c, "hg:{adyen}:e:*").await.len(), 2);

    // The provider resends the whole batch plus one new item: only the new
    // one is stored.
    let new = TestEvent::new("adyen", "psp_c:CAPTURE:true", "adyen.CAPTURE");
    assert_eq!(
        ingest(&store, "adyen", &[&a, &new, &b]).await.unwrap(),
        [false, true, false]
    );
    assert_eq!(zmembers(&mut c, "hg:{adyen}:fq").await.len(), 3);
}

#[tokio::test]
async fn concurrent_identical_ingests_store_exactly_one() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("stripe", "evt_race", "payment.succeeded");

    let tasks = (0..40).map(|_| {
        let store: Store = store.clone();
        let ev = ev.clone();
        tokio::spawn(async move { ingest(&store, "stripe", &[&ev]).await })
    });
    let results = futures::future::join_all(tasks).await;
    let stored: Vec<bool> = results
        .into_iter()
        .map(|r| r.expect("task").expect("ingest")[0])
        .collect();
    assert_eq!(stored.len(), 40);
    assert_eq!(
        stored.iter().filter(|s| **s).count(),
        1,
        "exactly one racer stores the event: {stored:?}"
    );
    assert_eq!(zmembers(&mut c, "hg:{stripe}:fq").await.len(), 1);
    assert_eq!(zmembers(&mut c, "hg:{stripe}:ei").await.len(), 1);
}

#[tokio::test]
async fn dedup_is_per_source_and_keys_carry_the_source_hash_tag() {
    let redis = RedisServer::start().await;
    let mut cfg = config(&redis);
    cfg.key_prefix = "tenant7".to_owned();
    let store = Store::open(&cfg).unwrap();
    bounded(store.check_eviction_policy()).await.unwrap();
    let mut c = redis.conn().await;

    // The same EventId under two sources (ids are normally derived from the
    // source, so this only happens with a foreign writer; the keys must
    // still not collide).
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
    assert_eq!(ingest(&store, "github", &[&ev]).await.unwrap(), [true]);
    assert_eq!(ingest(&store, "github", &[&ev]).await.unwrap(), [false]);

    let keys = scan(&mut c, "*").await;
    assert_eq!(keys.len(), 8, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with("tenant7:{stripe}:") || key.starts_with("tenant7:{github}:"),
            "key outside the prefix and source hash tag: {key}"
        );
    }
}

/// Script calls Redis has run so far (`INFO commandstats`).
async fn evalsha_calls(c: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = raw(c, &["INFO", "commandstats"]).await;
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn concurrent_callbacks_share_script_calls_and_each_gets_its_own_answer() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let shared = TestEvent::new(
        "adyen",
        "psp_shared:AUTHORISATION:true",
        "adyen.AUTHORISATION",
    );
    let before = evalsha_calls(&mut c).await;

    // 100 single-event callbacks, and 20 three-event batches that all carry
    // one shared item between two items of their own.
    let singles = (0..100).map(|i| {
        let store = store.clone();
        let ev = TestEvent::new(
            "adyen",
            &format!("psp_single_{i}:CAPTURE:true"),
            "adyen.CAPTURE",
        );
        tokio::spawn(async move { (1, ingest(&store, "adyen", &[&ev]).await) })
    });
    let batches = (0..20).map(|i| {
        let store = store.clone();
        let shared = shared.clone();
        let a = TestEvent::new("adyen", &format!("psp_a_{i}:REFUND:true"), "adyen.REFUND");
        let b = TestEvent::new("adyen", &format!("psp_b_{i}:REFUND:true"), "adyen.REFUND");
        tokio::spawn(async move { (3, ingest(&store, "adyen", &[&a, &shared, &b]).await) })
    });
    let results = futures::future::join_all(singles.chain(batches)).await;
    let calls = evalsha_calls(&mut c).await - before;

    let mut shared_stored = 0;
    for result in results {
        let (len, flags) = result.expect("task");
        let flags = flags.expect("ingest");
        assert_eq!(flags.len(), len, "one flag per event of the callback");
        if len == 1 {
            assert_eq!(flags, [true], "a distinct event is stored");
        } else {
            assert!(
                flags[0] && flags[2],
                "a batch's own items are stored: {flags:?}"
            );
            shared_stored += usize::from(flags[1]);
        }
    }
    assert_eq!(
        shared_stored, 1,
        "the shared item is stored by exactly one batch"
    );
    assert_eq!(zmembers(&mut c, "hg:{adyen}:fq").await.len(), 100 + 40 + 1);
    assert!(
        calls < 120,
        "120 concurrent callbacks went to Redis in fewer script calls (group commit): {calls}"
    );
}

#[tokio::test]
async fn a_write_that_fails_after_the_claim_undoes_the_claim_and_the_event() {
    // SPEC §2 step 6: a key is never claimed without its event stored. The
    // event key is made the wrong type, so the write after the claim fails.
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ok = TestEvent::new("stripe", "evt_ok", "payment.succeeded");
    let bad = TestEvent::new("stripe", "evt_bad", "payment.succeeded");
    let bad_event = format!("hg:{{stripe}}:e:{}", bad.id.as_str());
    let _: () = raw(&mut c, &["SET", &bad_event, "not a hash"]).await;

    let err = ingest(&store, "stripe", &[&ok, &bad]).await;
    assert!(err.is_err(), "the failed write is an error: {err:?}");
    let bad_dedup = format!("hg:{{stripe}}:d:{}", bad.id.as_str());
    assert!(
        !exists(&mut c, &bad_dedup).await,
        "no claim without its event"
    );
    assert!(!exists(&mut c, &bad_event).await);
    let queued: Vec<String> = zmembers(&mut c, "hg:{stripe}:fq")
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        queued,
        [ok.id.to_string()],
        "only the event before it stays"
    );

    // The provider's retry of the whole callback: the first event is a
    // duplicate (it was stored), the second is stored now.
    assert_eq!(
        ingest(&store, "stripe", &[&ok, &bad]).await.unwrap(),
        [false, true]
    );
    assert!(exists(&mut c, &bad_dedup).await);
    assert_eq!(
        hgetall(&mut c, &bad_event).await["type"],
        "payment.succeeded"
    );
}

#[tokio::test]
async fn stored_events_reach_the_sources_feed_and_duplicates_do_not() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let beside = store.open_beside(&config(&redis)).unwrap();
    let a = TestEvent::new("stripe", "evt_a", "payment.succeeded");
    let b = TestEvent::new("stripe", "evt_b", "payment.failed");
    let other = TestEvent::new("adyen", "psp:AUTHORISATION:true", "adyen.AUTHORISATION");

    assert_eq!(ingest(&store, "stripe", &[&a]).await.unwrap(), [true]);
    assert_eq!(
        ingest(&store, "stripe", &[&a, &b]).await.unwrap(),
        [false, true]
    );
    assert_eq!(ingest(&store, "adyen", &[&other]).await.unwrap(), [true]);

    // The handle beside it (the delivery side's) sees the same feed.
    let feed = beside.fanout_feed("stripe");
    assert_eq!(
        feed.take(10),
        [(a.id.clone(), a.ty.clone()), (b.id.clone(), b.ty.clone())]
    );
    assert!(feed.take(10).is_empty());
    assert_eq!(
        beside.fanout_feed("adyen").take(10),
        [(other.id.clone(), other.ty.clone())]
    );
}
