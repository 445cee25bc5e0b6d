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
//! - a callback never waits for company: an idle store commits a lone
//!   ingest at once, a busy one commits fuller transactions. A write waits
//!   at most for the transaction under way, then for its own
//!   (`hookgate_store_write_wait_seconds` measures the first part). Only
//!   a transaction of delivery bookkeeping alone with fewer than
//!   [`COMPANY`] writes waits [`LINGER`] (100 µs) for more: attempts end
//!   one at a time, and a commit of a few costs nearly what a commit of
//!   many does (that wait took a tenth off the writer's time per delivery);
//! - each write stays all or nothing even though it shares the
//!   transaction: when one fails, the transaction is rolled back, that
//!   write is answered its error, and the others run again in a new one.
//!   (Not a savepoint per write: SQLite copies every page a savepoint
//!   touches, which cost a third of an ingest's write; failures are rare.)
//!   A failure of the store itself (a full disk, an I/O error) fails every
//!   write of the transaction;
//! - writes are taken in arrival order, from one queue: delivery's claims
//!   and finishes share the commits with ingest, so neither starves the
//!   other;
//! - a write whose caller gave up (past `store_timeout`, already answered
//!   503) is dropped unrun.
//!
//! Durability: transactions are committed with `synchronous = NORMAL` (the
//! commit writes the WAL, it does not wait for the disk), and an ingest
//! (or an operator's write) is answered only once a syncer thread has
//! fsynced the WAL after its commit. The writer meanwhile runs the next
//! transaction: an fsync no longer stalls it, and one fsync serves every
//! commit made while the one before it ran. Delivery bookkeeping (fan-out,
//! claims, outcomes, expiry) is answered at its commit, whatever shares
//! its transaction: it survives a crash of the gateway but not a power
//! loss, which at worst sends a delivery again (at-least-once); the next
//! fsync makes it durable too, since the WAL is synced as a whole. (Held
//! for the fsync of the callbacks beside it, a claim waited a millisecond
//! or more, and a subscription's deliveries fell behind its callbacks.)
//! An fsync that fails leaves the
//! kernel free to drop what it did not write, so from then on every write
//! fails (503) until the gateway is restarted and SQLite reads the file
//! back from the disk.

use crate::StoreError;
use hookgate_telemetry::event::{StoreBatch, StoreWriteWaited};
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The `op` of the readiness probe: its success says the disk has room
/// for a small write, not that the last data write would fit.
pub(crate) const PROBE: &str = "ping";
/// The `op` of ingest: its commit clears the memory of a full disk.
pub(crate) const INGEST: &str = "ingest";

/// Writes per transaction, at most.
const MAX_JOBS: usize = 512;
/// A transaction of delivery bookkeeping with fewer writes than this
/// waits [`LINGER`] for more before it runs.
const COMPANY: usize = 16;
/// How long such a transaction waits.
const LINGER: Duration = Duration::from_micros(100);
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
    /// Runs inside the transaction; keeps its result until the commit (a
    /// later run, after a rollback, replaces it). Err: this write failed.
    fn run(&mut self, conn: &Connection, now: i64) -> Result<(), StoreError>;
    /// Answers the caller: its result if the transaction committed, else
    /// the transaction's error.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Task<T, F> {
    op: &'static str,
    queued: Instant,
    durable: bool,
    body: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Work for Task<T, F>
where
    T: Send,
    F: Fn(&Connection, i64) -> Result<T, StoreError> + Send,
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
        // A panic in a write must not take the writer (and every later
        // write) down with it: it fails this write only.
        let body = &self.body;
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
    /// Set when an fsync failed: every write fails from then on.
    broken: Arc<AtomicBool>,
    /// Set by maintenance once it has copied and synced all but the last
    /// frames of the WAL (see [`Writer::finish_checkpoint`]).
    finish: Arc<AtomicBool>,
}

/// The error of every write after an fsync failed.
fn fsync_failed() -> StoreError {
    StoreError::Unavailable(
        "an fsync of the store failed: no write is acknowledged until the gateway restarts".into(),
    )
}

impl Writer {
    /// Starts the writer thread on `conn` (already set up: WAL, schema) and
    /// its syncer, which fsyncs `wal` (the database's `-wal` file). The
    /// writer thread holds `db` (maintenance's descriptor of the database
    /// file) until its connection is closed: closing any descriptor of a
    /// file drops the process's POSIX locks on it, SQLite's included.
    pub(crate) fn start(
        conn: Connection,
        wal: PathBuf,
        timeout: Duration,
        db: Arc<std::fs::File>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let disk_full_at = Arc::new(AtomicI64::new(0));
        let broken = Arc::new(AtomicBool::new(false));
        let (synced, to_sync) = std::sync::mpsc::channel();
        let syncer_broken = broken.clone();
        std::thread::Builder::new()
            .name("hg-sqlite-sync".into())
            .spawn(move || sync(&wal, &to_sync, &syncer_broken))?;
        let health = disk_full_at.clone();
        let finish = Arc::new(AtomicBool::new(false));
        let wanted = finish.clone();
        std::thread::Builder::new()
            .name("hg-sqlite-write".into())
            .spawn(move || {
                run(conn, rx, &health, &synced, &wanted);
                drop(db);
            })?;
        Ok(Writer {
            tx,
            timeout,
            disk_full_at,
            broken,
            finish,
        })
    }

    /// Asks the writer to finish a checkpoint between its next two
    /// transactions: maintenance has copied the WAL into the database and
    /// synced it, so only the frames written since are left to copy and
    /// sync, and the next transaction then starts the WAL over. (A
    /// checkpoint that finds nothing left lets the WAL start over; one that
    /// runs beside the writer never does, as the writer keeps adding
    /// frames. The stall is this short copy and sync, not the whole one.)
    pub(crate) fn finish_checkpoint(&self) {
        self.finish.store(true, Ordering::Relaxed);
    }

    /// Maintenance's sync of the database file failed: as after a failed
    /// fsync of the WAL, every write fails from now on.
    pub(crate) fn database_sync_failed(&self, e: &std::io::Error) {
        refuse_writes(&self.broken, "the database", e);
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
        F: Fn(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        if self.broken.load(Ordering::Relaxed) {
            return Err(fsync_failed());
        }
        let (reply, answer) = oneshot::channel();
        let task = Box::new(Task {
            op,
            queued: Instant::now(),
            durable,
            body,
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
        F: Fn(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        if self.broken.load(Ordering::Relaxed) {
            return Err(fsync_failed());
        }
        let (reply, answer) = oneshot::channel();
        let task = Box::new(Task {
            op,
            queued: Instant::now(),
            durable: false,
            body,
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

/// Takes what is queued now, up to [`MAX_JOBS`] in all.
fn take_queued(rx: &mut mpsc::Receiver<Box<dyn Work>>, jobs: &mut Vec<Box<dyn Work>>) {
    while jobs.len() < MAX_JOBS {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Work>>,
    disk_full_at: &AtomicI64,
    synced: &std::sync::mpsc::Sender<Vec<Box<dyn Work>>>,
    finish: &AtomicBool,
) {
    let mut jobs: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_JOBS);
    while let Some(first) = rx.blocking_recv() {
        if finish.swap(false, Ordering::Relaxed) {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        jobs.push(first);
        take_queued(&mut rx, &mut jobs);
        // Delivery bookkeeping alone (claims, finishes) waits a moment for
        // company: its writes come one attempt at a time, and a commit of
        // a few costs nearly what a commit of many does. A transaction
        // holding a callback never waits.
        if jobs.len() < COMPANY && !jobs.iter().any(|job| job.durable()) {
            std::thread::sleep(LINGER);
            take_queued(&mut rx, &mut jobs);
        }
        jobs.retain(|job| !job.abandoned());
        if jobs.is_empty() {
            continue;
        }
        let started = Instant::now();
        for job in &jobs {
            let (op, queued) = job.queued();
            StoreWriteWaited {
                op,
                waited: started.saturating_duration_since(queued),
            }
            .emit();
        }
        StoreBatch {
            op: "write",
            jobs: jobs.len(),
        }
        .emit();
        let durable = jobs.iter().any(|job| job.durable());
        let changes = conn.total_changes();
        let outcome = transaction(&conn, &mut jobs);
        // Only a callback that fitted says the disk has room again: the
        // small writes of delivery (a claim, a finish) still fit in the
        // pages a full disk leaves, and would clear it too early.
        let wrote_data =
            conn.total_changes() > changes && jobs.iter().any(|job| job.queued().0 == INGEST);
        match (&outcome, wrote_data) {
            (Ok(false), true) => disk_full_at.store(0, Ordering::Relaxed),
            (Ok(true), _) | (Err(StoreError::DiskFull), _) => {
                disk_full_at.store(hookgate_core::time::now_ms(), Ordering::Relaxed)
            }
            _ => {}
        }
        match outcome {
            // The durable writes are answered by the syncer once the WAL
            // holding them is on disk; the delivery bookkeeping beside them
            // at once, as in a transaction of its own (a claim need not
            // wait for a callback's fsync).
            Ok(_) if durable => {
                let (later, now): (Vec<_>, Vec<_>) = jobs.drain(..).partition(|job| job.durable());
                if let Err(std::sync::mpsc::SendError(later)) = synced.send(later) {
                    for job in later {
                        job.answer(Err(fsync_failed()));
                    }
                }
                for job in now {
                    job.answer(Ok(()));
                }
            }
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

/// The syncer: fsyncs the WAL after the commits of durable writes and
/// answers them, each fsync for every commit queued while the previous one
/// ran. Ends when the writer does.
fn sync(
    wal: &std::path::Path,
    commits: &std::sync::mpsc::Receiver<Vec<Box<dyn Work>>>,
    broken: &AtomicBool,
) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(mut jobs) = commits.recv() {
        while let Ok(more) = commits.try_recv() {
            jobs.extend(more);
        }
        let result = if broken.load(Ordering::Relaxed) {
            Err(fsync_failed())
        } else {
            // Opened at the first commit: the WAL exists from then on, and
            // stays the same file while the store is open (SQLite reuses
            // and truncates it, never removes it while it is in use).
            let synced = match &file {
                Some(f) => f.sync_data(),
                None => std::fs::File::open(wal).and_then(|f| {
                    let r = f.sync_data();
                    file = Some(f);
                    r
                }),
            };
            synced.map_err(|e| {
                refuse_writes(broken, "the WAL", &e);
                if e.raw_os_error() == Some(28) {
                    StoreError::DiskFull
                } else {
                    fsync_failed()
                }
            })
        };
        for job in jobs {
            job.answer(result.clone());
        }
    }
}

/// After a failed fsync of one of the store's files (`what`): every write
/// fails from then on, and the first failure is logged. The kernel may
/// have dropped the pages it could not write, so nothing that depends on
/// them is acknowledged until a restart reads the file back from disk.
fn refuse_writes(broken: &AtomicBool, what: &str, e: &std::io::Error) {
    if !broken.swap(true, Ordering::Relaxed) {
        tracing::error!(
            request_id = %hookgate_core::trace::new_request_id(),
            error = %e,
            file = what,
            "fsync of the store failed: writes refused until the gateway restarts"
        );
    }
}

/// Whether an error is the store's (every write of the transaction fails
/// with it) rather than one write's own.
fn of_the_store(err: &StoreError) -> bool {
    matches!(err, StoreError::DiskFull | StoreError::Unavailable(_))
}

/// The writes of one transaction: runs `jobs` and commits them. A write
/// that fails alone is answered its error at once and removed from `jobs`;
/// the others run again in a new transaction. Err: nothing was committed,
/// and every write left in `jobs` gets the error. Ok(true): committed, but
/// a write failed alone for a full disk.
fn transaction(conn: &Connection, jobs: &mut Vec<Box<dyn Work>>) -> Result<bool, StoreError> {
    let mut full = false;
    'again: loop {
        if jobs.is_empty() {
            return Ok(full);
        }
        exec(conn, "BEGIN IMMEDIATE")?;
        let now = hookgate_core::time::now_ms();
        for i in 0..jobs.len() {
            if let Err(err) = jobs[i].run(conn, now) {
                full |= matches!(err, StoreError::DiskFull);
                rollback(conn);
                if of_the_store(&err) {
                    return Err(err);
                }
                jobs.remove(i).answer(Ok(()));
                continue 'again;
            }
        }
        return match exec(conn, "COMMIT") {
            Ok(()) => Ok(full),
            Err(err) => {
                rollback(conn);
                Err(err)
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &tempfile::TempDir) -> (Connection, std::path::PathBuf) {
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT PRIMARY KEY);")
            .unwrap();
        (conn, path)
    }

    fn file(path: &std::path::Path) -> Arc<std::fs::File> {
        Arc::new(std::fs::File::open(path).unwrap())
    }

    fn wal_of(path: &std::path::Path) -> PathBuf {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        PathBuf::from(wal)
    }

    fn values(path: &std::path::Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_alone_is_undone_and_answered_and_the_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, path) = table(&dir);
        let writer =
            Writer::start(conn, wal_of(&path), Duration::from_secs(5), file(&path)).unwrap();
        let insert = |v: &'static str| {
            move |conn: &Connection, _now: i64| {
                conn.execute("INSERT INTO t VALUES (?1)", [v])
                    .map(drop)
                    .map_err(super::super::classify)
            }
        };
        // Queued together while the first transaction holds the writer.
        let slow = writer.write("t", false, |conn: &Connection, _| {
            std::thread::sleep(Duration::from_millis(100));
            conn.execute("INSERT INTO t VALUES ('slow')", [])
                .map(drop)
                .map_err(super::super::classify)
        });
        let a = writer.write("t", true, insert("a"));
        // Writes half of itself, then fails: its half must not stay.
        let bad = writer.write("t", true, |conn: &Connection, _| {
            conn.execute("INSERT INTO t VALUES ('half')", [])
                .map_err(super::super::classify)?;
            Err::<(), _>(StoreError::Protocol("refused".into()))
        });
        // A constraint failure is one write's own too.
        let dup = writer.write("t", true, insert("a"));
        let c = writer.write("t", true, insert("c"));
        let (slow, a, bad, dup, c) = tokio::join!(slow, a, bad, dup, c);
        slow.unwrap();
        a.unwrap();
        c.unwrap();
        assert!(
            matches!(bad, Err(StoreError::Protocol(ref m)) if m == "refused"),
            "{bad:?}"
        );
        assert!(matches!(dup, Err(StoreError::Protocol(_))), "{dup:?}");
        assert_eq!(values(&path), ["a", "c", "slow"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, path) = table(&dir);
        let writer =
            Writer::start(conn, wal_of(&path), Duration::from_secs(5), file(&path)).unwrap();
        let boom = writer
            .write("t", true, |_: &Connection, _| -> Result<(), StoreError> {
                panic!("a bug in a write")
            })
            .await;
        assert!(matches!(boom, Err(StoreError::Protocol(_))), "{boom:?}");
        writer
            .write("t", true, |conn: &Connection, _| {
                conn.execute("INSERT INTO t VALUES ('after')", [])
                    .map(drop)
                    .map_err(super::super::classify)
            })
            .await
            .unwrap();
        assert_eq!(values(&path), ["after"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bookkeeping_beside_a_callback_is_answered_at_the_commit_not_after_the_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, path) = table(&dir);
        // The WAL path is a FIFO: the syncer's open blocks until someone
        // opens it for writing, an fsync that does not end.
        let wal = dir.path().join("stalled-wal");
        rustix::fs::mkfifoat(rustix::fs::CWD, &wal, rustix::fs::Mode::RWXU).unwrap();
        let writer =
            Writer::start(conn, wal.clone(), Duration::from_secs(30), file(&path)).unwrap();
        let insert = |v: &'static str| {
            move |conn: &Connection, _now: i64| {
                conn.execute("INSERT INTO t VALUES (?1)", [v])
                    .map(drop)
                    .map_err(super::super::classify)
            }
        };
        // While a first write holds the writer, a callback and a claim
        // queue up: they share the next transaction.
        let started = Arc::new(AtomicBool::new(false));
        let holding = started.clone();
        let w = writer.clone();
        let first = tokio::spawn(async move {
            w.write("t", false, move |conn: &Connection, _| {
                holding.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
                conn.execute("INSERT INTO t VALUES ('first')", [])
                    .map(drop)
                    .map_err(super::super::classify)
            })
            .await
        });
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let w = writer.clone();
        let callback = tokio::spawn(async move { w.write("t", true, insert("callback")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let claim = writer.write("t", false, insert("claim"));
        tokio::time::timeout(Duration::from_secs(5), claim)
            .await
            .expect("the claim waited for the callback's fsync")
            .unwrap();
        first.await.unwrap().unwrap();
        assert!(
            !callback.is_finished(),
            "the callback was answered before its fsync"
        );
        // The stalled "fsync" ends, failing (a FIFO cannot be synced): the
        // callback is not acknowledged.
        let _unblock = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
        let callback = tokio::time::timeout(Duration::from_secs(5), callback)
            .await
            .expect("the callback's answer")
            .unwrap();
        assert!(
            matches!(callback, Err(StoreError::Unavailable(ref m)) if m.contains("fsync")),
            "{callback:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_durable_write_is_answered_only_after_its_fsync_and_a_failed_fsync_refuses_all_writes()
     {
        let dir = tempfile::tempdir().unwrap();
        let (conn, path) = table(&dir);
        // A WAL path the syncer cannot open: its "fsync" fails.
        let writer = Writer::start(
            conn,
            dir.path().join("no/such/wal"),
            Duration::from_secs(5),
            file(&path),
        )
        .unwrap();
        let insert = |v: &'static str| {
            move |conn: &Connection, _now: i64| {
                conn.execute("INSERT INTO t VALUES (?1)", [v])
                    .map(drop)
                    .map_err(super::super::classify)
            }
        };
        // Not durable: answered at its commit.
        writer
            .write("t", false, insert("bookkeeping"))
            .await
            .unwrap();
        // Durable: committed, but its fsync failed, so it is not acknowledged.
        let durable = writer.write("t", true, insert("ingest")).await;
        assert!(
            matches!(durable, Err(StoreError::Unavailable(ref m)) if m.contains("fsync")),
            "{durable:?}"
        );
        // From then on, nothing is: the kernel may have dropped what it did
        // not write.
        for durable in [true, false] {
            let after = writer.write("t", durable, insert("after")).await;
            assert!(
                matches!(after, Err(StoreError::Unavailable(_))),
                "{after:?}"
            );
        }
        assert!(!values(&path).contains(&"after".to_owned()));
    }
}
