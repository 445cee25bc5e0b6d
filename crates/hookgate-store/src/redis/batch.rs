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
/// The worker ends when every sender is gone. A job whose caller stopped
/// waiting (past `store_timeout`, already answered 503) is dropped unsent:
/// its provider retries, and a store that fell behind is not handed a
/// backlog of writes nobody waits for.
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
            if first.done.is_closed() {
                continue;
            }
            let mut bytes = first.bytes();
            let mut jobs = vec![first];
            while jobs.len() < MAX_JOBS {
                let Ok(job) = rx.try_recv() else { break };
                if job.done.is_closed() {
                    continue;
                }
                let size = job.bytes();
                if bytes + size > MAX_BYTES {
                    carry = Some(job);
                    break;
                }
                bytes += size;
                jobs.push(job);
            }
            hookgate_telemetry::event::StoreBatch {
                op,
                jobs: jobs.len(),
            }
            .emit();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn job(tag: &str, replies: usize) -> (Job, oneshot::Receiver<Result<Vec<i64>, StoreError>>) {
        let (done, rx) = oneshot::channel();
        let job = Job {
            keys: vec![],
            args: vec![tag.as_bytes().to_vec()],
            replies,
            done,
        };
        (job, rx)
    }

    /// A queue whose calls wait for `gate`, record the tags of their jobs
    /// (one call per line) and answer each reply slot with its job's index.
    fn gated_queue(gate: Arc<Semaphore>, calls: Arc<Mutex<Vec<Vec<String>>>>) -> mpsc::Sender<Job> {
        spawn("test", move |jobs: Vec<Job>| {
            let (gate, calls) = (gate.clone(), calls.clone());
            async move {
                let _open = gate.acquire().await;
                let tags = jobs
                    .iter()
                    .map(|j| String::from_utf8_lossy(&j.args[0]).into_owned())
                    .collect();
                calls.lock().unwrap().push(tags);
                let flat = jobs
                    .iter()
                    .enumerate()
                    .flat_map(|(i, j)| std::iter::repeat_n(i as i64, j.replies))
                    .collect();
                answer(jobs, Ok(flat));
            }
        })
    }

    #[tokio::test]
    async fn jobs_queued_behind_busy_calls_leave_together_and_abandoned_ones_are_dropped() {
        let gate = Arc::new(Semaphore::new(0));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let tx = gated_queue(gate.clone(), calls.clone());

        // Two calls in flight (every slot busy), held at the gate.
        let (a, ra) = job("a", 1);
        let (b, rb) = job("b", 2);
        let settle = std::time::Duration::from_millis(30);
        tx.send(a).await.unwrap();
        tokio::time::sleep(settle).await;
        tx.send(b).await.unwrap();
        tokio::time::sleep(settle).await;
        // Three more queue up; the caller of "d" gives up before a slot frees.
        let (c, rc) = job("c", 1);
        let (d, rd) = job("d", 1);
        let (e, re) = job("e", 3);
        for j in [c, d, e] {
            tx.send(j).await.unwrap();
        }
        drop(rd);
        gate.add_permits(16);

        assert_eq!(ra.await.unwrap().unwrap(), [0]);
        assert_eq!(rb.await.unwrap().unwrap(), [0, 0]);
        assert_eq!(rc.await.unwrap().unwrap(), [0]);
        assert_eq!(
            re.await.unwrap().unwrap(),
            [1, 1, 1],
            "its own share of the reply"
        );
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(
            calls.contains(&vec!["c".to_owned(), "e".to_owned()]),
            "{calls:?}"
        );
        assert!(
            !calls.iter().flatten().any(|t| t == "d"),
            "abandoned job sent: {calls:?}"
        );
    }

    #[tokio::test]
    async fn a_reply_of_the_wrong_length_fails_every_job_of_the_call() {
        let (a, ra) = job("a", 1);
        let (b, rb) = job("b", 2);
        answer(vec![a, b], Ok(vec![1, 1]));
        for r in [ra, rb] {
            assert!(matches!(r.await.unwrap(), Err(StoreError::Protocol(_))));
        }
        let (c, rc) = job("c", 1);
        answer(vec![c], Err(StoreError::OutOfMemory));
        assert!(matches!(rc.await.unwrap(), Err(StoreError::OutOfMemory)));
    }
}
