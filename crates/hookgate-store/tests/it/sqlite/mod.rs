//! What only the embedded SQLite backend has: one process per file, the
//! file's schema versions, disk faults, backups.
