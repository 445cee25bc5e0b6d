//! The gateway's observable happenings as types, in the spirit of vector's
//! internal events: one type per thing that happens, whose `emit` writes
//! its log line and its metrics together, so a request or an attempt
//! cannot be counted without being logged, nor logged under another name.
//!
//! Outcomes stay enums in the crates that decide them (ingest's, delivery's);
//! they reach the metric labels and the log fields through [`Outcome`].
//! Spans are exported by the callers through [`crate::Tracer`], with the
//! same outcome.

use crate::metric;
use std::time::Duration;

/// An outcome with a bounded label, for metrics and logs.
pub trait Outcome: Copy {
    /// The metric label value and log field.
    fn label(self) -> &'static str;
    /// Whether it is the gateway's failure (logged as a warning) rather
    /// than an answer to the caller's input.
    fn is_failure(self) -> bool {
        false
    }
}

/// One ingest request answered.
#[derive(Debug, Clone, Copy)]
pub struct IngestFinished<'a, O> {
    /// The request's id (on every log line about it).
    pub request_id: &'a str,
    /// The source label (`_unknown`, `_none` for paths of no source).
    pub source: &'a str,
    /// How it ended.
    pub outcome: O,
    /// The answer's status code.
    pub status: u16,
    /// Time from the head to the answer.
    pub elapsed: Duration,
}

impl<O: Outcome> IngestFinished<'_, O> {
    /// Counts it, times it and logs its line.
    pub fn emit(self) {
        let source = self.source.to_owned();
        metrics::counter!(metric::INGEST_REQUESTS.name, "source" => source.clone(), "outcome" => self.outcome.label())
            .increment(1);
        metrics::histogram!(metric::INGEST_DURATION.name, "source" => source)
            .record(self.elapsed.as_secs_f64());
        let (request_id, source, outcome) = (self.request_id, self.source, self.outcome.label());
        let (status, duration_ms) = (self.status, self.elapsed.as_millis() as u64);
        if self.outcome.is_failure() {
            tracing::warn!(
                request_id = %request_id, source = %source, outcome, status, duration_ms,
                "ingest failed: store unavailable"
            );
        } else {
            tracing::info!(
                request_id = %request_id, source = %source, outcome, status, duration_ms,
                "ingest"
            );
        }
    }
}

/// The events of one verified callback written to the store.
#[derive(Debug, Clone, Copy)]
pub struct IngestEventsStored<'a> {
    /// The source.
    pub source: &'a str,
    /// New events stored.
    pub stored: u64,
    /// Events already stored (duplicates).
    pub duplicate: u64,
}

impl IngestEventsStored<'_> {
    /// Counts them by result.
    pub fn emit(self) {
        metrics::counter!(metric::INGEST_EVENTS.name, "source" => self.source.to_owned(), "result" => "stored")
            .increment(self.stored);
        metrics::counter!(metric::INGEST_EVENTS.name, "source" => self.source.to_owned(), "result" => "duplicate")
            .increment(self.duplicate);
    }
}

/// One delivery attempt sent and decided.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryAttempted<'a, O> {
    /// The attempt's own request id.
    pub request_id: &'a str,
    /// The event id.
    pub event_id: &'a str,
    /// The route's source.
    pub source: &'a str,
    /// The subscription.
    pub subscription: &'a str,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The subscriber's status code, if it answered.
    pub status_code: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<&'a str>,
    /// What follows: delivered, retry or dead.
    pub outcome: O,
    /// Time from sending to the answer or the error.
    pub elapsed: Duration,
}

impl<O: Outcome> DeliveryAttempted<'_, O> {
    /// Counts it, times it and logs its line.
    pub fn emit(self) {
        metrics::counter!(metric::DELIVERIES.name, "subscription" => self.subscription.to_owned(), "outcome" => self.outcome.label())
            .increment(1);
        metrics::histogram!(metric::DELIVERY_DURATION.name, "subscription" => self.subscription.to_owned())
            .record(self.elapsed.as_secs_f64());
        tracing::info!(
            request_id = %self.request_id,
            event_id = %self.event_id,
            source = %self.source,
            subscription = %self.subscription,
            attempt = self.attempt,
            status_code = self.status_code,
            error = self.error,
            outcome = self.outcome.label(),
            duration_ms = self.elapsed.as_millis() as u64,
            "delivery attempt"
        );
    }
}

/// A delivery dead-lettered unsent: held back past its `max_age`.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryExpired<'a, O> {
    /// The request id of the claim that found it.
    pub request_id: &'a str,
    /// The event id.
    pub event_id: &'a str,
    /// The route's source.
    pub source: &'a str,
    /// The subscription.
    pub subscription: &'a str,
    /// The dead letter's reason.
    pub reason: &'a str,
    /// The outcome it counts as (dead).
    pub outcome: O,
}

impl<O: Outcome> DeliveryExpired<'_, O> {
    /// Counts it as its outcome and logs its line.
    pub fn emit(self) {
        metrics::counter!(metric::DELIVERIES.name, "subscription" => self.subscription.to_owned(), "outcome" => self.outcome.label())
            .increment(1);
        tracing::info!(
            request_id = %self.request_id,
            event_id = %self.event_id,
            source = %self.source,
            subscription = %self.subscription,
            reason = %self.reason,
            "delivery expired"
        );
    }
}

/// A retry put on the schedule of a subscription.
#[derive(Debug, Clone, Copy)]
pub struct RetryScheduled<'a> {
    /// The subscription.
    pub subscription: &'a str,
}

impl RetryScheduled<'_> {
    /// Counts it.
    pub fn emit(self) {
        metrics::counter!(metric::RETRIES_SCHEDULED.name, "subscription" => self.subscription.to_owned())
            .increment(1);
    }
}

/// One store call as its caller waited for it.
#[derive(Debug, Clone, Copy)]
pub struct StoreCall {
    /// The operation (`ingest`, `fanout`, `claim`, `finish`, `admin`, `ping`).
    pub op: &'static str,
    /// How long the caller waited, queueing for a group commit included.
    pub elapsed: Duration,
    /// Whether it failed (or the caller gave up on it).
    pub failed: bool,
}

impl StoreCall {
    /// Times it and counts a failure.
    pub fn emit(self) {
        metrics::histogram!(metric::STORE_DURATION.name, "op" => self.op)
            .record(self.elapsed.as_secs_f64());
        if self.failed {
            StoreFailed { op: self.op }.emit();
        }
    }
}

/// A store call that failed, as its caller saw it.
#[derive(Debug, Clone, Copy)]
pub struct StoreFailed {
    /// The operation.
    pub op: &'static str,
}

impl StoreFailed {
    /// Counts it.
    pub fn emit(self) {
        metrics::counter!(metric::STORE_ERRORS.name, "op" => self.op).increment(1);
    }
}

/// One group-committed store call: how many jobs it carried.
#[derive(Debug, Clone, Copy)]
pub struct StoreBatch {
    /// The operation (`ingest`, `finish` on Redis; `write` on SQLite).
    pub op: &'static str,
    /// Jobs in it.
    pub jobs: usize,
}

impl StoreBatch {
    /// Records its size.
    pub fn emit(self) {
        metrics::histogram!(metric::STORE_BATCH_JOBS.name, "op" => self.op)
            .record(self.jobs as f64);
    }
}

/// Embedded store: one write's wait for the transaction under way.
#[derive(Debug, Clone, Copy)]
pub struct StoreWriteWaited {
    /// The write's operation.
    pub op: &'static str,
    /// How long it waited before its own transaction began.
    pub waited: Duration,
}

impl StoreWriteWaited {
    /// Records the wait.
    pub fn emit(self) {
        metrics::histogram!(metric::STORE_WRITE_WAIT.name, "op" => self.op)
            .record(self.waited.as_secs_f64());
    }
}

/// A route's breaker opened (at its `failures`-th consecutive failure; a
/// failed probe keeps it open) or closed (a success after it had opened),
/// on this instance. Its gauge is read at scrape time ([`RouteObserved`]); this is
/// the log line of the moment it changed.
#[derive(Debug, Clone, Copy)]
pub struct BreakerChanged<'a, S> {
    /// The request id of the attempt that changed it.
    pub request_id: &'a str,
    /// The route's source.
    pub source: &'a str,
    /// The subscription.
    pub subscription: &'a str,
    /// The state it changed to.
    pub state: S,
}

impl<S: Outcome> BreakerChanged<'_, S> {
    /// Logs it: a warning when it opened.
    pub fn emit(self) {
        let (request_id, source, subscription) = (self.request_id, self.source, self.subscription);
        let state = self.state.label();
        if self.state.is_failure() {
            tracing::warn!(
                request_id = %request_id, source = %source, subscription = %subscription, state,
                "breaker opened: the route holds its deliveries until the cooldown ends"
            );
        } else {
            tracing::info!(
                request_id = %request_id, source = %source, subscription = %subscription, state,
                "breaker closed"
            );
        }
    }
}

/// A route's state at scrape time, read from the shared store (backlog)
/// and this instance (breaker).
#[derive(Debug, Clone, Copy)]
pub struct RouteObserved<'a> {
    /// The route's source.
    pub source: &'a str,
    /// The subscription.
    pub subscription: &'a str,
    /// Deliveries waiting or in flight (held ones included).
    pub queue_depth: u64,
    /// 0 closed, 1 half-open, 2 open.
    pub breaker: u8,
    /// Ordering keys whose head has failed and waits.
    pub blocked_keys: u64,
    /// How long the oldest of them has been blocked (zero when none).
    pub oldest_blocked: Duration,
}

impl RouteObserved<'_> {
    /// Sets its gauges.
    pub fn emit(self) {
        let labels = [
            ("source", self.source.to_owned()),
            ("subscription", self.subscription.to_owned()),
        ];
        metrics::gauge!(metric::QUEUE_DEPTH.name, &labels).set(self.queue_depth as f64);
        metrics::gauge!(metric::BREAKER_STATE.name, &labels).set(f64::from(self.breaker));
        metrics::gauge!(metric::ORDERING_BLOCKED_KEYS.name, &labels).set(self.blocked_keys as f64);
        metrics::gauge!(metric::ORDERING_OLDEST_BLOCKED.name, &labels)
            .set(self.oldest_blocked.as_secs_f64());
    }
}

/// A subscription's state at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionObserved<'a> {
    /// The subscription.
    pub subscription: &'a str,
    /// Its dead letters.
    pub dlq_depth: u64,
    /// Age of its oldest due, unsent delivery.
    pub oldest_waiting: Duration,
    /// Paused by an operator.
    pub paused: bool,
}

impl SubscriptionObserved<'_> {
    /// Sets its gauges.
    pub fn emit(self) {
        let label = self.subscription.to_owned();
        metrics::gauge!(metric::DLQ_DEPTH.name, "subscription" => label.clone())
            .set(self.dlq_depth as f64);
        metrics::gauge!(metric::OLDEST_WAITING.name, "subscription" => label.clone())
            .set(self.oldest_waiting.as_secs_f64());
        metrics::gauge!(metric::PAUSED.name, "subscription" => label).set(if self.paused {
            1.0
        } else {
            0.0
        });
    }
}

/// Spans dropped because the export queue was full.
#[derive(Debug, Clone, Copy)]
pub struct SpansDropped {
    /// How many.
    pub count: u64,
}

impl SpansDropped {
    /// Counts them.
    pub fn emit(self) {
        metrics::counter!(metric::SPANS_DROPPED.name).increment(self.count);
    }
}

/// A span export that failed.
#[derive(Debug, Clone, Copy)]
pub struct SpanExportFailed;

impl SpanExportFailed {
    /// Counts it.
    pub fn emit(self) {
        metrics::counter!(metric::SPAN_EXPORT_ERRORS.name).increment(1);
    }
}
