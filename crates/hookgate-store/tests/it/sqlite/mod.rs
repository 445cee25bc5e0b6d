//! What only the embedded SQLite backend has: one process per file, the
//! file's schema and versions, restarts that take back their leases, a
//! full disk, backups.
//!
//! - [`file`]: one gateway per file; what a file must be to be opened;
//!   permissions, WAL, schema version; expired rows removed.
//! - [`restart`]: a reopened store takes back every lease at once.
//! - [`disk`]: a full disk answers errors, acknowledges nothing it did not
//!   commit, and recovers by itself.
//! - [`backup`]: a consistent copy while writes go on; the copy is a store.
//! - [`compat`]: the files of earlier versions (`tests/fixtures/sqlite/`).

mod backup;
mod compat;
mod disk;
mod file;
mod restart;
