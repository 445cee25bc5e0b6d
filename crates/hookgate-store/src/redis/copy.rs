//! Import into Redis (see [`crate::copy`]): one script call per record,
//! each writing only what Redis does not hold yet; the audit records go
//! into the stream with their own ids, after the last one it holds.
//!
//! Export out of Redis is not part of this version: a deployment moves
//! from the embedded store to Redis when it outgrows one node, and the
//! `hookgate store copy` command says so when asked the other way.

use super::RedisStore;
use crate::StoreError;
use crate::copy::{CopiedState, ExportPage, Record};
use hookgate_core::time::now_ms;
use redis::Script;
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
        _cursor: Option<&str>,
        _max: usize,
    ) -> Result<ExportPage, StoreError> {
        Err(StoreError::Unsupported(
            "copying out of a Redis store is not supported in this version; \
             copy from the embedded (sqlite) store into Redis"
                .into(),
        ))
    }

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
                        .arg(fanout_due_ms.map(|d| d.to_string()).unwrap_or_default());
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
                } => {
                    let (st, at) = match *state {
                        CopiedState::Queued(due) => ("pending", due),
                        CopiedState::Delivered(at) => ("delivered", at),
                        CopiedState::Dead(at) => ("dead", at),
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
                        .arg(*keep_until_ms);
                    for entry in log.iter().rev().take(crate::ATTEMPT_LOG_CAP).rev() {
                        let json = serde_json::to_vec(entry)
                            .map_err(|e| StoreError::Protocol(e.to_string()))?;
                        inv.arg(json);
                    }
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
