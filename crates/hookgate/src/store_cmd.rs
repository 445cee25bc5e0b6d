//! `hookgate backup` and `hookgate store copy`: the store's files and
//! moves, run next to (or instead of) a gateway, never through it.
//!
//! - `backup --config F --to FILE`: a consistent copy of the embedded
//!   store's file while its gateway serves (see
//!   `hookgate_store::sqlite::backup`). Restoring is starting a gateway on
//!   the copy.
//! - `store copy --from A.toml --to B.toml`: every event within retention,
//!   pending delivery with its schedule, dead letter, audit record, pause
//!   flag and dedup claim of A's store into B's, idempotently (see
//!   `hookgate_store::copy`). A's gateway must be stopped (the copy opens
//!   A's store as its only user); B's may run.

use crate::check;
use hookgate_config::{Config, StoreBackend};
use hookgate_store::{Settings, Store, StoreError};
use std::path::Path;
use std::process::ExitCode;

fn load(path: &Path) -> Result<Config, ExitCode> {
    check::load_checked(path).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("{}: {} error(s)", path.display(), errors.len());
        ExitCode::FAILURE
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// `hookgate backup --config F --to FILE`.
pub fn backup(config: &Path, to: &Path) -> ExitCode {
    let cfg = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let StoreBackend::Sqlite(sqlite) = &cfg.store.backend else {
        eprintln!(
            "backup: {} uses the Redis store; back Redis up with its own persistence \
             (RDB snapshots or the AOF file), or copy it with `hookgate store copy`",
            config.display()
        );
        return ExitCode::FAILURE;
    };
    // A busy store may make the snapshot wait for its lock for a while:
    // longer than a request's store_timeout.
    let wait = cfg.store.timeout.max(std::time::Duration::from_secs(30));
    match hookgate_store::sqlite::backup(&sqlite.path, to, wait) {
        Ok(done) => {
            println!(
                "backup of {} written to {} ({} bytes)",
                sqlite.path.display(),
                done.path.display(),
                done.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `hookgate store copy --from A --to B`.
pub fn copy(from: &Path, to: &Path) -> ExitCode {
    let (a, b) = match (load(from), load(to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    if same_store(&a, &b) {
        eprintln!("store copy: both configs name the same store; nothing to copy");
        return ExitCode::FAILURE;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let source =
            Store::open(&a.store, Settings::from_config(&a)).map_err(|e| with_hint(e, "from"))?;
        source.check().await.map_err(|e| with_hint(e, "from"))?;
        let target =
            Store::open(&b.store, Settings::from_config(&b)).map_err(|e| with_hint(e, "to"))?;
        target.check().await.map_err(|e| with_hint(e, "to"))?;
        let mut shown = 0;
        hookgate_store::copy::copy(&source, &target, |n| {
            if n.read >= shown + 10_000 {
                shown = n.read;
                eprintln!("... {} records read, {} written", n.read, n.written);
            }
        })
        .await
        .map_err(|e| format!("copy failed: {e} (run it again: a copy never repeats what it wrote)"))
    });
    match result {
        Ok(n) => {
            println!(
                "copied {} to {}: {} records read, {} written ({} already there)",
                from.display(),
                to.display(),
                n.read,
                n.written,
                n.read - n.written
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("store copy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Says which side failed, and what to do when the source is in use.
fn with_hint(e: StoreError, side: &str) -> String {
    match e {
        StoreError::InUse(why) if side == "from" => {
            format!("--{side}: {why}; stop that gateway before copying its store")
        }
        other => format!("--{side}: {other}"),
    }
}

/// Whether two configs point at the same store (the same SQLite file).
fn same_store(a: &Config, b: &Config) -> bool {
    match (&a.store.backend, &b.store.backend) {
        (StoreBackend::Sqlite(x), StoreBackend::Sqlite(y)) => {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
            canon(&x.path) == canon(&y.path)
        }
        _ => false,
    }
}
