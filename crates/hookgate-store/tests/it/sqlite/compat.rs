//! Files written by earlier versions open in this one, are migrated in
//! place, and every record in them is read and worked on as this version
//! writes its own. One fixture per schema version
//! (`tests/fixtures/sqlite/v<N>.db`, see the fixtures' README); the
//! committed file is never opened in place.

use crate::support::*;
use hookgate_store::{DeliveryStatus, Finish, Settings, Store};
use std::path::Path;

/// A copy of fixture `v<n>.db` in a temp dir, opened.
fn open_fixture(n: u32) -> (tempfile::TempDir, Store) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sqlite")
        .join(format!("v{n}.db"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    std::fs::copy(&fixture, &path).expect("copy the fixture");
    let store = Store::open(&sqlite_config(path), Settings::default()).expect("open the fixture");
    (dir, store)
}

fn ev(name: &str) -> TestEvent {
    TestEvent::new("stripe", name, "payment.succeeded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_files_are_read_and_worked_on() {
    let (dir, store) = open_fixture(1);
    let status = bounded(store.check()).await.unwrap();
    assert!(
        status
            .details
            .contains(&("schema", hookgate_store::sqlite::SCHEMA_VERSION.to_string())),
        "migrated forward: {status:?}"
    );

    // Events, with their bodies and claims.
    let (queued, delivered, dead, unfanned) = (
        ev("evt_v1_queued"),
        ev("evt_v1_delivered"),
        ev("evt_v1_dead"),
        ev("evt_v1_unfanned"),
    );
    for e in [&queued, &delivered, &dead, &unfanned] {
        let stored = bounded(store.event("stripe", &e.id))
            .await
            .unwrap()
            .expect("event");
        assert_eq!(stored.cloudevent, e.ce);
        assert_eq!(stored.ty, "payment.succeeded");
        assert_eq!(
            ingest(&store, "stripe", &[e]).await.unwrap(),
            [false],
            "claim kept"
        );
    }
    assert_eq!(
        bounded(store.event_index_range("stripe", 0, i64::MAX, 0, 10))
            .await
            .unwrap()
            .len(),
        4
    );

    // The unfanned event is still in the fan-out queue.
    assert_eq!(
        bounded(store.fanout_due("stripe", 10)).await.unwrap(),
        [(unfanned.id.clone(), unfanned.ty.clone())]
    );

    // Delivery states and logs.
    let rec = |e: &TestEvent| {
        let store = store.clone();
        let id = e.id.clone();
        async move {
            bounded(store.delivery("stripe", &id, "ledger"))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(rec(&delivered).await.status, DeliveryStatus::Delivered);
    let d = rec(&dead).await;
    assert_eq!(
        (d.status, d.reason.as_deref(), d.last_status_code),
        (DeliveryStatus::Dead, Some("status 400"), Some(400))
    );
    let q = rec(&queued).await;
    assert_eq!(
        (q.status, q.attempts, q.last_status_code),
        (DeliveryStatus::Pending, 1, Some(503))
    );
    let log = bounded(store.attempts("stripe", &queued.id, "ledger"))
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status_code, Some(503));

    // The retry falls due and is claimed and finished by this version.
    let d = claim_one(&store, "stripe", "ledger").await;
    assert_eq!((d.id.clone(), d.attempts), (queued.id.clone(), 1));
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d,
            2,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(rec(&queued).await.status, DeliveryStatus::Delivered);

    // The dead letter is listed and replayed.
    let dlq = bounded(store.dead_letters("stripe", "ledger"))
        .await
        .unwrap();
    assert_eq!(
        dlq.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&dead.id)
    );
    let replayed = bounded(store.replay(
        "stripe",
        "ledger",
        std::slice::from_ref(&dead.id),
        std::time::Duration::ZERO,
        0,
    ))
    .await
    .unwrap();
    assert_eq!(replayed, 1);
    assert_eq!(claim_one(&store, "stripe", "ledger").await.id, dead.id);

    // Pause flags and the audit log.
    assert!(
        bounded(store.paused())
            .await
            .unwrap()
            .contains("ledger-paused")
    );
    let audit = bounded(store.audit_page(None, 10)).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1.action, "subscription.pause");
    assert!(bounded(store.audit_append(&audit[0].1)).await.unwrap() > audit[0].0);
    drop(dir);
}
