//! Atomic dedup + durable enqueue: what an ingest stores, how duplicates
//! (sequential, in a batch, racing) are reported, and how the dedup window
//! and the retention end.

use crate::support::*;
use hookgate_store::Settings;
use std::time::Duration;

async fn a_new_event_is_stored_queued_and_listed_and_a_repeat_changes_nothing(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    let before = hookgate_core::time::now_ms();

    assert_eq!(ingest(store, "stripe", &[&ev]).await.unwrap(), [true]);

    let stored = bounded(store.event("stripe", &ev.id))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.ty, ev.ty);
    assert_eq!(stored.cloudevent, ev.ce);
    assert_eq!(stored.traceparent, ev.tp);
    let after = hookgate_core::time::now_ms();
    assert!((before..=after).contains(&stored.received_ms), "{stored:?}");
    assert_eq!(
        bounded(store.fanout_due("stripe", 10)).await.unwrap(),
        [(ev.id.clone(), ev.ty.clone())]
    );
    assert_eq!(
        all_events(store, "stripe").await,
        [(ev.id.clone(), stored.received_ms)]
    );

    // A provider retry, even with a different body, is a duplicate and
    // changes nothing.
    let mut retry = ev.clone();
    retry.ce = b"{\"changed\":true}".to_vec();
    assert_eq!(ingest(store, "stripe", &[&retry]).await.unwrap(), [false]);
    let again = bounded(store.event("stripe", &ev.id))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(again, stored);
    assert_eq!(
        bounded(store.fanout_due("stripe", 10)).await.unwrap().len(),
        1
    );
    assert_eq!(all_events(store, "stripe").await.len(), 1);
}
conformance!(a_new_event_is_stored_queued_and_listed_and_a_repeat_changes_nothing);

async fn a_batch_with_a_repeated_id_stores_it_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a = TestEvent::new("adyen", "psp_a:CAPTURE:true", "adyen.CAPTURE");
    let b = TestEvent::new("adyen", "psp_b:CAPTURE:true", "adyen.CAPTURE");

    assert_eq!(
        ingest(store, "adyen", &[&a, &b, &a]).await.unwrap(),
        [true, true, false]
    );
    let mut queued: Vec<_> = bounded(store.fanout_due("adyen", 10))
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    queued.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(queued, expected);

    // The provider resends the whole batch plus one new item: only the new
    // one is stored.
    let new = TestEvent::new("adyen", "psp_c:CAPTURE:true", "adyen.CAPTURE");
    assert_eq!(
        ingest(store, "adyen", &[&a, &new, &b]).await.unwrap(),
        [false, true, false]
    );
    assert_eq!(
        bounded(store.fanout_due("adyen", 10)).await.unwrap().len(),
        3
    );
}
conformance!(a_batch_with_a_repeated_id_stores_it_once);

async fn concurrent_identical_ingests_store_exactly_one(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let ev = TestEvent::new("stripe", "evt_race", "payment.succeeded");
    let tasks = (0..40).map(|_| {
        let store = fx.store.clone();
        let ev = ev.clone();
        tokio::spawn(async move { ingest(&store, "stripe", &[&ev]).await })
    });
    let stored: Vec<bool> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("ingest")[0])
        .collect();
    assert_eq!(
        stored.iter().filter(|s| **s).count(),
        1,
        "exactly one racer stores the event: {stored:?}"
    );
    assert_eq!(
        bounded(fx.store.fanout_due("stripe", 10))
            .await
            .unwrap()
            .len(),
        1
    );
}
conformance!(concurrent_identical_ingests_store_exactly_one);

async fn concurrent_callbacks_each_get_their_own_answer(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let shared = TestEvent::new(
        "adyen",
        "psp_shared:AUTHORISATION:true",
        "adyen.AUTHORISATION",
    );
    // 100 single-event callbacks, and 20 three-event batches that all carry
    // one shared item between two items of their own: however the store
    // groups them, each callback is all or nothing and gets its own flags.
    let singles = (0..100).map(|i| {
        let store = fx.store.clone();
        let ev = TestEvent::new(
            "adyen",
            &format!("psp_single_{i}:CAPTURE:true"),
            "adyen.CAPTURE",
        );
        tokio::spawn(async move { (1, ingest(&store, "adyen", &[&ev]).await) })
    });
    let batches = (0..20).map(|i| {
        let store = fx.store.clone();
        let shared = shared.clone();
        let a = TestEvent::new("adyen", &format!("psp_a_{i}:REFUND:true"), "adyen.REFUND");
        let b = TestEvent::new("adyen", &format!("psp_b_{i}:REFUND:true"), "adyen.REFUND");
        tokio::spawn(async move { (3, ingest(&store, "adyen", &[&a, &shared, &b]).await) })
    });
    let mut shared_stored = 0;
    for result in futures::future::join_all(singles.chain(batches)).await {
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
    assert_eq!(
        bounded(fx.store.fanout_due("adyen", 1000))
            .await
            .unwrap()
            .len(),
        100 + 40 + 1
    );
}
conformance!(concurrent_callbacks_each_get_their_own_answer);

async fn dedup_is_per_source(kind: Kind) {
    let fx = Fixture::open(kind).await;
    // The same EventId under two sources (ids are normally derived from the
    // source, so this only happens with a foreign writer; they must still
    // not collide).
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&fx.store, "stripe", &[&ev]).await.unwrap(), [true]);
    assert_eq!(ingest(&fx.store, "github", &[&ev]).await.unwrap(), [true]);
    assert_eq!(ingest(&fx.store, "github", &[&ev]).await.unwrap(), [false]);
    assert_eq!(
        bounded(fx.store.fanout_due("stripe", 10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        bounded(fx.store.fanout_due("github", 10))
            .await
            .unwrap()
            .len(),
        1
    );
}
conformance!(dedup_is_per_source);

async fn after_its_dedup_window_an_event_is_stored_and_queued_again(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let window = Duration::from_millis(300);
    let ev = TestEvent::new("stripe", "evt_window", "payment.succeeded");
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [true]
    );
    let first = bounded(store.event("stripe", &ev.id))
        .await
        .unwrap()
        .unwrap();
    // Fanned out (taken off the queue) in the meantime.
    bounded(store.fanout_commit("stripe", &[(ev.id.clone(), vec![])]))
        .await
        .unwrap();
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [false]
    );

    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [true]
    );
    let second = bounded(store.event("stripe", &ev.id))
        .await
        .unwrap()
        .unwrap();
    assert!(second.received_ms > first.received_ms, "{second:?}");
    assert_eq!(
        bounded(store.fanout_due("stripe", 10)).await.unwrap(),
        [(ev.id.clone(), ev.ty.clone())]
    );
    // And its claim holds again.
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [false]
    );
}
conformance!(after_its_dedup_window_an_event_is_stored_and_queued_again);

async fn past_retention_an_event_is_gone_but_its_longer_claim_still_holds(kind: Kind) {
    let settings = Settings {
        retention: Duration::from_millis(400),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let ev = TestEvent::new("adyen", "psp_r:CAPTURE:true", "adyen.CAPTURE");
    // Adyen's 35-day window outlasts this retention.
    assert_eq!(
        ingest_for(store, "adyen", 35 * DAY, &[&ev]).await.unwrap(),
        [true]
    );
    assert!(
        bounded(store.event("adyen", &ev.id))
            .await
            .unwrap()
            .is_some()
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(bounded(store.event("adyen", &ev.id)).await.unwrap(), None);
    assert_eq!(
        bounded(store.event_types("adyen", std::slice::from_ref(&ev.id)))
            .await
            .unwrap(),
        [None]
    );
    assert!(all_events(store, "adyen").await.is_empty());
    assert!(
        bounded(store.fanout_due("adyen", 10))
            .await
            .unwrap()
            .is_empty(),
        "an event past retention is not fanned out"
    );
    assert_eq!(
        ingest_for(store, "adyen", 35 * DAY, &[&ev]).await.unwrap(),
        [false],
        "the provider's retry within the dedup window is still a duplicate"
    );
}
conformance!(past_retention_an_event_is_gone_but_its_longer_claim_still_holds);

async fn stored_events_reach_the_sources_feed_and_duplicates_do_not(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let feed = fx.store.fanout_feed("stripe");
    let a = TestEvent::new("stripe", "evt_feed_a", "payment.succeeded");
    let b = TestEvent::new("stripe", "evt_feed_b", "payment.failed");
    assert_eq!(
        ingest(&fx.store, "stripe", &[&a, &b]).await.unwrap(),
        [true, true]
    );
    assert_eq!(ingest(&fx.store, "stripe", &[&a]).await.unwrap(), [false]);
    // A handle beside it (the delivery runtime's) shares the feed.
    let beside = fx.store.open_beside().expect("beside");
    assert_eq!(
        beside.fanout_feed("stripe").take(10),
        [(a.id.clone(), a.ty.clone()), (b.id.clone(), b.ty.clone())]
    );
    assert!(feed.take(10).is_empty());
}
conformance!(stored_events_reach_the_sources_feed_and_duplicates_do_not);
