//! What one ingest writes on Redis (docs/ingest.md step 6), read back with raw
//! commands: the exact keys and their TTLs, the key prefix and the
//! source's hash tag, group commit of concurrent callbacks into shared
//! script calls, and the claim undone when a write after it fails. (What
//! an ingest stores and answers is the contract's: `contract::ingest`.)

use crate::support::*;
use hookgate_store::{Settings, Store};
use hookgate_testkit::RedisServer;

#[tokio::test]
async fn a_new_event_writes_exactly_its_keys_and_a_duplicate_writes_none() {
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

    // A provider retry with a different body touches no key.
    let mut retry = ev.clone();
    retry.ce = b"{\"changed\":true}".to_vec();
    assert_eq!(ingest(&store, "stripe", &[&retry]).await.unwrap(), [false]);
    assert_eq!(scan(&mut c, "*").await, expected);
    assert_eq!(
        hgetall(&mut c, &format!("hg:{{stripe}}:e:{id}")).await,
        hash
    );
}

#[tokio::test]
async fn the_dedup_marker_has_the_dedup_ttl_and_the_event_the_retention_ttl() {
    let redis = RedisServer::start().await;
    let retention = 3 * DAY;
    let settings = Settings {
        retention,
        ..Settings::default()
    };
    let store = open_config(&config(&redis), settings).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("adyen", "psp_1:AUTHORISATION:true", "adyen.AUTHORISATION");
    let dedup = 35 * DAY;

    assert_eq!(
        ingest_for(&store, "adyen", dedup, &[&ev]).await.unwrap(),
        [true]
    );

    let id = ev.id.as_str();
    let marker_ttl = pttl(&mut c, &format!("hg:{{adyen}}:d:{id}")).await;
    assert_ttl_near(marker_ttl, dedup, "dedup marker");
    let event_ttl = pttl(&mut c, &format!("hg:{{adyen}}:e:{id}")).await;
    assert_ttl_near(event_ttl, retention, "event hash");
    // The queues are not data with a lifetime of their own.
    assert_eq!(pttl(&mut c, "hg:{adyen}:fq").await, -1);
    assert_eq!(pttl(&mut c, "hg:{adyen}:ei").await, -1);
}

#[tokio::test]
async fn every_key_carries_the_prefix_and_its_sources_hash_tag() {
    let redis = RedisServer::start().await;
    let mut cfg = config(&redis);
    redis_mut(&mut cfg).key_prefix = "tenant7".to_owned();
    let store = open_config(&cfg, Settings::default()).await;
    let mut c = redis.conn().await;

    // The same EventId under two sources (only a foreign writer does
    // that): each source's keys are its own.
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    ingest(&store, "stripe", &[&ev]).await.unwrap();
    ingest(&store, "github", &[&ev]).await.unwrap();

    let keys = scan(&mut c, "*").await;
    assert_eq!(keys.len(), 8, "d, e, ei and fq per source: {keys:?}");
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
async fn concurrent_callbacks_share_script_calls() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let before = evalsha_calls(&mut c).await;

    // 120 callbacks at once (100 single events, 20 batches of three).
    let singles = (0..100).map(|i| {
        let store: Store = store.clone();
        let ev = TestEvent::new("adyen", &format!("psp_{i}:CAPTURE:true"), "adyen.CAPTURE");
        tokio::spawn(async move { ingest(&store, "adyen", &[&ev]).await })
    });
    let batches = (0..20).map(|i| {
        let store: Store = store.clone();
        let evs: Vec<TestEvent> = (0..3)
            .map(|j| TestEvent::new("adyen", &format!("psp_{i}_{j}:REFUND:true"), "adyen.REFUND"))
            .collect();
        tokio::spawn(async move {
            let refs: Vec<&TestEvent> = evs.iter().collect();
            ingest(&store, "adyen", &refs).await
        })
    });
    for result in futures::future::join_all(singles.chain(batches)).await {
        result.expect("task").expect("ingest");
    }
    let calls = evalsha_calls(&mut c).await - before;
    assert_eq!(zmembers(&mut c, "hg:{adyen}:fq").await.len(), 160);
    assert!(
        calls < 120,
        "120 concurrent callbacks went to Redis in fewer script calls (group commit): {calls}"
    );
}

#[tokio::test]
async fn a_write_that_fails_after_the_claim_undoes_the_claim_and_the_event() {
    // docs/ingest.md step 6: a key is never claimed without its event stored. The
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
