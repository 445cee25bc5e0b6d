//! [`Backend`] for [`SqliteStore`]: each call of the contract as a job for
//! the writer thread (`write`) or a read on the read pool (`read`). Its own
//! module so the trait's long, uniform list stays out of the setup.

use super::write::OwnedEvent;
use super::{SqliteStore, copy, read, schema, write, writer};
use crate::contract::{Attempted, Backend, StoreStatus};
use crate::copy::{ExportPage, Record};
use crate::{
    AttemptRecord, AuditRecord, BlockedKey, ClaimedDelivery, DeliveryRecord, LeaseOwner, ListOrder,
    NewEvent, RouteClaim, RouteDepth, StoreError, StoredEvent,
};
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How long a write that failed for a full disk keeps the store unready.
const DISK_FULL_MEMORY: Duration = Duration::from_secs(5);

fn owned_ids(ids: &[EventId]) -> Vec<EventId> {
    ids.to_vec()
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    fn beside(&self) -> Result<Arc<dyn Backend>, StoreError> {
        // One writer serves every runtime: the same store.
        Ok(Arc::new(self.clone()))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.ready().await?;
        let version = self.read(|conn, _| schema::version(conn)).await?;
        Ok(StoreStatus {
            backend: "sqlite",
            details: vec![
                ("path", self.inner.path.display().to_string()),
                ("schema", version.to_string()),
            ],
            warning: None,
        })
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // A write that failed for a full disk in the last few seconds, with
        // no data committed since, says more than a small probe that fits
        // in what room is left: not ready. Past that, the probe decides, so
        // readiness returns by itself once there is room again.
        if let Some(at) = self.inner.writer.disk_full_since()
            && now_ms() - at < DISK_FULL_MEMORY.as_millis() as i64
        {
            return Err(StoreError::DiskFull);
        }
        self.write(writer::PROBE, true, |conn, now, _| write::probe(conn, now))
            .await
    }

    async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        let source = source.to_owned();
        let dedup_ms = dedup_window.as_millis().min(i64::MAX as u128) as i64;
        let events: Vec<OwnedEvent> = events
            .iter()
            .map(|ev| OwnedEvent {
                id: ev.id.as_str().to_owned(),
                ty: ev.ty.to_owned(),
                ce: ev.cloudevent.to_vec(),
                tp: ev.traceparent.to_owned(),
                order: ev
                    .order
                    .iter()
                    .map(|slot| (slot.sub.clone(), slot.key.as_str().to_owned()))
                    .collect(),
            })
            .collect();
        self.write(writer::INGEST, true, move |conn, now, spans| {
            write::ingest(conn, now, &source, dedup_ms, spans, &events)
        })
        .await
    }

    async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        let source = source.to_owned();
        let age = min_age.as_millis().min(i64::MAX as u128) as i64;
        self.read(move |conn, now| read::fanout_due(conn, now, &source, max, now - age))
            .await
    }

    async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        let source = source.to_owned();
        let items: Vec<(String, Vec<String>)> = items
            .iter()
            .map(|(id, subs)| {
                (
                    id.as_str().to_owned(),
                    subs.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect();
        self.write("fanout", false, move |conn, now, spans| {
            write::fanout_commit(conn, now, &source, spans, &items)
        })
        .await
    }

    async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        // One process per file: every lease is this process's, and all of
        // them were taken back when it opened the file.
        _owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let (claimed, next) = self
            .write("claim", false, move |conn, now, spans| {
                write::route_claim(conn, now, &source, &sub, spans, max)
            })
            .await?;
        let deliveries = claimed
            .into_iter()
            .map(|c| {
                Ok(ClaimedDelivery {
                    id: write::event_id(&c.id)?,
                    lease: c.lease,
                    attempts: c.attempts,
                    first_ms: c.first_ms,
                    cloudevent: bytes::Bytes::from(c.ce),
                    traceparent: c.tp,
                    row: Some(c.row),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(RouteClaim {
            deliveries,
            next_due_ms: next,
        })
    }

    async fn take_back(
        &self,
        _owner: &LeaseOwner,
        _routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        // Done at open (`take_back_leases`): the leases in the file then
        // were all of an earlier run of this process's instance, and the
        // ones since are this run's.
        Ok(0)
    }

    async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let id = done.id.as_str().to_owned();
        let (lease, attempts, row) = (done.lease, done.attempts, done.row);
        let finish = done.finish.clone();
        let record = done.record.cloned();
        self.write("finish", false, move |conn, now, spans| {
            write::route_finish(
                conn,
                now,
                &source,
                &sub,
                spans,
                (&id, row),
                lease,
                attempts,
                &finish,
                record.as_ref(),
            )
        })
        .await
    }

    async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|conn, _| read::paused(conn)).await
    }

    async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        let sub = sub.to_owned();
        self.write("admin", true, move |conn, now, _| {
            write::set_paused(conn, now, &sub, paused)
        })
        .await
    }

    async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        self.read(move |conn, _| read::route_gauges(conn, &source, &sub))
            .await
    }

    async fn blocked_keys(
        &self,
        source: &str,
        sub: &str,
        limit: usize,
    ) -> Result<Vec<BlockedKey>, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        self.read(move |conn, _| read::blocked_keys(conn, &source, &sub, limit))
            .await
    }

    async fn event_index_after(
        &self,
        source: &str,
        range: (i64, i64),
        order: ListOrder,
        after: Option<(i64, EventId)>,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let source = source.to_owned();
        self.read(move |conn, now| {
            let after = after.as_ref().map(|(ms, id)| (*ms, id.as_str()));
            read::event_index_after(conn, now, &source, range, order, after, count)
        })
        .await
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
        let (source, sub) = (source.to_owned(), sub.to_owned());
        self.read(move |conn, now| {
            read::dead_letter_range(conn, now, (&source, &sub), (min_ms, max_ms), offset, count)
        })
        .await
    }

    async fn event_types(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let (source, ids) = (source.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::event_types(conn, now, &source, &ids))
            .await
    }

    async fn events(
        &self,
        source: &str,
        ids: &[EventId],
    ) -> Result<Vec<Option<StoredEvent>>, StoreError> {
        let (source, ids) = (source.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::events(conn, now, &source, &ids))
            .await
    }

    async fn deliveries_of(
        &self,
        source: &str,
        id: &EventId,
        subs: &[&str],
    ) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        let (source, id) = (source.to_owned(), id.clone());
        let subs: Vec<String> = subs.iter().map(|s| (*s).to_owned()).collect();
        self.read(move |conn, now| read::deliveries_of(conn, now, &source, &id, &subs))
            .await
    }

    async fn delivery_records(
        &self,
        source: &str,
        ids: &[EventId],
        sub: &str,
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        let (source, sub, ids) = (source.to_owned(), sub.to_owned(), owned_ids(ids));
        self.read(move |conn, now| read::delivery_records(conn, now, &source, &ids, &sub))
            .await
    }

    async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError> {
        let (source, sub) = (source.to_owned(), sub.to_owned());
        let due: Vec<(String, i64)> = due
            .iter()
            .map(|(id, at)| (id.as_str().to_owned(), *at))
            .collect();
        self.write("admin", true, move |conn, now, spans| {
            write::replay(conn, now, &source, &sub, spans, &due)
        })
        .await
    }

    async fn redeliver(&self, source: &str, sub: &str, id: &EventId) -> Result<bool, StoreError> {
        let (source, sub, id) = (source.to_owned(), sub.to_owned(), id.as_str().to_owned());
        self.write("admin", true, move |conn, now, spans| {
            write::redeliver(conn, now, &source, &sub, spans, &id)
        })
        .await
    }

    async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.write("admin", true, move |conn, now, _| {
            write::audit_append(conn, now, &json)
        })
        .await
    }

    async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        let after = after.map(str::to_owned);
        self.read(move |conn, _| read::audit_page(conn, after.as_deref(), count))
            .await
    }

    async fn export(&self, cursor: Option<&str>, max: usize) -> Result<ExportPage, StoreError> {
        let cursor = cursor.map(str::to_owned);
        self.read(move |conn, now| copy::export(conn, now, cursor.as_deref(), max))
            .await
    }

    async fn import(&self, records: &[Record]) -> Result<u64, StoreError> {
        let records = records.to_vec();
        self.write("admin", true, move |conn, now, _| {
            copy::import(conn, now, &records)
        })
        .await
    }
}
