//! A full disk under the embedded store, on a small filesystem the test
//! fills: writes fail with `DiskFull` (the gateway answers 503), nothing
//! is acknowledged that was not committed, readiness says so, and the same
//! store writes again by itself once space returns.

use crate::support::*;
use hookgate_store::{Settings, Store, StoreError};
use hookgate_testkit::SmallFs;
use std::time::Duration;

/// An event with a payload of about `size` bytes.
fn big_event(name: &str, size: usize) -> TestEvent {
    let mut ev = TestEvent::new("stripe", name, "payment.succeeded");
    ev.ce =
        serde_json::to_vec(&serde_json::json!({ "id": name, "pad": "x".repeat(size) })).unwrap();
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_acknowledges_nothing_lost_and_recovers() {
    let fs = SmallFs::mount(8 << 20);
    let path = fs.path().join("hookgate.db");
    let store = Store::open(&sqlite_config(path.clone()), Settings::default()).expect("open");
    bounded(store.check()).await.expect("check");
    fs.fill(512 << 10);

    // Ingest until the disk is full.
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let ev = big_event(&format!("evt_full_{i}"), 16 << 10);
        match ingest(&store, "stripe", &[&ev]).await {
            Ok(flags) => {
                assert_eq!(flags, [true]);
                acked.push(ev);
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the disk filled up within 2000 events of 16 KiB");
    assert!(matches!(err, StoreError::DiskFull), "{err:?}");
    assert!(
        !acked.is_empty(),
        "some events fitted before the disk was full"
    );
    // A small write of delivery or of an operator may still fit in the
    // pages left; it does not make the store look ready again.
    let _ = bounded(store.set_paused("sub_small_write", true)).await;
    assert!(
        matches!(bounded(store.ready()).await, Err(StoreError::DiskFull)),
        "not ready while the disk is full"
    );
    // Reads go on, and every acknowledged event is there.
    for ev in &acked {
        assert!(
            bounded(store.event("stripe", &ev.id))
                .await
                .unwrap()
                .is_some()
        );
    }

    // Space returns: the same store writes again, without a restart.
    fs.free();
    let after = big_event("evt_after", 16 << 10);
    let stored = until_ok(
        Duration::from_secs(10),
        "ingest after the disk was freed",
        || {
            let (store, after) = (store.clone(), after.clone());
            async move { ingest(&store, "stripe", &[&after]).await }
        },
    )
    .await;
    assert_eq!(stored, [true]);
    bounded(store.ready()).await.expect("ready again");

    // Everything acknowledged survives a restart.
    drop(store);
    let store = Store::open(&sqlite_config(path), Settings::default()).expect("reopen");
    for ev in acked.iter().chain([&after]) {
        assert!(
            bounded(store.event("stripe", &ev.id))
                .await
                .unwrap()
                .is_some(),
            "acknowledged event {} lost",
            ev.id
        );
    }
}
