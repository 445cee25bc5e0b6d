//! Export and import of a Redis store (see [`crate::copy`]).
//!
//! Import: one script call per record, each writing only what Redis does
//! not hold yet; the audit records go into the stream with their own ids,
//! after the last one it holds.
//!
//! Export (one Redis; not a Redis Cluster in this version, whose keys would
//! have to be scanned master by master): `SCAN`s the keyspace for the
//! gateway's keys by kind, in phases (`c` dedup claims, `e` events, `x`
//! deliveries, `o` ordering keys' lines, `p` pause flags, `a` the audit
//! stream), reading each found
//! key with its remaining TTL; the cursor is `<phase>:<SCAN cursor>`. A key
//! `SCAN` returns twice is exported twice, which an import shrugs off.

use super::RedisStore;
use super::records::{delivery_record, stored_event};
use super::write::{order_json, parse_order};
use crate::copy::{CopiedState, ExportPage, Record};
use crate::{AttemptRecord, AuditRecord, StoreError};
use hookgate_config::StoreTopology;
use hookgate_core::time::now_ms;
use hookgate_core::{EventId, OrderKey};
use redis::Script;
use std::collections::HashMap;
use std::sync::LazyLock;

static IMPORT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/import.lua")));

/// An audit id as the two numbers of a stream id.
fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl RedisStore {
    pub(crate) async fn export_records(
        &self,
        cursor: Option<&str>,
        max: usize,
    ) -> Result<ExportPage, StoreError> {
        if self.inner.cfg.topology == StoreTopology::Cluster {
            return Err(StoreError::Unsupported(
                "copying out of a Redis Cluster is not supported in this version; \
                 copy from one Redis or from the embedded (sqlite) store"
                    .into(),
            ));
        }
        let cursor = cursor.unwrap_or("c:0");
        let bad =
            || StoreError::Protocol(format!("{cursor:?} is not an export cursor of this store"));
        let (phase, at) = cursor.split_once(':').ok_or_else(bad)?;
        let (kind, next_phase) = match phase {
            "c" => ("d", "e:0"),
            "e" => ("e", "x:0"),
            "x" => ("x", "o:0"),
            "o" => ("o", "p:"),
            "p" => return self.export_paused().await,
            "a" => return self.export_audit(at, max).await,
            _ => return Err(bad()),
        };
        let scan_at: u64 = at.parse().map_err(|_| bad())?;
        let pattern = format!("{}:{{*}}:{kind}:*", self.inner.keys.prefix());
        let mut c = self.conn();
        let (next, keys): (u64, Vec<String>) = self
            .timed(
                redis::cmd("SCAN")
                    .arg(scan_at)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(max.max(1))
                    .query_async(&mut c),
            )
            .await?;
        let records = match kind {
            "d" => self.export_claims(&keys).await?,
            "e" => self.export_events(&keys).await?,
            "x" => self.export_deliveries(&keys).await?,
            _ => self.export_lines(&keys).await?,
        };
        Ok(ExportPage {
            records,
            next: Some(if next == 0 {
                next_phase.to_owned()
            } else {
                format!("{phase}:{next}")
            }),
        })
    }

    /// (source, rest after `<kind>:`) of a key `P:{S}:<kind>:<rest>`.
    fn split_key<'k>(&self, key: &'k str, kind: &str) -> Option<(&'k str, &'k str)> {
        let rest = key
            .strip_prefix(self.inner.keys.prefix())?
            .strip_prefix(":{")?;
        let (source, rest) = rest.split_once("}:")?;
        Some((source, rest.strip_prefix(kind)?.strip_prefix(':')?))
    }

    async fn ttls(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("PTTL").arg(key);
        }
        let mut c = self.conn();
        self.timed(pipe.query_async(&mut c)).await
    }

    async fn export_claims(&self, keys: &[String]) -> Result<Vec<Record>, StoreError> {
        let now = now_ms();
        let ttls = self.ttls(keys).await?;
        Ok(keys
            .iter()
            .zip(ttls)
            .filter(|(_, ttl)| *ttl > 0)
            .filter_map(|(key, ttl)| {
                let (source, id) = self.split_key(key, "d")?;
                Some(Record::Claim {
                    source: source.to_owned(),
                    id: EventId::parse(id)?,
                    until_ms: now + ttl,
                })
            })
            .collect())
    }

    async fn export_events(&self, keys: &[String]) -> Result<Vec<Record>, StoreError> {
        let now = now_ms();
        let found: Vec<(&str, EventId, &String)> = keys
            .iter()
            .filter_map(|key| {
                let (source, id) = self.split_key(key, "e")?;
                Some((source, EventId::parse(id)?, key))
            })
            .collect();
        let mut pipe = redis::pipe();
        for (source, id, key) in &found {
            pipe.cmd("HGETALL").arg(*key);
            pipe.cmd("PTTL").arg(*key);
            pipe.cmd("ZSCORE")
                .arg(self.inner.keys.fanout_queue(source))
                .arg(id.as_str());
        }
        let mut c = self.conn();
        let replies: Vec<redis::Value> = self.timed(pipe.query_async(&mut c)).await?;
        let mut out = Vec::with_capacity(found.len());
        for ((source, id, _), reply) in found.into_iter().zip(replies.chunks_exact(3)) {
            let map: HashMap<String, Vec<u8>> = redis::from_redis_value(reply[0].clone())
                .map_err(|e| StoreError::Protocol(e.to_string()))?;
            let ttl: i64 = redis::from_redis_value(reply[1].clone())
                .map_err(|e| StoreError::Protocol(e.to_string()))?;
            let due: Option<f64> = redis::from_redis_value(reply[2].clone())
                .map_err(|e| StoreError::Protocol(e.to_string()))?;
            let order = parse_order(map.get("ol").map(Vec::as_slice));
            let Some(ev) = stored_event(map).filter(|_| ttl > 0) else {
                continue;
            };
            out.push(Record::Event {
                source: source.to_owned(),
                id,
                ty: ev.ty,
                cloudevent: ev.cloudevent,
                traceparent: ev.traceparent,
                received_ms: ev.received_ms,
                keep_until_ms: now + ttl,
                fanout_due_ms: due.map(|d| d as i64),
                order,
            });
        }
        Ok(out)
    }

    async fn export_deliveries(&self, keys: &[String]) -> Result<Vec<Record>, StoreError> {
        let now = now_ms();
        let k = &self.inner.keys;
        // `x:<event id>:<subscription>`: ids are base32, never a colon.
        let found: Vec<(&str, EventId, &str, &String)> = keys
            .iter()
            .filter_map(|key| {
                let (source, rest) = self.split_key(key, "x")?;
                let (id, sub) = rest.split_once(':')?;
                Some((source, EventId::parse(id)?, sub, key))
            })
            .collect();
        let mut pipe = redis::pipe();
        for (source, id, sub, key) in &found {
            pipe.cmd("HGETALL").arg(*key);
            pipe.cmd("PTTL").arg(*key);
            pipe.cmd("LRANGE")
                .arg(k.attempts(source, id, sub))
                .arg(0)
                .arg(-1);
            pipe.cmd("ZSCORE")
                .arg(k.route_queue(source, sub))
                .arg(id.as_str());
        }
        let mut c = self.conn();
        let replies: Vec<redis::Value> = self.timed(pipe.query_async(&mut c)).await?;
        let protocol = |e: redis::ParsingError| StoreError::Protocol(e.to_string());
        let mut out = Vec::with_capacity(found.len());
        for ((source, id, sub, _), reply) in found.into_iter().zip(replies.chunks_exact(4)) {
            let map: HashMap<String, String> =
                redis::from_redis_value(reply[0].clone()).map_err(protocol)?;
            let ttl: i64 = redis::from_redis_value(reply[1].clone()).map_err(protocol)?;
            let log: Vec<String> = redis::from_redis_value(reply[2].clone()).map_err(protocol)?;
            let due: Option<f64> = redis::from_redis_value(reply[3].clone()).map_err(protocol)?;
            let num = |f: &str| map.get(f).and_then(|v| v.parse::<i64>().ok());
            let (first_ms, replayed_at_ms) = (num("first").unwrap_or(now), num("replayed_at"));
            let done_at = num("done_at").unwrap_or(now);
            let key = map
                .get("ok")
                .filter(|k| !k.is_empty())
                .map(|k| OrderKey::from_stored(k.clone()));
            let held = map.contains_key("held");
            let Some(record) = delivery_record(map).filter(|_| ttl > 0) else {
                continue;
            };
            let state = match record.status {
                crate::DeliveryStatus::Delivered => CopiedState::Delivered(done_at),
                crate::DeliveryStatus::Dead => CopiedState::Dead(record.dead_at_ms.unwrap_or(now)),
                // Queued at its due time; leased (or lost between the
                // two) due now.
                crate::DeliveryStatus::Pending if held => CopiedState::Held,
                crate::DeliveryStatus::Pending => {
                    CopiedState::Queued(due.map_or(now, |d| d as i64))
                }
            };
            out.push(Record::Delivery {
                source: source.to_owned(),
                sub: sub.to_owned(),
                id,
                state,
                attempts: record.attempts,
                first_ms,
                reclaims: record.reclaims,
                last_status_code: record.last_status_code,
                reason: record.reason,
                replayed_at_ms,
                keep_until_ms: now + ttl,
                log: log
                    .iter()
                    .filter_map(|l| serde_json::from_str::<AttemptRecord>(l).ok())
                    .collect(),
                key,
            });
        }
        Ok(out)
    }

    /// Every entry of the lines `keys` (`o:<subscription>:<ordering key>`).
    async fn export_lines(&self, keys: &[String]) -> Result<Vec<Record>, StoreError> {
        // The subscription id has no `:`; the ordering key is the rest.
        let found: Vec<(&str, &str, &str, &String)> = keys
            .iter()
            .filter_map(|key| {
                let (source, rest) = self.split_key(key, "o")?;
                let (sub, order_key) = rest.split_once(':')?;
                (!order_key.is_empty()).then_some((source, sub, order_key, key))
            })
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (_, _, _, key) in &found {
            pipe.cmd("ZRANGE")
                .arg(*key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES");
        }
        let mut c = self.conn();
        let lines: Vec<Vec<(String, f64)>> = self.timed(pipe.query_async(&mut c)).await?;
        let mut out = Vec::new();
        for ((source, sub, order_key, _), entries) in found.into_iter().zip(lines) {
            for (id, position) in entries {
                let Some(id) = EventId::parse(&id) else {
                    continue;
                };
                out.push(Record::Line {
                    source: source.to_owned(),
                    sub: sub.to_owned(),
                    key: OrderKey::from_stored(order_key.to_owned()),
                    id,
                    position: position as i64,
                });
            }
        }
        Ok(out)
    }

    async fn export_paused(&self) -> Result<ExportPage, StoreError> {
        let mut c = self.conn();
        let flags: HashMap<String, i64> = self
            .timed(
                redis::cmd("HGETALL")
                    .arg(self.inner.keys.paused())
                    .query_async(&mut c),
            )
            .await?;
        Ok(ExportPage {
            records: flags
                .into_iter()
                .map(|(sub, at_ms)| Record::Paused { sub, at_ms })
                .collect(),
            next: Some("a:".to_owned()),
        })
    }

    async fn export_audit(&self, after: &str, max: usize) -> Result<ExportPage, StoreError> {
        let start = if after.is_empty() {
            "-".to_owned()
        } else {
            format!("({after}")
        };
        let mut c = self.conn();
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .timed(
                redis::cmd("XRANGE")
                    .arg(self.inner.keys.audit())
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(max.max(1))
                    .query_async(&mut c),
            )
            .await?;
        let full = entries.len() >= max.max(1);
        let last = entries.last().map(|(id, _)| format!("a:{id}"));
        let records = entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let json = fields.into_iter().find(|(k, _)| k == "r")?.1;
                let record: AuditRecord = serde_json::from_str(&json).ok()?;
                Some(Record::Audit { id, record })
            })
            .collect();
        Ok(ExportPage {
            records,
            next: if full { last } else { None },
        })
    }

    /// Writes the records the store does not hold yet; how many it wrote.
    ///
    /// Longer than the crate's ~80-line guideline on purpose: one `match`
    /// over the record kinds, each arm that kind's arguments to the import
    /// script (or, for audit records, the stream writes with the
    /// stream's last id carried from record to record), so every kind reads
    /// side by side with the others and with the SQLite import, arm for
    /// arm. Splitting the arms apart would move that shared state
    /// (`last_audit`, the script invocation) into parameters.
    pub(crate) async fn import_records(&self, records: &[Record]) -> Result<u64, StoreError> {
        let k = self.keys().clone();
        let mut written = 0;
        // The stream's last id: audit records at or before it are there.
        let mut last_audit: Option<(u64, u64)> = None;
        let mut audit_read = false;
        for record in records {
            let now = now_ms();
            let mut inv = IMPORT.prepare_invoke();
            match record {
                Record::Claim {
                    source,
                    id,
                    until_ms,
                } => {
                    inv.key(k.dedup(source, id));
                    inv.arg("claim").arg(now).arg(*until_ms);
                }
                Record::Event {
                    source,
                    id,
                    ty,
                    cloudevent,
                    traceparent,
                    received_ms,
                    keep_until_ms,
                    fanout_due_ms,
                    order,
                } => {
                    inv.key(k.event(source, id))
                        .key(k.event_index(source))
                        .key(k.fanout_queue(source));
                    inv.arg("event")
                        .arg(now)
                        .arg(id.as_str())
                        .arg(ty)
                        .arg(cloudevent.as_slice())
                        .arg(traceparent)
                        .arg(*received_ms)
                        .arg(*keep_until_ms)
                        .arg(fanout_due_ms.map(|d| d.to_string()).unwrap_or_default())
                        .arg(order_json(order));
                }
                Record::Delivery {
                    source,
                    sub,
                    id,
                    state,
                    attempts,
                    first_ms,
                    reclaims,
                    last_status_code,
                    reason,
                    replayed_at_ms,
                    keep_until_ms,
                    log,
                    key,
                } => {
                    let (st, at) = match *state {
                        CopiedState::Queued(due) => ("pending", due),
                        CopiedState::Delivered(at) => ("delivered", at),
                        CopiedState::Dead(at) => ("dead", at),
                        // Queued when its line's head leaves (import.lua).
                        CopiedState::Held => ("pending", 0),
                    };
                    inv.key(k.delivery(source, id, sub))
                        .key(k.attempts(source, id, sub))
                        .key(k.route_queue(source, sub))
                        .key(k.route_dlq(source, sub));
                    inv.arg("delivery")
                        .arg(now)
                        .arg(id.as_str())
                        .arg(st)
                        .arg(at)
                        .arg(*attempts)
                        .arg(*first_ms)
                        .arg(*reclaims)
                        .arg(last_status_code.map(|c| c.to_string()).unwrap_or_default())
                        .arg(reason.as_deref().unwrap_or(""))
                        .arg(replayed_at_ms.map(|t| t.to_string()).unwrap_or_default())
                        .arg(*keep_until_ms)
                        .arg(key.as_ref().map_or("", OrderKey::as_str))
                        .arg(if *state == CopiedState::Held { "1" } else { "" });
                    for entry in log.iter().rev().take(crate::ATTEMPT_LOG_CAP).rev() {
                        let json = serde_json::to_vec(entry)
                            .map_err(|e| StoreError::Protocol(e.to_string()))?;
                        inv.arg(json);
                    }
                }
                Record::Line {
                    source,
                    sub,
                    key,
                    id,
                    position,
                } => {
                    inv.key(k.line(source, sub, key.as_str()))
                        .key(k.order_seq(source))
                        .key(k.event(source, id))
                        .key(k.delivery(source, id, sub))
                        .key(k.held(source, sub))
                        .key(k.blocked(source, sub));
                    inv.arg("line")
                        .arg(now)
                        .arg(id.as_str())
                        .arg(*position)
                        .arg(self.inner.settings.retention_ms())
                        .arg(key.as_str());
                }
                Record::Paused { sub, at_ms } => {
                    let mut c = self.conn();
                    let set: i64 = self
                        .timed(
                            redis::cmd("HSETNX")
                                .arg(k.paused())
                                .arg(sub)
                                .arg(*at_ms)
                                .query_async(&mut c),
                        )
                        .await?;
                    written += set.max(0) as u64;
                    continue;
                }
                Record::Audit { id, record } => {
                    let Some(at) = stream_id(id) else {
                        return Err(StoreError::Protocol(format!("{id:?} is not an audit id")));
                    };
                    let mut c = self.conn();
                    if !audit_read {
                        let top: Vec<(String, redis::Value)> = self
                            .timed(
                                redis::cmd("XREVRANGE")
                                    .arg(k.audit())
                                    .arg("+")
                                    .arg("-")
                                    .arg("COUNT")
                                    .arg(1)
                                    .query_async(&mut c),
                            )
                            .await?;
                        last_audit = top.first().and_then(|(id, _)| stream_id(id));
                        audit_read = true;
                    }
                    if last_audit.is_some_and(|last| at <= last) {
                        continue;
                    }
                    let json = serde_json::to_string(record)
                        .map_err(|e| StoreError::Protocol(e.to_string()))?;
                    let _: String = self
                        .timed(
                            redis::cmd("XADD")
                                .arg(k.audit())
                                .arg(id)
                                .arg("r")
                                .arg(json)
                                .query_async(&mut c),
                        )
                        .await?;
                    last_audit = Some(at);
                    written += 1;
                    continue;
                }
            }
            let mut c = self.conn();
            let done: i64 = self.timed(inv.invoke_async(&mut c)).await?;
            written += done.max(0) as u64;
        }
        Ok(written)
    }
}
