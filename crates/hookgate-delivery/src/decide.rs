//! What happens to a delivery after one attempt (docs/delivery.md), as pure
//! functions: no clock, no store, no randomness of their own.
//!
//! [`classify`](crate::classify) says what an answer means; [`backoff`]
//! says how long a retry waits; this module puts them together with the
//! subscription's retry budget:
//!
//! | classified | `max_attempts` reached | next attempt due past `max_age` | decision |
//! | --- | --- | --- | --- |
//! | delivered | any | any | delivered |
//! | dead (a 4xx) | any | any | dead, the classifier's reason |
//! | retry | yes | any | dead, `max_attempts: ...` |
//! | retry | no | yes | dead, `max_age: ... would pass ...` |
//! | retry | no | no | retry after the backoff (or `Retry-After`, capped) |
//!
//! and, before a send, [`expired`]: a retry held back past `max_age`
//! (pause, open breaker, rate limit, backlog) is dead-lettered unsent; a
//! delivery never attempted is always attempted once.
//!
//! Kept apart from the attempt itself (`attempt.rs`) so that every branch
//! is tested by a table instead of a subscriber.

use crate::backoff;
use crate::classify::Classified;
use hookgate_config::RetryPolicy;
use std::time::Duration;

/// What an attempt came to, for metric labels, logs and spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The subscriber took it.
    Delivered,
    /// Another attempt is scheduled.
    Retry,
    /// Dead-lettered.
    Dead,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Delivered, Outcome::Retry, Outcome::Dead];

    /// The label value (`delivered|retry|dead`) of
    /// `hookgate_deliveries_total` and the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
        }
    }
}

impl hookgate_telemetry::event::Outcome for Outcome {
    fn label(self) -> &'static str {
        self.as_str()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Done.
    Delivered,
    /// Attempt again this long after now.
    Retry {
        /// The backoff delay (or the subscriber's `Retry-After`, capped by
        /// `max_delay`).
        after: Duration,
    },
    /// Park it in the dead letters.
    Dead {
        /// Why, as kept in the dead letter.
        reason: String,
    },
}

impl Decision {
    /// The decision's outcome class.
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Delivered => Outcome::Delivered,
            Decision::Retry { .. } => Outcome::Retry,
            Decision::Dead { .. } => Outcome::Dead,
        }
    }
}

/// The decision after attempt `attempt` (1-based, in the current budget)
/// classified as `outcome`, `age` after the start of the current budget
/// (`ClaimedDelivery::first_ms`). `jitter` draws the delay within the exponential cap it is given
/// ([`backoff::full_jitter`] in the gateway); it is not called when the
/// subscriber sent `Retry-After`.
pub fn decide(
    outcome: &Classified,
    attempt: u32,
    age: Duration,
    policy: &RetryPolicy,
    jitter: impl FnOnce(Duration) -> Duration,
) -> Decision {
    let (reason, retry_after) = match outcome {
        Classified::Delivered => return Decision::Delivered,
        Classified::Dead { reason } => {
            return Decision::Dead {
                reason: reason.clone(),
            };
        }
        Classified::Retry {
            reason,
            retry_after,
        } => (reason, *retry_after),
    };
    let wait = backoff::delay_with(
        policy.base_delay,
        policy.max_delay,
        attempt,
        retry_after,
        jitter,
    );
    // The next attempt would come after `max_age`: dead now.
    let age_then = age + wait;
    if attempt >= policy.max_attempts {
        Decision::Dead {
            reason: format!("max_attempts: {attempt} attempts, last {reason}"),
        }
    } else if age_then >= policy.max_age {
        Decision::Dead {
            reason: format!(
                "max_age: {} would pass before attempt {} (due {} after the first), last {reason}",
                secs(policy.max_age),
                attempt + 1,
                secs(age_then)
            ),
        }
    } else {
        Decision::Retry { after: wait }
    }
}

/// Before a send: the dead-letter reason when a delivery that has had
/// `made` attempts in its budget is `age` old, past `max_age`. A delivery
/// never attempted (`made == 0`) is always attempted once.
pub fn expired(made: u32, age: Duration, policy: &RetryPolicy) -> Option<String> {
    (made > 0 && age >= policy.max_age).then(|| {
        format!(
            "max_age: {} passed before attempt {} ({} after the first), after {made} attempts",
            secs(policy.max_age),
            made + 1,
            secs(age),
        )
    })
}

/// A duration in seconds for a reason text: `3s`, `2.35s`.
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// 3 attempts, 1 s base, 60 s max delay, 100 s max age.
    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: S,
            max_delay: 60 * S,
            max_age: 100 * S,
        }
    }

    fn retry(retry_after: Option<Duration>) -> Classified {
        Classified::Retry {
            reason: "status 503".into(),
            retry_after,
        }
    }

    fn dead_4xx() -> Classified {
        Classified::Dead {
            reason: "status 410".into(),
        }
    }

    /// The worst case of the jitter: the whole cap.
    fn whole_cap(cap: Duration) -> Duration {
        cap
    }

    /// Every outcome class × attempts exhausted or not × `max_age`
    /// exceeded or not × `Retry-After` or not. (Longer than a function
    /// should be: it is one table, read row by row.)
    #[test]
    fn decision_table() {
        let p = policy();
        // (classified, attempt, age, expected); the jitter takes the whole
        // cap: 1 s after attempt 1, 2 s after attempt 2.
        let rows: Vec<(Classified, u32, Duration, Decision)> = vec![
            // Delivered: whatever the budget says.
            (Classified::Delivered, 1, S, Decision::Delivered),
            (Classified::Delivered, 3, S, Decision::Delivered),
            (Classified::Delivered, 1, 500 * S, Decision::Delivered),
            (Classified::Delivered, 3, 500 * S, Decision::Delivered),
            (Classified::Delivered, 9, 500 * S, Decision::Delivered),
            // A 4xx: dead with its own reason, whatever the budget says.
            (dead_4xx(), 1, S, dead("status 410")),
            (dead_4xx(), 3, S, dead("status 410")),
            (dead_4xx(), 1, 500 * S, dead("status 410")),
            (dead_4xx(), 3, 500 * S, dead("status 410")),
            // Retry, budget left, young: retry after the backoff cap.
            (retry(None), 1, S, Decision::Retry { after: S }),
            (retry(None), 2, S, Decision::Retry { after: 2 * S }),
            // ... or after Retry-After, capped by max_delay.
            (retry(Some(7 * S)), 1, S, Decision::Retry { after: 7 * S }),
            (
                retry(Some(3600 * S)),
                1,
                S,
                Decision::Retry { after: 60 * S },
            ),
            // Retry, attempts exhausted: dead, young or old, with or
            // without Retry-After (max_attempts is checked first).
            (
                retry(None),
                3,
                S,
                dead("max_attempts: 3 attempts, last status 503"),
            ),
            (
                retry(Some(7 * S)),
                3,
                S,
                dead("max_attempts: 3 attempts, last status 503"),
            ),
            (
                retry(None),
                4,
                S,
                dead("max_attempts: 4 attempts, last status 503"),
            ),
            (
                retry(None),
                3,
                500 * S,
                dead("max_attempts: 3 attempts, last status 503"),
            ),
            (
                retry(Some(7 * S)),
                3,
                500 * S,
                dead("max_attempts: 3 attempts, last status 503"),
            ),
            // Retry, budget left, but the next attempt would be due past
            // max_age: already past it, ...
            (
                retry(None),
                1,
                500 * S,
                dead(
                    "max_age: 100s would pass before attempt 2 (due 501s after the first), last status 503",
                ),
            ),
            // ... pushed past it by the backoff, ...
            (
                retry(None),
                2,
                Duration::from_millis(98_500),
                dead(
                    "max_age: 100s would pass before attempt 3 (due 100.5s after the first), last status 503",
                ),
            ),
            // ... exactly at it, ...
            (
                retry(None),
                1,
                99 * S,
                dead(
                    "max_age: 100s would pass before attempt 2 (due 100s after the first), last status 503",
                ),
            ),
            // ... or by Retry-After.
            (
                retry(Some(30 * S)),
                1,
                80 * S,
                dead(
                    "max_age: 100s would pass before attempt 2 (due 110s after the first), last status 503",
                ),
            ),
            (
                retry(Some(7 * S)),
                1,
                500 * S,
                dead(
                    "max_age: 100s would pass before attempt 2 (due 507s after the first), last status 503",
                ),
            ),
            // Just short of max_age: retry.
            (
                retry(None),
                1,
                Duration::from_millis(98_999),
                Decision::Retry { after: S },
            ),
            (
                retry(Some(30 * S)),
                1,
                69 * S,
                Decision::Retry { after: 30 * S },
            ),
        ];
        for (classified, attempt, age, expected) in rows {
            let got = decide(&classified, attempt, age, &p, whole_cap);
            assert_eq!(
                got, expected,
                "{classified:?}, attempt {attempt}, age {age:?}"
            );
        }
    }

    fn dead(reason: &str) -> Decision {
        Decision::Dead {
            reason: reason.into(),
        }
    }

    #[test]
    fn the_jitter_draws_within_the_cap_and_retry_after_skips_it() {
        let p = policy();
        // Attempt 3 of 10: cap 4 s; the jitter is handed the cap.
        let p10 = RetryPolicy {
            max_attempts: 10,
            ..p
        };
        let mut seen = None;
        let got = decide(&retry(None), 3, S, &p10, |cap| {
            seen = Some(cap);
            Duration::from_millis(1234)
        });
        assert_eq!(seen, Some(4 * S));
        assert_eq!(
            got,
            Decision::Retry {
                after: Duration::from_millis(1234)
            }
        );
        let got = decide(&retry(Some(5 * S)), 3, S, &p10, |_| {
            panic!("Retry-After replaces the jitter")
        });
        assert_eq!(got, Decision::Retry { after: 5 * S });
        // Zero jitter: due at once.
        assert_eq!(
            decide(&retry(None), 1, S, &p, |_| Duration::ZERO),
            Decision::Retry {
                after: Duration::ZERO
            }
        );
        // The gateway's own jitter stays within the cap.
        for _ in 0..100 {
            match decide(&retry(None), 2, S, &p, backoff::full_jitter) {
                Decision::Retry { after } => assert!(after <= 2 * S),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn outcomes_and_their_labels() {
        let rows = [
            (Decision::Delivered, Outcome::Delivered, "delivered"),
            (Decision::Retry { after: S }, Outcome::Retry, "retry"),
            (dead("x"), Outcome::Dead, "dead"),
        ];
        for (decision, outcome, label) in rows {
            assert_eq!(decision.outcome(), outcome);
            assert_eq!(outcome.as_str(), label);
            assert_eq!(outcome.to_string(), label);
        }
    }

    /// Before a send: never attempted × attempted, past `max_age` or not.
    #[test]
    fn expiry_table() {
        let p = policy();
        let rows: [(u32, Duration, Option<&str>); 7] = [
            (0, S, None),
            (0, 100 * S, None),
            (0, 500 * S, None),
            (1, 99 * S, None),
            (
                1,
                100 * S,
                Some(
                    "max_age: 100s passed before attempt 2 (100s after the first), after 1 attempts",
                ),
            ),
            (
                2,
                Duration::from_millis(150_250),
                Some(
                    "max_age: 100s passed before attempt 3 (150.25s after the first), after 2 attempts",
                ),
            ),
            // The attempt budget plays no part before a send.
            (
                7,
                500 * S,
                Some(
                    "max_age: 100s passed before attempt 8 (500s after the first), after 7 attempts",
                ),
            ),
        ];
        for (made, age, expected) in rows {
            assert_eq!(
                expired(made, age, &p).as_deref(),
                expected,
                "{made} attempts, age {age:?}"
            );
        }
    }

    #[test]
    fn seconds_in_reasons() {
        let rows = [
            (Duration::ZERO, "0s"),
            (S, "1s"),
            (Duration::from_millis(2350), "2.35s"),
            (Duration::from_millis(1001), "1.001s"),
            (Duration::from_millis(500), "0.5s"),
            (86_400 * S, "86400s"),
        ];
        for (d, text) in rows {
            assert_eq!(secs(d), text);
        }
    }
}
