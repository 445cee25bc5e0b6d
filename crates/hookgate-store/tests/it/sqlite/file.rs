//! The store file itself: one gateway process per file, what a file must
//! be to be opened, and how it is created.

use crate::support::*;
use hookgate_store::{Settings, Store, StoreError};
use std::os::unix::fs::PermissionsExt;

fn open(path: &std::path::Path) -> Result<Store, StoreError> {
    Store::open(&sqlite_config(path.to_owned()), Settings::default())
}

#[tokio::test]
async fn a_second_opener_of_the_same_file_is_refused_and_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("hookgate.db");
    let first = open(&path).expect("first opener");
    match open(&path) {
        Err(StoreError::InUse(why)) => {
            assert!(why.contains(&path.display().to_string()), "{why}");
            assert!(
                why.contains(&format!("pid {}", std::process::id())),
                "{why}"
            );
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    // Readers are never refused: the sqlite3 shell and backups read it.
    let reader =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("read-only open");
    let n: i64 = reader
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("read while the store is open");
    assert_eq!(n, 0);
    // Once the first closes, the file is free. (A process another test
    // forks at that moment holds the lock until it runs its program: a
    // moment, hence the bounded retry.)
    drop(first);
    let deadline = std::time::Instant::now() + FAIL_FAST;
    let again = loop {
        match open(&path) {
            Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            other => break other.expect("opened after the first closed"),
        }
    };
    bounded(again.check()).await.expect("check");
}

#[tokio::test]
async fn a_new_file_is_created_private_in_wal_mode_with_its_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep").join("er").join("hookgate.db");
    let store = open(&path).expect("created with its folders");
    let status = bounded(store.check()).await.expect("check");
    assert_eq!(status.backend, "sqlite");
    assert!(
        status
            .details
            .contains(&("schema", hookgate_store::sqlite::SCHEMA_VERSION.to_string())),
        "{status:?}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "payloads are readable by the owner only");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let journal: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, hookgate_store::sqlite::SCHEMA_VERSION);
}

#[tokio::test]
async fn a_file_of_another_program_or_a_newer_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();

    // Another program's database.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (7);",
        )
        .unwrap();
    match open(&other) {
        Err(StoreError::Incompatible(why)) => {
            assert!(why.contains("not a Hookgate store"), "{why}")
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let n: i64 = rusqlite::Connection::open(&other)
        .unwrap()
        .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "the other program's data is untouched");

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    match open(&junk) {
        Err(StoreError::Incompatible(why)) => {
            assert!(why.contains("not an SQLite database"), "{why}")
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    assert_eq!(std::fs::read(&junk).unwrap(), vec![0x42u8; 8192]);

    // A Hookgate store of a newer schema than this build knows.
    let newer = dir.path().join("newer.db");
    drop(open(&newer).expect("create"));
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    match open(&newer) {
        Err(StoreError::Incompatible(why)) => {
            assert!(why.contains("newer Hookgate"), "{why}");
            assert!(why.contains("99"), "{why}");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

#[tokio::test]
async fn expired_rows_are_removed_in_the_background_not_only_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    let settings = Settings {
        retention: std::time::Duration::from_millis(300),
        ..Settings::default()
    };
    let store = Store::open(&sqlite_config(path.clone()), settings).unwrap();
    for i in 0..50 {
        let ev = TestEvent::new("stripe", &format!("evt_{i}"), "payment.succeeded");
        // A dedup window shorter than the retention: the row goes with it.
        ingest_for(
            &store,
            "stripe",
            std::time::Duration::from_millis(100),
            &[&ev],
        )
        .await
        .unwrap();
        bounded(store.fanout_commit("stripe", &[(ev.id.clone(), vec!["ledger"])]))
            .await
            .unwrap();
    }
    let raw =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let rows = |table: &str| -> i64 {
        raw.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((rows("events"), rows("deliveries")), (50, 50));
    eventually(
        std::time::Duration::from_secs(5),
        "expired rows removed",
        || async { rows("events") == 0 && rows("deliveries") == 0 },
    )
    .await;
}

/// The WAL header's salts: they change each time the log starts over.
fn wal_salts(path: &std::path::Path) -> Option<[u8; 8]> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let header = std::fs::read(std::path::PathBuf::from(wal)).ok()?;
    header.get(16..24)?.try_into().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_writes_without_a_pause_the_wal_still_starts_over() {
    // Checkpoints that run beside the writer never copy the last frame
    // while writes keep coming, so the log starts over only because the
    // writer finishes one between two transactions; without that it grows
    // for as long as the traffic lasts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.db");
    let store = open(&path).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    // More callers than the writer serves: its queue is never empty.
    for w in 0..64 {
        let (store, stop) = (store.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ev = TestEvent::new("stripe", &format!("evt_{w}_{i}"), "payment.succeeded");
                ingest_for(&store, "stripe", std::time::Duration::from_secs(60), &[&ev])
                    .await
                    .unwrap();
                i += 1;
            }
            i
        }));
    }
    let mut seen = std::collections::HashSet::new();
    let started = std::time::Instant::now();
    while seen.len() < 4 && started.elapsed() < std::time::Duration::from_secs(20) {
        seen.extend(wal_salts(&path));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    assert!(
        seen.len() >= 4,
        "the WAL started over {} times in {:?} while {written} events were written",
        seen.len().saturating_sub(1),
        started.elapsed()
    );
}
