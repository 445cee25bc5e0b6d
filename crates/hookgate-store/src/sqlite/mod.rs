//! The embedded backend: the gateway's state in one SQLite file, nothing
//! else to install or run.
//!
//! SQLite (bundled, so no system library) in WAL mode: readers never wait
//! for the writer nor it for them, and a commit is an append to the log
//! plus, with `synchronous = FULL`, one fsync. Operators can read the file
//! with the `sqlite3` shell while the gateway runs.
//!
//! # Shape
//!
//! - One writer thread owns the only write connection; every write of the
//!   contract is a job on its queue, and the jobs that queue up during a
//!   commit share the next one (group commit, see `writer`). A callback is
//!   answered 2xx only after the transaction holding its claim and its
//!   event was fsynced.
//! - Reads (admin listings, the fan-out scan, gauges) run on a small pool
//!   of read connections on tokio's blocking threads (`read`).
//! - A maintenance thread checkpoints the WAL into the database and
//!   removes expired rows in small batches through the writer, so no
//!   write lock is held for long and the file stops growing once traffic
//!   is steady (`write::sweep`).
//! - One gateway process per file: an exclusive lock on `<file>-lock`
//!   (see `lock`). Because the file is this process's alone, every lease
//!   found at start was this process's before a restart: all are taken
//!   back at once (each logged as an attempt with no known outcome and
//!   counted towards poison), so delivery resumes in seconds after a crash.
//! - The file records its schema version and is migrated forward in place
//!   (see `schema`).
//!
//! # Layout
//! - `setup`: opening the file (lock, WAL and pragmas, schema, the previous
//!   run's leases) and starting the threads.
//! - `maintain`: the maintenance thread (checkpoints, sweeps).
//! - `writer`, `write`: the writer thread and the writes it runs; `read`:
//!   the reads.
//! - `backend`: [`Backend`](crate::contract::Backend) for [`SqliteStore`].
//! - `lock`, `schema`, `copy`, `backup`: the file lock, the schema and its
//!   migrations, export/import, online backups.
//! - this file: the handle, the read connection pool, and the error
//!   classification every module uses.

mod backend;
mod backup;
mod copy;
mod lock;
mod maintain;
mod read;
mod schema;
mod setup;
mod write;
mod writer;

use crate::StoreError;
use hookgate_core::time::now_ms;
use lock::FileLock;
use rusqlite::{Connection, OpenFlags};
use setup::connect;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use write::Spans;
use writer::Writer;

pub use backup::{Backup, backup};
pub use schema::CURRENT as SCHEMA_VERSION;

/// Delivery states as stored (`deliveries.state`).
pub(crate) mod state {
    /// Waiting in the route's queue until `due`.
    pub const QUEUED: i64 = 0;
    /// Leased until `due` (the lease token).
    pub const LEASED: i64 = 1;
    /// Delivered at `due`.
    pub const DELIVERED: i64 = 2;
    /// Dead-lettered at `due`.
    pub const DEAD: i64 = 3;
    /// Held behind the head of its ordering key's line; queued when it
    /// becomes the head.
    pub const HELD: i64 = 4;
}

/// Idle read connections kept.
const IDLE_READERS: usize = 8;

/// Classifies a SQLite error for the caller's answer. The text names the
/// failing operation, never a value (every statement takes parameters).
///
/// The store's own failures (full disk, I/O, locks, a damaged file) are
/// `DiskFull`/`Unavailable`: every write of a transaction fails with them.
/// Anything else (a constraint, a type mismatch: a bug) is one write's
/// own, a `Protocol` error, and fails that write alone.
pub(crate) fn classify(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull,
        Some(
            ErrorCode::SystemIoFailure
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::OutOfMemory
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NotADatabase,
        ) => StoreError::Unavailable(format!("sqlite: {err}")),
        _ => StoreError::Protocol(format!("sqlite: {err}")),
    }
}

/// Read connections, opened as needed and kept while idle.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    timeout: Duration,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = connect(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            self.timeout,
        )?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -16384;")
            .map_err(classify)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }

    /// Runs `f` on a read connection on a blocking thread, within
    /// `store_timeout`.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let me = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let conn = me.take()?;
            let result = f(&conn, now_ms());
            me.give_back(conn);
            result
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Protocol("a store read panicked".into())),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
    spans: Spans,
    /// Dropped with the store: stops the maintenance thread.
    _stop: std::sync::mpsc::Sender<()>,
    /// Held as long as the store is open.
    _lock: FileLock,
}

/// The embedded store; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write<T, F>(&self, op: &'static str, durable: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection, i64, Spans) -> Result<T, StoreError> + Send + 'static,
    {
        let spans = self.inner.spans;
        self.inner
            .writer
            .write(op, durable, move |conn, now| f(conn, now, spans))
            .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.readers.read(f).await
    }
}
