//! Log setup: human-readable lines by default, JSON with `[log] format =
//! "json"`. `RUST_LOG` overrides the configured level. Lines go to stdout.
//! The Redis client's own log lines are off unless asked for (see
//! [`with_quiet_redis`]).

use hookgate_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// The request id of the lines about the process itself (start, store
/// check, shutdown): one per run, so they can be found together. Every log
/// line carries a `request_id` (docs/operations.md): an ingest or admin request's, a
/// delivery attempt's own, or this one.
pub fn boot_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(hookgate_core::trace::new_request_id)
}

pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(with_quiet_redis(&cfg.level)))
        .unwrap_or_else(|_| EnvFilter::new(with_quiet_redis(&LogConfig::default().level)));
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match cfg.format {
        LogFormat::Json => builder.event_format(JsonLine).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// One JSON object per line: `timestamp`, `level`, `message` and the
/// event's fields at the top level, and always a `request_id` (docs/operations.md):
/// the event's own, or for a line without one (a library's, say) the
/// process's [`boot_id`].
struct JsonLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        let mut line = fields.0;
        let now = hookgate_core::time::now_ms();
        line.insert(
            "timestamp".into(),
            hookgate_core::time::rfc3339_ms(now)
                .unwrap_or_default()
                .into(),
        );
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.entry("request_id").or_insert_with(|| boot_id().into());
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

/// An event's fields as JSON values.
struct Fields(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// redis-rs's cluster client logs every failed reconnect and slot refresh
/// (hundreds of lines a second while a Redis Cluster is down). The gateway
/// reports store failures itself (its own warnings, `/readyz`,
/// `hookgate_store_errors_total`), so the client's own lines are off unless
/// the configured level names `redis` (e.g. `"info,redis=warn"`) or
/// `RUST_LOG` is set.
fn with_quiet_redis(level: &str) -> String {
    if level.contains("redis") {
        level.to_owned()
    } else {
        format!("{level},redis=off")
    }
}
