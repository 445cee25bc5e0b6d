//! What operators read and do through the admin API: event and dead-letter
//! listings, replay and redelivery, pause flags, and the append-only audit
//! stream. Kept apart from the ingest/delivery hot path in `mod.rs`.

use super::records::{delivery_record, stored_event};
use super::{RedisStore, with_lines};
use crate::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, ListOrder, RouteDepth, StoreError,
    StoredEvent,
};
use hookgate_core::time::now_ms;
use hookgate_core::{EventId, OrderKey};
use redis::Script;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(with_lines!("scripts/replay.lua")));
static REDELIVER: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_lines!("scripts/redeliver.lua")));

impl RedisStore {
    /// Every paused subscription id.
    pub async fn paused(&self) -> Result<HashSet<String>, StoreError> {
        let mut c = self.conn();
        let ids: Vec<String> = self
            .timed(
                redis::cmd("HKEYS")
                    .arg(self.keys().paused())
                    .query_async(&mut c),
            )
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// Pauses or resumes a subscription. Returns whether the flag changed.
    pub async fn set_paused(&self, sub: &str, paused: bool) -> Result<bool, StoreError> {
        let mut c = self.conn();
        let key = self.keys().paused();
        let changed: i64 = if paused {
            self.timed(
                redis::cmd("HSETNX")
                    .arg(key)
                    .arg(sub)
                    .arg(now_ms())
                    .query_async(&mut c),
            )
            .await?
        } else {
            self.timed(redis::cmd("HDEL").arg(key).arg(sub).query_async(&mut c))
                .await?
        };
        Ok(changed == 1)
    }

    /// A route's gauges in one round trip: backlog and the due time of its
    /// earliest waiting delivery (ms), if any. Held deliveries count as
    /// queued too (they wait, behind their ordering key).
    pub async fn route_gauges(
        &self,
        source: &str,
        sub: &str,
    ) -> Result<(RouteDepth, Option<i64>), StoreError> {
        let mut c = self.conn();
        let k = self.keys();
        type Gauges = (
            u64,
            u64,
            u64,
            Vec<(String, f64)>,
            u64,
            u64,
            Vec<(String, f64)>,
        );
        let (queued, in_flight, dead, head, held, blocked, oldest): Gauges = self
            .timed(
                redis::pipe()
                    .cmd("ZCARD")
                    .arg(k.route_queue(source, sub))
                    .cmd("ZCARD")
                    .arg(k.route_leases(source, sub))
                    .cmd("ZCARD")
                    .arg(k.route_dlq(source, sub))
                    .cmd("ZRANGE")
                    .arg(k.route_queue(source, sub))
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES")
                    .cmd("ZCARD")
                    .arg(k.held(source, sub))
                    .cmd("ZCARD")
                    .arg(k.blocked(source, sub))
                    .cmd("ZRANGE")
                    .arg(k.blocked(source, sub))
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES")
                    .query_async(&mut c),
            )
            .await?;
        let depth = RouteDepth {
            queued: queued + held,
            held,
            blocked_keys: blocked,
            oldest_blocked_ms: oldest.first().map(|(_, since)| *since as i64),
            in_flight,
            dead,
        };
        Ok((depth, head.first().map(|(_, due)| *due as i64)))
    }

    /// The route's blocked ordering keys, oldest first: each key's head
    /// (its line's first entry), with its attempts, last status code and
    /// error (or dead reason), and how many wait behind it. Two round
    /// trips: the keys and their lines, then the heads' records.
    pub async fn blocked_keys(
        &self,
        source: &str,
        sub: &str,
        limit: usize,
    ) -> Result<Vec<BlockedKey>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = self.keys();
        let mut c = self.conn();
        let keys: Vec<(Vec<u8>, f64)> = self
            .timed(
                redis::cmd("ZRANGE")
                    .arg(k.blocked(source, sub))
                    .arg(0)
                    .arg(limit.saturating_sub(1))
                    .arg("WITHSCORES")
                    .query_async(&mut c),
            )
            .await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, i64)> = keys
            .into_iter()
            .map(|(key, since)| (String::from_utf8_lossy(&key).into_owned(), since as i64))
            .collect();
        let mut pipe = redis::pipe();
        for (key, _) in &keys {
            let line = k.line(source, sub, key);
            pipe.cmd("ZRANGE").arg(&line).arg(0).arg(0);
            pipe.cmd("ZCARD").arg(&line);
        }
        let lines: Vec<(Vec<String>, u64)> = self.timed(pipe.query_async(&mut c)).await?;
        // (key, since, head, waiting) for the lines that still have a head.
        let heads: Vec<(String, i64, EventId, u64)> = keys
            .into_iter()
            .zip(lines)
            .filter_map(|((key, since), (head, len))| {
                let head = EventId::parse(head.first()?)?;
                Some((key, since, head, len.saturating_sub(1)))
            })
            .collect();
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (_, _, head, _) in &heads {
            pipe.cmd("HGETALL").arg(k.delivery(source, head, sub));
            pipe.cmd("LINDEX")
                .arg(k.attempts(source, head, sub))
                .arg(-1);
        }
        let records: Vec<(HashMap<String, String>, Option<String>)> =
            self.timed(pipe.query_async(&mut c)).await?;
        Ok(heads
            .into_iter()
            .zip(records)
            .map(|((key, since_ms, head, waiting), (map, last))| {
                let record = delivery_record(map);
                let last: Option<AttemptRecord> = last.and_then(|l| serde_json::from_str(&l).ok());
                let reason = record.as_ref().and_then(|r| r.reason.clone());
                BlockedKey {
                    key: OrderKey::from_stored(key),
                    head,
                    attempts: record.as_ref().map_or(0, |r| r.attempts),
                    last_status_code: record.as_ref().and_then(|r| r.last_status_code),
                    last_error: last.and_then(|a| a.error).or(reason),
                    since_ms,
                    waiting,
                }
            })
            .collect())
    }

    /// A page of a source's event index strictly past `after` (receive ms,
    /// id) in `order`, without an offset: the members scored the cursor's
    /// millisecond past its id (a zset orders ties by member, as the
    /// listing does), then the range beyond that millisecond from its
    /// start. Two `ZRANGE`s of O(log N + page + ties), however deep.
    pub async fn event_index_after(
        &self,
        source: &str,
        (min_ms, max_ms): (i64, i64),
        order: ListOrder,
        after: Option<(i64, &EventId)>,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let oldest = now_ms().saturating_sub(self.inner.settings.retention_ms());
        let key = self.keys().event_index(source);
        let min_ms = min_ms.max(oldest);
        let Some((at, id)) = after else {
            return self
                .zrange_by_score(&key, (min_ms, max_ms), order, 0, count)
                .await;
        };
        let mut page = Vec::new();
        if (min_ms..=max_ms).contains(&at) {
            // Every tie (members are compared byte-wise, as Redis orders them).
            let ties = self
                .zrange_by_score(&key, (at, at), order, 0, i64::MAX as usize)
                .await?;
            page.extend(
                ties.into_iter()
                    .filter(|(member, _)| match order {
                        ListOrder::OldestFirst => member.as_str() > id.as_str(),
                        ListOrder::NewestFirst => member.as_str() < id.as_str(),
                    })
                    .take(count),
            );
        }
        let rest = match order {
            ListOrder::OldestFirst => (min_ms.max(at.saturating_add(1)), max_ms),
            ListOrder::NewestFirst => (min_ms, max_ms.min(at.saturating_sub(1))),
        };
        if page.len() < count && rest.0 <= rest.1 {
            let more = self
                .zrange_by_score(&key, rest, order, 0, count - page.len())
                .await?;
            page.extend(more);
        }
        Ok(page)
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
        // Trimmed lazily (by claims); their records expired with the same
        // retention: never list them.
        let oldest = now_ms().saturating_sub(self.inner.settings.retention_ms());
        self.zrange_by_score(
            &self.keys().route_dlq(source, sub),
            (min_ms.max(oldest), max_ms),
            ListOrder::OldestFirst,
            offset,
            count,
        )
        .await
    }

    async fn zrange_by_score(
        &self,
        key: &str,
        (min_ms, max_ms): (i64, i64),
        order: ListOrder,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(EventId, i64)>, StoreError> {
        let mut c = self.conn();
        let mut cmd = redis::cmd("ZRANGE");
        match order {
            ListOrder::OldestFirst => cmd.arg(key).arg(min_ms).arg(max_ms).arg("BYSCORE"),
            // REV takes the bounds high first, and orders ties by member
            // descending: the exact reverse of the ascending order.
            ListOrder::NewestFirst => cmd
                .arg(key)
                .arg(max_ms)
                .arg(min_ms)
                .arg("BYSCORE")
                .arg("REV"),
        };
        let items: Vec<(String, f64)> = self
            .timed(
                cmd.arg("LIMIT")
                    .arg(offset)
                    .arg(count)
                    .arg("WITHSCORES")
                    .query_async(&mut c),
            )
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|(id, at)| EventId::parse(&id).map(|id| (id, at as i64)))
            .collect())
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
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGET")
                .arg(self.keys().event(source, id))
                .arg("type");
        }
        let mut c = self.conn();
        self.timed(pipe.query_async(&mut c)).await
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
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(self.keys().event(source, id));
        }
        let mut c = self.conn();
        let maps: Vec<HashMap<String, Vec<u8>>> = self.timed(pipe.query_async(&mut c)).await?;
        Ok(maps.into_iter().map(stored_event).collect())
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
        let mut pipe = redis::pipe();
        for sub in subs {
            pipe.cmd("HGETALL")
                .arg(self.keys().delivery(source, id, sub));
            pipe.cmd("LRANGE")
                .arg(self.keys().attempts(source, id, sub))
                .arg(0)
                .arg(-1);
        }
        let mut c = self.conn();
        let replies: Vec<redis::Value> = self.timed(pipe.query_async(&mut c)).await?;
        let mut out = Vec::new();
        for (sub, pair) in subs.iter().zip(replies.chunks_exact(2)) {
            let map: HashMap<String, String> = redis::from_redis_value(pair[0].clone())
                .map_err(|e| StoreError::Protocol(e.to_string()))?;
            let log: Vec<String> = redis::from_redis_value(pair[1].clone())
                .map_err(|e| StoreError::Protocol(e.to_string()))?;
            if let Some(record) = delivery_record(map) {
                let attempts = log
                    .iter()
                    .filter_map(|s| serde_json::from_str(s).ok())
                    .collect();
                out.push(((*sub).to_owned(), record, attempts));
            }
        }
        Ok(out)
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
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL")
                .arg(self.keys().delivery(source, id, sub));
        }
        let mut c = self.conn();
        let maps: Vec<HashMap<String, String>> = self.timed(pipe.query_async(&mut c)).await?;
        Ok(maps.into_iter().map(delivery_record).collect())
    }

    /// Replays dead letters of a route, each queued at its due time (ms).
    /// Entries no longer dead are skipped. Returns how many were replayed.
    pub async fn replay(
        &self,
        source: &str,
        sub: &str,
        due: &[(EventId, i64)],
    ) -> Result<u64, StoreError> {
        if due.is_empty() {
            return Ok(0);
        }
        let k = self.keys();
        let mut inv = REPLAY.prepare_invoke();
        inv.key(k.route_queue(source, sub))
            .key(k.route_dlq(source, sub));
        inv.arg(now_ms())
            .arg(self.inner.settings.retention_ms())
            .arg(k.source_base(source))
            .arg(sub);
        for (id, at) in due {
            inv.arg(id.as_str()).arg(*at);
        }
        let mut c = self.conn();
        self.timed(inv.invoke_async(&mut c)).await
    }

    /// Delivers a stored event to a subscription again. Returns false when
    /// the event is not stored.
    pub async fn redeliver(
        &self,
        source: &str,
        sub: &str,
        id: &EventId,
    ) -> Result<bool, StoreError> {
        let k = self.keys();
        let mut inv = REDELIVER.prepare_invoke();
        inv.key(k.route_queue(source, sub))
            .key(k.route_dlq(source, sub))
            .key(k.route_leases(source, sub));
        inv.arg(now_ms())
            .arg(self.inner.settings.retention_ms())
            .arg(k.source_base(source))
            .arg(sub)
            .arg(id.as_str());
        let mut c = self.conn();
        let done: i64 = self.timed(inv.invoke_async(&mut c)).await?;
        Ok(done == 1)
    }

    /// Appends an audit record; returns its stream id.
    pub async fn audit_append(&self, record: &AuditRecord) -> Result<String, StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut c = self.conn();
        self.timed(
            redis::cmd("XADD")
                .arg(self.keys().audit())
                .arg("*")
                .arg("r")
                .arg(json)
                .query_async(&mut c),
        )
        .await
    }

    /// Audit records after stream id `after` (exclusive), oldest first.
    pub async fn audit_page(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, AuditRecord)>, StoreError> {
        let start = match after {
            Some(id) => format!("({id}"),
            None => "-".to_owned(),
        };
        let mut c = self.conn();
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .timed(
                redis::cmd("XRANGE")
                    .arg(self.keys().audit())
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut c),
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let json = fields.into_iter().find(|(k, _)| k == "r")?.1;
                Some((id, serde_json::from_str(&json).ok()?))
            })
            .collect())
    }
}
