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
fn checkpoint(checkpointer: &Connection, db: &std::fs::File) {
    let copied = checkpointer
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(|e| e.to_string())
        .and_then(|()| db.sync_data().map_err(|e| e.to_string()));
    if let Err(error) = copied {
        // The next one tries again; a store that cannot write says so on
        // the writes themselves (503) and on /readyz.
        tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), %error, "WAL checkpoint failed");
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
        checkpoint(&checkpointer, db);
        if restarted.elapsed() >= RESTART_EVERY {
            restarted = Instant::now();
            // Again: the frames written during the first one.
            checkpoint(&checkpointer, db);
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
