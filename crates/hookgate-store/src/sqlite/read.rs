//! The store's reads, on read connections of their own (WAL: readers see
//! the last commit and never wait for the writer, nor it for them). Admin
//! listings and the fan-out scan run here, off the writer thread, so an
//! operator's query never delays an ingest.
//!
//! Expired rows are invisible here the moment they expire, whether or not
//! the background sweep has removed them yet.

use super::classify;
use super::write::event_id;
use crate::{
    AttemptRecord, AuditRecord, BlockedKey, DeliveryRecord, DeliveryStatus, ListOrder, RouteDepth,
    StoreError, StoredEvent,
};
use hookgate_core::{EventId, OrderKey};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

type Result<T> = std::result::Result<T, StoreError>;

/// Due events of a source's fan-out queue, queued at or before `latest`.
pub(crate) fn fanout_due(
    conn: &Connection,
    now: i64,
    source: &str,
    max: usize,
    latest: i64,
) -> Result<Vec<(EventId, String)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.id, e.type FROM fanout f JOIN events e ON e.seq = f.seq
             WHERE f.source = ?1 AND f.due <= ?2 AND e.keep_until > ?3 AND e.ce IS NOT NULL
             ORDER BY f.due, f.seq LIMIT ?4",
        )
        .map_err(classify)?;
    let rows: Vec<(String, String)> = stmt
        .query_map(params![source, latest, now, max as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .and_then(Iterator::collect)
        .map_err(classify)?;
    rows.into_iter()
        .map(|(id, ty)| Ok((event_id(&id)?, ty)))
        .collect()
}

/// Every paused subscription.
pub(crate) fn paused(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT sub FROM paused")
        .map_err(classify)?;
    stmt.query_map([], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(classify)
}

/// A route's backlog and its earliest waiting delivery's due time.
pub(crate) fn route_gauges(
    conn: &Connection,
    source: &str,
    sub: &str,
) -> Result<(RouteDepth, Option<i64>)> {
    let count = |state: i64| -> Result<u64> {
        conn.prepare_cached(
            "SELECT count(*) FROM deliveries WHERE source = ?1 AND sub = ?2 AND state = ?3",
        )
        .and_then(|mut s| s.query_row(params![source, sub, state], |r| r.get::<_, i64>(0)))
        .map(|n| n.max(0) as u64)
        .map_err(classify)
    };
    let held = count(super::state::HELD)?;
    let (blocked_keys, oldest_blocked_ms): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(first_ms) FROM deliveries INDEXED BY deliveries_blocked
             WHERE source = ?1 AND sub = ?2 AND okey IS NOT NULL AND attempts > 0 AND state IN (0, 1)",
        )
        .and_then(|mut s| s.query_row(params![source, sub], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(classify)?;
    let depth = RouteDepth {
        queued: count(super::state::QUEUED)? + held,
        held,
        in_flight: count(super::state::LEASED)?,
        dead: count(super::state::DEAD)?,
        blocked_keys: blocked_keys.max(0) as u64,
        oldest_blocked_ms,
    };
    let head = conn
        .prepare_cached(
            "SELECT due FROM deliveries WHERE source = ?1 AND sub = ?2 AND state = 0
             ORDER BY due LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![source, sub], |r| r.get(0)).optional())
        .map_err(classify)?;
    Ok((depth, head))
}

/// Up to `limit` blocked keys of a route, oldest blocked first: heads of
/// lines that failed at least once.
pub(crate) fn blocked_keys(
    conn: &Connection,
    source: &str,
    sub: &str,
    limit: usize,
) -> Result<Vec<BlockedKey>> {
    type Row = (
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        i64,
        String,
    );
    let heads: Vec<Row> = conn
        .prepare_cached(
            "SELECT okey, id, attempts, code, reason, first_ms, log
             FROM deliveries INDEXED BY deliveries_blocked
             WHERE source = ?1 AND sub = ?2 AND okey IS NOT NULL AND attempts > 0 AND state IN (0, 1)
             ORDER BY first_ms LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![source, sub, limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect()
        })
        .map_err(classify)?;
    let mut out = Vec::with_capacity(heads.len());
    for (key, id, attempts, code, reason, since_ms, log) in heads {
        let in_line: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3",
            )
            .and_then(|mut s| s.query_row(params![source, sub, key], |r| r.get(0)))
            .map_err(classify)?;
        let last = log
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<AttemptRecord>(l).ok());
        out.push(BlockedKey {
            key: OrderKey::from_stored(key),
            head: event_id(&id)?,
            attempts: attempts.max(0) as u32,
            last_status_code: code.and_then(|c| u16::try_from(c).ok()),
            last_error: last
                .and_then(|a| a.error)
                .or(reason.filter(|r| !r.is_empty())),
            since_ms,
            waiting: (in_line - 1).max(0) as u64,
        });
    }
    Ok(out)
}

/// A page of a source's events by receive time strictly past `after`
/// (receive ms, id) in `order`. The range is narrowed to the cursor's
/// millisecond, so the `events_received (source, recv_ms)` index starts
/// there, and only that millisecond's ties are compared by id: no offset.
pub(crate) fn event_index_after(
    conn: &Connection,
    now: i64,
    source: &str,
    (min_ms, max_ms): (i64, i64),
    order: ListOrder,
    after: Option<(i64, &str)>,
    count: usize,
) -> Result<Vec<(EventId, i64)>> {
    let (lo, hi) = match (order, after) {
        (_, None) => (min_ms, max_ms),
        (ListOrder::OldestFirst, Some((ms, _))) => (min_ms.max(ms), max_ms),
        (ListOrder::NewestFirst, Some((ms, _))) => (min_ms, max_ms.min(ms)),
    };
    let sql = match order {
        ListOrder::OldestFirst => {
            "SELECT id, recv_ms FROM events
             WHERE source = ?1 AND recv_ms BETWEEN ?2 AND ?3 AND keep_until > ?4 AND ce IS NOT NULL
               AND (?6 IS NULL OR recv_ms <> ?6 OR id > ?7)
             ORDER BY recv_ms, id LIMIT ?5"
        }
        ListOrder::NewestFirst => {
            "SELECT id, recv_ms FROM events
             WHERE source = ?1 AND recv_ms BETWEEN ?2 AND ?3 AND keep_until > ?4 AND ce IS NOT NULL
               AND (?6 IS NULL OR recv_ms <> ?6 OR id < ?7)
             ORDER BY recv_ms DESC, id DESC LIMIT ?5"
        }
    };
    let (at, id) = match after {
        Some((ms, id)) => (Some(ms), id),
        None => (None, ""),
    };
    let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
    ids_with_times(
        stmt.query_map(params![source, lo, hi, now, count as i64, at, id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        }),
    )
}

/// A page of a route's dead letters by dead-at time.
pub(crate) fn dead_letter_range(
    conn: &Connection,
    now: i64,
    (source, sub): (&str, &str),
    (min_ms, max_ms): (i64, i64),
    offset: usize,
    count: usize,
) -> Result<Vec<(EventId, i64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, due FROM deliveries
             WHERE source = ?1 AND sub = ?2 AND state = 3 AND due BETWEEN ?3 AND ?4 AND keep_until > ?5
             ORDER BY due, id LIMIT ?6 OFFSET ?7",
        )
        .map_err(classify)?;
    ids_with_times(stmt.query_map(
        params![
            source,
            sub,
            min_ms,
            max_ms,
            now,
            count as i64,
            offset as i64
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))
}

fn ids_with_times(
    rows: rusqlite::Result<
        rusqlite::MappedRows<'_, impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(String, i64)>>,
    >,
) -> Result<Vec<(EventId, i64)>> {
    let rows: Vec<(String, i64)> = rows.and_then(Iterator::collect).map_err(classify)?;
    rows.into_iter()
        .map(|(id, ms)| Ok((event_id(&id)?, ms)))
        .collect()
}

/// Stored events (`None` where expired or unknown).
pub(crate) fn events(
    conn: &Connection,
    now: i64,
    source: &str,
    ids: &[EventId],
) -> Result<Vec<Option<StoredEvent>>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT type, ce, recv_ms, tp FROM events
             WHERE source = ?1 AND id = ?2 AND keep_until > ?3 AND ce IS NOT NULL",
        )
        .map_err(classify)?;
    ids.iter()
        .map(|id| {
            stmt.query_row(params![source, id.as_str(), now], |r| {
                Ok(StoredEvent {
                    ty: r.get(0)?,
                    cloudevent: r.get(1)?,
                    received_ms: r.get(2)?,
                    traceparent: r.get(3)?,
                })
            })
            .optional()
            .map_err(classify)
        })
        .collect()
}

/// Normalized types of stored events.
pub(crate) fn event_types(
    conn: &Connection,
    now: i64,
    source: &str,
    ids: &[EventId],
) -> Result<Vec<Option<String>>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT type FROM events
             WHERE source = ?1 AND id = ?2 AND keep_until > ?3 AND ce IS NOT NULL",
        )
        .map_err(classify)?;
    ids.iter()
        .map(|id| {
            stmt.query_row(params![source, id.as_str(), now], |r| r.get(0))
                .optional()
                .map_err(classify)
        })
        .collect()
}

fn record(state: i64, row: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let status = match state {
        super::state::DELIVERED => DeliveryStatus::Delivered,
        super::state::DEAD => DeliveryStatus::Dead,
        _ => DeliveryStatus::Pending,
    };
    let due: i64 = row.get("due")?;
    Ok(DeliveryRecord {
        status,
        attempts: row.get::<_, i64>("attempts")?.max(0) as u32,
        reason: row
            .get::<_, Option<String>>("reason")?
            .filter(|r| !r.is_empty()),
        last_status_code: row
            .get::<_, Option<i64>>("code")?
            .and_then(|c| u16::try_from(c).ok()),
        dead_at_ms: (status == DeliveryStatus::Dead).then_some(due),
        reclaims: row.get::<_, i64>("reclaims")?.max(0) as u32,
    })
}

const RECORD_COLUMNS: &str = "d.state, d.due, d.attempts, d.reason, d.code, d.reclaims, d.log";

/// Delivery records of one event for several subscriptions, with their
/// logs.
pub(crate) fn deliveries_of(
    conn: &Connection,
    now: i64,
    source: &str,
    id: &EventId,
    subs: &[String],
) -> Result<Vec<(String, DeliveryRecord, Vec<AttemptRecord>)>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS}
             FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
             WHERE e.source = ?1 AND e.id = ?3 AND d.keep_until > ?4"
        ))
        .map_err(classify)?;
    let mut out = Vec::new();
    for sub in subs {
        let found = stmt
            .query_row(params![source, sub, id.as_str(), now], |r| {
                let rec = record(r.get(0)?, r)?;
                let log: String = r.get("log")?;
                Ok((rec, log))
            })
            .optional()
            .map_err(classify)?;
        if let Some((rec, log)) = found {
            let attempts = log
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            out.push((sub.clone(), rec, attempts));
        }
    }
    Ok(out)
}

/// Delivery records of several events for one subscription.
pub(crate) fn delivery_records(
    conn: &Connection,
    now: i64,
    source: &str,
    ids: &[EventId],
    sub: &str,
) -> Result<Vec<Option<DeliveryRecord>>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS}
             FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
             WHERE e.source = ?1 AND e.id = ?3 AND d.keep_until > ?4"
        ))
        .map_err(classify)?;
    ids.iter()
        .map(|id| {
            stmt.query_row(params![source, sub, id.as_str(), now], |r| {
                record(r.get(0)?, r)
            })
            .optional()
            .map_err(classify)
        })
        .collect()
}

/// Parses an audit id `<ms>-<seq>` or `<ms>` (= `<ms>-0`, as Redis reads
/// a stream id without its sequence), as unsigned numbers.
fn audit_id(id: &str) -> Option<(u64, u64)> {
    match id.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((id.parse().ok()?, 0)),
    }
}

/// Audit records after `after`, oldest first.
pub(crate) fn audit_page(
    conn: &Connection,
    after: Option<&str>,
    count: usize,
) -> Result<Vec<(String, AuditRecord)>> {
    let (ms, seq) = match after {
        Some(id) => {
            let (ms, seq) = audit_id(id)
                .ok_or_else(|| StoreError::Protocol(format!("{id:?} is not an audit id")))?;
            // Ids are written as i64: nothing comes after a larger one.
            match (i64::try_from(ms), i64::try_from(seq)) {
                (Ok(ms), Ok(seq)) => (ms, seq),
                (Ok(ms), Err(_)) => (ms, i64::MAX),
                (Err(_), _) => return Ok(Vec::new()),
            }
        }
        None => (i64::MIN, i64::MIN),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT ms, seq, record FROM audit WHERE (ms, seq) > (?1, ?2)
             ORDER BY ms, seq LIMIT ?3",
        )
        .map_err(classify)?;
    let rows: Vec<(i64, i64, String)> = stmt
        .query_map(params![ms, seq, count as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .and_then(Iterator::collect)
        .map_err(classify)?;
    Ok(rows
        .into_iter()
        .filter_map(|(ms, seq, json)| {
            Some((format!("{ms}-{seq}"), serde_json::from_str(&json).ok()?))
        })
        .collect())
}
