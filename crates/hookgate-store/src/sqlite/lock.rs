//! One gateway process per store file.
//!
//! Why: the file holds leases and the fan-out queue, whose rules assume one
//! writer that knows every lease is its own (a restarted gateway takes back
//! every lease at once). A second gateway on the same file would take back
//! the first one's leases and deliver everything twice. SQLite's own locks
//! only serialize transactions, so the gateway holds an exclusive `flock`
//! on `<file>-lock` for as long as it runs. Other programs that open the
//! database (the `sqlite3` shell, `hookgate backup`, `hookgate store copy`)
//! never take this lock and are not refused.
//!
//! The lock is released by the kernel when the process ends, however it
//! ends, so a crash never leaves a stale lock behind. The file also records
//! the holder's pid, for the error a second process prints.

use crate::StoreError;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// The lock file of a database file.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

impl FileLock {
    /// Takes the exclusive lock of `db`, or says which process holds it.
    pub(crate) fn acquire(db: &Path) -> Result<Self, StoreError> {
        let path = lock_path(db);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let by = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(StoreError::InUse(format!(
                    "{} is in use by another gateway process{by}: one gateway per SQLite file \
                     (several instances share a Redis store instead)",
                    db.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        // Best effort: the pid is only for the message above.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        Ok(FileLock { _file: file })
    }
}
