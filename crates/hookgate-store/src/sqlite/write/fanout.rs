//! Ingest and fan-out writes: claiming each event's key and storing it,
//! then taking events off the fan-out queue into their deliveries. Apart
//! from `route` (the deliveries' own life) because they touch the events
//! and the fan-out queue, not a route's queue.

use super::{OwnedEvent, Result, Spans, lines};
use crate::sqlite::classify;
use rusqlite::{Connection, OptionalExtension, params};

/// Claims each event's key and stores it; per event, true if stored. A
/// row whose claim has lapsed (the provider sent the event again after
/// its dedup window) is stored anew: new receive time, back in the fan-out
/// queue.
///
/// Why `INSERT OR IGNORE` and then an `UPDATE`, not one upsert with
/// `RETURNING seq`: inside the writer's shared transaction, a statement
/// that may abort halfway (an upsert on a table with several indexes, a
/// `RETURNING`, an `INSERT OR REPLACE` on an indexed table) opens a
/// statement journal, which copies every page it touches before changing
/// it; that copy, and `RETURNING`'s temporary table, were half the
/// writer's instructions per event. An ignored insert cannot abort, its
/// row's `seq` is the connection's last rowid, and the update runs only
/// for a key already held (the dedup path).
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
    let mut insert = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO events
               (source, id, type, ce, tp, recv_ms, keep_until, claim_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(classify)?;
    let mut queue = conn
        .prepare_cached(
            "INSERT INTO fanout (seq, source, due) VALUES (?1, ?2, ?3)
             ON CONFLICT (seq) DO UPDATE SET source = excluded.source, due = excluded.due",
        )
        .map_err(classify)?;
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let row = params![source, ev.id, ev.ty, ev.ce, ev.tp, now, keep, claim];
        let stored = if insert.execute(row).map_err(classify)? == 1 {
            Some(conn.last_insert_rowid())
        } else {
            renew(conn, row)?
        };
        if let Some(seq) = stored {
            queue.execute(params![seq, source, now]).map_err(classify)?;
            if !ev.order.is_empty() {
                lines::take_places(conn, source, seq, &ev.order)?;
            }
        }
        out.push(stored.is_some());
    }
    Ok(out)
}

/// The key is held already: stores the event anew if its claim has lapsed
/// (`row` as `ingest` binds it), and returns its `seq`; None: a duplicate.
fn renew(conn: &Connection, row: &[&dyn rusqlite::ToSql]) -> Result<Option<i64>> {
    let renewed = conn
        .prepare_cached(
            "UPDATE events SET
               type = ?3, ce = ?4, tp = ?5, recv_ms = ?6, keep_until = ?7, claim_until = ?8
             WHERE source = ?1 AND id = ?2 AND claim_until <= ?6",
        )
        .and_then(|mut s| s.execute(row))
        .map_err(classify)?;
    if renewed == 0 {
        return Ok(None);
    }
    conn.prepare_cached("SELECT seq FROM events WHERE source = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![row[0], row[1]], |r| r.get(0)))
        .optional()
        .map_err(classify)
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
        .prepare_cached("SELECT seq, recv_ms, lines FROM events WHERE source = ?1 AND id = ?2")
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
        let found: Option<(i64, i64, Option<String>)> = find
            .query_row(params![source, id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(classify)?;
        let Some((seq, recv, places)) = found else {
            continue;
        };
        if take.execute([seq]).map_err(classify)? == 0 {
            // Another worker's commit took it first.
            continue;
        }
        fanned += 1;
        let places = lines::decode(places.as_deref());
        for sub in subs {
            let made = create
                .execute(params![source, sub, id, now, keep, recv, seq])
                .map_err(classify)?;
            if made > 0
                && let Some((_, key)) = places.iter().find(|(s, _)| s == sub)
            {
                let row: i64 = conn
                    .prepare_cached("SELECT rowid FROM deliveries WHERE event = ?1 AND sub = ?2")
                    .and_then(|mut s| s.query_row(params![seq, sub], |r| r.get(0)))
                    .map_err(classify)?;
                lines::join(conn, source, sub, key, seq, row)?;
            }
        }
        for (sub, key) in &places {
            if !subs.iter().any(|s| s == sub) {
                lines::give_up(conn, now, source, sub, key, seq)?;
            }
        }
    }
    Ok(fanned)
}
