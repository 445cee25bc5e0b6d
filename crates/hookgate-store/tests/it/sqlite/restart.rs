//! A gateway restarted on its file takes back every lease of its previous
//! run at once (the file is one process's, so every lease in it is its
//! own): delivery resumes in seconds after a crash, not after
//! `visibility_timeout`.

use crate::support::*;
use hookgate_store::{DeliveryStatus, Finish};

#[tokio::test]
async fn a_reopened_store_returns_its_leases_to_the_queue_at_once() {
    // The default 60 s lease: without the take-back the claim below would
    // find nothing for a minute.
    let fx = Fixture::open(Kind::Sqlite).await;
    let ev = ingest_and_fan_out(&fx.store, "stripe", "evt_crash", &["ledger"]).await;
    let leased = claim_one(&fx.store, "stripe", "ledger").await;
    assert_eq!(leased.id, ev.id);

    // The process dies with the lease held (the store is closed unfinished).
    let settings = fx.settings;
    let fx = fx.reopen_with(settings).await;
    let again = claim_one(&fx.store, "stripe", "ledger").await;
    assert_eq!(again.id, ev.id);
    assert_eq!(again.attempts, 0, "no attempt budget was used");
    assert!(again.lease > leased.lease);
    // The old lease can no longer finish; the new one can.
    assert!(
        !finish(
            &fx.store,
            "stripe",
            "ledger",
            &leased,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert!(
        finish(
            &fx.store,
            "stripe",
            "ledger",
            &again,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );

    // The send that may have happened is in the attempt log.
    let log = bounded(fx.store.attempts("stripe", &ev.id, "ledger"))
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].error.as_deref().unwrap().starts_with("no outcome"),
        "{log:?}"
    );
    assert_eq!(log[1].status_code, Some(200));
    let record = bounded(fx.store.delivery("stripe", &ev.id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.status, record.reclaims),
        (DeliveryStatus::Delivered, 1)
    );
}

#[tokio::test]
async fn a_delivery_that_takes_the_gateway_down_five_times_is_dead_lettered_as_poison() {
    let mut fx = Fixture::open(Kind::Sqlite).await;
    let ev = ingest_and_fan_out(&fx.store, "stripe", "evt_poison", &["ledger"]).await;
    for _ in 0..hookgate_store::RECLAIM_LIMIT {
        let _held = claim_one(&fx.store, "stripe", "ledger").await;
        let settings = fx.settings;
        fx = fx.reopen_with(settings).await;
    }
    assert!(
        claim(&fx.store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    let record = bounded(fx.store.delivery("stripe", &ev.id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, DeliveryStatus::Dead);
    assert_eq!(record.reason.as_deref(), Some("poison: reclaimed 5 times"));
    assert_eq!(
        bounded(fx.store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .len(),
        1
    );
}
