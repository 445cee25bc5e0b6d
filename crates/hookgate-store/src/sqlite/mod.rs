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

mod backup;
mod copy;
mod lock;
mod read;
mod schema;
mod write;
mod writer;

use crate::contract::{Attempted, Backend, StoreStatus};
use crate::copy::{ExportPage, Record};
use crate::{
    AttemptRecord, AuditRecord, ClaimedDelivery, DeliveryRecord, LeaseOwner, ListOrder, NewEvent,
    RouteClaim, RouteDepth, Settings, StoreError, StoredEvent,
};
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use lock::FileLock;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use write::{OwnedEvent, Spans};
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
}

/// Rows removed per sweep transaction, and sweep transactions per round.
const SWEEP_BATCH: usize = 500;
const SWEEP_ROUNDS: usize = 100;
/// How often the maintenance thread checkpoints, and sweeps.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How long a write that failed for a full disk keeps the store unready.
const DISK_FULL_MEMORY: Duration = Duration::from_secs(5);
/// Idle read connections kept.
const IDLE_READERS: usize = 8;
/// The WAL is truncated back to this size after a checkpoint restarts it.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

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

/// Opens a connection to `path` with the settings every connection shares.
fn connect(path: &Path, flags: OpenFlags, timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(timeout).map_err(classify)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
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
        let spans = Spans {
            retention: settings.retention_ms(),
            lease: settings.lease_ms(),
        };
        let mut conn = connect(path, OpenFlags::default(), timeout)?;
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
        schema::prepare(&mut conn, path)?;
        take_back_leases(&conn, spans)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let writer = Writer::start(conn, PathBuf::from(wal), timeout)
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
            .spawn(move || maintain(checkpointer, maintenance, stopped))
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

/// Checkpoints the WAL and sweeps expired rows until the store is dropped.
///
/// The checkpoints here copy the WAL into the database while the writer
/// goes on (PASSIVE: they wait for nobody); under steady writes they never
/// catch up with the last frames, so the writer finishes the copy itself
/// now and then (see `writer`), after which the WAL starts over from its
/// beginning instead of growing.
fn maintain(checkpointer: Connection, writer: Writer, stop: std::sync::mpsc::Receiver<()>) {
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

fn owned_ids(ids: &[EventId]) -> Vec<EventId> {
    ids.to_vec()
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    fn beside(&self) -> Result<Arc<dyn Backend>, StoreError> {
        // One writer serves every runtime: the same store.
        Ok(Arc::new(self.clone()))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.ready().await?;
        let version = self.read(|conn, _| schema::version(conn)).await?;
        Ok(StoreStatus {
            backend: "sqlite",
            details: vec![
                ("path", self.inner.path.display().to_string()),
                ("schema", version.to_string()),
            ],
            warning: None,
        })
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // A write that failed for a full disk in the last few seconds, with
        // no data committed since, says more than a small probe that fits
        // in what room is left: not ready. Past that, the probe decides, so
        // readiness returns by itself once there is room again.
        if let Some(at) = self.inner.writer.disk_full_since()
            && now_ms() - at < DISK_FULL_MEMORY.as_millis() as i64
        {
            return Err(StoreError::DiskFull);
        }
        self.write(writer::PROBE, true, |conn, now, _| write::probe(conn, now))
            .await
    }

    async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        let source = source.to_owned();
        let dedup_ms = dedup_window.as_millis().min(i64::MAX as u128) as i64;
        let events: Vec<OwnedEvent> = events
            .iter()
            .map(|ev| OwnedEvent {
                id: ev.id.as_str().to_owned(),
                ty: ev.ty.to_owned(),
                ce: ev.cloudevent.to_vec(),
                tp: ev.traceparent.to_owned(),
            })
            .collect();
        self.write(writer::INGEST, true, move |conn, now, spans| {
            write::ingest(conn, now, &source, dedup_ms, spans, &events)
        })
        .await
    }

    async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        let source = source.to_owned();
        let age = min_age.as_millis().min(i64::MAX as u128) as i64;
        self.read(move |conn, now| read::fanout_due(conn, now, &source, max, now - age))
            .await
    }

    async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        let source = source.to_owned();
        let items: Vec<(String, Vec<String>)> = items
            .iter()
            .map(|(id, subs)| {
                (
                    id.as_str().to_owned(),
                    subs.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect();
        self.write("fanout", false, move |conn, now, spans| {
            write::fanout_commit(conn, now, &source, spans, &items)
        })
        .await
    }

    async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        // One process per file: every lease is this process's, and all of
        // them were taken back when it opened the file.
        _owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let (claimed, next) = self
            .write("claim", false, move |conn, now, spans| {
                write::route_claim(conn, now, &source, &sub, spans, max)
            })
            .await?;
        let deliveries = claimed
            .into_iter()
            .map(|c| {
                Ok(ClaimedDelivery {
                    id: write::event_id(&c.id)?,
                    lease: c.lease,
                    attempts: c.attempts,
                    first_ms: c.first_ms,
                    cloudevent: bytes::Bytes::from(c.ce),
                    traceparent: c.tp,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(RouteClaim {
            deliveries,
            next_due_ms: next,
        })
    }

    async fn take_back(
        &self,
        _owner: &LeaseOwner,
        _routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        // Done at open (`take_back_leases`): the leases in the file then
        // were all of an earlier run of this process's instance, and the
        // ones since are this run's.
        Ok(0)
    }

    async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let id = done.id.as_str().to_owned();
        let (lease, attempts) = (done.lease, done.attempts);
        let finish = done.finish.clone();
        let record = done.record.cloned();
        self.write("finish", false, move |conn, now, spans| {
            write::route_finish(
                conn,
                now,
                &source,
                &sub,
                spans,
                &id,
                lease,
                attempts,
                &finish,
                record.as_ref(),
            )
        })
        .await
    }

    async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|conn, _| read::paused(conn)).await
    }

    async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        let sub = sub.to_owned();
        self.write("admin", true, move |conn, now, _| {
            write::set_paused(conn, now, &sub, paused)
        })
        .await
    }

    async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        self.read(move |conn, _| read::route_gauges(conn, &source, &sub))
            .await
    }

    async fn event_index_range(
        &self,
        source: &str,
        min_ms: i64,
        max_ms: i64,
        order: ListOrder,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let source = source.to_owned();
        self.read(move |conn, now| {
            read::event_index_range(conn, now, &source, (min_ms, max_ms), order, offset, count)
        })
        .await
    }

    async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        self.read(move |conn, now| {
            read::dead_letter_range(conn, now, (&source, &sub), (min_ms, max_ms), offset, count)
        })
        .await
    }

    async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let (source, ids) = (source.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::event_types(conn, now, &source, &ids))
            .await
    }

    async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        let (source, ids) = (source.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::events(conn, now, &source, &ids))
            .await
    }

    async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        let (source, id) = (source.to_owned(), id.clone());
        let subs: Vec<String> = subs.iter().map(|s| (*s).to_owned()).collect();
        self.read(move |conn, now| read::deliveries_of(conn, now, &source, &id, &subs))
            .await
    }

    async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        let (source, sub, ids) = (source.to_owned(), sub.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::delivery_records(conn, now, &source, &ids, &sub))
            .await
    }

    async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let due: Vec<(String, i64)> = due
            .iter()
            .map(|(id, at)| (id.as_str().to_owned(), *at))
            .collect();
        self.write("admin", true, move |conn, now, spans| {
            write::replay(conn, now, &source, &sub, spans, &due)
        })
        .await
    }

    async fn redeliver(&self, source: &str, sub: &str, id: &EventId) -> Result<bool, StoreError> {
        let (source, sub, id) = (source.to_owned(), sub.to_owned(), id.as_str().to_owned());
        self.write("admin", true, move |conn, now, spans| {
            write::redeliver(conn, now, &source, &sub, spans, &id)
        })
        .await
    }

    async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.write("admin", true, move |conn, now, _| {
            write::audit_append(conn, now, &json)
        })
        .await
    }

    async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        let after = after.map(str::to_owned);
        self.read(move |conn, _| read::audit_page(conn, after.as_deref(), count))
            .await
    }

    async fn export(&self, cursor: Option<&str>, max: usize) -> Result<ExportPage, StoreError> {
        let cursor = cursor.map(str::to_owned);
        self.read(move |conn, now| copy::export(conn, now, cursor.as_deref(), max))
            .await
    }

    async fn import(&self, records: &[Record]) -> Result<u64, StoreError> {
        let records = records.to_vec();
        self.write("admin", true, move |conn, now, _| {
            copy::import(conn, now, &records)
        })
        .await
    }
}
