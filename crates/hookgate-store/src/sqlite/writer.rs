//! The one writer: every write of the embedded store runs on one thread
//! that owns the write connection, and the writes that wait while a commit
//! is under way go together into the next transaction (group commit).
//!
//! Why one thread: SQLite lets one transaction write at a time, and an
//! fsync costs the same for one row as for a hundred. Writers that each
//! took the lock would queue on it anyway, and pay an fsync each; peers
//! that work that way acknowledge a few hundred callbacks a second. Here a
//! commit takes whatever is queued the moment the previous one ends:
//!
//! - it never waits for company: an idle store commits a lone write at
//!   once, a busy one commits fuller transactions. A write waits at most
//!   for the transaction under way, then for its own
//!   (`hookgate_store_write_wait_seconds` measures the first part);
//! - each write runs in a savepoint of its own, so it stays all or nothing
//!   even though it shares the transaction: one that fails is rolled back
//!   alone and answered its error, the others commit;
//! - writes are taken in arrival order, from one queue: delivery's claims
//!   and finishes share the commits with ingest, so neither starves the
//!   other;
//! - a write whose caller gave up (past `store_timeout`, already answered
//!   503) is dropped unrun.
//!
//! Durability: a transaction that holds an ingest (or an operator's write)
//! is committed with `synchronous = FULL`, so its callers are answered only
//! after the WAL was fsynced. One that holds only delivery bookkeeping
//! (fan-out, claims, outcomes, expiry) is committed with `NORMAL`: it
//! survives a crash of the gateway but not a power loss, which at worst
//! sends a delivery again (at-least-once); the next FULL commit makes it
//! durable too, since the WAL is synced as a whole.

use crate::StoreError;
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The `op` of the readiness probe: its success says the disk has room
/// for a small write, not that the last data write would fit.
pub(crate) const PROBE: &str = "ping";

/// Writes per transaction, at most.
const MAX_JOBS: usize = 512;
/// Writes waiting before callers wait to enqueue (backpressure; callers
/// are bounded by `store_timeout`).
const QUEUE: usize = 8192;

/// One write, as the writer thread sees it.
trait Work: Send {
    /// The caller stopped waiting.
    fn abandoned(&self) -> bool;
    /// Its commit must be fsynced before it is answered.
    fn durable(&self) -> bool;
    /// When it was queued.
    fn queued(&self) -> (&'static str, Instant);
    /// Runs inside the transaction; keeps its result until the commit.
    /// Err: this write failed (its result is the error).
    fn run(&mut self, conn: &Connection, now: i64) -> Result<(), StoreError>;
    /// Answers the caller: its result if the transaction committed, else
    /// the transaction's error.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Task<T, F> {
    op: &'static str,
    queued: Instant,
    durable: bool,
    body: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Work for Task<T, F>
where
    T: Send,
    F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn queued(&self) -> (&'static str, Instant) {
        (self.op, self.queued)
    }

    fn run(&mut self, conn: &Connection, now: i64) -> Result<(), StoreError> {
        let Some(body) = self.body.take() else {
            return Err(StoreError::Protocol("a store write ran twice".into()));
        };
        // A panic in a write must not take the writer (and every later
        // write) down with it: it fails this write only.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| body(conn, now)))
            .unwrap_or_else(|_| Err(StoreError::Protocol("a store write panicked".into())));
        let failed = result.as_ref().err().cloned();
        self.result = Some(result);
        failed.map_or(Ok(()), Err)
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = match committed {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError::Protocol("a store write never ran".into()))),
            Err(e) => Err(e),
        };
        let _ = self.reply.send(result);
    }
}

/// The handle that queues writes; cheap to clone. The thread ends when
/// every handle is gone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Work>>,
    timeout: Duration,
    /// When a write last failed for a full disk (Unix ms; 0: not since the
    /// last write that committed data).
    disk_full_at: Arc<AtomicI64>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already set up: WAL, schema).
    pub(crate) fn start(conn: Connection, timeout: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let disk_full_at = Arc::new(AtomicI64::new(0));
        let health = disk_full_at.clone();
        std::thread::Builder::new()
            .name("hookgate-sqlite-writer".into())
            .spawn(move || run(conn, rx, &health))?;
        Ok(Writer {
            tx,
            timeout,
            disk_full_at,
        })
    }

    /// When a write last failed for a full disk, if none committed data
    /// since (Unix ms).
    pub(crate) fn disk_full_since(&self) -> Option<i64> {
        Some(self.disk_full_at.load(Ordering::Relaxed)).filter(|at| *at > 0)
    }

    /// Runs `body` in the next transaction and answers its result once the
    /// transaction committed, all within `store_timeout`. `durable`: the
    /// commit is fsynced before the answer.
    pub(crate) async fn write<T, F>(
        &self,
        op: &'static str,
        durable: bool,
        body: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Box::new(Task {
            op,
            queued: Instant::now(),
            durable,
            body: Some(body),
            result: None,
            reply,
        });
        let wait = async {
            self.tx
                .send(task)
                .await
                .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Unavailable("store write abandoned".into()))?
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(result) => result,
            // The write may still commit (it was queued): the caller
            // answers 503 and its provider's retry finds a duplicate.
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// [`Self::write`] from a thread outside the runtime (maintenance),
    /// without a timeout.
    pub(crate) fn write_blocking<T, F>(&self, op: &'static str, body: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Box::new(Task {
            op,
            queued: Instant::now(),
            durable: false,
            body: Some(body),
            result: None,
            reply,
        });
        self.tx
            .blocking_send(task)
            .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
        answer
            .blocking_recv()
            .map_err(|_| StoreError::Unavailable("store write abandoned".into()))?
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Work>>, disk_full_at: &AtomicI64) {
    let mut full = true;
    let mut jobs: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_JOBS);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_JOBS {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        jobs.retain(|job| !job.abandoned());
        if jobs.is_empty() {
            continue;
        }
        let started = Instant::now();
        for job in &jobs {
            let (op, queued) = job.queued();
            metrics::histogram!("hookgate_store_write_wait_seconds", "op" => op)
                .record(started.saturating_duration_since(queued).as_secs_f64());
        }
        metrics::histogram!("hookgate_store_batch_jobs", "op" => "write").record(jobs.len() as f64);
        let durable = jobs.iter().any(|job| job.durable());
        if durable != full {
            let mode = if durable { "FULL" } else { "NORMAL" };
            if conn.pragma_update(None, "synchronous", mode).is_ok() {
                full = durable;
            }
        }
        let changes = conn.total_changes();
        let outcome = transaction(&conn, &mut jobs);
        let wrote_data =
            conn.total_changes() > changes && jobs.iter().any(|job| job.queued().0 != PROBE);
        match (&outcome, wrote_data) {
            (Ok(false), true) => disk_full_at.store(0, Ordering::Relaxed),
            (Ok(true), _) | (Err(StoreError::DiskFull), _) => {
                disk_full_at.store(hookgate_core::time::now_ms(), Ordering::Relaxed)
            }
            _ => {}
        }
        match outcome {
            Ok(_) => {
                for job in jobs.drain(..) {
                    job.answer(Ok(()));
                }
            }
            Err(err) => {
                for job in jobs.drain(..) {
                    job.answer(Err(err.clone()));
                }
            }
        }
    }
}

/// One transaction over `jobs`, each in a savepoint. Err: nothing of it
/// was committed. Ok(true): committed, but a write of it failed alone for a
/// full disk.
fn transaction(conn: &Connection, jobs: &mut [Box<dyn Work>]) -> Result<bool, StoreError> {
    let mut full = false;
    exec(conn, "BEGIN IMMEDIATE")?;
    let now = hookgate_core::time::now_ms();
    for job in jobs.iter_mut() {
        if let Err(err) = exec(conn, "SAVEPOINT job") {
            rollback(conn);
            return Err(err);
        }
        match job.run(conn, now) {
            Ok(()) => {
                if let Err(err) = exec(conn, "RELEASE job") {
                    rollback(conn);
                    return Err(err);
                }
            }
            Err(err) => {
                full |= matches!(err, StoreError::DiskFull);
                // The write failed alone (its own error is its answer),
                // unless SQLite rolled the whole transaction back (disk
                // full, I/O error): then every write of it failed.
                if conn.is_autocommit() {
                    return Err(err);
                }
                if exec(conn, "ROLLBACK TO job")
                    .and_then(|()| exec(conn, "RELEASE job"))
                    .is_err()
                {
                    rollback(conn);
                    return Err(err);
                }
            }
        }
    }
    match exec(conn, "COMMIT") {
        Ok(()) => Ok(full),
        Err(err) => {
            rollback(conn);
            Err(err)
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(super::classify)
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}
