//! [`Backend`] for [`RedisStore`]: the contract's calls, each forwarded to
//! the inherent method (or `admin`/`copy`) that does it. Its own module so
//! the trait's long, uniform list stays out of the connection setup.

use super::RedisStore;
use crate::contract::{Attempted, Backend, StoreStatus};
use crate::copy::{ExportPage, Record};
use crate::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, LeaseOwner, ListOrder, NewEvent,
    RouteClaim, RouteDepth, StoreError, StoredEvent,
};
use hookgate_core::EventId;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

#[async_trait::async_trait]
impl Backend for RedisStore {
    fn beside(&self) -> Result<Arc<dyn Backend>, StoreError> {
        Ok(Arc::new(RedisStore::beside(self)?))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.watch_policy();
        let policy = self.check_eviction_policy().await?;
        Ok(StoreStatus {
            backend: "redis",
            warning: policy.is_none().then(|| {
                "store does not allow CONFIG GET; cannot check maxmemory-policy".to_owned()
            }),
            details: policy
                .map(|p| vec![("maxmemory_policy", p)])
                .unwrap_or_default(),
        })
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // Reachable, and taking writes: each probe checks the policy anew
        // (one CONFIG GET), so a Redis switched to evicting while the
        // gateway runs is refused from the next probe on.
        // And not out of memory: a Redis at its maxmemory with noeviction
        // answers PING and CONFIG GET but refuses every write.
        self.ping().await?;
        self.check_eviction_policy().await?;
        self.write_probe().await
    }

    async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        RedisStore::ingest(self, source, dedup_window, events).await
    }

    async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        RedisStore::fanout_due(self, source, max, min_age).await
    }

    async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        RedisStore::fanout_commit(self, source, items).await
    }

    async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        RedisStore::route_claim(self, source, sub, max, owner).await
    }

    async fn take_back(
        &self,
        owner: &LeaseOwner,
        routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        RedisStore::take_back(self, owner, routes).await
    }

    async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        RedisStore::route_finish(self, source, sub, done).await
    }

    async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        RedisStore::paused(self).await
    }

    async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        RedisStore::set_paused(self, sub, paused).await
    }

    async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        RedisStore::route_gauges(self, source, sub).await
    }

    async fn blocked_keys(
        &self,
        source: &str,
        sub: &str,
        limit: usize,
    ) -> Result<Vec<BlockedKey>, StoreError> {
        RedisStore::blocked_keys(self, source, sub, limit).await
    }

    async fn event_index_after(
        &self,
        source: &str,
        range: (i64, i64),
        order: ListOrder,
        after: Option<(i64, EventId)>,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let after = after.as_ref().map(|(ms, id)| (*ms, id));
        RedisStore::event_index_after(self, source, range, order, after, count).await
    }

    async fn dead_letter_range(
        &self,
        source: &str,
        sub: &str,
        min_ms: i64,
        max_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        RedisStore::dead_letter_range(self, source, sub, min_ms, max_ms, offset, count).await
    }

    async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        RedisStore::event_types(self, source, ids).await
    }

    async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        RedisStore::events(self, source, ids).await
    }

    async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        RedisStore::deliveries_of(self, source, id, subs).await
    }

    async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        RedisStore::delivery_records(self, source, ids, sub).await
    }

    async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError> {
        RedisStore::replay(self, source, sub, due).await
    }

    async fn redeliver(&self, source: &str, sub: &str, id: &EventId) -> Result<bool, StoreError> {
        RedisStore::redeliver(self, source, sub, id).await
    }

    async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        RedisStore::audit_append(self, record).await
    }

    async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        RedisStore::audit_page(self, after, count).await
    }

    async fn export(&self, cursor: Option<&str>, max: usize) -> Result<ExportPage, StoreError> {
        self.export_records(cursor, max).await
    }

    async fn import(&self, records: &[Record]) -> Result<u64, StoreError> {
        self.import_records(records).await
    }
}
