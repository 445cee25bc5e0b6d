//! The maintenance thread: WAL checkpoints and the sweep of expired rows,
//! for as long as the store is open. Its own module: a thread of its own
//! with its own pacing.

use super::{write, writer::Writer};
use rusqlite::Connection;
use std::time::{Duration, Instant};

/// Rows removed per sweep transaction, and sweep transactions per round.
const SWEEP_BATCH: usize = 500;
const SWEEP_ROUNDS: usize = 100;
/// How often the maintenance thread checkpoints, and sweeps.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How often the writer finishes a checkpoint, so the WAL starts over: its
/// size is about this much of the traffic.
const RESTART_EVERY: Duration = Duration::from_millis(500);

/// A PASSIVE checkpoint, then a sync of what it copied into the database.
/// A checkpoint that fails is tried again at the next tick (a store that
/// cannot write says so on the writes themselves, 503, and on /readyz); a
/// sync that fails refuses every write from then on, as a failed fsync of
/// the WAL does.
fn checkpoint(checkpointer: &Connection, db: &std::fs::File, writer: &Writer) {
    if let Err(e) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), error = %e, "WAL checkpoint failed");
        return;
    }
    if let Err(e) = db.sync_data() {
        writer.database_sync_failed(&e);
    }
}

/// Checkpoints the WAL and sweeps expired rows until the store is dropped.
///
/// The checkpoints here copy the WAL into the database while the writer
/// goes on (PASSIVE: they wait for nobody), and `db`, a descriptor of the
/// database file, syncs what they copied. (SQLite syncs the database only
/// at a checkpoint that copied the very last frame, which under steady
/// writes is never one of these.) Under steady writes they never catch up
/// with the last frames, so every `RESTART_EVERY` the writer finishes the
/// copy between two of its transactions (see `Writer::finish_checkpoint`),
/// after which the WAL starts over from its beginning instead of growing.
///
/// Why the syncs here: the sync of a finishing checkpoint writes every
/// database page copied since the last one, at random places in the file,
/// and writes wait while the writer runs it. Left to the writer, that was
/// 500 ms of copies, 13–30 ms of stall twice a second; synced here every
/// tick, and once more just before the writer's turn, the writer syncs only
/// the last few milliseconds' pages (about 2 ms). Syncing every tick also
/// keeps each burst of database writes short, so the WAL fsyncs that
/// acknowledge callbacks do not queue behind one large one.
pub(super) fn maintain(
    checkpointer: Connection,
    db: &std::fs::File,
    writer: Writer,
    stop: std::sync::mpsc::Receiver<()>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut swept = Instant::now();
    let mut restarted = Instant::now();
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        checkpoint(&checkpointer, db, &writer);
        if restarted.elapsed() >= RESTART_EVERY {
            restarted = Instant::now();
            // Again: the frames written during the first one.
            checkpoint(&checkpointer, db, &writer);
            writer.finish_checkpoint();
        }
        if swept.elapsed() < SWEEP_EVERY {
            continue;
        }
        swept = Instant::now();
        for _ in 0..SWEEP_ROUNDS {
            match writer.write_blocking("sweep", |conn, now| write::sweep(conn, now, SWEEP_BATCH)) {
                Ok(n) if n >= SWEEP_BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), error = %e, "store sweep failed");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn insert(conn: &Connection, _now: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t VALUES (1)", [])
            .map(drop)
            .map_err(super::super::classify)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_sync_of_the_database_refuses_every_write_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);")
            .unwrap();
        let wal = dir.path().join("m.db-wal");
        let file = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
        let writer = Writer::start(conn, wal, Duration::from_secs(5), file.clone()).unwrap();
        let checkpointer = Connection::open(&path).unwrap();
        writer.write("t", true, insert).await.unwrap();
        // The database file syncs: writes go on.
        checkpoint(&checkpointer, &file, &writer);
        writer.write("t", true, insert).await.unwrap();
        // A descriptor whose sync fails (EINVAL on /dev/null), as a disk
        // that returned an I/O error would.
        let failing = std::fs::File::open("/dev/null").unwrap();
        checkpoint(&checkpointer, &failing, &writer);
        for durable in [true, false] {
            let after = writer.write("t", durable, insert).await;
            assert!(
                matches!(after, Err(StoreError::Unavailable(ref m)) if m.contains("fsync")),
                "{after:?}"
            );
        }
        // Maintenance's own writes (the sweep) too.
        let sweep = {
            let writer = writer.clone();
            tokio::task::spawn_blocking(move || writer.write_blocking("sweep", insert))
                .await
                .unwrap()
        };
        assert!(
            matches!(sweep, Err(StoreError::Unavailable(ref m)) if m.contains("fsync")),
            "{sweep:?}"
        );
    }
}
