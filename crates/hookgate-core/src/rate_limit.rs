//! A token bucket, per gateway instance: each source's ingest rate limit
//! (docs/ingest.md step 5) and each subscription's delivery rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket refilled continuously at `per_second` up to `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `per_second`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            per_second,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` tokens, or says how long until they would be there.
    pub fn try_take(&self, n: f64) -> Result<(), Duration> {
        self.try_take_at(n, Instant::now())
    }

    /// Returns `n` tokens taken but not used (a delivery claim that found
    /// less due than it had tokens for), up to `burst`.
    pub fn give_back(&self, n: f64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = (state.0 + n).min(self.burst);
    }

    fn try_take_at(&self, n: f64, now: Instant) -> Result<(), Duration> {
        // The lock guards two floats for a few instructions; a poisoned lock
        // only means another thread panicked mid-update: keep going.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *state;
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * self.per_second).min(self.burst);
        let n = n.min(self.burst);
        if tokens >= n {
            *state = (tokens - n, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((n - tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let b = TokenBucket::new(10.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.try_take_at(1.0, t0).is_ok());
        }
        let wait = b.try_take_at(1.0, t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(b.try_take_at(1.0, t0 + Duration::from_millis(100)).is_ok());
        assert!(b.try_take_at(1.0, t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn tokens_given_back_can_be_taken_again_up_to_the_burst() {
        let b = TokenBucket::new(1.0, 2);
        let t0 = Instant::now();
        assert!(b.try_take_at(2.0, t0).is_ok());
        assert!(b.try_take_at(1.0, t0).is_err());
        b.give_back(5.0);
        assert!(b.try_take_at(2.0, t0).is_ok(), "back, capped at the burst");
        assert!(b.try_take_at(1.0, t0).is_err());
    }
}
