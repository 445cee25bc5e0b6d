//! `hookgate backup`'s copy: consistent while the store keeps writing, and
//! a store of its own (restore = open it).

use crate::support::*;
use hookgate_store::{Settings, Store, StoreError};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_is_a_consistent_store_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    let store = Store::open(&sqlite_config(path.clone()), Settings::default()).unwrap();
    for i in 0..200 {
        let ev = TestEvent::new("stripe", &format!("evt_before_{i}"), "payment.succeeded");
        ingest(&store, "stripe", &[&ev]).await.unwrap();
    }
    // Writes go on while the copy is taken.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let ev = TestEvent::new("stripe", &format!("evt_during_{i}"), "payment.succeeded");
                ingest(&store, "stripe", &[&ev]).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let to = dir.path().join("backup.db");
    let done = {
        let (path, to) = (path.clone(), to.clone());
        tokio::task::spawn_blocking(move || {
            hookgate_store::sqlite::backup(&path, &to, Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("backup")
    };
    assert_eq!(done.path, to);
    assert_eq!(done.bytes, std::fs::metadata(&to).unwrap().len());
    writer.await.unwrap();

    // The copy opens as a store (the restore), holds every event written
    // before it started, and each of its events is whole.
    let restored = Store::open(&sqlite_config(to.clone()), Settings::default()).expect("restore");
    let listed = all_events(&restored, "stripe").await;
    assert!((200..=600).contains(&listed.len()), "{}", listed.len());
    for i in 0..200 {
        let ev = TestEvent::new("stripe", &format!("evt_before_{i}"), "payment.succeeded");
        let got = bounded(restored.event("stripe", &ev.id)).await.unwrap();
        assert_eq!(got.map(|e| e.cloudevent), Some(ev.ce.clone()));
        // Its claim came with it: the provider's retry is a duplicate.
        assert_eq!(ingest(&restored, "stripe", &[&ev]).await.unwrap(), [false]);
    }
    let due = bounded(restored.fanout_due("stripe", 10_000))
        .await
        .unwrap();
    assert!(
        due.len() >= listed.len(),
        "every event is still to be fanned out"
    );

    // A backup never overwrites, and needs a store.
    let again = hookgate_store::sqlite::backup(&path, &to, Duration::from_secs(1));
    assert!(matches!(again, Err(StoreError::Refused(_))), "{again:?}");
    let none = hookgate_store::sqlite::backup(
        &dir.path().join("nope.db"),
        &dir.path().join("x.db"),
        Duration::from_secs(1),
    );
    assert!(matches!(none, Err(StoreError::Refused(_))), "{none:?}");
    assert!(!dir.path().join("x.db").exists());
}
