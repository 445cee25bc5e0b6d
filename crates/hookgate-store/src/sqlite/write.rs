//! The store's writes, as run by the writer thread inside its shared
//! transaction (see `writer`). Each function is one write of the contract
//! and is all or nothing (the writer rolls back a transaction one of whose
//! writes failed and runs the others again). `now` is the transaction's
//! clock, the same for every write of it.
//!
//! A delivery is found by its event's `seq` and its subscription; by id,
//! through the event's row (see `schema`). Within one write, rows found are
//! updated by their `rowid`.
//!
//! The rules are the Redis scripts', row for row (see the contract): the
//! same states, the same lease tokens, the same attempt log entries, so
//! one conformance suite holds for both.

use super::{classify, state};
use crate::{ATTEMPT_LOG_CAP, AttemptRecord, Finish, RECLAIM_LIMIT, StoreError};
use hookgate_core::EventId;
use hookgate_core::time::rfc3339_ms;
use rusqlite::{Connection, OptionalExtension, params};

type Result<T> = std::result::Result<T, StoreError>;

/// One event to store, owned (it crosses to the writer thread).
pub(crate) struct OwnedEvent {
    pub id: String,
    pub ty: String,
    pub ce: Vec<u8>,
    pub tp: String,
}

/// Retention and lease, in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spans {
    pub retention: i64,
    pub lease: i64,
}

/// Claims each event's key and stores it; per event, true if stored. A
/// row whose claim has lapsed (the provider sent the event again after
/// its dedup window) is stored anew: new receive time, back in the fan-out
/// queue.
pub(crate) fn ingest(
    conn: &Connection,
    now: i64,
    source: &str,
    dedup_ms: i64,
    spans: Spans,
    events: &[OwnedEvent],
) -> Result<Vec<bool>> {
    let keep = now.saturating_add(spans.retention);
    let claim = now.saturating_add(dedup_ms.max(1));
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO events (source, id, type, ce, tp, recv_ms, keep_until, claim_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (source, id) DO UPDATE SET
               type = excluded.type, ce = excluded.ce, tp = excluded.tp, recv_ms = excluded.recv_ms,
               keep_until = excluded.keep_until, claim_until = excluded.claim_until
             WHERE events.claim_until <= excluded.recv_ms
             RETURNING seq",
        )
        .map_err(classify)?;
    let mut queue = conn
        .prepare_cached("INSERT OR REPLACE INTO fanout (seq, source, due) VALUES (?1, ?2, ?3)")
        .map_err(classify)?;
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let stored: Option<i64> = stmt
            .query_row(
                params![source, ev.id, ev.ty, ev.ce, ev.tp, now, keep, claim],
                |r| r.get(0),
            )
            .optional()
            .map_err(classify)?;
        if let Some(seq) = stored {
            queue.execute(params![seq, source, now]).map_err(classify)?;
        }
        out.push(stored.is_some());
    }
    Ok(out)
}

/// Takes events off the fan-out queue and creates their deliveries.
/// Returns how many events this call took.
pub(crate) fn fanout_commit(
    conn: &Connection,
    now: i64,
    source: &str,
    spans: Spans,
    items: &[(String, Vec<String>)],
) -> Result<usize> {
    let mut find = conn
        .prepare_cached("SELECT seq, recv_ms FROM events WHERE source = ?1 AND id = ?2")
        .map_err(classify)?;
    let mut take = conn
        .prepare_cached("DELETE FROM fanout WHERE seq = ?1")
        .map_err(classify)?;
    // A new delivery; an existing one is re-armed only when it is older
    // than the event (the provider sent the event again after its dedup
    // window, so it is delivered again). A leased one keeps its lease and
    // goes back to the queue when that attempt ends.
    let mut create = conn
        .prepare_cached(
            "INSERT INTO deliveries (event, sub, source, id, state, due, first_ms, keep_until)
             VALUES (?7, ?2, ?1, ?3, 0, ?4, ?4, ?5)
             ON CONFLICT (event, sub) DO UPDATE SET
               state = CASE WHEN state = 1 THEN 1 ELSE 0 END,
               due = CASE WHEN state = 1 THEN due ELSE excluded.due END,
               requeue = CASE WHEN state = 1 THEN 1 ELSE 0 END,
               attempts = 0, first_ms = excluded.first_ms, reclaims = 0, reason = NULL,
               keep_until = excluded.keep_until
             WHERE deliveries.first_ms < ?6",
        )
        .map_err(classify)?;
    let keep = now.saturating_add(spans.retention);
    let mut fanned = 0;
    for (id, subs) in items {
        let found: Option<(i64, i64)> = find
            .query_row(params![source, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(classify)?;
        let Some((seq, recv)) = found else { continue };
        if take.execute([seq]).map_err(classify)? == 0 {
            // Another worker's commit took it first.
            continue;
        }
        fanned += 1;
        for sub in subs {
            create
                .execute(params![source, sub, id, now, keep, recv, seq])
                .map_err(classify)?;
        }
    }
    Ok(fanned)
}

/// A claimed delivery as the claim reads it.
pub(crate) struct Claimed {
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
);

/// Returns expired leases to the queue (or dead-letters them as poison),
/// then leases up to `max` due deliveries. Returns them and the due time
/// of the earliest one still waiting.
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
                "SELECT d.rowid, d.id, d.attempts, d.first_ms, e.ce, e.tp, e.keep_until
                 FROM deliveries d LEFT JOIN events e ON e.seq = d.event
                 WHERE d.source = ?1 AND d.sub = ?2 AND d.state = 0 AND d.due <= ?3
                 ORDER BY d.due, d.id LIMIT ?4",
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
            ))
        })
        .and_then(Iterator::collect)
        .map_err(classify)?
    };
    let token = now.saturating_add(spans.lease);
    let keep = now.saturating_add(spans.retention);
    let mut claimed = Vec::with_capacity(due.len());
    for (row, id, attempts, first_ms, ce, tp, kept) in due {
        match ce.filter(|_| kept.is_some_and(|k| k > now)) {
            Some(ce) => {
                set_state(conn, row, state::LEASED, token)?;
                claimed.push(Claimed {
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
}

/// A delivery's row found by its event's id.
fn delivery_row(
    conn: &Connection,
    source: &str,
    sub: &str,
    id: &str,
) -> Result<Option<DeliveryRow>> {
    conn.prepare_cached(
        "SELECT d.rowid, d.state, d.due, d.log_len, d.requeue
         FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
         WHERE e.source = ?1 AND e.id = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![source, sub, id], |r| {
            Ok(DeliveryRow {
                rowid: r.get(0)?,
                state: r.get(1)?,
                due: r.get(2)?,
                log_len: r.get(3)?,
                requeue: r.get(4)?,
            })
        })
        .optional()
    })
    .map_err(classify)
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
    let expired: Vec<(i64, i64, u32, u32, i64)> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT rowid, due, attempts, reclaims, log_len FROM deliveries
                 WHERE source = ?1 AND sub = ?2 AND state = 1 AND due <= ?3
                 ORDER BY due, id LIMIT ?4",
            )
            .map_err(classify)?;
        stmt.query_map(
            params![source, sub, before.unwrap_or(i64::MAX), limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .and_then(Iterator::collect)
        .map_err(classify)?
    };
    let keep = now.saturating_add(spans.retention);
    for (row, token, attempts, reclaims, log_len) in &expired {
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
    let mut line = serde_json::to_string(entry).map_err(|e| StoreError::Protocol(e.to_string()))?;
    line.push('\n');
    if (log_len as usize) < ATTEMPT_LOG_CAP {
        return conn
            .prepare_cached(
                "UPDATE deliveries SET log = log || ?2, log_len = log_len + 1 WHERE rowid = ?1",
            )
            .and_then(|mut s| s.execute(params![row, line]))
            .map(drop)
            .map_err(classify);
    }
    let log: String = conn
        .prepare_cached("SELECT log FROM deliveries WHERE rowid = ?1")
        .and_then(|mut s| s.query_row(params![row], |r| r.get(0)))
        .map_err(classify)?;
    let lines: Vec<&str> = log.lines().collect();
    let keep_from = lines.len().saturating_sub(ATTEMPT_LOG_CAP - 1);
    let mut kept: String = lines[keep_from..].iter().flat_map(|l| [*l, "\n"]).collect();
    kept.push_str(&line);
    let len = (lines.len() - keep_from + 1) as i64;
    conn.prepare_cached("UPDATE deliveries SET log = ?2, log_len = ?3 WHERE rowid = ?1")
        .and_then(|mut s| s.execute(params![row, kept, len]))
        .map(drop)
        .map_err(classify)
}

/// Records an attempt's outcome on a leased delivery. False when the lease
/// is no longer `lease` (taken over: nothing written).
#[allow(clippy::too_many_arguments)] // one outcome's parts
pub(crate) fn route_finish(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    id: &str,
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
    }) = delivery_row(conn, source, sub, id)?
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
    if let Some(record) = record {
        append_log(conn, row, log_len, record)?;
    }
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
           reason = COALESCE(?6, reason), requeue = 0, keep_until = ?7
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
            now.saturating_add(spans.retention)
        ])
    })
    .map_err(classify)?;
    Ok(true)
}

/// The `seq` of an event stored and within its retention, whose
/// retention then starts anew (a replayed event is kept as long as its new
/// delivery); `None` when it is not stored.
fn renew_event(
    conn: &Connection,
    now: i64,
    source: &str,
    id: &str,
    spans: Spans,
) -> Result<Option<i64>> {
    let keep = now.saturating_add(spans.retention);
    conn.prepare_cached(
        "UPDATE events SET keep_until = max(keep_until, ?4)
         WHERE source = ?1 AND id = ?2 AND keep_until > ?3 AND ce IS NOT NULL
         RETURNING seq",
    )
    .and_then(|mut s| {
        s.query_row(params![source, id, now, keep], |r| r.get(0))
            .optional()
    })
    .map_err(classify)
}

/// Replays dead letters of a route, each at its due time. Returns how many.
pub(crate) fn replay(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    due: &[(String, i64)],
) -> Result<u64> {
    let mut n = 0;
    for (id, at) in due {
        let dead: Option<i64> = conn
            .prepare_cached(
                "SELECT d.rowid FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
                 WHERE e.source = ?1 AND e.id = ?3 AND d.state = 3 AND d.keep_until > ?4",
            )
            .and_then(|mut s| {
                s.query_row(params![source, sub, id, now], |r| r.get(0))
                    .optional()
            })
            .map_err(classify)?;
        let Some(row) = dead else { continue };
        if renew_event(conn, now, source, id, spans)?.is_none() {
            continue;
        }
        conn.prepare_cached(
            "UPDATE deliveries SET state = 0, due = ?2, attempts = 0, first_ms = ?3, reclaims = 0,
               reason = NULL, replayed_at = ?3, requeue = 0, keep_until = ?4
             WHERE rowid = ?1",
        )
        .and_then(|mut s| s.execute(params![row, at, now, now.saturating_add(spans.retention)]))
        .map_err(classify)?;
        n += 1;
    }
    Ok(n)
}

/// Queues a stored event for a subscription again with a fresh budget.
/// False when the event is not stored.
pub(crate) fn redeliver(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    spans: Spans,
    id: &str,
) -> Result<bool> {
    let Some(seq) = renew_event(conn, now, source, id, spans)? else {
        return Ok(false);
    };
    // A delivery in flight keeps its lease and goes again when that
    // attempt ends (counting on from it, as its outcome is kept).
    conn.prepare_cached(
        "INSERT INTO deliveries (event, sub, source, id, state, due, first_ms, replayed_at, keep_until)
         VALUES (?6, ?2, ?1, ?3, 0, ?4, ?4, ?4, ?5)
         ON CONFLICT (event, sub) DO UPDATE SET
           state = CASE WHEN state = 1 THEN 1 ELSE 0 END,
           due = CASE WHEN state = 1 THEN due ELSE excluded.due END,
           requeue = CASE WHEN state = 1 THEN 1 ELSE 0 END,
           attempts = 0, first_ms = excluded.first_ms, reclaims = 0, reason = NULL,
           replayed_at = excluded.replayed_at, keep_until = excluded.keep_until",
    )
    .and_then(|mut s| {
        s.execute(params![
            source,
            sub,
            id,
            now,
            now.saturating_add(spans.retention),
            seq
        ])
    })
    .map_err(classify)?;
    Ok(true)
}

/// Pauses or resumes a subscription; whether the flag changed.
pub(crate) fn set_paused(conn: &Connection, now: i64, sub: &str, paused: bool) -> Result<bool> {
    let changed = if paused {
        conn.prepare_cached("INSERT OR IGNORE INTO paused (sub, at_ms) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![sub, now]))
    } else {
        conn.prepare_cached("DELETE FROM paused WHERE sub = ?1")
            .and_then(|mut s| s.execute(params![sub]))
    }
    .map_err(classify)?;
    Ok(changed == 1)
}

/// Appends an audit record; its id `<ms>-<seq>` is later than every
/// earlier one, even if the clock stepped back.
pub(crate) fn audit_append(conn: &Connection, now: i64, record: &str) -> Result<String> {
    let last: Option<(i64, i64)> = conn
        .prepare_cached("SELECT ms, seq FROM audit ORDER BY ms DESC, seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(classify)?;
    let (ms, seq) = match last {
        Some((ms, seq)) if ms >= now => (ms, seq + 1),
        _ => (now, 0),
    };
    conn.prepare_cached("INSERT INTO audit (ms, seq, record) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![ms, seq, record]))
        .map_err(classify)?;
    Ok(format!("{ms}-{seq}"))
}

/// The readiness probe: a small durable write that needs new room in the
/// log, so a full disk fails it.
pub(crate) fn probe(conn: &Connection, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('probe', randomblob(4096))
         ON CONFLICT (key) DO UPDATE SET value = randomblob(4096)",
    )
    .and_then(|mut s| s.execute([]))
    .map_err(classify)?;
    let _ = now;
    Ok(())
}

/// Removes what expired, a batch at a time, and returns how many rows it
/// looked at (fewer than `batch`: nothing left for now):
///
/// - delivery records past their retention;
/// - event rows whose `keep_until` passed: past its retention an event's
///   body goes (and it leaves the fan-out queue); the row itself goes once
///   its dedup claim and every delivery of it have expired too, else it is
///   looked at again when the last of them expires.
pub(crate) fn sweep(conn: &Connection, now: i64, batch: usize) -> Result<usize> {
    let limit = batch as i64;
    let mut seen = conn
        .prepare_cached(
            "DELETE FROM deliveries WHERE rowid IN
               (SELECT rowid FROM deliveries WHERE keep_until <= ?1 ORDER BY keep_until LIMIT ?2)",
        )
        .and_then(|mut s| s.execute(params![now, limit]))
        .map_err(classify)?;
    let due: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, claim_until FROM events WHERE keep_until <= ?1
             ORDER BY keep_until LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(classify)?;
    seen = seen.max(due.len());
    for (seq, claim_until) in due {
        let deliveries: Option<i64> = conn
            .prepare_cached("SELECT max(keep_until) FROM deliveries WHERE event = ?1")
            .and_then(|mut s| s.query_row([seq], |r| r.get(0)))
            .map_err(classify)?;
        let next = claim_until.max(deliveries.unwrap_or(0));
        // Past retention, it is not fanned out any more either.
        conn.prepare_cached("DELETE FROM fanout WHERE seq = ?1")
            .and_then(|mut s| s.execute([seq]))
            .map_err(classify)?;
        if next <= now {
            conn.prepare_cached("DELETE FROM events WHERE seq = ?1")
                .and_then(|mut s| s.execute([seq]))
                .map_err(classify)?;
        } else {
            conn.prepare_cached("UPDATE events SET ce = NULL, keep_until = ?2 WHERE seq = ?1")
                .and_then(|mut s| s.execute(params![seq, next]))
                .map_err(classify)?;
        }
    }
    Ok(seen)
}

/// Parses a stored id (the store wrote it).
pub(crate) fn event_id(s: &str) -> Result<EventId> {
    EventId::parse(s).ok_or_else(|| StoreError::Protocol("the store holds a foreign id".into()))
}
