//! Ordering keys' lines (the contract's "Ordering keys"; the tables in
//! `schema`, version 2): places taken at ingest, the head of a line, and
//! moving a line on when its head leaves.
//!
//! A line is the rows of `lines` for one (source, subscription, key), by
//! position. Its head is its first *live* row: one whose delivery is
//! pending, or whose event still waits for its fan-out. Rows that can no
//! longer come (a finished delivery left behind, an event gone before its
//! fan-out) are dropped when they are found at the front, so a line never
//! waits for something that will not happen.

use super::Result;
use crate::sqlite::{classify, state};
use rusqlite::{Connection, OptionalExtension, params};

/// Positions of fresh events are their `seq` shifted by this much, leaving
/// room below the next event's for replays and redelivers.
const POS_SHIFT: u32 = 20;

/// An event's places as stored in `events.lines`: {subscription: key}.
pub(crate) fn encode(order: &[(String, String)]) -> Option<String> {
    if order.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = order
        .iter()
        .map(|(sub, key)| (sub.clone(), serde_json::Value::String(key.clone())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// The places of `events.lines` (a malformed value has none).
pub(crate) fn decode(lines: Option<&str>) -> Vec<(String, String)> {
    let Some(Ok(serde_json::Value::Object(map))) = lines.map(serde_json::from_str) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(sub, key)| Some((sub, key.as_str()?.to_owned())))
        .collect()
}

/// Takes the places of a just-stored event (`seq`): at the back of each
/// line. A fresh row (`seq` the highest) takes its own position; a row
/// stored anew after its dedup window (an older `seq`) takes the next one.
pub(crate) fn take_places(
    conn: &Connection,
    source: &str,
    seq: i64,
    order: &[(String, String)],
) -> Result<()> {
    conn.prepare_cached("UPDATE events SET lines = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![seq, encode(order)]))
        .map_err(classify)?;
    let newest = max_seq(conn)? == seq;
    for (sub, key) in order {
        let pos = if newest {
            seq << POS_SHIFT
        } else {
            next_pos(conn, source, sub, key)?
        };
        conn.prepare_cached(
            "INSERT OR IGNORE INTO lines (source, sub, okey, pos, event) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![source, sub, key, pos, seq]))
        .map_err(classify)?;
    }
    Ok(())
}

fn max_seq(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(classify)
}

/// A position behind everything in the line and every event stored so far.
fn next_pos(conn: &Connection, source: &str, sub: &str, key: &str) -> Result<i64> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(pos) FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3")
        .and_then(|mut s| s.query_row(params![source, sub, key], |r| r.get(0)))
        .map_err(classify)?;
    Ok(last.unwrap_or(0).max(max_seq(conn)? << POS_SHIFT) + 1)
}

/// The line's head: the position and event `seq` of its first live row,
/// dropping dead rows in front of it.
fn head(conn: &Connection, source: &str, sub: &str, key: &str) -> Result<Option<(i64, i64)>> {
    loop {
        let first: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT pos, event FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3
                 ORDER BY pos LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![source, sub, key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(classify)?;
        let Some((pos, seq)) = first else {
            return Ok(None);
        };
        if live(conn, seq, sub)? {
            return Ok(Some((pos, seq)));
        }
        drop_place(conn, source, sub, key, pos)?;
    }
}

/// Whether the row of event `seq` can still be delivered in its line: its
/// delivery is pending, or it is still to be fanned out.
fn live(conn: &Connection, seq: i64, sub: &str) -> Result<bool> {
    let st: Option<i64> = conn
        .prepare_cached("SELECT state FROM deliveries WHERE event = ?1 AND sub = ?2")
        .and_then(|mut s| s.query_row(params![seq, sub], |r| r.get(0)).optional())
        .map_err(classify)?;
    Ok(match st {
        Some(st) => !matches!(st, state::DELIVERED | state::DEAD),
        None => conn
            .prepare_cached("SELECT 1 FROM fanout WHERE seq = ?1")
            .and_then(|mut s| s.exists([seq]))
            .map_err(classify)?,
    })
}

fn drop_place(conn: &Connection, source: &str, sub: &str, key: &str, pos: i64) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3 AND pos = ?4",
    )
    .and_then(|mut s| s.execute(params![source, sub, key, pos]))
    .map(drop)
    .map_err(classify)
}

/// Queues the line's head if it is held: due now, its budget starting now.
fn advance(conn: &Connection, now: i64, source: &str, sub: &str, key: &str) -> Result<()> {
    if let Some((_, seq)) = head(conn, source, sub, key)? {
        conn.prepare_cached(
            "UPDATE deliveries SET state = 0, due = ?3, first_ms = ?3
             WHERE event = ?1 AND sub = ?2 AND state = 4",
        )
        .and_then(|mut s| s.execute(params![seq, sub, now]))
        .map_err(classify)?;
    }
    Ok(())
}

/// A delivery leaves its line (it was delivered or dead-lettered): its
/// place goes and the next one moves up.
pub(crate) fn leave(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    key: &str,
    pos: i64,
) -> Result<()> {
    drop_place(conn, source, sub, key, pos)?;
    advance(conn, now, source, sub, key)
}

/// The place of event `seq` in the line, if it has one: where a fresh
/// event's is (one lookup by the key), else found by a scan of the line.
fn place_of(
    conn: &Connection,
    source: &str,
    sub: &str,
    key: &str,
    seq: i64,
) -> Result<Option<i64>> {
    let fresh = seq << POS_SHIFT;
    let at_fresh: Option<i64> = conn
        .prepare_cached(
            "SELECT event FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3 AND pos = ?4",
        )
        .and_then(|mut s| {
            s.query_row(params![source, sub, key, fresh], |r| r.get(0))
                .optional()
        })
        .map_err(classify)?;
    if at_fresh == Some(seq) {
        return Ok(Some(fresh));
    }
    conn.prepare_cached(
        "SELECT pos FROM lines WHERE source = ?1 AND sub = ?2 AND okey = ?3 AND event = ?4",
    )
    .and_then(|mut s| {
        s.query_row(params![source, sub, key, seq], |r| r.get(0))
            .optional()
    })
    .map_err(classify)
}

/// Makes the pending delivery `row` (event `seq`) its line's: it records
/// its key and place, and is held unless it is the head. A queued one that
/// is not the head is held; a leased one keeps its lease.
pub(crate) fn join(
    conn: &Connection,
    source: &str,
    sub: &str,
    key: &str,
    seq: i64,
    row: i64,
) -> Result<()> {
    let Some(pos) = place_of(conn, source, sub, key, seq)? else {
        return Ok(()); // no place (given up, or taken by an older version)
    };
    let is_head = head(conn, source, sub, key)?.is_some_and(|(p, _)| p == pos);
    conn.prepare_cached(
        "UPDATE deliveries SET okey = ?2, opos = ?3,
           state = CASE WHEN state = 0 AND NOT ?4 THEN 4 ELSE state END
         WHERE rowid = ?1",
    )
    .and_then(|mut s| s.execute(params![row, key, pos, is_head]))
    .map(drop)
    .map_err(classify)
}

/// Gives up the place of event `seq` in a line it will not be delivered
/// in (the fan-out did not name the subscription).
pub(crate) fn give_up(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    key: &str,
    seq: i64,
) -> Result<()> {
    if let Some(pos) = place_of(conn, source, sub, key, seq)? {
        leave(conn, now, source, sub, key, pos)?;
    }
    Ok(())
}

/// Puts the finished delivery `row` (event `seq`, key `key`) back at the
/// end of its line, pending: queued (due `due`) if that makes it the head,
/// held otherwise. The caller resets its budget.
pub(crate) fn rejoin(
    conn: &Connection,
    source: &str,
    sub: &str,
    key: &str,
    seq: i64,
    row: i64,
    due: i64,
) -> Result<()> {
    let pos = next_pos(conn, source, sub, key)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO lines (source, sub, okey, pos, event) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![source, sub, key, pos, seq]))
    .map_err(classify)?;
    // Not pending yet: `live` would drop the row; mark it held first.
    conn.prepare_cached("UPDATE deliveries SET state = 4, opos = ?2, due = ?3 WHERE rowid = ?1")
        .and_then(|mut s| s.execute(params![row, pos, due]))
        .map_err(classify)?;
    let is_head = head(conn, source, sub, key)?.is_some_and(|(p, _)| p == pos);
    if is_head {
        conn.prepare_cached("UPDATE deliveries SET state = 0 WHERE rowid = ?1")
            .and_then(|mut s| s.execute([row]))
            .map_err(classify)?;
    }
    Ok(())
}

/// Restores a copied place (`store copy`), unless it is there; returns
/// whether it was written. Its delivery learns its place, and the line's
/// head is queued if it was held (its predecessors may not have come
/// along).
pub(crate) fn import_place(
    conn: &Connection,
    now: i64,
    source: &str,
    sub: &str,
    key: &str,
    pos: i64,
    seq: i64,
) -> Result<usize> {
    let written = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO lines (source, sub, okey, pos, event) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![source, sub, key, pos, seq]))
        .map_err(classify)?;
    conn.prepare_cached(
        "UPDATE deliveries SET opos = ?4 WHERE event = ?1 AND sub = ?2 AND okey = ?3 AND opos IS NULL",
    )
    .and_then(|mut s| s.execute(params![seq, sub, key, pos]))
    .map_err(classify)?;
    advance(conn, now, source, sub, key)?;
    Ok(written)
}
