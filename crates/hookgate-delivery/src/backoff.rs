//! Retry delays: exponential from `base_delay` to `max_delay` with full
//! jitter (a uniformly random delay between zero and the exponential cap),
//! so a subscriber that comes back is not hit by every retry at once.
//! `Retry-After` from the subscriber replaces the computed delay, capped by
//! `max_delay`.

use rand::Rng;
use std::time::Duration;

/// The exponential cap before jitter for attempt `n` (1-based).
pub fn cap(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(62);
    let factor = 1u64.checked_shl(exp).unwrap_or(u64::MAX);
    let millis = (base.as_millis() as u64).saturating_mul(factor);
    Duration::from_millis(millis).min(max)
}

/// The delay before the retry that follows failed attempt `attempt`.
pub fn delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    delay_with(base, max, attempt, retry_after, full_jitter)
}

/// [`delay`] with the jitter drawn by `jitter` from the exponential cap it
/// is given (not called when `retry_after` is set): the pure form, for
/// [`crate::decide`] and its tests.
pub fn delay_with(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: impl FnOnce(Duration) -> Duration,
) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(max);
    }
    jitter(cap(base, max, attempt))
}

/// Full jitter: a uniformly random delay between zero and `cap`, in whole
/// milliseconds.
pub fn full_jitter(cap: Duration) -> Duration {
    let cap = cap.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(0..=cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_then_saturate() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        assert_eq!(cap(base, max, 1), Duration::from_secs(1));
        assert_eq!(cap(base, max, 2), Duration::from_secs(2));
        assert_eq!(cap(base, max, 6), Duration::from_secs(32));
        assert_eq!(cap(base, max, 7), max);
        assert_eq!(cap(base, max, u32::MAX), max);
        for attempt in 1..20 {
            let d = delay(base, max, attempt, None);
            assert!(d <= cap(base, max, attempt));
        }
        assert_eq!(
            delay(base, max, 3, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(delay(base, max, 3, Some(Duration::from_secs(3600))), max);
    }
}
