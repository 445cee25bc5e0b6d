//! [`Settings`]: what a store owns of the configuration (retention, lease
//! length), so callers never pass it back in. Its own module so the facade
//! in `lib.rs` holds only the handle.

use hookgate_config::Config;
use std::time::Duration;

/// The settings a store owns, so callers never pass them back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long events, delivery records, attempt logs and dead letters are
    /// kept (`[delivery] retention`).
    pub retention: Duration,
    /// How long a claimed delivery stays leased (`[delivery]
    /// visibility_timeout`).
    pub visibility_timeout: Duration,
}

impl Default for Settings {
    /// The config's defaults: 14 days, 60 seconds.
    fn default() -> Self {
        Settings {
            retention: Duration::from_secs(14 * 86_400),
            visibility_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The settings of a gateway's config.
    pub fn from_config(cfg: &Config) -> Self {
        Settings {
            retention: cfg.delivery.retention,
            visibility_timeout: cfg.delivery.visibility_timeout,
        }
    }

    pub(crate) fn retention_ms(&self) -> i64 {
        self.retention.as_millis().clamp(1, i64::MAX as u128) as i64
    }

    pub(crate) fn lease_ms(&self) -> i64 {
        self.visibility_timeout
            .as_millis()
            .clamp(1, i64::MAX as u128) as i64
    }
}
