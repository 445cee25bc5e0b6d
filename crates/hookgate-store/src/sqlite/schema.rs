//! The file format: tables, their versions, and migrations.
//!
//! The file says what it is in its header: `application_id` is
//! [`APPLICATION_ID`] (a file of another program is refused) and
//! `user_version` is the schema version. A newer gateway migrates an older
//! file forward in place, one step per version, each step one transaction;
//! a file of a newer schema than this build knows is refused rather than
//! misread. Every version's file is kept as a test fixture
//! (`tests/fixtures/sqlite/v<N>.db`) and every later version must open it.
//!
//! # Version 1
//!
//! | table | one row per | notes |
//! | --- | --- | --- |
//! | `events` | (source, event id) while its event, its dedup claim or one of its deliveries lives | `seq` (the row's number, in receive order), the CloudEvent, the claim's expiry |
//! | `fanout` | stored event not fanned out yet (`seq`) | the source's fan-out queue, by due time |
//! | `deliveries` | (event `seq`, subscription) | `state` 0 queued, 1 leased, 2 delivered, 3 dead; `due` is the due time, the lease's expiry (its token), or when it was delivered or died; the attempt log as JSON lines; `source` and `id` repeated for listings |
//! | `paused` | paused subscription | since when |
//! | `audit` | admin action | id `<ms>-<seq>`, append-only |
//! | `meta` | setting | the readiness probe's row |
//!
//! # Version 2: ordering keys
//!
//! | change | holds |
//! | --- | --- |
//! | `events.lines` | JSON object {subscription: key} of an event's places in line (events with places only), read by its fan-out |
//! | `deliveries.okey`, `deliveries.opos` | an ordered delivery's key and its place (position) in the key's line; `state` 4 = held behind the line's head |
//! | `lines` | one row per place: (source, subscription, key, position) → the event's `seq`; the line's first live row is its head |
//! | `deliveries_blocked` | partial index of heads that failed at least once (blocked keys, oldest first) |
//!
//! Positions: an event stored fresh takes `seq << 20` (the order of
//! acknowledgement); a replay or a redeliver of a finished delivery takes
//! one past both the line's last position and `max(seq) << 20`, so it goes
//! behind what is queued and ahead of what is stored later.
//!
//! Times are Unix milliseconds. An event is visible while it has its body
//! (`ce`) and `keep_until > now` (its retention, renewed by a replay); it
//! holds its idempotency key while `claim_until > now` (the source's dedup
//! window). `keep_until` is also when the background sweep next looks at
//! the row: past retention the body goes, and the row itself once its
//! claim and every delivery of it have expired too. A delivery goes at its
//! own `keep_until` (retention from its last write). Expired rows are
//! invisible at once and removed in the background (`write::sweep`).
//!
//! Why deliveries are keyed by the event's `seq`, not by its id: the id is
//! a hash, so an index on it takes one random page per new row, and on
//! this disk every page written is a WAL frame (two system calls, then a
//! checkpoint copy). The event's own key is that one random page per
//! event; every other index grows at its end (`seq`, times), where the
//! rows of one commit share pages. For the same reason the fan-out queue
//! is a small table of its own: taking an event off it rewrites a few hot
//! pages, not the event's row.

use crate::StoreError;
use rusqlite::Connection;

/// `PRAGMA application_id` of a Hookgate store ("HGTB").
pub(crate) const APPLICATION_ID: i32 = 0x4847_5442;

/// The schema version this build writes.
pub const CURRENT: i64 = 2;

/// Version 1, created whole on a new file.
const V1: &str = "
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    ce          BLOB,
    tp          TEXT    NOT NULL,
    recv_ms     INTEGER NOT NULL,
    keep_until  INTEGER NOT NULL,
    claim_until INTEGER NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX events_received ON events (source, recv_ms);
CREATE INDEX events_keep ON events (keep_until);

CREATE TABLE fanout (
    seq    INTEGER PRIMARY KEY,
    source TEXT    NOT NULL,
    due    INTEGER NOT NULL
);
CREATE INDEX fanout_due ON fanout (source, due);

CREATE TABLE deliveries (
    event       INTEGER NOT NULL,
    sub         TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    state       INTEGER NOT NULL,
    due         INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    first_ms    INTEGER NOT NULL,
    reclaims    INTEGER NOT NULL DEFAULT 0,
    code        INTEGER,
    reason      TEXT,
    replayed_at INTEGER,
    requeue     INTEGER NOT NULL DEFAULT 0,
    keep_until  INTEGER NOT NULL,
    log         TEXT    NOT NULL DEFAULT '',
    log_len     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event, sub)
);
CREATE INDEX deliveries_by_state ON deliveries (source, sub, state, due);
CREATE INDEX deliveries_keep ON deliveries (keep_until);

CREATE TABLE paused (
    sub   TEXT    PRIMARY KEY,
    at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit (
    ms     INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    record TEXT    NOT NULL,
    PRIMARY KEY (ms, seq)
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB
) WITHOUT ROWID;
";

/// Version 2: ordering keys (see the module docs).
const V2: &str = "
ALTER TABLE events ADD COLUMN lines TEXT;
ALTER TABLE deliveries ADD COLUMN okey TEXT;
ALTER TABLE deliveries ADD COLUMN opos INTEGER;
CREATE TABLE lines (
    source TEXT    NOT NULL,
    sub    TEXT    NOT NULL,
    okey   TEXT    NOT NULL,
    pos    INTEGER NOT NULL,
    event  INTEGER NOT NULL,
    PRIMARY KEY (source, sub, okey, pos)
) WITHOUT ROWID;
CREATE INDEX deliveries_blocked ON deliveries (source, sub, first_ms)
    WHERE okey IS NOT NULL AND attempts > 0 AND state IN (0, 1);
";

/// Migrations from version N to N + 1, at index N - 1. A new file is made
/// as version 1 and migrated like any other.
const MIGRATIONS: &[&str] = &[V2];

/// What [`prepare`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The version the file had (0: new).
    pub from: i64,
}

fn sql(e: rusqlite::Error) -> StoreError {
    super::classify(e)
}

/// Creates the schema on a new file, migrates an older one, or refuses the
/// file. `path` only names the file in errors.
pub(crate) fn prepare(conn: &mut Connection, path: &std::path::Path) -> Result<Opened, StoreError> {
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sql)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(sql)?;
    if app == 0 && version == 0 && tables == 0 {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(V1).map_err(sql)?;
        for step in MIGRATIONS {
            tx.execute_batch(step).map_err(sql)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql)?;
        tx.pragma_update(None, "user_version", CURRENT)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        return Ok(Opened { from: 0 });
    }
    if app != APPLICATION_ID {
        return Err(StoreError::Incompatible(format!(
            "{} is not a Hookgate store (an SQLite file of another program); \
             point [store] path at a new or a Hookgate file",
            path.display()
        )));
    }
    if version > CURRENT {
        return Err(StoreError::Incompatible(format!(
            "{} was written by a newer Hookgate (store schema {version}; this version reads \
             up to {CURRENT}): run the newer version, or restore a backup",
            path.display()
        )));
    }
    for step in version..CURRENT {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(MIGRATIONS[(step - 1) as usize])
            .map_err(sql)?;
        tx.pragma_update(None, "user_version", step + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        tracing::info!(
            request_id = %hookgate_core::trace::new_request_id(),
            file = %path.display(),
            from = step,
            to = step + 1,
            "store schema migrated"
        );
    }
    Ok(Opened { from: version })
}

/// The schema version of an open file.
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)
}
