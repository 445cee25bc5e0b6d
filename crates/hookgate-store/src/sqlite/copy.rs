//! Export and import of the SQLite store's contents (see [`crate::copy`]).
//!
//! Export reads on a read connection, in phases, each in rowid (or id)
//! order: `e` events and their claims, `d` deliveries, `l` the ordering
//! keys' lines (by line and position), `p` pause flags, `a` the audit log. The cursor is `<phase>:<position>`.
//!
//! Import runs in the writer's transaction and never overwrites: a claim
//! is written where the store holds none alive, an event fills a row that
//! held only its claim, a delivery, a pause flag or an audit record is
//! written when absent.

use super::{classify, state, write, write::event_id};
use crate::copy::{CopiedState, ExportPage, Record};
use crate::{AttemptRecord, OrderSlot, StoreError};
use hookgate_core::OrderKey;
use rusqlite::{Connection, OptionalExtension, params};

type Result<T> = std::result::Result<T, StoreError>;

fn bad_cursor(cursor: &str) -> StoreError {
    StoreError::Protocol(format!("{cursor:?} is not an export cursor of this store"))
}

/// One page of the export from `cursor`.
pub(crate) fn export(
    conn: &Connection,
    now: i64,
    cursor: Option<&str>,
    max: usize,
) -> Result<ExportPage> {
    let cursor = cursor.unwrap_or("e:0");
    let (phase, at) = cursor.split_once(':').ok_or_else(|| bad_cursor(cursor))?;
    match phase {
        "e" => {
            let after: i64 = at.parse().map_err(|_| bad_cursor(cursor))?;
            events(conn, now, after, max)
        }
        "d" => {
            let after: i64 = at.parse().map_err(|_| bad_cursor(cursor))?;
            deliveries(conn, now, after, max)
        }
        "l" => {
            let skip: usize = at.parse().map_err(|_| bad_cursor(cursor))?;
            lines(conn, skip, max)
        }
        "p" => paused(conn),
        "a" if at.is_empty() => audit(conn, (i64::MIN, i64::MIN), max),
        "a" => {
            let (ms, seq) = at.split_once('-').ok_or_else(|| bad_cursor(cursor))?;
            let ms: i64 = ms.parse().map_err(|_| bad_cursor(cursor))?;
            let seq: i64 = seq.parse().map_err(|_| bad_cursor(cursor))?;
            audit(conn, (ms, seq), max)
        }
        _ => Err(bad_cursor(cursor)),
    }
}

type EventRow = (
    i64,
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

fn events(conn: &Connection, now: i64, after: i64, max: usize) -> Result<ExportPage> {
    let rows: Vec<EventRow> = conn
        .prepare_cached(
            "SELECT e.seq, e.source, e.id, e.type, e.ce, e.lines, e.tp, e.recv_ms, e.keep_until,
                    e.claim_until, f.due
             FROM events e LEFT JOIN fanout f ON f.seq = e.seq
             WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![after, max as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })?
            .collect()
        })
        .map_err(classify)?;
    let full = rows.len() == max;
    let last = rows.last().map(|r| r.0);
    let mut records = Vec::with_capacity(rows.len() * 2);
    for (_, source, id, ty, ce, places, tp, recv, keep, claim, fanout) in rows {
        let id = event_id(&id)?;
        if claim > now {
            records.push(Record::Claim {
                source: source.clone(),
                id: id.clone(),
                until_ms: claim,
            });
        }
        if let Some(ce) = ce.filter(|_| keep > now) {
            records.push(Record::Event {
                source,
                id,
                ty,
                cloudevent: ce,
                traceparent: tp,
                received_ms: recv,
                keep_until_ms: keep,
                fanout_due_ms: fanout,
                order: write::decode_places(places.as_deref())
                    .into_iter()
                    .map(|(sub, key)| OrderSlot {
                        sub,
                        key: OrderKey::from_stored(key),
                    })
                    .collect(),
            });
        }
    }
    let next = match (full, last) {
        (true, Some(last)) => format!("e:{last}"),
        _ => "d:0".to_owned(),
    };
    Ok(ExportPage {
        records,
        next: Some(next),
    })
}

type DeliveryRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    u32,
    i64,
    u32,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    String,
    Option<String>,
);

/// A page of delivery records after `rowid` `after` (and the cursor on).
/// Slightly over the ~80-line guideline: one query and its row, field for
/// field, into a [`Record::Delivery`]; most of the length is that field
/// list.
fn deliveries(conn: &Connection, now: i64, after: i64, max: usize) -> Result<ExportPage> {
    let rows: Vec<DeliveryRow> = conn
        .prepare_cached(
            "SELECT rowid, source, sub, id, state, due, attempts, first_ms, reclaims, code, reason,
                    replayed_at, keep_until, log, okey
             FROM deliveries WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![after, max as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                ))
            })?
            .collect()
        })
        .map_err(classify)?;
    let full = rows.len() == max;
    let last = rows.last().map(|r| r.0);
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let (
            _,
            source,
            sub,
            id,
            st,
            due,
            attempts,
            first_ms,
            reclaims,
            code,
            reason,
            replayed,
            keep,
            log,
            okey,
        ) = row;
        if keep <= now {
            continue;
        }
        let state = match st {
            state::DELIVERED => CopiedState::Delivered(due),
            state::DEAD => CopiedState::Dead(due),
            // A lease is copied as due now: the copy's reader is not its
            // holder, and the new store starts without workers.
            state::LEASED => CopiedState::Queued(now),
            state::HELD => CopiedState::Held,
            _ => CopiedState::Queued(due),
        };
        let log: Vec<AttemptRecord> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        records.push(Record::Delivery {
            source,
            sub,
            id: event_id(&id)?,
            state,
            attempts,
            first_ms,
            reclaims,
            last_status_code: code.and_then(|c| u16::try_from(c).ok()),
            reason: reason.filter(|r| !r.is_empty()),
            replayed_at_ms: replayed,
            keep_until_ms: keep,
            log,
            key: okey.map(OrderKey::from_stored),
        });
    }
    let next = match (full, last) {
        (true, Some(last)) => format!("d:{last}"),
        _ => "l:0".to_owned(),
    };
    Ok(ExportPage {
        records,
        next: Some(next),
    })
}

/// A page of the ordering keys' lines, from the `skip`-th place on (the
/// gateway is stopped during a copy, so the places do not move).
fn lines(conn: &Connection, skip: usize, max: usize) -> Result<ExportPage> {
    let records: Vec<Record> = conn
        .prepare_cached(
            "SELECT l.source, l.sub, l.okey, e.id, l.pos FROM lines l JOIN events e ON e.seq = l.event
             ORDER BY l.source, l.sub, l.okey, l.pos LIMIT ?1 OFFSET ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![max as i64, skip as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<(String, String, String, String, i64)>>>()
        })
        .map_err(classify)?
        .into_iter()
        .map(|(source, sub, key, id, position)| {
            Ok(Record::Line {
                source,
                sub,
                key: OrderKey::from_stored(key),
                id: event_id(&id)?,
                position,
            })
        })
        .collect::<Result<_>>()?;
    let next = if records.len() == max {
        format!("l:{}", skip + max)
    } else {
        "p:".to_owned()
    };
    Ok(ExportPage {
        records,
        next: Some(next),
    })
}

fn paused(conn: &Connection) -> Result<ExportPage> {
    let records = conn
        .prepare_cached("SELECT sub, at_ms FROM paused ORDER BY sub")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(Record::Paused {
                    sub: r.get(0)?,
                    at_ms: r.get(1)?,
                })
            })?
            .collect()
        })
        .map_err(classify)?;
    Ok(ExportPage {
        records,
        next: Some("a:".to_owned()),
    })
}

fn audit(conn: &Connection, after: (i64, i64), max: usize) -> Result<ExportPage> {
    let rows: Vec<(i64, i64, String)> = conn
        .prepare_cached(
            "SELECT ms, seq, record FROM audit WHERE (ms, seq) > (?1, ?2) ORDER BY ms, seq LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![after.0, after.1, max as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .map_err(classify)?;
    let full = rows.len() == max;
    let last = rows.last().map(|(ms, seq, _)| format!("a:{ms}-{seq}"));
    let records = rows
        .into_iter()
        .filter_map(|(ms, seq, json)| {
            Some(Record::Audit {
                id: format!("{ms}-{seq}"),
                record: serde_json::from_str(&json).ok()?,
            })
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
/// over the record kinds, each arm that kind's upsert (mostly SQL and its
/// parameter list), in the order an export writes them (a claim before its
/// event, an event before its deliveries), so every kind reads side by
/// side with the others and with the Redis import, arm for arm.
pub(crate) fn import(conn: &Connection, now: i64, records: &[Record]) -> Result<u64> {
    let mut written = 0u64;
    for record in records {
        let changed = match record {
            Record::Claim {
                source,
                id,
                until_ms,
            } => {
                if *until_ms <= now {
                    continue;
                }
                // A row of its own until its event comes (next record).
                conn.prepare_cached(
                    "INSERT INTO events (source, id, type, ce, tp, recv_ms, keep_until, claim_until)
                     VALUES (?1, ?2, '', NULL, '', 0, ?3, ?3)
                     ON CONFLICT (source, id) DO UPDATE SET
                       claim_until = excluded.claim_until,
                       keep_until = CASE WHEN ce IS NULL
                         THEN max(keep_until, excluded.claim_until) ELSE keep_until END
                     WHERE events.claim_until <= ?4",
                )
                .and_then(|mut s| s.execute(params![source, id.as_str(), until_ms, now]))
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
                if *keep_until_ms <= now {
                    continue;
                }
                // Fills a row that holds only the claim; an event already
                // there stays as it is.
                let filled: Option<i64> = conn
                    .prepare_cached(
                        "INSERT INTO events (source, id, type, ce, tp, recv_ms, keep_until, claim_until)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
                         ON CONFLICT (source, id) DO UPDATE SET
                           type = excluded.type, ce = excluded.ce, tp = excluded.tp,
                           recv_ms = excluded.recv_ms, keep_until = excluded.keep_until
                         WHERE events.ce IS NULL OR events.keep_until <= ?8
                         RETURNING seq",
                    )
                    .and_then(|mut s| {
                        s.query_row(
                            params![
                                source,
                                id.as_str(),
                                ty,
                                cloudevent,
                                traceparent,
                                received_ms,
                                keep_until_ms,
                                now
                            ],
                            |r| r.get(0),
                        )
                        .optional()
                    })
                    .map_err(classify)?;
                if let Some(seq) = filled
                    && !order.is_empty()
                {
                    let places: Vec<(String, String)> = order
                        .iter()
                        .map(|slot| (slot.sub.clone(), slot.key.as_str().to_owned()))
                        .collect();
                    conn.prepare_cached("UPDATE events SET lines = ?2 WHERE seq = ?1")
                        .and_then(|mut s| s.execute(params![seq, write::encode_places(&places)]))
                        .map_err(classify)?;
                }
                match (filled, fanout_due_ms) {
                    (Some(seq), Some(due)) => conn
                        .prepare_cached(
                            "INSERT OR REPLACE INTO fanout (seq, source, due) VALUES (?1, ?2, ?3)",
                        )
                        .and_then(|mut s| s.execute(params![seq, source, due]))
                        .map(|_| 1),
                    (filled, _) => Ok(usize::from(filled.is_some())),
                }
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
                if *keep_until_ms <= now {
                    continue;
                }
                let (st, due) = match *state {
                    CopiedState::Queued(due) => (state::QUEUED, due),
                    CopiedState::Delivered(at) => (state::DELIVERED, at),
                    CopiedState::Dead(at) => (state::DEAD, at),
                    CopiedState::Held => (state::HELD, 0),
                };
                let mut lines = String::new();
                for entry in log.iter().rev().take(crate::ATTEMPT_LOG_CAP).rev() {
                    let line = serde_json::to_string(entry)
                        .map_err(|e| StoreError::Protocol(e.to_string()))?;
                    lines.push_str(&line);
                    lines.push('\n');
                }
                let log_len = log.len().min(crate::ATTEMPT_LOG_CAP) as i64;
                // A delivery belongs to its event's row; one whose event
                // did not come along (it expired) has nothing to send.
                let seq: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM events WHERE source = ?1 AND id = ?2")
                    .and_then(|mut s| {
                        s.query_row(params![source, id.as_str()], |r| r.get(0))
                            .optional()
                    })
                    .map_err(classify)?;
                let Some(seq) = seq else { continue };
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO deliveries
                       (event, source, sub, id, state, due, attempts, first_ms, reclaims, code,
                        reason, replayed_at, keep_until, log, log_len, okey)
                     VALUES (?15, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?16)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        source,
                        sub,
                        id.as_str(),
                        st,
                        due,
                        attempts,
                        first_ms,
                        reclaims,
                        last_status_code,
                        reason,
                        replayed_at_ms,
                        keep_until_ms,
                        lines,
                        log_len,
                        seq,
                        key.as_ref().map(OrderKey::as_str)
                    ])
                })
            }
            Record::Line {
                source,
                sub,
                key,
                id,
                position,
            } => {
                let seq: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM events WHERE source = ?1 AND id = ?2")
                    .and_then(|mut s| {
                        s.query_row(params![source, id.as_str()], |r| r.get(0))
                            .optional()
                    })
                    .map_err(classify)?;
                let Some(seq) = seq else { continue };
                written += write::import_place(conn, now, source, sub, key.as_str(), *position, seq)?
                    as u64;
                continue;
            }
            Record::Paused { sub, at_ms } => conn
                .prepare_cached("INSERT OR IGNORE INTO paused (sub, at_ms) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![sub, at_ms])),
            Record::Audit { id, record } => {
                let Some((ms, seq)) = id
                    .split_once('-')
                    .and_then(|(ms, seq)| Some((ms.parse::<i64>().ok()?, seq.parse::<i64>().ok()?)))
                else {
                    return Err(StoreError::Protocol(format!("{id:?} is not an audit id")));
                };
                let json = serde_json::to_string(record)
                    .map_err(|e| StoreError::Protocol(e.to_string()))?;
                conn.prepare_cached("INSERT OR IGNORE INTO audit (ms, seq, record) VALUES (?1, ?2, ?3)")
                    .and_then(|mut s| s.execute(params![ms, seq, json]))
            }
        }
        .map_err(classify)?;
        written += changed as u64;
    }
    Ok(written)
}
