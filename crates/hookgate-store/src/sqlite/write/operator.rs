//! Operators' writes: replay and redeliver (which renew the event's
//! retention), pause flags, the audit stream. Apart from the hot path's
//! writes because only the admin API and the CLI make them.

use super::{Result, Spans, lines};
use crate::sqlite::classify;
use crate::sqlite::state;
use rusqlite::{Connection, OptionalExtension, params};

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
        let dead: Option<(i64, Option<String>)> = conn
            .prepare_cached(
                "SELECT d.rowid, d.okey FROM events e JOIN deliveries d ON d.event = e.seq AND d.sub = ?2
                 WHERE e.source = ?1 AND e.id = ?3 AND d.state = 3 AND d.keep_until > ?4",
            )
            .and_then(|mut s| {
                s.query_row(params![source, sub, id, now], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(classify)?;
        let Some((row, key)) = dead else { continue };
        let Some(seq) = renew_event(conn, now, source, id, spans)? else {
            continue;
        };
        conn.prepare_cached(
            "UPDATE deliveries SET state = 0, due = ?2, attempts = 0, first_ms = ?3, reclaims = 0,
               reason = NULL, replayed_at = ?3, requeue = 0, keep_until = ?4
             WHERE rowid = ?1",
        )
        .and_then(|mut s| s.execute(params![row, at, now, now.saturating_add(spans.retention)]))
        .map_err(classify)?;
        if let Some(key) = key {
            // Behind whatever its key has queued.
            lines::rejoin(conn, source, sub, &key, seq, row, *at)?;
        }
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
    let before: Option<(i64, i64, Option<String>)> = conn
        .prepare_cached("SELECT rowid, state, okey FROM deliveries WHERE event = ?1 AND sub = ?2")
        .and_then(|mut s| {
            s.query_row(params![seq, sub], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(classify)?;
    // A delivery in flight keeps its lease and goes again when that
    // attempt ends (counting on from it, as its outcome is kept); one held
    // behind its key keeps its place.
    conn.prepare_cached(
        "INSERT INTO deliveries (event, sub, source, id, state, due, first_ms, replayed_at, keep_until)
         VALUES (?6, ?2, ?1, ?3, 0, ?4, ?4, ?4, ?5)
         ON CONFLICT (event, sub) DO UPDATE SET
           state = CASE WHEN state IN (1, 4) THEN state ELSE 0 END,
           due = CASE WHEN state IN (1, 4) THEN due ELSE excluded.due END,
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
    if let Some((row, st, Some(key))) = before
        && (st == state::DELIVERED || st == state::DEAD)
    {
        // A finished one goes behind whatever its key has queued.
        lines::rejoin(conn, source, sub, &key, seq, row, now)?;
    }
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
