//! A route's circuit breaker (docs/delivery.md), per gateway instance.
//!
//! Closed: attempts flow; `failures` consecutive failures open it. Open: the
//! route claims nothing, so its deliveries wait in the store and burn no
//! attempts. After `cooldown` it half-opens: exactly one probe is let
//! through; success closes it, failure opens it for another cooldown. The
//! route driver holds that probe as a [`Probe`], which gives it back when
//! it is dropped unsent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Breaker state as reported to operators and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts flow.
    Closed,
    /// Nothing flows until the cooldown ends.
    Open,
    /// One probe in flight.
    HalfOpen,
}

impl hookgate_telemetry::event::Outcome for BreakerState {
    fn label(self) -> &'static str {
        self.as_str()
    }

    fn is_failure(self) -> bool {
        self == BreakerState::Open
    }
}

impl BreakerState {
    /// Wire name (`closed|open|half_open`).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// One route's breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// What the route may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Claim up to the free capacity.
    Flow,
    /// Claim exactly one delivery: the probe.
    Probe,
    /// Claim nothing until this instant.
    WaitUntil(Instant),
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State {
                consecutive_failures: 0,
                open_until: None,
                probing: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere mid-update of plain
        // counters: the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the route may claim at `now`.
    pub fn permit(&self, now: Instant) -> Permit {
        let mut s = self.lock();
        match s.open_until {
            None => Permit::Flow,
            Some(until) if now < until => Permit::WaitUntil(until),
            Some(_) if s.probing => {
                Permit::WaitUntil(now + self.cooldown.min(Duration::from_secs(1)))
            }
            Some(_) => {
                s.probing = true;
                Permit::Probe
            }
        }
    }

    /// Gives back a probe that was never sent (nothing was due).
    pub fn cancel_probe(&self) {
        self.lock().probing = false;
    }

    /// Records a success. Returns true when it closed an open (or
    /// half-open) breaker.
    pub fn on_success(&self) -> bool {
        let mut s = self.lock();
        s.consecutive_failures = 0;
        s.probing = false;
        s.open_until.take().is_some()
    }

    /// Records a failure: a retryable answer, a transport error or a
    /// timeout (a 4xx is an answer: the pool records it as a success).
    /// Returns true when this failure opened the breaker.
    pub fn on_failure(&self, now: Instant) -> bool {
        let mut s = self.lock();
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        let was_open = s.open_until.is_some();
        if s.probing || s.consecutive_failures >= self.threshold {
            s.open_until = Some(now + self.cooldown);
            s.probing = false;
            return !was_open;
        }
        false
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        let s = self.lock();
        match s.open_until {
            None => BreakerState::Closed,
            Some(_) if s.probing => BreakerState::HalfOpen,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

/// The half-open breaker's one probe, held by whoever is to send it (the
/// route driver while it claims, then the attempt).
///
/// The breaker lets no other attempt through until the probe's outcome is
/// reported ([`Breaker::on_success`], [`Breaker::on_failure`]); a probe
/// that is never sent (nothing was due, the claim failed, the rate limit
/// held it back, the delivery expired unsent, shutdown) must be given back
/// ([`Breaker::cancel_probe`]) or the breaker would wait for it forever.
/// Dropping a `Probe` gives it back unless [`Probe::resolved`] said its
/// outcome was reported.
#[derive(Debug)]
#[must_use = "dropping the probe gives it back to the breaker at once"]
pub struct Probe {
    breaker: Arc<Breaker>,
    resolved: bool,
}

impl Probe {
    /// Holds the probe that `breaker` handed out ([`Permit::Probe`]).
    pub fn new(breaker: Arc<Breaker>) -> Self {
        Probe {
            breaker,
            resolved: false,
        }
    }

    /// The probe was sent and its outcome reported to the breaker: nothing
    /// to give back.
    pub fn resolved(mut self) {
        self.resolved = true;
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.resolved {
            self.breaker.cancel_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_cools_probes_closes() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.permit(t0), Permit::Flow);
        assert!(!b.on_failure(t0));
        assert!(!b.on_failure(t0));
        assert!(b.on_failure(t0), "third failure opens");
        assert_eq!(b.state(t0), BreakerState::Open);
        assert_eq!(
            b.permit(t0 + Duration::from_secs(5)),
            Permit::WaitUntil(t0 + Duration::from_secs(10))
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(t1), Permit::Probe);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert!(
            matches!(b.permit(t1), Permit::WaitUntil(_)),
            "one probe at a time"
        );
        b.on_failure(t1);
        assert_eq!(b.state(t1), BreakerState::Open, "failed probe reopens");
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.permit(t2), Permit::Probe);
        assert!(b.on_success(), "the probe's success closes it");
        assert_eq!(b.state(t2), BreakerState::Closed);
        assert_eq!(b.permit(t2), Permit::Flow);
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(1));
        let t = Instant::now();
        b.on_failure(t);
        assert!(!b.on_success(), "it was closed: nothing changed");
        b.on_failure(t);
        assert_eq!(b.state(t), BreakerState::Closed);
    }

    #[test]
    fn a_probe_dropped_unsent_is_given_back_a_resolved_one_is_not() {
        let b = Arc::new(Breaker::new(1, Duration::from_secs(10)));
        let t0 = Instant::now();
        b.on_failure(t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(t1), Permit::Probe);
        let probe = Probe::new(b.clone());
        assert!(matches!(b.permit(t1), Permit::WaitUntil(_)), "held");
        drop(probe);
        assert_eq!(b.permit(t1), Permit::Probe, "given back when dropped");

        // Reported and resolved: the breaker's state is the outcome's.
        let probe = Probe::new(b.clone());
        b.on_failure(t1);
        probe.resolved();
        assert_eq!(b.state(t1), BreakerState::Open);
        assert!(matches!(b.permit(t1), Permit::WaitUntil(_)));
        // The next probe, after another cooldown, is not cancelled by the
        // resolved one's drop.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.permit(t2), Permit::Probe);
        let probe = Probe::new(b.clone());
        b.on_success();
        probe.resolved();
        assert_eq!(b.permit(t2), Permit::Flow);
    }
}
