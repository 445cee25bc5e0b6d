//! Opening the store: the file and its folder, its lock, WAL mode and the
//! pragmas every connection or the writer's needs, the schema, taking back
//! the previous run's leases, and starting the writer and maintenance
//! threads. Its own module because it runs once, apart from every call.

use super::lock::FileLock;
use super::write::Spans;
use super::writer::Writer;
use super::{Inner, Readers, SqliteStore, classify, maintain::maintain, schema, write};
use crate::{Settings, StoreError};
use hookgate_core::time::now_ms;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The WAL is truncated back to this size after a checkpoint restarts it.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Opens a connection to `path` with the settings every connection shares.
pub(super) fn connect(
    path: &Path,
    flags: OpenFlags,
    timeout: Duration,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(timeout).map_err(classify)?;
    // One plan per statement, whatever its bound values: else a `LIMIT ?`
    // (a claim's batch size changes with every call) makes SQLite
    // recompile the cached statement each time the value changes, which
    // cost a sixth of the writer's time while delivering. Nothing here
    // runs ANALYZE, so no bound value could have chosen a better plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(classify)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating it and its folder if need be) the store at `path`:
    /// takes the file's lock, creates or migrates the schema, takes back
    /// the leases of an earlier run, and starts the writer and maintenance
    /// threads. Fails when another gateway process holds the file, or when
    /// the file is not a Hookgate store of this or an older version.
    pub fn open(path: &Path, timeout: Duration, settings: Settings) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let lock = FileLock::acquire(path)?;
        create_private(path)?;
        let spans = Spans {
            retention: settings.retention_ms(),
            lease: settings.lease_ms(),
        };
        let mut conn = writer_connection(path, timeout)?;
        schema::prepare(&mut conn, path)?;
        take_back_leases(&conn, spans)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let db = Arc::new(std::fs::File::open(path).map_err(|e| {
            StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
        })?);
        let writer = Writer::start(conn, PathBuf::from(wal), timeout, db.clone())
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
        let readers = Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            timeout,
        });
        let (stop, stopped) = std::sync::mpsc::channel();
        let checkpointer = connect(path, OpenFlags::default(), timeout)?;
        let maintenance = writer.clone();
        std::thread::Builder::new()
            .name("hg-sqlite-maint".into())
            .spawn(move || maintain(checkpointer, &db, maintenance, stopped))
            .map_err(|e| StoreError::Unavailable(format!("cannot start store maintenance: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                readers,
                spans,
                _stop: stop,
                _lock: lock,
            }),
        })
    }
}

/// Creates the store's file if it is not there yet.
fn create_private(path: &Path) -> Result<(), StoreError> {
    // The file holds payloads: readable by its owner only. (SQLite
    // gives its -wal and -shm files the same permissions.)
    if !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", path.display()))
            })?;
    }
    Ok(())
}

/// The writer's connection: WAL mode (refused plainly when the file is
/// not a database or WAL is not available) and the writer's pragmas.
fn writer_connection(path: &Path, timeout: Duration) -> Result<Connection, StoreError> {
    let conn = connect(path, OpenFlags::default(), timeout)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| match classify(e) {
            // Not a database at all (or encrypted): say so plainly.
            StoreError::Unavailable(why) if why.contains("not a database") => {
                StoreError::Incompatible(format!(
                    "{} is not an SQLite database; point [store] path at a new or a Hookgate file",
                    path.display()
                ))
            }
            other => other,
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{}: cannot use WAL mode (journal mode stays {mode}); is it on a network filesystem?",
            path.display()
        )));
    }
    // NORMAL: the commit writes the WAL; the writer's syncer thread
    // fsyncs it before a durable write is answered (see `writer`).
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = MEMORY;"
    ))
    .map_err(classify)?;
    Ok(conn)
}

/// Every lease in the file is this process's from before a restart (one
/// process per file): all go back to their queues now.
fn take_back_leases(conn: &Connection, spans: Spans) -> Result<(), StoreError> {
    let routes: Vec<(String, String)> = conn
        .prepare("SELECT DISTINCT source, sub FROM deliveries WHERE state = 1")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(classify)?;
    if routes.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let tx = conn.unchecked_transaction().map_err(classify)?;
    let mut taken = 0;
    for (source, sub) in &routes {
        taken += write::reclaim(&tx, now, source, sub, spans, None, usize::MAX)?;
    }
    tx.commit().map_err(classify)?;
    tracing::info!(
        request_id = %hookgate_core::trace::new_request_id(),
        leases = taken,
        "took back the leases of the previous run"
    );
    Ok(())
}
