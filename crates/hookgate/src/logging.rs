//! Log setup: human-readable lines by default, JSON with `[log] format =
//! "json"`. `RUST_LOG` overrides the configured level. Lines go to stdout.
//! The Redis client's own log lines are off unless asked for (see
//! [`with_quiet_redis`]).

use hookgate_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(with_quiet_redis(&cfg.level)))
        .unwrap_or_else(|_| EnvFilter::new(with_quiet_redis("info")));
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
