//! Every metric the gateway exports, named and described once.
//!
//! Why a catalogue: a metric's name is a contract with dashboards and
//! alert rules (`deploy/prometheus/`, `deploy/grafana/`), and its help text
//! is what an operator reads on `/metrics`. Writing the name at each call
//! site let it drift between crates; here each has one constant, the
//! typed events of [`crate::event`] record through them, and [`describe`]
//! registers every help text at start.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Set to the value of the moment.
    Gauge,
    /// A distribution of observations.
    Histogram,
}

/// One metric: its name, kind, unit and help text.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The exported name (`hookgate_` prefix).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Whether its values are seconds.
    pub seconds: bool,
    /// The help text `/metrics` shows.
    pub help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        seconds: false,
        help,
    }
}

const fn gauge(name: &'static str, seconds: bool, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        seconds,
        help,
    }
}

const fn histogram(name: &'static str, seconds: bool, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        seconds,
        help,
    }
}

/// Ingest requests by `source` and `outcome`.
pub const INGEST_REQUESTS: Metric = counter(
    "hookgate_ingest_requests_total",
    "Ingest requests by source and outcome.",
);
/// Ingest request latency by `source`.
pub const INGEST_DURATION: Metric = histogram(
    "hookgate_ingest_duration_seconds",
    true,
    "Ingest request latency, store write included.",
);
/// Events of verified callbacks by `source` and `result`.
pub const INGEST_EVENTS: Metric = counter(
    "hookgate_ingest_events_total",
    "Events of verified callbacks, stored or duplicate (a batch counts its items).",
);
/// Delivery attempts by `subscription` and `outcome`.
pub const DELIVERIES: Metric = counter(
    "hookgate_deliveries_total",
    "Delivery attempts by subscription and outcome (delivered, retry, dead).",
);
/// Delivery attempt latency by `subscription`.
pub const DELIVERY_DURATION: Metric = histogram(
    "hookgate_delivery_duration_seconds",
    true,
    "Delivery attempt latency.",
);
/// Retries put on the schedule, by `subscription`.
pub const RETRIES_SCHEDULED: Metric = counter(
    "hookgate_retries_scheduled_total",
    "Retries put on the schedule.",
);
/// Deliveries waiting or in flight, by `source` and `subscription`.
pub const QUEUE_DEPTH: Metric = gauge(
    "hookgate_queue_depth",
    false,
    "Deliveries waiting or in flight on a route.",
);
/// Ordering keys whose head delivery has failed and waits for its retry,
/// by `source` and `subscription`.
pub const ORDERING_BLOCKED_KEYS: Metric = gauge(
    "hookgate_ordering_blocked_keys",
    false,
    "Ordering keys of a route whose first waiting delivery has failed and holds back the key's later events.",
);
/// Age of the oldest blocked ordering key's head, by `source` and
/// `subscription`; 0 when none is blocked.
pub const ORDERING_OLDEST_BLOCKED: Metric = gauge(
    "hookgate_ordering_oldest_blocked_seconds",
    true,
    "How long the oldest blocked ordering key of a route has been blocked (since its head became the key's first); 0 when none is.",
);
/// Age of the oldest due, unsent delivery, by `subscription`.
pub const OLDEST_WAITING: Metric = gauge(
    "hookgate_oldest_waiting_seconds",
    true,
    "Age of the oldest due, unsent delivery of a subscription.",
);
/// Dead letters, by `subscription`.
pub const DLQ_DEPTH: Metric = gauge(
    "hookgate_dlq_depth",
    false,
    "Dead letters of a subscription.",
);
/// Route breaker state on this instance, by `source` and `subscription`.
pub const BREAKER_STATE: Metric = gauge(
    "hookgate_breaker_state",
    false,
    "Route breaker on this instance: 0 closed, 1 half-open, 2 open.",
);
/// 1 while a `subscription` is paused.
pub const PAUSED: Metric = gauge(
    "hookgate_paused",
    false,
    "1 while the subscription is paused.",
);
/// Failed store calls, by `op`.
pub const STORE_ERRORS: Metric = counter(
    "hookgate_store_errors_total",
    "Failed store calls by operation.",
);
/// Store calls as their callers waited for them, by `op`.
pub const STORE_DURATION: Metric = histogram(
    "hookgate_store_duration_seconds",
    true,
    "Store round trips by operation.",
);
/// Embedded store: a write's wait for the transaction under way, by `op`.
pub const STORE_WRITE_WAIT: Metric = histogram(
    "hookgate_store_write_wait_seconds",
    true,
    "Embedded store: how long a write waited for the transaction under way before its own began (group commit), by operation.",
);
/// Jobs per group-committed store call, by `op`.
pub const STORE_BATCH_JOBS: Metric = histogram(
    "hookgate_store_batch_jobs",
    false,
    "Callbacks or attempt outcomes per group-committed store call.",
);
/// Failed OTLP span exports.
pub const SPAN_EXPORT_ERRORS: Metric = counter(
    "hookgate_span_export_errors_total",
    "Failed OTLP span exports.",
);
/// Spans dropped for a full export queue.
pub const SPANS_DROPPED: Metric = counter(
    "hookgate_spans_dropped_total",
    "Spans dropped because the export queue was full.",
);

/// Every metric above, in the order `/metrics` documents them.
pub const ALL: &[Metric] = &[
    INGEST_REQUESTS,
    INGEST_DURATION,
    INGEST_EVENTS,
    DELIVERIES,
    DELIVERY_DURATION,
    RETRIES_SCHEDULED,
    QUEUE_DEPTH,
    ORDERING_BLOCKED_KEYS,
    ORDERING_OLDEST_BLOCKED,
    OLDEST_WAITING,
    DLQ_DEPTH,
    BREAKER_STATE,
    PAUSED,
    STORE_ERRORS,
    STORE_DURATION,
    STORE_WRITE_WAIT,
    STORE_BATCH_JOBS,
    SPAN_EXPORT_ERRORS,
    SPANS_DROPPED,
];

/// Registers every metric's help text (and unit) with the installed
/// recorder; call once at start, after installing it.
pub fn describe() {
    for m in ALL {
        let unit = m.seconds.then_some(metrics::Unit::Seconds);
        match (m.kind, unit) {
            (Kind::Counter, _) => metrics::describe_counter!(m.name, m.help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(m.name, u, m.help),
            (Kind::Gauge, None) => metrics::describe_gauge!(m.name, m.help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(m.name, u, m.help),
            (Kind::Histogram, None) => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_suffixed_by_kind() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a metric listed twice");
        for m in ALL {
            assert!(m.name.starts_with("hookgate_"), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert_eq!(m.seconds, m.name.ends_with("_seconds"), "{}", m.name);
            assert!(!m.help.is_empty(), "{}", m.name);
        }
    }
}
