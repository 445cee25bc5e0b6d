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
    open_copy(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sqlite")
            .join(format!("v{n}.db")),
    )
}

/// A copy of the store file `file` in a temp dir, opened.
fn open_copy(file: &Path) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    std::fs::copy(file, &path).expect("copy the store file");
    let store = Store::open(&sqlite_config(path), Settings::default()).expect("open the copy");
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
    assert_eq!(all_events(&store, "stripe").await.len(), 4);

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

    // Migrated forward: ordering keys work on it.
    let (k1, k2) = (
        ev("evt_v1_then_k1").ordered("ledger", "k"),
        ev("evt_v1_then_k2").ordered("ledger", "k"),
    );
    assert_eq!(
        ingest(&store, "stripe", &[&k1, &k2]).await.unwrap(),
        [true, true]
    );
    let items: Vec<_> = [&k2, &k1]
        .iter()
        .map(|e| (e.id.clone(), vec!["ledger"]))
        .collect();
    bounded(store.fanout_commit("stripe", &items))
        .await
        .unwrap();
    let got = claim(&store, "stripe", "ledger", 10).await;
    let ids: Vec<_> = got.deliveries.iter().map(|d| d.id.clone()).collect();
    assert!(ids.contains(&k1.id) && !ids.contains(&k2.id), "{ids:?}");
    drop(dir);
}

/// What `v2.db` holds (see the fixtures' README): lines of ordering key
/// `pi_1` on `stripe`/`ledger`.
fn v2_events() -> [TestEvent; 4] {
    let ordered = |name: &str| ev(name).ordered("ledger", "pi_1");
    [
        ordered("evt_v2_head"),
        ordered("evt_v2_held"),
        ordered("evt_v2_unfanned"),
        ev("evt_v2_plain"),
    ]
}

/// Writes what `v2.db` holds with this version: to `$HOOKGATE_FIXTURE_OUT`
/// when set (how the fixture was made, while the schema was 2:
/// `HOOKGATE_FIXTURE_OUT=... cargo test -p hookgate-store --test it
/// write_v2_fixture`), else to a temp file; either way the file written
/// must pass the fixture's own checks, so the recipe stays true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_v2_fixture() {
    let scratch = tempfile::tempdir().unwrap();
    let out = std::env::var("HOOKGATE_FIXTURE_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| scratch.path().join("v2.db"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    let century = std::time::Duration::from_secs(100 * 365 * 86_400);
    let settings = Settings {
        retention: century,
        ..Settings::default()
    };
    let store = Store::open(&sqlite_config(path.clone()), settings).unwrap();
    let [head, held, unfanned, plain] = v2_events();
    for e in [&head, &held, &unfanned, &plain] {
        assert_eq!(
            ingest_for(&store, "stripe", century, &[e]).await.unwrap(),
            [true]
        );
    }
    let fanned: Vec<_> = [&head, &held, &plain]
        .iter()
        .map(|e| (e.id.clone(), vec!["ledger"]))
        .collect();
    bounded(store.fanout_commit("stripe", &fanned))
        .await
        .unwrap();
    for d in claim(&store, "stripe", "ledger", 10).await.deliveries {
        let (how, code) = if d.id == head.id {
            (Finish::Retry { due_ms: 0 }, 503)
        } else {
            (Finish::Delivered, 200)
        };
        assert!(finish(&store, "stripe", "ledger", &d, 1, how, Some(code)).await);
    }
    drop(store);
    hookgate_store::sqlite::backup(&path, &out, std::time::Duration::from_secs(5)).expect("backup");
    let (_copy, store) = open_copy(&out);
    check_v2(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_files_keep_their_ordering_lines() {
    let (_dir, store) = open_fixture(2);
    check_v2(&store).await;
}

/// What a file with `v2.db`'s records must show and do.
async fn check_v2(store: &Store) {
    let [head, held, unfanned, plain] = v2_events();
    let rec = |e: &TestEvent| {
        let (store, id) = (store.clone(), e.id.clone());
        async move {
            bounded(store.delivery("stripe", &id, "ledger"))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(rec(&plain).await.status, DeliveryStatus::Delivered);
    assert_eq!(rec(&held).await.status, DeliveryStatus::Pending);
    let blocked = bounded(store.blocked_keys("stripe", "ledger", 10))
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(
        (
            blocked[0].key.as_str(),
            &blocked[0].head,
            blocked[0].waiting
        ),
        ("pi_1", &head.id, 2)
    );
    // The head's retry is due; the held one is not claimable before it.
    let d = claim_one(store, "stripe", "ledger").await;
    assert_eq!((d.id.clone(), d.attempts), (head.id.clone(), 1));
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            2,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let d = claim_one(store, "stripe", "ledger").await;
    assert_eq!(d.id, held.id);
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        bounded(store.fanout_due("stripe", 10)).await.unwrap(),
        [(unfanned.id.clone(), unfanned.ty.clone())]
    );
    bounded(store.fanout_commit("stripe", &[(unfanned.id.clone(), vec!["ledger"])]))
        .await
        .unwrap();
    assert_eq!(claim_one(store, "stripe", "ledger").await.id, unfanned.id);
}
