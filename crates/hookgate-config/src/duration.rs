//! Durations: always strings with a unit.
//!
//! `"30s"`, `"100ms"`, `"5m"`, `"1h"`, `"7d"` (and compounds like `"1h 30m"`
//! or `"1h30m"`). Only these five units: `humantime`, which does the
//! arithmetic, also takes months (`"1M"`), years and spelled-out units, and
//! `"1M"` read as a month where a minute was meant is a silent mistake.
//! A bare integer is refused rather than guessed at: `timeout = 30` could
//! mean seconds or milliseconds, and a wrong guess is a silent outage.
//! Zero is refused wherever it makes no sense (a zero timeout, delay or
//! window is always a mistake); callers say which with [`Zero`].

use crate::raw::{Ctx, Field};
use std::time::Duration;

/// Whether a zero duration is acceptable for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    /// Zero is meaningful (e.g. `shutdown_grace = "0s"`: stop at once).
    Allowed,
    /// Zero is a mistake (timeouts, delays, windows).
    Refused,
}

const EXPECTED: &str = "expected a duration like \"30s\" (units: ms, s, m, h, d)";

/// Reads `field` as a duration.
pub(crate) fn duration(ctx: &mut Ctx<'_>, field: &Field<'_>, zero: Zero) -> Option<Duration> {
    let Some(text) = field.node.as_str() else {
        let found = field.node.kind();
        ctx.error_at(field, format!("{EXPECTED}, found {found}"));
        return None;
    };
    match parse(text) {
        Ok(d) if d.is_zero() && zero == Zero::Refused => {
            ctx.error_at(field, "must be greater than zero");
            None
        }
        Ok(d) => Some(d),
        Err(reason) => {
            ctx.error_at(field, format!("{EXPECTED}, found {text:?} ({reason})"));
            None
        }
    }
}

/// The units a duration may use.
const UNITS: [&str; 5] = ["ms", "s", "m", "h", "d"];

/// Parses a duration string; the error explains why it is not one.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    // Each part: digits, then one of UNITS right after them.
    for part in text.split_whitespace() {
        let mut rest = part;
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(format!("{part:?} is not a number followed by a unit"));
            }
            let after = &rest[digits..];
            let unit_len = after.len()
                - after
                    .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                    .len();
            let unit = &after[..unit_len];
            if !UNITS.contains(&unit) {
                return Err(if unit.is_empty() {
                    format!("{part:?} has a number without a unit")
                } else {
                    format!("unknown unit {unit:?}")
                });
            }
            rest = &after[unit_len..];
        }
    }
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

/// Formats a duration the way the config writes it (`"1m 30s"`).
/// A duration as messages write it (`5m`, `7days`, `1h 30m`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_units_the_docs_use() {
        let cases = [
            ("100ms", Duration::from_millis(100)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("7d", Duration::from_secs(7 * 86400)),
            ("1h 30m", Duration::from_secs(5400)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_unitless_and_garbage() {
        assert!(parse("30").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("").is_err());
        // Units the docs do not name, month-for-minute above all.
        for text in [
            "1M", "2months", "1y", "1w", "10sec", "5 m", "1.5s", "-1s", "1h 30",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(" 2d 12h "), Ok(Duration::from_secs(60 * 3600)));
    }
}
