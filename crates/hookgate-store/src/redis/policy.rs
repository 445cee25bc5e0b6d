//! The eviction-policy gate: writes are refused while Redis may evict keys
//! (docs/ingest.md durability), checked before writes, by the readiness
//! probe and by a background watcher. Its own module because it is a small
//! state machine of its own (unknown / ok / refused) beside the calls.

use super::{RedisStore, conn};
use crate::StoreError;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Eviction-policy gate states.
pub(super) const POLICY_UNKNOWN: u8 = 0;
const POLICY_OK: u8 = 1;
const POLICY_REFUSED: u8 = 2;

/// How often the policy watcher reads `maxmemory-policy` again (see
/// [`RedisStore::watch_policy`]).
const POLICY_WATCH_INTERVAL: Duration = Duration::from_millis(500);

impl RedisStore {
    /// Checks `maxmemory-policy` (docs/ingest.md durability): an evicting Redis is
    /// refused unless `allow_eviction`. Returns the policy seen (`None` when
    /// the server does not allow CONFIG, as some managed services do; the
    /// gateway then proceeds and says so).
    ///
    /// On a cluster every master is asked: one evicting master refuses the
    /// store (its policy is returned in the error); `None` when some master
    /// refuses CONFIG and none evicts; an unreachable master is an error
    /// (checked again before the next write). Replicas are not asked.
    pub async fn check_eviction_policy(&self) -> Result<Option<String>, StoreError> {
        let mut c = self.conn();
        let policies = match tokio::time::timeout(self.inner.timeout, c.maxmemory_policies()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.inner.conns.failed(&e);
                if conn::connection_lost(&e) {
                    self.forget_policy();
                }
                return Err(StoreError::from_redis(e));
            }
            Err(_) => return Err(StoreError::Unavailable("no answer to CONFIG GET".into())),
        };
        let evicting = policies
            .iter()
            .flatten()
            .find(|p| p.as_str() != "noeviction")
            .cloned();
        let policy = match evicting {
            Some(p) => Some(p),
            None if policies.is_empty() || policies.iter().any(Option::is_none) => None,
            None => Some("noeviction".to_owned()),
        };
        let ok = match policy.as_deref() {
            Some("noeviction") | None => true,
            Some(_) => self.inner.allow_eviction,
        };
        // Every connection now goes to the Redis whose policy was read, so
        // a restart is noticed by whichever is used next (see
        // `Pool::warm`; bounded like any call).
        let _ = tokio::time::timeout(self.inner.timeout, self.inner.conns.warm()).await;
        self.inner.policy.store(
            if ok { POLICY_OK } else { POLICY_REFUSED },
            Ordering::Relaxed,
        );
        match (ok, policy) {
            (true, p) => Ok(p),
            (false, p) => Err(StoreError::EvictingPolicy(p.unwrap_or_default())),
        }
    }

    /// A connection was lost: the Redis behind it may have restarted with
    /// another configuration, so the policy is read again before the next
    /// write (and by the watcher within [`POLICY_WATCH_INTERVAL`]).
    pub(super) fn forget_policy(&self) {
        self.inner.policy.store(POLICY_UNKNOWN, Ordering::Relaxed);
    }

    /// Starts the policy watcher unless it runs (or eviction is allowed,
    /// or there is no runtime to run it on): a task that reads
    /// `maxmemory-policy` again every [`POLICY_WATCH_INTERVAL`], so a Redis
    /// switched to an evicting policy at runtime (`CONFIG SET`) refuses
    /// writes within a second whether or not anything probes `/readyz`,
    /// and a fix is picked up as fast. A Redis restarted with another
    /// policy is caught sooner: the lost connection makes the next write
    /// read the policy first ([`Self::forget_policy`]). The task holds the
    /// store weakly and ends with its last handle (or its runtime; it is
    /// started again then).
    pub(super) fn watch_policy(&self) {
        if self.inner.allow_eviction {
            return;
        }
        let mut slot = self.inner.watcher.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        *slot = Some(runtime.spawn(async move {
            let mut tick = tokio::time::interval(POLICY_WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let store = RedisStore { inner };
                let before = store.inner.policy.load(Ordering::Relaxed);
                match store.check_eviction_policy().await {
                    Err(StoreError::EvictingPolicy(policy)) if before != POLICY_REFUSED => {
                        tracing::error!(
                            request_id = %hookgate_core::trace::new_request_id(),
                            maxmemory_policy = %policy,
                            "Redis evicts keys: writes are refused (set maxmemory-policy noeviction, or allow_eviction = true)"
                        );
                    }
                    Ok(_) if before == POLICY_REFUSED => {
                        tracing::warn!(
                            request_id = %hookgate_core::trace::new_request_id(),
                            "Redis no longer evicts: writes are accepted again"
                        );
                    }
                    // Unreachable: the calls fail on their own meanwhile.
                    _ => {}
                }
            }
        }));
    }

    /// Writes are allowed only once the eviction policy was seen acceptable.
    pub(super) async fn ensure_writable(&self) -> Result<(), StoreError> {
        self.watch_policy();
        match self.inner.policy.load(Ordering::Relaxed) {
            POLICY_OK => Ok(()),
            // Unknown (Redis was down at start) or refused (re-checked, so an
            // operator's fix is picked up without a restart).
            POLICY_UNKNOWN | POLICY_REFUSED => self.check_eviction_policy().await.map(|_| ()),
            _ => unreachable!("policy gate holds one of three values"),
        }
    }
}
