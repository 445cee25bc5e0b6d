//! The facade's ingest and delivery calls: ingest (feeding the in-process
//! fan-out feed), fan-out, route claim, take-back and finish, each measured.
//! Split from `lib.rs` by caller: these are the hot path, `operators` the
//! rest.

use crate::{Attempted, NewEvent, RouteClaim, Store, StoreError, count_error};
use hookgate_core::EventId;
use std::time::Duration;

impl Store {
    /// Atomic dedup + durable enqueue of one callback's events (all of one
    /// source); the dedup claims last `dedup_window` (the source's).
    /// Returns, per event, true if stored, false if a duplicate.
    pub async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        let flags = self
            .measured("ingest", self.backend.ingest(source, dedup_window, events))
            .await?;
        if flags.len() != events.len() {
            count_error("ingest");
            return Err(StoreError::Protocol("ingest reply length".into()));
        }
        if flags.contains(&true) {
            self.fanout_feed(source).push(
                events
                    .iter()
                    .zip(&flags)
                    .filter(|(_, stored)| **stored)
                    .map(|(ev, _)| (ev.id, ev.ty)),
            );
        }
        Ok(flags)
    }

    /// Reads up to `max` due events of a source's fan-out queue: (event
    /// id, normalized type) pairs. Nothing is leased: the events stay
    /// queued until [`Self::fanout_commit`] takes them.
    pub async fn fanout_due(
        &self,
        source: &str,
        max: usize,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        self.fanout_due_older(source, max, Duration::ZERO).await
    }

    /// [`Self::fanout_due`], only for events queued at least `min_age`
    /// ago: the fan-out loop's scan leaves younger ones to the feed of the
    /// process that stored them.
    pub async fn fanout_due_older(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        self.measured("fanout", self.backend.fanout_due(source, max, min_age))
            .await
    }

    /// Takes read events off the fan-out queue and creates their
    /// deliveries, atomically; an event another worker already took is
    /// skipped, so each is fanned out once. `items` pairs each event with
    /// the ids of the subscriptions it goes to (possibly none). Returns how
    /// many events this call fanned out.
    pub async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        self.measured("fanout", self.backend.fanout_commit(source, items))
            .await
    }

    /// Leases up to `max` due deliveries of a route.
    pub async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
    ) -> Result<RouteClaim, StoreError> {
        self.measured(
            "claim",
            self.backend
                .route_claim(source, sub, max, self.owner.as_deref()),
        )
        .await
    }

    /// Takes back, due now, the leases this handle's instance held in its
    /// earlier runs on `routes` (source, subscription): what a gateway that
    /// died (kill -9, a crash) had in flight goes again at once after its
    /// restart instead of after `visibility_timeout`. Each counts as a
    /// reclaim, as an expired lease does. Never another instance's lease,
    /// nor one of this run. Returns how many; 0 without an instance id.
    pub async fn take_back_leases(&self, routes: &[(&str, &str)]) -> Result<u64, StoreError> {
        let Some(owner) = self.owner.as_deref() else {
            return Ok(0);
        };
        self.measured("claim", self.backend.take_back(owner, routes))
            .await
    }

    /// Records an attempt and its outcome for a leased delivery. Returns
    /// false when the lease had been taken over (nothing written).
    pub async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        self.measured("finish", self.backend.route_finish(source, sub, done))
            .await
    }
}
