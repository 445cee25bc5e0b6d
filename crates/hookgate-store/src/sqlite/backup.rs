//! `hookgate backup`: a consistent copy of a store file while its gateway
//! runs.
//!
//! The copy is SQLite's `VACUUM INTO` on a read connection of its own: it
//! reads one snapshot (the last commit when it starts), so it is consistent
//! however busy the gateway is, and it takes neither the gateway's lock
//! nor its writer (a long read only delays the WAL's checkpoints meanwhile).
//! It is written next to its destination under a temporary name, fsynced,
//! then renamed into place, so a backup interrupted half way never looks
//! like a finished one. Restoring is starting a gateway on the copy: it is
//! a store file like any other (schema version and all), and its leases
//! are taken back at start.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The copy.
    pub path: PathBuf,
    /// Its size, bytes.
    pub bytes: u64,
}

/// Writes a consistent copy of the store at `db` to `to`, which must not
/// exist yet.
pub fn backup(db: &Path, to: &Path, timeout: Duration) -> Result<Backup, StoreError> {
    if !db.is_file() {
        return Err(StoreError::Refused(format!(
            "{} does not exist: no store to back up",
            db.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Refused(format!(
            "{} exists already: give a new file name (a backup never overwrites)",
            to.display()
        )));
    }
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);

    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", db.display())))?;
    conn.busy_timeout(timeout).map_err(super::classify)?;
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(super::classify)?;
    if app != super::schema::APPLICATION_ID {
        return Err(StoreError::Incompatible(format!(
            "{} is not a Hookgate store",
            db.display()
        )));
    }
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::Unavailable("the backup path is not UTF-8".into()))?;
    let written = conn
        .execute("VACUUM INTO ?1", [target])
        .map_err(super::classify)
        .and_then(|_| {
            let file = std::fs::File::open(&partial).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(file.metadata().map_err(io)?.len())
        });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).map_err(io)?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Backup {
        path: to.to_owned(),
        bytes,
    })
}

fn io(e: std::io::Error) -> StoreError {
    if e.raw_os_error() == Some(28) {
        StoreError::DiskFull
    } else {
        StoreError::Unavailable(format!("backup: {e}"))
    }
}
