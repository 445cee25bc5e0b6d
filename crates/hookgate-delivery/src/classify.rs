//! One attempt's result → what happens next (docs/delivery.md), as one pure function.
//!
//! | result | outcome |
//! | --- | --- |
//! | 2xx | delivered |
//! | 408, 425, 429, 5xx, 3xx (never followed), other 1xx | retry |
//! | `Retry-After` on 429/503 | retry no sooner than it says (capped later by `max_delay`) |
//! | 410 and every other 4xx | dead letter at once, reason kept |
//! | outside 100..=599 (invalid; `http` parses up to 999) | retry, like a 5xx: only a 4xx is a verdict on the event |
//! | DNS, connect, TLS, reset, timeout | retry |

use http::{HeaderMap, StatusCode, header};
use std::time::{Duration, SystemTime};

/// What one attempt means for the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// Done.
    Delivered,
    /// Try again later.
    Retry {
        /// Why (kept in logs and, if the budget runs out, in the dead letter).
        reason: String,
        /// The subscriber's `Retry-After`, when it sent one on 429/503.
        retry_after: Option<Duration>,
    },
    /// Park it now.
    Dead {
        /// Why.
        reason: String,
    },
}

/// Classifies a response.
pub fn classify_status(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Classified {
    let code = status.as_u16();
    let reason = format!("status {code}");
    match code {
        200..=299 => Classified::Delivered,
        429 | 503 => Classified::Retry {
            reason,
            retry_after: retry_after(headers, now),
        },
        408 | 425 => Classified::Retry {
            reason,
            retry_after: None,
        },
        400..=499 => Classified::Dead { reason },
        // 1xx, 3xx, 5xx, and invalid codes (600..=999) a broken
        // subscriber or proxy may send.
        _ => Classified::Retry {
            reason,
            retry_after: None,
        },
    }
}

/// Classifies a transport failure (no response).
pub fn classify_error(error: &str) -> Classified {
    Classified::Retry {
        reason: error.to_owned(),
        retry_after: None,
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Classified {
        classify_status(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            SystemTime::now(),
        )
    }

    #[test]
    fn spec_table() {
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(status(code), Classified::Delivered, "{code}");
        }
        for code in [408, 425, 429, 500, 502, 503, 504, 599, 301, 302, 307, 308] {
            assert!(matches!(status(code), Classified::Retry { .. }), "{code}");
        }
        for code in [400, 401, 403, 404, 405, 409, 410, 413, 422, 451] {
            assert_eq!(
                status(code),
                Classified::Dead {
                    reason: format!("status {code}")
                },
                "{code}"
            );
        }
        // Invalid codes are a subscriber fault like a 5xx, never a verdict.
        for code in [600, 601, 700, 999] {
            assert_eq!(
                status(code),
                Classified::Retry {
                    reason: format!("status {code}"),
                    retry_after: None
                },
                "{code}"
            );
        }
        assert!(matches!(
            classify_error("connect: refused"),
            Classified::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Classified::Retry {
                reason: "status 429".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        h.insert(
            header::RETRY_AFTER,
            httpdate::fmt_http_date(now + Duration::from_secs(30))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, &h, now),
            Classified::Retry {
                reason: "status 503".into(),
                retry_after: Some(Duration::from_secs(30))
            }
        );
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, &h, now),
            Classified::Retry {
                reason: "status 503".into(),
                retry_after: None
            }
        );
        // Only 429 and 503 carry a meaningful Retry-After.
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify_status(StatusCode::INTERNAL_SERVER_ERROR, &h, now),
            Classified::Retry {
                reason: "status 500".into(),
                retry_after: None
            }
        );
    }
}
