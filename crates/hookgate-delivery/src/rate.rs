//! A subscription's rate limit, as its routes share it.
//!
//! Every route of a subscription (one per source it listens to) claims
//! from the same token bucket, and an idle route polls the store now and
//! then. A claim takes its tokens first and gives back what it did not
//! use, so a poll that finds nothing costs nothing; but while a poll holds
//! the token, the route that has work finds the bucket empty. It then
//! waits for the next token or for the poll's give-back, whichever comes
//! first: waiting for the next token alone made it lose a whole token's
//! time (a second at `per_second = 1`) now and then, again and again.

use hookgate_core::rate_limit::TokenBucket;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::Notify;

/// Ends once a token may be there (boxed: an empty bucket is the rare case).
pub(crate) type TokenDue<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The token bucket of a subscription and the signal of its give-backs.
pub(crate) struct Rate {
    bucket: TokenBucket,
    given_back: Notify,
}

impl Rate {
    pub(crate) fn new(per_second: f64, burst: u32) -> Self {
        Rate {
            bucket: TokenBucket::new(per_second, burst),
            given_back: Notify::new(),
        }
    }

    /// Takes tokens for a claim of up to `want` deliveries: how many it
    /// may claim, or, when not even one token is there, a future that ends
    /// once one may be (the next token is due, or a claim gave tokens back
    /// after this call).
    pub(crate) fn take(&self, want: usize) -> Result<usize, TokenDue<'_>> {
        // Made before the take: it hears of every give-back from here on.
        let given_back = self.given_back.notified();
        if let Err(wait) = self.bucket.try_take(1.0) {
            return Err(Box::pin(async move {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = given_back => {}
                }
            }));
        }
        // Extra deliveries only as far as the bucket allows.
        let mut allowed = 1;
        while allowed < want && self.bucket.try_take(1.0).is_ok() {
            allowed += 1;
        }
        Ok(allowed)
    }

    /// Gives back tokens a claim did not use, and wakes the routes that
    /// found the bucket empty meanwhile.
    pub(crate) fn give_back(&self, unused: usize) {
        if unused > 0 {
            self.bucket.give_back(unused as f64);
            self.given_back.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn a_route_that_found_the_bucket_empty_claims_once_the_token_is_given_back() {
        let rate = Rate::new(0.2, 1); // the next token 5 s away
        // An idle route's poll holds the only token...
        assert_eq!(rate.take(1).ok(), Some(1));
        // ...when the route with work asks.
        let Err(token_due) = rate.take(64) else {
            panic!("the bucket was empty");
        };
        let started = Instant::now();
        let poll = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            rate.give_back(1); // its claim found nothing
        };
        tokio::join!(token_due, poll);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} for a token given back after 50 ms",
            started.elapsed()
        );
        assert_eq!(rate.take(64).ok(), Some(1), "the token given back");
    }

    #[tokio::test]
    async fn an_empty_bucket_waits_for_the_next_token() {
        let rate = Rate::new(20.0, 1);
        assert_eq!(rate.take(1).ok(), Some(1));
        let Err(token_due) = rate.take(1) else {
            panic!("the bucket was empty");
        };
        let started = Instant::now();
        token_due.await;
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(rate.take(3).ok(), Some(1));
    }
}
