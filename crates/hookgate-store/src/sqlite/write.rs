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
//!
//! # Layout
//! - `fanout`: ingest and fan-out.
//! - `route`: route claim, lease take-back, and finish.
//! - `operator`: replay, redeliver, pause flags, the audit stream.
//! - `lines`: ordering keys' lines, used by the three above.
//! - this file: what they share, the readiness probe and the sweep.

use super::classify;
use crate::StoreError;
use hookgate_core::EventId;
use rusqlite::{Connection, params};

mod fanout;
mod lines;
mod operator;
mod route;

pub(crate) use fanout::{fanout_commit, ingest};
pub(crate) use lines::{decode as decode_places, encode as encode_places, import_place};
pub(crate) use operator::{audit_append, redeliver, replay, set_paused};
pub(crate) use route::{reclaim, route_claim, route_finish};

type Result<T> = std::result::Result<T, StoreError>;

/// One event to store, owned (it crosses to the writer thread).
pub(crate) struct OwnedEvent {
    pub id: String,
    pub ty: String,
    pub ce: Vec<u8>,
    pub tp: String,
    /// Places in line: (subscription, key).
    pub order: Vec<(String, String)>,
}

/// Retention and lease, in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spans {
    pub retention: i64,
    pub lease: i64,
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
