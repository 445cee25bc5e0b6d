//! The facade's operator calls: pause flags, route gauges, listings,
//! replay and redeliver, the audit stream, export and import. Split from
//! `lib.rs` by caller (the admin API and the CLI, not the hot path); reads
//! go through [`Store::read`], which retries a fast failure once.

use crate::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, ListOrder, RouteDepth, Store,
    StoreError, StoredEvent, copy,
};
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use std::collections::HashSet;
use std::time::Duration;

impl Store {
    /// Every paused subscription id.
    pub async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|| self.backend.paused()).await
    }

    /// Pauses or resumes a subscription. Returns whether the flag changed.
    pub async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        self.measured("admin", self.backend.set_paused(sub, paused))
            .await
    }

    /// A route's gauges: backlog and the due time of its earliest waiting
    /// delivery (ms), if any.
    pub async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        self.read(|| self.backend.route_gauges(source, sub)).await
    }

    /// Up to `limit` blocked ordering keys of a route, oldest blocked
    /// first (see [`crate::contract`], "Ordering keys").
    pub async fn blocked_keys(
        &self,
        source: &str,
        sub: &str,
        limit: usize,
    ) -> Result<Vec<BlockedKey>, StoreError> {
        self.read(|| self.backend.blocked_keys(source, sub, limit))
            .await
    }

    /// Backlog of a route.
    pub async fn route_depths(&self, source: &str, sub: &str) -> Result<RouteDepth, StoreError> {
        Ok(self.route_gauges(source, sub).await?.0)
    }

    /// Deliveries waiting or in flight on a route.
    pub async fn route_depth(&self, source: &str, sub: &str) -> Result<u64, StoreError> {
        let d = self.route_depths(source, sub).await?;
        Ok(d.queued + d.in_flight)
    }

    /// A page of a source's event index in `order`: ids received in
    /// `[min_ms, max_ms]` strictly past `after` (receive ms, id) in that
    /// order (keyset paging: no offset to skip, see
    /// [`crate::Backend::event_index_after`]).
    pub async fn event_index_after(
        &self,
        source: &str,
        range: (i64, i64),
        order: ListOrder,
        after: Option<(i64, &EventId)>,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let after = after.map(|(ms, id)| (ms, id.clone()));
        self.read(|| {
            self.backend
                .event_index_after(source, range, order, after.clone(), count)
        })
        .await
    }

    /// A page of a route's dead letters by dead-at time.
    pub async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        self.read(|| {
            self.backend
                .dead_letter_range(source, sub, min_ms, max_ms, offset, count)
        })
        .await
    }

    /// A route's dead letters: (event id, dead-at ms), oldest first.
    pub async fn dead_letters(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .dead_letter_range(source, sub, i64::MIN, i64::MAX, all.len(), 1000)
                .await?;
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Normalized types of events of one source (`None` where expired).
    pub async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.event_types(source, ids)).await
    }

    /// The events themselves (`None` where expired).
    pub async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.events(source, ids)).await
    }

    /// A stored event.
    pub async fn event(
        &self,
        source: &str,
        id: &EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut found = self.events(source, std::slice::from_ref(id)).await?;
        Ok(found.pop().flatten())
    }

    /// Which of `sources` holds event `id`, with the event.
    pub async fn find_event(
        &self,
        sources: &[&str],
        id: &EventId,
    ) -> Result<Option<(String, StoredEvent)>, StoreError> {
        for source in sources {
            if let Some(ev) = self.event(source, id).await? {
                return Ok(Some(((*source).to_owned(), ev)));
            }
        }
        Ok(None)
    }

    /// Delivery records of one event for several subscriptions, with their
    /// attempt logs; subscriptions without a delivery are left out.
    pub async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        if subs.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.deliveries_of(source, id, subs))
            .await
    }

    /// A delivery's state.
    pub async fn delivery(
        &self,
        source: &str,
        id: &EventId,
        sub: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let mut found = self
            .delivery_records(source, std::slice::from_ref(id), sub)
            .await?;
        Ok(found.pop().flatten())
    }

    /// A delivery's attempt log, oldest first.
    pub async fn attempts(
        &self,
        source: &str,
        id: &EventId,
        sub: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let found = self.deliveries_of(source, id, &[sub]).await?;
        Ok(found
            .into_iter()
            .next()
            .map(|(_, _, log)| log)
            .unwrap_or_default())
    }

    /// Delivery records of several events for one subscription.
    pub async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|| self.backend.delivery_records(source, ids, sub))
            .await
    }

    /// Replays dead letters of a route, paced: the i-th is due at
    /// `now + (start_index + i) × spacing`. Entries no longer dead are
    /// skipped. Returns how many were replayed.
    pub async fn replay(
        &self,
        source: &str,
        sub: &str,
        ids: &[EventId],
        spacing: Duration,
        start_index: u64,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let step = spacing.as_millis().min(i64::MAX as u128) as i64;
        let due: Vec<(EventId, i64)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let slot = (start_index as i64).saturating_add(i as i64);
                (id.clone(), now.saturating_add(step.saturating_mul(slot)))
            })
            .collect();
        self.measured("admin", self.backend.replay(source, sub, &due))
            .await
    }

    /// Delivers a stored event to a subscription again. Returns false when
    /// the event is not stored.
    pub async fn redeliver(
        &self,
        source: &str,
        sub: &str,
        id: &EventId,
    ) -> Result<bool, StoreError> {
        self.measured("admin", self.backend.redeliver(source, sub, id))
            .await
    }

    /// Appends an audit record; returns its id.
    pub async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        self.measured("admin", self.backend.audit_append(record))
            .await
    }

    /// Audit records after id `after` (exclusive), oldest first.
    pub async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        self.read(|| self.backend.audit_page(after, count)).await
    }

    /// A page of this store's contents (see [`copy`]).
    pub async fn export(
        &self,
        cursor: Option<&str>,
        max: usize,
    ) -> Result<copy::ExportPage, StoreError> {
        self.measured("admin", self.backend.export(cursor, max))
            .await
    }

    /// Writes the records this store does not hold yet; returns how many.
    pub async fn import(&self, records: &[copy::Record]) -> Result<u64, StoreError> {
        self.measured("admin", self.backend.import(records)).await
    }
}
