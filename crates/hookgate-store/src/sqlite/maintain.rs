//! The maintenance thread: WAL checkpoints and the sweep of expired rows,
//! for as long as the store is open. Its own module: a thread of its own
//! with its own pacing.

use super::{write, writer::Writer};
use rusqlite::Connection;
use std::time::Duration;

/// Rows removed per sweep transaction, and sweep transactions per round.
const SWEEP_BATCH: usize = 500;
const SWEEP_ROUNDS: usize = 100;
/// How often the maintenance thread checkpoints, and sweeps.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL and sweeps expired rows until the store is dropped.
///
/// The checkpoints here copy the WAL into the database while the writer
/// goes on (PASSIVE: they wait for nobody); under steady writes they never
/// catch up with the last frames, so the writer finishes the copy itself
/// now and then (see `writer`), after which the WAL starts over from its
/// beginning instead of growing.
pub(super) fn maintain(
    checkpointer: Connection,
    writer: Writer,
    stop: std::sync::mpsc::Receiver<()>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut swept = std::time::Instant::now();
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(request_id = %hookgate_core::trace::new_request_id(), error = %e, "WAL checkpoint failed");
        }
        if swept.elapsed() < SWEEP_EVERY {
            continue;
        }
        swept = std::time::Instant::now();
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
