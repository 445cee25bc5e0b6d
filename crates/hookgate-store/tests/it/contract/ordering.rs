//! Ordering keys (docs/delivery.md, "Ordering keys"): on a route, the
//! deliveries of one key go one at a time, in the order the store stored
//! the events, whatever order the fan-out ran in; a retrying head holds
//! back only its own key; a dead head releases it; replays and redelivers
//! of finished deliveries go to the back; places the fan-out does not use
//! are given up; lines are per route; all of it survives a restart.

use crate::support::*;
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use hookgate_store::{
    ClaimedDelivery, DeliveryStatus, Finish, RECLAIM_LIMIT, RouteDepth, Settings, Store,
};
use std::time::Duration;

/// Ingests one event of `source` with a place on each (subscription, key)
/// of `slots`.
async fn ingest_ordered(
    store: &Store,
    source: &str,
    name: &str,
    slots: &[(&str, &str)],
) -> TestEvent {
    let mut ev = TestEvent::new(source, name, "payment.succeeded");
    for (sub, key) in slots {
        ev = ev.ordered(sub, key);
    }
    assert_eq!(ingest(store, source, &[&ev]).await.expect("ingest"), [true]);
    ev
}

/// Fans `ev` out to `subs`.
async fn fan_out(store: &Store, source: &str, ev: &TestEvent, subs: &[&str]) {
    let taken = bounded(store.fanout_commit(source, &[(ev.id.clone(), subs.to_vec())]))
        .await
        .expect("fan-out commit");
    assert_eq!(taken, 1, "the event was on the fan-out queue");
}

/// Ids of everything claimable now on a route (leased by this call).
async fn claim_ids(store: &Store, source: &str, sub: &str) -> Vec<(EventId, ClaimedDelivery)> {
    claim(store, source, sub, 50)
        .await
        .deliveries
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect()
}

/// Claims exactly `ev`'s delivery, and nothing else.
async fn claim_only(store: &Store, source: &str, sub: &str, ev: &TestEvent) -> ClaimedDelivery {
    let mut got = claim_ids(store, source, sub).await;
    let ids: Vec<&EventId> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [&ev.id], "expected only {} to be claimable", ev.id);
    got.remove(0).1
}

async fn nothing_claimable(store: &Store, source: &str, sub: &str) {
    let got = claim_ids(store, source, sub).await;
    assert!(
        got.is_empty(),
        "nothing should be claimable: {:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
}

async fn depths(store: &Store, source: &str, sub: &str) -> RouteDepth {
    bounded(store.route_depths(source, sub)).await.unwrap()
}

async fn deliver(store: &Store, source: &str, sub: &str, d: &ClaimedDelivery) {
    assert!(
        finish(
            store,
            source,
            sub,
            d,
            d.attempts + 1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
}

fn dead(reason: &str) -> Finish {
    Finish::Dead {
        reason: reason.to_owned(),
    }
}

async fn a_key_goes_one_at_a_time_in_store_order_whatever_the_fan_out_order(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "pi_A")]).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "pi_A")]).await;
    let a3 = ingest_ordered(store, "stripe", "a3", &[("ledger", "pi_A")]).await;
    let b1 = ingest_ordered(store, "stripe", "b1", &[("ledger", "pi_B")]).await;
    let u1 = ingest_ordered(store, "stripe", "u1", &[]).await;
    // The fan-out runs backwards: the order is the store's, not the fan-out's.
    for ev in [&u1, &b1, &a3, &a2] {
        fan_out(store, "stripe", ev, &["ledger"]).await;
    }
    // a1 is not fanned out yet: a2 and a3 wait for it; b1 and u1 go.
    let got = claim_ids(store, "stripe", "ledger").await;
    let mut ids: Vec<&EventId> = got.iter().map(|(id, _)| id).collect();
    ids.sort();
    let mut want = vec![&b1.id, &u1.id];
    want.sort();
    assert_eq!(ids, want);
    let d = depths(store, "stripe", "ledger").await;
    assert_eq!((d.queued, d.held, d.in_flight), (2, 2, 2), "{d:?}");
    for (_, d) in &got {
        deliver(store, "stripe", "ledger", d).await;
    }

    fan_out(store, "stripe", &a1, &["ledger"]).await;
    let d1 = claim_only(store, "stripe", "ledger", &a1).await;
    deliver(store, "stripe", "ledger", &d1).await;
    let d2 = claim_only(store, "stripe", "ledger", &a2).await;
    assert_eq!(d2.attempts, 0);
    // A retry keeps a2 at the head: a3 still waits.
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d2,
            1,
            Finish::Retry { due_ms: 0 },
            Some(503)
        )
        .await
    );
    let d2 = claim_only(store, "stripe", "ledger", &a2).await;
    assert_eq!(d2.attempts, 1);
    deliver(store, "stripe", "ledger", &d2).await;
    let d3 = claim_only(store, "stripe", "ledger", &a3).await;
    deliver(store, "stripe", "ledger", &d3).await;
    nothing_claimable(store, "stripe", "ledger").await;
    let d = depths(store, "stripe", "ledger").await;
    assert_eq!((d.queued, d.held, d.in_flight), (0, 0, 0), "{d:?}");
    for ev in [&a1, &a2, &a3] {
        let rec = bounded(store.delivery("stripe", &ev.id, "ledger"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.status, DeliveryStatus::Delivered, "{}", ev.id);
    }
}
conformance!(a_key_goes_one_at_a_time_in_store_order_whatever_the_fan_out_order);

async fn events_of_one_callback_keep_their_order(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    // One callback carrying three events of one key (an Adyen batch).
    let evs: Vec<TestEvent> = (0..3)
        .map(|i| {
            TestEvent::new("stripe", &format!("batch_{i}"), "payment.succeeded")
                .ordered("ledger", "psp_1")
        })
        .collect();
    let refs: Vec<&TestEvent> = evs.iter().collect();
    assert_eq!(
        ingest(store, "stripe", &refs).await.unwrap(),
        [true, true, true]
    );
    let items: Vec<(EventId, Vec<&str>)> = evs
        .iter()
        .rev()
        .map(|e| (e.id.clone(), vec!["ledger"]))
        .collect();
    assert_eq!(
        bounded(store.fanout_commit("stripe", &items))
            .await
            .unwrap(),
        3
    );
    for ev in &evs {
        let d = claim_only(store, "stripe", "ledger", ev).await;
        deliver(store, "stripe", "ledger", &d).await;
    }
}
conformance!(events_of_one_callback_keep_their_order);

async fn a_retrying_head_holds_back_only_its_own_key(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await;
    let b1 = ingest_ordered(store, "stripe", "b1", &[("ledger", "B")]).await;
    let b2 = ingest_ordered(store, "stripe", "b2", &[("ledger", "B")]).await;
    for ev in [&a1, &a2, &b1, &b2] {
        fan_out(store, "stripe", ev, &["ledger"]).await;
    }
    assert!(
        bounded(store.blocked_keys("stripe", "ledger", 10))
            .await
            .unwrap()
            .is_empty()
    );
    let got = claim_ids(store, "stripe", "ledger").await;
    assert_eq!(got.len(), 2, "one head per key");
    let (da1, db1) = if got[0].0 == a1.id {
        (&got[0].1, &got[1].1)
    } else {
        (&got[1].1, &got[0].1)
    };
    assert_eq!((&da1.id, &db1.id), (&a1.id, &b1.id));

    let later = now_ms() + 3_600_000;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            da1,
            1,
            Finish::Retry { due_ms: later },
            Some(503)
        )
        .await
    );
    deliver(store, "stripe", "ledger", db1).await;
    // B goes on; A waits for its head's retry.
    let db2 = claim_only(store, "stripe", "ledger", &b2).await;
    deliver(store, "stripe", "ledger", &db2).await;
    nothing_claimable(store, "stripe", "ledger").await;

    let blocked = bounded(store.blocked_keys("stripe", "ledger", 10))
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let k = &blocked[0];
    assert_eq!(k.key.as_str(), "A");
    assert_eq!(k.head, a1.id);
    assert_eq!(k.attempts, 1);
    assert_eq!(k.last_status_code, Some(503));
    assert_eq!(k.waiting, 1);
    assert!(
        k.since_ms <= now_ms() && k.since_ms > now_ms() - 60_000,
        "{k:?}"
    );
    let d = depths(store, "stripe", "ledger").await;
    assert_eq!((d.queued, d.held, d.blocked_keys), (2, 1, 1), "{d:?}");
    assert_eq!(d.oldest_blocked_ms, Some(k.since_ms));
    // The held one is pending to operators.
    let rec = bounded(store.delivery("stripe", &a2.id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rec.status, rec.attempts), (DeliveryStatus::Pending, 0));
    // Another route's key of the same name is not blocked.
    assert!(
        bounded(store.blocked_keys("stripe", "audit", 10))
            .await
            .unwrap()
            .is_empty()
    );
}
conformance!(a_retrying_head_holds_back_only_its_own_key);

async fn a_dead_head_releases_its_key_and_its_replay_goes_to_the_back(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let evs: Vec<TestEvent> = [
        ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await,
        ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await,
        ingest_ordered(store, "stripe", "a3", &[("ledger", "A")]).await,
    ]
    .into();
    for ev in &evs {
        fan_out(store, "stripe", ev, &["ledger"]).await;
    }
    let d1 = claim_only(store, "stripe", "ledger", &evs[0]).await;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d1,
            1,
            Finish::Retry { due_ms: 0 },
            Some(500)
        )
        .await
    );
    let d1 = claim_only(store, "stripe", "ledger", &evs[0]).await;
    assert_eq!(
        bounded(store.blocked_keys("stripe", "ledger", 10))
            .await
            .unwrap()
            .len(),
        1
    );
    let died = now_ms();
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d1,
            2,
            dead("status 410"),
            Some(410)
        )
        .await
    );
    assert!(
        bounded(store.blocked_keys("stripe", "ledger", 10))
            .await
            .unwrap()
            .is_empty()
    );

    // The next one goes at once, with a budget that starts now.
    let d2 = claim_only(store, "stripe", "ledger", &evs[1]).await;
    assert!(
        d2.first_ms >= died - 5,
        "budget of a promoted head starts when it is promoted: {d2:?}"
    );
    // The replay queues behind a2 (leased) and a3 (held).
    assert_eq!(
        bounded(store.replay(
            "stripe",
            "ledger",
            std::slice::from_ref(&evs[0].id),
            Duration::ZERO,
            0
        ))
        .await
        .unwrap(),
        1
    );
    nothing_claimable(store, "stripe", "ledger").await;
    let rec = bounded(store.delivery("stripe", &evs[0].id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rec.status, rec.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(depths(store, "stripe", "ledger").await.held, 2);
    deliver(store, "stripe", "ledger", &d2).await;
    let d3 = claim_only(store, "stripe", "ledger", &evs[2]).await;
    deliver(store, "stripe", "ledger", &d3).await;
    let again = claim_only(store, "stripe", "ledger", &evs[0]).await;
    assert_eq!(again.attempts, 0, "a replay's budget is fresh");
    deliver(store, "stripe", "ledger", &again).await;
    nothing_claimable(store, "stripe", "ledger").await;
}
conformance!(a_dead_head_releases_its_key_and_its_replay_goes_to_the_back);

async fn a_replayed_head_alone_in_its_line_goes_at_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await;
    fan_out(store, "stripe", &a1, &["ledger"]).await;
    let d = claim_only(store, "stripe", "ledger", &a1).await;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            dead("status 400"),
            Some(400)
        )
        .await
    );
    assert_eq!(
        bounded(store.replay(
            "stripe",
            "ledger",
            std::slice::from_ref(&a1.id),
            Duration::ZERO,
            0
        ))
        .await
        .unwrap(),
        1
    );
    let d = claim_only(store, "stripe", "ledger", &a1).await;
    deliver(store, "stripe", "ledger", &d).await;
    // A later event of the key goes at once too.
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await;
    fan_out(store, "stripe", &a2, &["ledger"]).await;
    let d = claim_only(store, "stripe", "ledger", &a2).await;
    deliver(store, "stripe", "ledger", &d).await;
}
conformance!(a_replayed_head_alone_in_its_line_goes_at_once);

async fn redeliver_sends_a_finished_one_to_the_back_and_keeps_a_waiting_ones_place(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await;
    let a3 = ingest_ordered(store, "stripe", "a3", &[("ledger", "A")]).await;
    for ev in [&a1, &a2, &a3] {
        fan_out(store, "stripe", ev, &["ledger"]).await;
    }
    let d1 = claim_only(store, "stripe", "ledger", &a1).await;
    deliver(store, "stripe", "ledger", &d1).await;
    // a1 again: behind a2 (now the head) and a3.
    assert!(
        bounded(store.redeliver("stripe", "ledger", &a1.id))
            .await
            .unwrap()
    );
    // a3 is held: a redeliver keeps it where it is.
    assert!(
        bounded(store.redeliver("stripe", "ledger", &a3.id))
            .await
            .unwrap()
    );
    let d2 = claim_only(store, "stripe", "ledger", &a2).await;
    // The head in flight: its redeliver keeps it the head, sent again after.
    assert!(
        bounded(store.redeliver("stripe", "ledger", &a2.id))
            .await
            .unwrap()
    );
    deliver(store, "stripe", "ledger", &d2).await;
    let d2 = claim_only(store, "stripe", "ledger", &a2).await;
    deliver(store, "stripe", "ledger", &d2).await;
    let d3 = claim_only(store, "stripe", "ledger", &a3).await;
    deliver(store, "stripe", "ledger", &d3).await;
    let d1 = claim_only(store, "stripe", "ledger", &a1).await;
    deliver(store, "stripe", "ledger", &d1).await;
    nothing_claimable(store, "stripe", "ledger").await;
}
conformance!(redeliver_sends_a_finished_one_to_the_back_and_keeps_a_waiting_ones_place);

async fn a_place_the_fan_out_does_not_use_is_given_up(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    // a1 had a place for ledger, but the fan-out sends it to audit only
    // (ledger's patterns changed since it was stored).
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await;
    fan_out(store, "stripe", &a2, &["ledger"]).await;
    nothing_claimable(store, "stripe", "ledger").await;
    fan_out(store, "stripe", &a1, &["audit"]).await;
    let d = claim_only(store, "stripe", "ledger", &a2).await;
    deliver(store, "stripe", "ledger", &d).await;
    // audit had no place: its delivery is unordered and goes.
    let d = claim_only(store, "stripe", "audit", &a1).await;
    deliver(store, "stripe", "audit", &d).await;
}
conformance!(a_place_the_fan_out_does_not_use_is_given_up);

async fn lines_are_per_route(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let both = [("ledger", "A"), ("audit", "A")];
    let a1 = ingest_ordered(store, "stripe", "a1", &both).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &both).await;
    // The same key on another source is another line.
    let o1 = ingest_ordered(store, "adyen", "o1", &[("ledger", "A")]).await;
    for ev in [&a1, &a2] {
        fan_out(store, "stripe", ev, &["ledger", "audit"]).await;
    }
    fan_out(store, "adyen", &o1, &["ledger"]).await;
    let l1 = claim_only(store, "stripe", "ledger", &a1).await;
    let later = now_ms() + 3_600_000;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &l1,
            1,
            Finish::Retry { due_ms: later },
            None
        )
        .await
    );
    // ledger's A is stuck; audit's A and adyen's A are not.
    let x1 = claim_only(store, "stripe", "audit", &a1).await;
    deliver(store, "stripe", "audit", &x1).await;
    let x2 = claim_only(store, "stripe", "audit", &a2).await;
    deliver(store, "stripe", "audit", &x2).await;
    let y1 = claim_only(store, "adyen", "ledger", &o1).await;
    deliver(store, "adyen", "ledger", &y1).await;
    nothing_claimable(store, "stripe", "ledger").await;
    let blocked = bounded(store.blocked_keys("stripe", "ledger", 10))
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].last_error.as_deref(), Some("connect refused"));
    assert!(
        bounded(store.blocked_keys("stripe", "audit", 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        bounded(store.blocked_keys("adyen", "ledger", 10))
            .await
            .unwrap()
            .is_empty()
    );
}
conformance!(lines_are_per_route);

async fn a_poison_head_releases_its_key(kind: Kind) {
    let settings = Settings {
        visibility_timeout: Duration::from_millis(100),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let a1 = ingest_ordered(store, "stripe", "a1", &[("ledger", "A")]).await;
    let a2 = ingest_ordered(store, "stripe", "a2", &[("ledger", "A")]).await;
    for ev in [&a1, &a2] {
        fan_out(store, "stripe", ev, &["ledger"]).await;
    }
    // a1's worker dies RECLAIM_LIMIT times; a2 is never claimable meanwhile.
    for _ in 0..RECLAIM_LIMIT {
        let got = claim_ids(store, "stripe", "ledger").await;
        let ids: Vec<&EventId> = got.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [&a1.id]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The claim that finds the last lease expired dead-letters a1 as poison
    // and promotes a2.
    let got = eventually_claim(store, &a2).await;
    deliver(store, "stripe", "ledger", &got).await;
    let rec = bounded(store.delivery("stripe", &a1.id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
}
conformance!(a_poison_head_releases_its_key);

/// Claims until `ev` comes (a promotion may happen in the claim itself).
async fn eventually_claim(store: &Store, ev: &TestEvent) -> ClaimedDelivery {
    for _ in 0..3 {
        let mut got = claim_ids(store, "stripe", "ledger").await;
        if let Some(i) = got.iter().position(|(id, _)| id == &ev.id) {
            assert_eq!(got.len(), 1, "only {} should be claimable", ev.id);
            return got.remove(i).1;
        }
        assert!(
            got.is_empty(),
            "unexpected claim: {:?}",
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
    }
    panic!("{} never became claimable", ev.id);
}

async fn the_order_survives_a_restart(kind: Kind) {
    let settings = Settings {
        visibility_timeout: Duration::from_millis(100),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let a1 = ingest_ordered(&fx.store, "stripe", "a1", &[("ledger", "A")]).await;
    let a2 = ingest_ordered(&fx.store, "stripe", "a2", &[("ledger", "A")]).await;
    let a3 = ingest_ordered(&fx.store, "stripe", "a3", &[("ledger", "A")]).await;
    for ev in [&a3, &a1] {
        fan_out(&fx.store, "stripe", ev, &["ledger"]).await;
    }
    // a1 in flight when the gateway stops; a2 not fanned out yet.
    let _lost = claim_only(&fx.store, "stripe", "ledger", &a1).await;
    let fx = fx.reopen_with(settings).await;
    let store = &fx.store;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let d1 = claim_only(store, "stripe", "ledger", &a1).await;
    deliver(store, "stripe", "ledger", &d1).await;
    nothing_claimable(store, "stripe", "ledger").await;
    fan_out(store, "stripe", &a2, &["ledger"]).await;
    for ev in [&a2, &a3] {
        let d = claim_only(store, "stripe", "ledger", ev).await;
        deliver(store, "stripe", "ledger", &d).await;
    }
}
conformance!(the_order_survives_a_restart);
