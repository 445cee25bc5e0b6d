//! `hookgate serve`: wiring, listeners, signals, graceful shutdown.
//!
//! This module exists to hold the start-up and shutdown order in one
//! place; each phase is a function below, called in this order by `run`
//! and `serve`:
//!
//! 1. `load_config`: config (every error at once) → logs;
//! 2. `build_runtimes`: the main runtime and the delivery one;
//! 3. `install_metrics`: metrics recorder, descriptions, zeroed series;
//!    then `start_tracer`;
//! 4. `open_store`: store handle (lazy: Redis may still be coming up) →
//!    eviction-policy check (an evicting Redis is refused unless
//!    `allow_eviction`);
//! 5. `bind_listeners`: verifiers (fail closed) → both ports;
//! 6. `start_delivery`: the delivery pools;
//! 7. `start_listeners`: ingest and admin served;
//! 8. `wait_for_signal`, then `drain`.
//!
//! Two runtimes: listeners (ingest, admin) on the main one; the delivery
//! pools on their own, whose threads run `[delivery] nice` steps lower and
//! which use store connections of their own. When the CPU is short, the
//! kernel answers providers first; deliveries wait safely in Redis.
//!
//! Shutdown on SIGTERM/SIGINT: stop accepting, let in-flight ingest
//! requests and delivery attempts finish up to `shutdown_grace`; whatever
//! is still leased after that returns to its queue when the lease expires.

use crate::check;
use hookgate_config::Config;
use hookgate_core::shutdown::Drain;
use hookgate_http::ServeOptions;
use hookgate_ingest::Ingest;
use hookgate_store::{Settings, Store, StoreError};
use hookgate_telemetry::Tracer;
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// `hookgate serve`: runs the gateway until a signal; the exit code says
/// whether it started and stopped cleanly.
pub fn run(path: &Path) -> ExitCode {
    let Some(config) = load_config(path) else {
        return ExitCode::FAILURE;
    };
    let json_log = config.log.format == hookgate_config::LogFormat::Json;
    let (runtime, delivery_runtime) = match build_runtimes(&config) {
        Ok(runtimes) => runtimes,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(config, delivery_runtime.handle().clone()));
    // Its tasks were drained by `serve`; what is left (idle connections)
    // is dropped.
    delivery_runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(request_id = crate::logging::boot_id(), error = %format!("{e:#}"), "gateway stopped");
            // A text log gets the reason once more, plainly, last; a JSON
            // log stays JSON.
            if !json_log {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Phase 1, load config: the checked config, every error printed at once
/// to stderr (`None`: not starting); then the log, and the config's
/// warnings through it.
fn load_config(path: &Path) -> Option<Config> {
    let config = match check::load_checked(path) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error(s); not starting",
                path.display(),
                errors.len()
            );
            return None;
        }
    };
    crate::logging::init(&config.log);
    // Through the log, so they are JSON lines with a request id when the
    // log is JSON (docs/operations.md), like every other line.
    for w in &config.warnings {
        let warning = w.to_string();
        tracing::warn!(request_id = crate::logging::boot_id(), warning = %warning.trim_start_matches("error "), "config warning");
    }
    Some(config)
}

/// Phase 2: the main runtime (listeners) and the delivery pools' own.
fn build_runtimes(config: &Config) -> std::io::Result<(Runtime, Runtime)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    // The delivery pools get a runtime of their own whose threads run at a
    // lower priority: when the CPU is short, the kernel serves the ingest
    // path (the provider waiting for its 2xx) first, and deliveries, which
    // wait safely in Redis, take what is left.
    let delivery_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("hookgate-delivery")
        .enable_all()
        .on_thread_start({
            // Relative to the process's priority, read once here: a thread
            // the runtime starts from one of its own (a blocking thread
            // spawned by a delivery worker) inherits the lowered value.
            let target = rustix::process::getpriority_process(None)
                .map(|nice| (nice + i32::from(config.delivery.nice)).min(19))
                .ok()
                .filter(|_| config.delivery.nice > 0);
            move || lower_priority(target)
        })
        .build();
    Ok((runtime?, delivery_runtime?))
}

/// Sets the calling thread's nice value to `target`: the process's own
/// plus `[delivery] nice` (Linux: a thread has its own nice value).
/// Lowering needs no privilege; if it fails anyway, deliveries simply run
/// at the ingest path's priority.
fn lower_priority(target: Option<i32>) {
    let Some(target) = target else { return };
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), target) {
        tracing::debug!(request_id = crate::logging::boot_id(), error = %e, "cannot lower the delivery threads' priority");
    }
}

/// Raises the soft limit on open files to the hard one: every provider
/// connection, subscriber connection and store connection is a file, and
/// the usual soft default (1024) is reached by one traffic spike while the
/// hard limit is far higher. Returns the limit in effect.
fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(request_id = crate::logging::boot_id(), error = %e, "cannot raise the open files limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Phases 3 to 8 on the main runtime: from the metrics recorder to the
/// end of the drain. An error is a gateway that did not start.
async fn serve(config: Config, delivery_runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    // Before any listener or connection exists.
    let open_files = raise_open_files_limit();
    let metrics = install_metrics(&config)?;
    // Spans of ingest requests and delivery attempts, when a collector is
    // configured. The exporter runs on its own drain, stopped last, so the
    // spans of the final attempts are flushed.
    let telemetry = Drain::new();
    let tracer = start_tracer(&config, &telemetry);
    let store = open_store(&config).await?;
    let listeners = bind_listeners(&config, &store, &tracer).await?;
    // Two drains: the listeners stop first, then the delivery pools.
    let front = Drain::new();
    let back = Drain::new();
    let delivery = start_delivery(&config, &store, &back, &tracer, &delivery_runtime)?;
    start_listeners(&config, listeners, store, metrics, delivery, &front);
    tracing::info!(
        request_id = crate::logging::boot_id(),
        ingest = %config.server.listen,
        admin = %config.admin.listen,
        sources = config.sources.len(),
        subscriptions = config.subscriptions.len(),
        open_files = open_files.map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        "hookgate started"
    );

    let signal = wait_for_signal().await;
    tracing::info!(
        request_id = crate::logging::boot_id(),
        signal,
        "shutting down"
    );
    // A second signal during the grace stops at once (an operator who
    // means it): leased deliveries return to their queues when their
    // leases expire, as after a crash; nothing acknowledged is lost.
    let Some(drained) = drain(&config, &front, &back).await else {
        return Ok(());
    };
    drop(tracer);
    telemetry.shutdown(std::time::Duration::from_secs(2)).await;
    if drained {
        tracing::info!(request_id = crate::logging::boot_id(), "shutdown complete");
    } else {
        tracing::warn!(
            request_id = crate::logging::boot_id(),
            "shutdown grace elapsed; unfinished deliveries return to their queues"
        );
    }
    Ok(())
}

/// Phase 3: the Prometheus recorder (none, with a warning, when one is
/// already installed), every metric's description, the labelled counters
/// at 0, and the upkeep that folds histogram samples.
fn install_metrics(config: &Config) -> anyhow::Result<Option<PrometheusHandle>> {
    // Real histograms (not summaries), so dashboards can aggregate
    // quantiles across instances.
    const BUCKETS: &[f64] = &[
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    // Group-commit batch sizes are counts of jobs (at most 128 per Redis
    // call, 512 per SQLite transaction), not seconds.
    const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("hookgate_store_batch_jobs".into()),
                BATCH_BUCKETS,
            )
        })
        .map_err(|e| anyhow::anyhow!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| tracing::warn!(request_id = crate::logging::boot_id(), error = %e, "metrics recorder not installed"))
        .ok();
    hookgate_telemetry::metric::describe();
    // The recorder keeps every histogram sample until it is folded into the
    // buckets, which `install_recorder` leaves to a scrape: without one
    // (no Prometheus yet, or a scrape gap), memory would grow with every
    // request. Fold them every few seconds instead.
    if let Some(handle) = metrics.clone() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
    zero_series(config);
    Ok(metrics)
}

/// The span exporter, on the `telemetry` drain, when `[log] otlp_endpoint`
/// names a collector; else a tracer that records nothing.
fn start_tracer(config: &Config, telemetry: &Drain) -> Tracer {
    match &config.log.otlp_endpoint {
        Some(endpoint) => {
            tracing::info!(request_id = crate::logging::boot_id(), %endpoint, "exporting spans over OTLP/HTTP");
            Tracer::start(endpoint, "hookgate", telemetry)
        }
        None => Tracer::disabled(),
    }
}

/// Phase 4, open the store: the handle, and one check of it. An evicting
/// Redis stops the gateway (an evicted key would be a lost event); an
/// unreachable store does not (ingest answers 503 until it is back).
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    // Leases record this instance, so that after a restart it takes back
    // at once what it had in flight (see hookgate_delivery).
    let store = Store::open(&config.store, Settings::from_config(config))
        .map_err(|e| anyhow::anyhow!("store: {e}"))?
        .with_instance(&config.server.instance_id);
    match store.check().await {
        Ok(status) => {
            let details = status
                .details
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            tracing::info!(
                request_id = crate::logging::boot_id(),
                backend = status.backend,
                %details,
                instance_id = %config.server.instance_id,
                "store ready"
            );
            if let Some(warning) = status.warning {
                tracing::warn!(request_id = crate::logging::boot_id(), %warning, "store check incomplete");
            }
        }
        Err(StoreError::EvictingPolicy(policy)) => anyhow::bail!(
            "Redis maxmemory-policy is {policy:?}: an evicted key would be a lost event. \
             Set maxmemory-policy noeviction, or [store] allow_eviction = true"
        ),
        Err(e) => {
            tracing::warn!(request_id = crate::logging::boot_id(), error = %e, "store unavailable at start; ingest answers 503 until it is back")
        }
    }
    Ok(store)
}

/// The ingest listener's state and both bound ports, not served yet.
struct Listeners {
    ingest: Ingest,
    ingest_listener: TcpListener,
    admin_listener: TcpListener,
}

/// Phase 5: every source's verifier (fail closed: a scheme error stops
/// the gateway), then both ports bound, before any delivery starts, so a
/// port in use stops the gateway before anything runs.
async fn bind_listeners(
    config: &Config,
    store: &Store,
    tracer: &Tracer,
) -> anyhow::Result<Listeners> {
    let ingest = Ingest::new(config, store.clone(), tracer.clone()).map_err(|errs| {
        anyhow::anyhow!(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let ingest_listener = TcpListener::bind(config.server.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} (server.listen): {e}",
            config.server.listen
        )
    })?;
    let admin_listener = TcpListener::bind(config.admin.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} (admin.listen): {e}",
            config.admin.listen
        )
    })?;
    Ok(Listeners {
        ingest,
        ingest_listener,
        admin_listener,
    })
}

/// Phase 6, start delivery: the pools on the delivery runtime, on the
/// `back` drain.
fn start_delivery(
    config: &Config,
    store: &Store,
    back: &Drain,
    tracer: &Tracer,
    delivery_runtime: &tokio::runtime::Handle,
) -> anyhow::Result<hookgate_delivery::Delivery> {
    // Its own store connections too: a connection's I/O runs on the
    // runtime that first used it, and ingest's must not run at the lower
    // priority.
    let delivery_store = store.open_beside()?;
    let _on = delivery_runtime.enter();
    hookgate_delivery::Delivery::start(config, delivery_store, back, tracer.clone())
        .map_err(|e| anyhow::anyhow!(e))
}

/// Phase 7, start listeners: ingest and admin served on the `front` drain.
/// After delivery, since the admin API drives the running pools.
fn start_listeners(
    config: &Config,
    listeners: Listeners,
    store: Store,
    metrics: Option<PrometheusHandle>,
    delivery: hookgate_delivery::Delivery,
    front: &Drain,
) {
    let opts = ServeOptions {
        header_read_timeout: config.server.header_read_timeout,
        max_headers: config.server.max_headers,
        max_header_bytes: config.server.max_header_bytes,
    };
    let runtime: Arc<dyn hookgate_admin::Runtime> = Arc::new(DeliveryRuntime(delivery));
    let admin = Arc::new(hookgate_admin::Admin::new(
        Arc::new(config.clone()),
        store,
        metrics,
        Some(runtime),
    ));
    front.spawn(hookgate_ingest::serve(
        listeners.ingest_listener,
        Arc::new(listeners.ingest),
        front.clone(),
        opts,
    ));
    front.spawn(hookgate_admin::serve(
        listeners.admin_listener,
        admin,
        front.clone(),
        opts,
    ));
}

/// Phase 8, drain: the listeners first, then the delivery pools, within
/// `shutdown_grace` in all. `Some(true)` when both finished in time,
/// `Some(false)` when the grace ran out, `None` when a second signal cut
/// the drain short (logged here).
async fn drain(config: &Config, front: &Drain, back: &Drain) -> Option<bool> {
    let grace = config.server.shutdown_grace;
    let started = tokio::time::Instant::now();
    let drained = async {
        let front_done = front.shutdown(grace).await;
        let left = grace.saturating_sub(started.elapsed());
        let back_done = back.shutdown(left).await;
        front_done && back_done
    };
    tokio::select! {
        done = drained => Some(done),
        signal = wait_for_signal() => {
            tracing::warn!(
                request_id = crate::logging::boot_id(),
                signal,
                "second signal: stopping now; unfinished deliveries return to their queues"
            );
            None
        }
    }
}

/// Creates the labelled counters at 0, so `rate()` and `increase()` in the
/// alert rules see a series' first increment instead of its sudden
/// appearance.
fn zero_series(config: &hookgate_config::Config) {
    use hookgate_telemetry::event::Outcome;
    use hookgate_telemetry::metric::{
        DELIVERIES, INGEST_REQUESTS, RETRIES_SCHEDULED, STORE_ERRORS,
    };
    for src in &config.sources {
        for outcome in hookgate_ingest::respond::Outcome::WATCHED {
            metrics::counter!(INGEST_REQUESTS.name, "source" => src.id.clone(), "outcome" => outcome.label())
                .absolute(0);
        }
    }
    for sub in &config.subscriptions {
        for outcome in hookgate_delivery::decide::Outcome::ALL {
            metrics::counter!(DELIVERIES.name, "subscription" => sub.id.clone(), "outcome" => outcome.label())
                .absolute(0);
        }
        metrics::counter!(RETRIES_SCHEDULED.name, "subscription" => sub.id.clone()).absolute(0);
    }
    // Store errors exist from the start, so an alert on their rate has a
    // series to watch before the first failure.
    for op in ["ingest", "fanout", "claim", "finish", "admin", "ping"] {
        metrics::counter!(STORE_ERRORS.name, "op" => op).absolute(0);
    }
}

/// The admin API's view of this instance's delivery side.
struct DeliveryRuntime(hookgate_delivery::Delivery);

impl hookgate_admin::Runtime for DeliveryRuntime {
    fn breaker(&self, source: &str, subscription: &str) -> &'static str {
        self.0
            .breaker(source, subscription)
            .map_or("closed", |b| b.as_str())
    }

    fn set_paused(&self, subscription: &str, paused: bool) {
        self.0.set_paused(subscription, paused)
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
