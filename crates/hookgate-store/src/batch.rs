//! Group commit: calls of one script on one source that arrive while
//! earlier calls are in flight go to Redis together, as one script call.
//!
//! Why: Redis spends more on starting a script than on the few commands
//! inside it. Measured on the ingest script (2-core box, 1 KiB events):
//! ~36 µs of Redis CPU per event in calls of one event, ~21 µs per event in
//! calls of sixteen. Under load that is the gateway's ceiling, so the hot
//! writes (ingest, attempt outcomes) are batched.
//!
//! Batching is natural, never timed: a queue's worker takes whatever is
//! waiting the moment a call slot frees up. An idle gateway sends each call
//! at once (no added latency); a busy one sends fewer, fuller calls. A call
//! holds whole jobs, and a script call is atomic, so every job (one
//! callback's events, one attempt's outcome) is still written in one atomic
//! step; jobs only share the round trip. All jobs of a call get the call's
//! outcome: on a failure every caller answers 503 / retries, and a repeat
//! of a job that did land is harmless (dedup, lease checks).
//!
//! One queue per (operation, source): a source's keys share one hash tag,
//! so every batched call stays on one Redis Cluster slot.

use crate::StoreError;
use std::future::Future;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Jobs per call, at most.
pub(crate) const MAX_JOBS: usize = 128;
/// Argument bytes per call, at most (a job is always taken by an empty
/// call, whatever its size). Bounds how long one script holds Redis.
pub(crate) const MAX_BYTES: usize = 1 << 20;
/// Calls in flight per queue. Small on purpose: jobs that arrive while
/// every slot is busy wait together for the next call.
pub(crate) const PARALLEL: usize = 2;
/// Jobs waiting per queue before callers wait to enqueue (backpressure;
/// callers are bounded by `store_timeout`).
const QUEUE: usize = 4096;

/// One caller's share of a batched script call.
pub(crate) struct Job {
    /// This job's KEYS, appended after the call's own.
    pub keys: Vec<String>,
    /// This job's ARGV, appended after the call's own.
    pub args: Vec<Vec<u8>>,
    /// How many integers of the reply are this job's.
    pub replies: usize,
    /// Where the job's integers (or the call's error) go.
    pub done: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

impl Job {
    fn bytes(&self) -> usize {
        self.keys.iter().map(String::len).sum::<usize>()
            + self.args.iter().map(Vec::len).sum::<usize>()
    }
}

/// Starts a queue's worker: `call` runs one batch (and answers its jobs).
/// The worker ends when every sender is gone.
pub(crate) fn spawn<F, Fut>(op: &'static str, call: F) -> mpsc::Sender<Job>
where
    F: Fn(Vec<Job>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    let slots = std::sync::Arc::new(Semaphore::new(PARALLEL));
    tokio::spawn(async move {
        // Held back when it did not fit the previous call.
        let mut carry: Option<Job> = None;
        loop {
            // A free slot first, then the jobs: while every slot is busy,
            // jobs pile up in the queue and leave together.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let first = match carry.take() {
                Some(job) => job,
                None => match rx.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            let mut bytes = first.bytes();
            let mut jobs = vec![first];
            while jobs.len() < MAX_JOBS {
                let Ok(job) = rx.try_recv() else { break };
                let size = job.bytes();
                if bytes + size > MAX_BYTES {
                    carry = Some(job);
                    break;
                }
                bytes += size;
                jobs.push(job);
            }
            metrics::histogram!("hookgate_store_batch_jobs", "op" => op).record(jobs.len() as f64);
            let fut = call(jobs);
            tokio::spawn(async move {
                fut.await;
                drop(slot);
            });
        }
    });
    tx
}

/// Hands each job its share of a flat integer reply, or the call's error.
pub(crate) fn answer(jobs: Vec<Job>, reply: Result<Vec<i64>, StoreError>) {
    match reply {
        Ok(flat) => {
            let expected: usize = jobs.iter().map(|j| j.replies).sum();
            if flat.len() != expected {
                let err = StoreError::Protocol("batched reply length".into());
                for job in jobs {
                    let _ = job.done.send(Err(err.clone()));
                }
                return;
            }
            let mut rest = flat.as_slice();
            for job in jobs {
                let (mine, tail) = rest.split_at(job.replies);
                rest = tail;
                // A caller that gave up (timeout, client gone) dropped its
                // receiver: its write stands, nobody is told.
                let _ = job.done.send(Ok(mine.to_vec()));
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.done.send(Err(err.clone()));
            }
        }
    }
}
