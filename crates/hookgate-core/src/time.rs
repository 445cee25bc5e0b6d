//! Time helpers: RFC 3339 in UTC, and the unix clock read in one place.

use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Seconds since the unix epoch.
pub fn now_unix() -> i64 {
    now_ms().div_euclid(1000)
}

/// RFC 3339 (UTC, `Z`) of unix milliseconds; `None` outside the year range
/// the `time` crate represents.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    let nanos = i128::from(ms) * 1_000_000;
    let dt = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    dt.format(&Rfc3339).ok()
}

/// RFC 3339 of unix seconds.
pub fn rfc3339_secs(secs: i64) -> Option<String> {
    rfc3339_ms(secs.checked_mul(1000)?)
}

/// Parses RFC 3339 into unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses an RFC 3339 time to unix nanoseconds (no precision lost).
pub fn parse_rfc3339_ns(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|dt| dt.unix_timestamp_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(rfc3339_secs(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_ms(1_700_000_000_123).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert!(rfc3339_secs(i64::MAX).is_none());
    }
}
