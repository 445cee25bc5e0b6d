//! Route writes: leasing due deliveries, taking back leases (poison
//! counting included), and recording an attempt's outcome. Together
//! because they share the delivery row, its states and its attempt log.

use super::{Result, Spans, lines};
use crate::sqlite::{classify, state};
use crate::{ATTEMPT_LOG_CAP, AttemptRecord, Finish, RECLAIM_LIMIT, StoreError};
use hookgate_core::time::rfc3339_ms;
use rusqlite::{Connection, OptionalExtension, params};

/// A claimed delivery as the claim reads it.
pub(crate) struct Claimed {
    pub row: i64,
    pub id: String,
    pub lease: i64,
    pub attempts: u32,
    pub first_ms: i64,
    pub ce: Vec<u8>,
    pub tp: String,
}

/// A due delivery as the claim reads it: its rowid, id, attempts, budget
/// start, and its event's body, traceparent and retention end (`None`: no
/// event).
type DueRow = (
    i64,
    String,
    u32,
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<(String, i64)>,
);

/// Returns expired leases to the queue (or dead-letters them as poison),
/// then leases up to `max` due deliveries. Returns them and the due time
/// of the earliest one still waiting.
///
/// Deliveries due at the same millisecond go in the order they were
/// created (`rowid`, the last column of every index entry): the index
/// then yields them in order, where a tie broken by id needed a sort of
/// each claim's rows in a temporary b-tree.
pub(crate) fn route_claim(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    max: usize,
) -> Result<(Vec<Claimed>, Option<i64>)> {
    reclaim(conn, now, source, sub, spans, Some(now), 100)?;
    let due: Vec<DueRow> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.rowid, d.id, d.attempts, d.first_ms, e.ce, e.tp, e.keep_until, d.okey, d.opos
                 FROM deliveries d LEFT JOIN events e ON e.seq = d.event
                 WHERE d.source = ?1 AND d.sub = ?2 AND d.state = 0 AND d.due <= ?3
                 ORDER BY d.due, d.rowid LIMIT ?4",
            )
            .map_err(classify)?;
        stmt.query_map(params![source, sub, now, max as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                place(r, 7)?,
            ))
        })
        .and_then(Iterator::collect)
        .map_err(classify)?
    };
    let token = now.saturating_add(spans.lease);
    let keep = now.saturating_add(spans.retention);
    let mut claimed = Vec::with_capacity(due.len());
    for (row, id, attempts, first_ms, ce, tp, kept, line) in due {
        match ce.filter(|_| kept.is_some_and(|k| k > now)) {
            Some(ce) => {
                set_state(conn, row, state::LEASED, token)?;
                claimed.push(Claimed {
                    row,
                    id,
                    lease: token,
                    attempts,
                    first_ms,
                    ce,
                    tp: tp.unwrap_or_default(),
                });
            }
            None => {
                // The event outlived its retention: nothing left to send.
                conn.prepare_cached(
                    "UPDATE deliveries SET state = 3, due = ?2, reason = 'expired: event past retention',
                       requeue = 0, keep_until = ?3
                     WHERE rowid = ?1",
                )
                .and_then(|mut s| s.execute(params![row, now, keep]))
                .map_err(classify)?;
                if let Some((key, pos)) = line {
                    lines::leave(conn, now, source, sub, &key, pos)?;
                }
            }
        }
    }
    let next: Option<i64> = conn
        .prepare_cached(
            "SELECT due FROM deliveries WHERE source = ?1 AND sub = ?2 AND state = 0
             ORDER BY due LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![source, sub], |r| r.get(0)).optional())
        .map_err(classify)?;
    Ok((claimed, next))
}

/// An ordered delivery's (key, position) from columns `at` and `at + 1`.
fn place(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<(String, i64)>> {
    Ok(
        match (
            r.get::<_, Option<String>>(at)?,
            r.get::<_, Option<i64>>(at + 1)?,
        ) {
            (Some(key), Some(pos)) => Some((key, pos)),
            _ => None,
        },
    )
}

fn set_state(conn: &Connection, row: i64, state: i64, due: i64) -> Result<()> {
    conn.prepare_cached("UPDATE deliveries SET state = ?2, due = ?3 WHERE rowid = ?1")
        .and_then(|mut s| s.execute(params![row, state, due]))
        .map(drop)
        .map_err(classify)
}

/// A delivery's row as a finish reads it.
struct DeliveryRow {
    rowid: i64,
    state: i64,
    /// The lease token while leased.
    due: i64,
    log_len: i64,
    requeue: bool,
    /// Its key and place, when it is in a line.
    line: Option<(String, i64)>,
}

/// A delivery's row, found by the rowid its claim gave (when that row is
/// still this delivery's), else by its event's id.
fn delivery_row(
    conn: &Connection,
    source: &str,
    sub: &str,
    (id, rowid): (&str, Option<i64>),
) -> Result<Option<DeliveryRow>> {
    if let Some(rowid) = rowid {
        let found = conn
            .prepare_cached(
                "SELECT rowid, state, due, log_len, requeue, okey, opos FROM deliveries
                 WHERE rowid = ?1 AND source = ?2 AND sub = ?3 AND id = ?4",
            )
            .and_then(|mut s| {
                s.query_row(params![rowid, source, sub, id], read_row)
                    .optional()
            })
            .map_err(classify)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    conn.prepare_cached(
        "SELECT d.rowid, d.state, d.due, d.log_len, d.requeue, d.okey, d.opos
         FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
         WHERE e.source = ?1 AND e.id = ?3",
    )
    .and_then(|mut s| s.query_row(params![source, sub, id], read_row).optional())
    .map_err(classify)
}

/// A [`DeliveryRow`] from columns rowid, state, due, log_len, requeue,
/// okey, opos.
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        rowid: r.get(0)?,
        state: r.get(1)?,
        due: r.get(2)?,
        log_len: r.get(3)?,
        requeue: r.get(4)?,
        line: place(r, 5)?,
    })
}

/// Takes back leases of a route that expired by `before` (all of them when
/// `None`), up to `limit`: each is an attempt with no known outcome (the
/// worker may have sent it before it stopped), logged as such; it goes
/// back to the queue, or to the dead letters as poison once reclaimed
/// [`RECLAIM_LIMIT`] times. Returns how many.
pub(crate) fn reclaim(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    before: Option<i64>,
    limit: usize,
) -> Result<usize> {
    type Expired = (i64, i64, u32, u32, i64, Option<(String, i64)>);
    let expired: Vec<Expired> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT rowid, due, attempts, reclaims, log_len, okey, opos FROM deliveries
                 WHERE source = ?1 AND sub = ?2 AND state = 1 AND due <= ?3
                 ORDER BY due, rowid LIMIT ?4",
            )
            .map_err(classify)?;
        stmt.query_map(
            params![source, sub, before.unwrap_or(i64::MAX), limit as i64],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    place(r, 5)?,
                ))
            },
        )
        .and_then(Iterator::collect)
        .map_err(classify)?
    };
    let keep = now.saturating_add(spans.retention);
    for (row, token, attempts, reclaims, log_len, line) in &expired {
        // The lease began one visibility timeout before it ended (every
        // lease of this store is that long).
        let started = (token - spans.lease).clamp(0, now);
        let entry = AttemptRecord {
            n: attempts + 1,
            at: rfc3339_ms(started).unwrap_or_default(),
            status_code: None,
            error: Some(
                "no outcome: the lease expired (the worker stopped or stalled); the subscriber may have received it"
                    .into(),
            ),
            duration_ms: (now - started).max(0) as u64,
            response: None,
        };
        append_log(conn, *row, *log_len, &entry)?;
        let reclaims = reclaims + 1;
        if reclaims >= RECLAIM_LIMIT {
            conn.prepare_cached(
                "UPDATE deliveries SET state = 3, due = ?2, reclaims = ?3, requeue = 0,
                   reason = ?4, keep_until = ?5
                 WHERE rowid = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row,
                    now,
                    reclaims,
                    format!("poison: reclaimed {reclaims} times"),
                    keep
                ])
            })
            .map_err(classify)?;
            if let Some((key, pos)) = line {
                lines::leave(conn, now, source, sub, key, *pos)?;
            }
        } else {
            conn.prepare_cached(
                "UPDATE deliveries SET state = 0, due = ?2, reclaims = ?3, requeue = 0, keep_until = ?4
                 WHERE rowid = ?1",
            )
            .and_then(|mut s| s.execute(params![row, now, reclaims, keep]))
            .map_err(classify)?;
        }
    }
    Ok(expired.len())
}

/// Appends one entry to a delivery's attempt log, keeping the latest
/// [`ATTEMPT_LOG_CAP`].
fn append_log(conn: &Connection, row: i64, log_len: i64, entry: &AttemptRecord) -> Result<()> {
    let line = log_line(entry)?;
    make_room(conn, row, log_len)?;
    conn.prepare_cached(
        "UPDATE deliveries SET log = log || ?2, log_len = log_len + 1 WHERE rowid = ?1",
    )
    .and_then(|mut s| s.execute(params![row, line]))
    .map(drop)
    .map_err(classify)
}

/// One attempt log entry: a JSON line.
fn log_line(entry: &AttemptRecord) -> Result<String> {
    let mut line = serde_json::to_string(entry).map_err(|e| StoreError::Protocol(e.to_string()))?;
    line.push('\n');
    Ok(line)
}

/// Before one more entry: a log of `log_len` entries that is full drops
/// its oldest, so that it holds [`ATTEMPT_LOG_CAP`] with the new one.
fn make_room(conn: &Connection, row: i64, log_len: i64) -> Result<()> {
    if (log_len as usize) < ATTEMPT_LOG_CAP {
        return Ok(());
    }
    let log: String = conn
        .prepare_cached("SELECT log FROM deliveries WHERE rowid = ?1")
        .and_then(|mut s| s.query_row(params![row], |r| r.get(0)))
        .map_err(classify)?;
    let lines: Vec<&str> = log.lines().collect();
    let keep_from = lines.len().saturating_sub(ATTEMPT_LOG_CAP - 1);
    let kept: String = lines[keep_from..].iter().flat_map(|l| [*l, "\n"]).collect();
    let len = (lines.len() - keep_from) as i64;
    conn.prepare_cached("UPDATE deliveries SET log = ?2, log_len = ?3 WHERE rowid = ?1")
        .and_then(|mut s| s.execute(params![row, kept, len]))
        .map(drop)
        .map_err(classify)
}

/// Records an attempt's outcome on a leased delivery (`delivery`: its
/// event's id and, when the claim gave it, its rowid). False when the
/// lease is no longer `lease` (taken over: nothing written).
#[allow(clippy::too_many_arguments)] // one outcome's parts
pub(crate) fn route_finish(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    delivery: (&str, Option<i64>),
    lease: i64,
    attempts: u32,
    finish: &Finish,
    record: Option<&AttemptRecord>,
) -> Result<bool> {
    let Some(DeliveryRow {
        rowid: row,
        state: st,
        due: token,
        log_len,
        requeue,
        line,
    }) = delivery_row(conn, source, sub, delivery)?
    else {
        return Ok(false);
    };
    if st != state::LEASED || token != lease {
        return Ok(false);
    }
    if *finish == Finish::Release {
        // Given back without an attempt: due again now.
        set_state(conn, row, state::QUEUED, now)?;
        conn.prepare_cached("UPDATE deliveries SET requeue = 0 WHERE rowid = ?1")
            .and_then(|mut s| s.execute(params![row]))
            .map_err(classify)?;
        return Ok(true);
    }
    // The entry goes in with the outcome, in one write of the row.
    let entry = match record {
        Some(record) => {
            make_room(conn, row, log_len)?;
            log_line(record)?
        }
        None => String::new(),
    };
    let code = record.and_then(|r| r.status_code);
    let (mut st, mut due, mut reason) = match finish {
        Finish::Delivered => (state::DELIVERED, now, None),
        Finish::Retry { due_ms } => (state::QUEUED, *due_ms, None),
        Finish::Dead { reason } => (state::DEAD, now, Some(reason.as_str())),
        Finish::Release => unreachable!("handled above"),
    };
    if requeue {
        // Redelivered (or re-armed) while this attempt was in flight: its
        // outcome is kept and the delivery goes again, counting on. It is
        // pending, so it has no reason to be dead (a dead outcome's reason
        // stays in its attempt's log entry).
        st = state::QUEUED;
        due = now;
        reason = None;
    }
    conn.prepare_cached(
        "UPDATE deliveries SET state = ?2, due = ?3, attempts = ?4, code = ?5,
           reason = COALESCE(?6, reason), requeue = 0, keep_until = ?7,
           log = log || ?8, log_len = log_len + ?9
         WHERE rowid = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            row,
            st,
            due,
            attempts,
            code,
            reason,
            now.saturating_add(spans.retention),
            entry,
            i64::from(record.is_some()),
        ])
    })
    .map_err(classify)?;
    if let Some((key, pos)) = line
        && (st == state::DELIVERED || st == state::DEAD)
    {
        lines::leave(conn, now, source, sub, &key, pos)?;
    }
    Ok(true)
}
