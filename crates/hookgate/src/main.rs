//! `hookgate`: the gateway binary.
//!
//! - `hookgate serve --config F` runs the gateway (ingest listener, admin
//!   listener, one delivery pool per source) until SIGTERM or SIGINT.
//! - `hookgate check-config --config F` validates the file, secrets and
//!   every source's scheme without binding a socket or touching the store.
//! - `hookgate verify --config F --source ID --request FILE` checks a
//!   captured request offline against the source's scheme.
//! - `hookgate dlq|events|subscriptions|audit ...` is the operators' CLI
//!   over the admin API (`cli`, `client`; token from `HOOKGATE_TOKEN`).
//! - `hookgate backup --config F --to FILE` copies the embedded store's
//!   file while the gateway serves; `hookgate store copy --from A --to B`
//!   moves a deployment to another store (`store_cmd`).
//!
//! Errors from the libraries are typed; this is the edge where they become
//! messages for a human and an exit code (0 ok, 1 failure, 2 usage or, for `verify`, no verdict).

mod check;
mod cli;
mod client;
mod logging;
mod serve;
mod store_cmd;
mod verify_cmd;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: a request's small, short-lived
/// allocations were about 15 % of the gateway's CPU under load with glibc's
/// (see benches/results/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hookgate",
    version,
    about = "Webhook ingestion and fan-out gateway"
)]
struct Cli {
    /// The configuration file; without a subcommand, `hookgate --config F`
    /// runs the gateway like `hookgate serve --config F`.
    #[arg(long, short, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
    /// `--json` and `--admin-url` of the CLI commands (global: before or
    /// after the subcommand).
    #[command(flatten)]
    common: cli::Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short, env = "HOOKGATE_CONFIG")]
        config: PathBuf,
    },
    /// A subscription's dead letters: list, show, replay (admin API).
    Dlq(cli::dlq::DlqArgs),
    /// Stored events: list, show, redeliver (admin API).
    Events(cli::events::EventsArgs),
    /// Subscriptions: list with backlog and breakers, pause, resume, blocked
    /// ordering keys (admin API).
    Subscriptions(cli::subscriptions::SubscriptionsArgs),
    /// The audit log of mutating admin calls (admin API, admin tokens).
    Audit(cli::audit::AuditArgs),
    /// Write a consistent copy of the embedded (sqlite) store's file, also
    /// while the gateway runs. Restore: start a gateway on the copy.
    Backup {
        /// The configuration file (its `[store] path` is backed up).
        #[arg(long, short)]
        config: PathBuf,
        /// Where to write the copy (a new file).
        #[arg(long)]
        to: PathBuf,
    },
    /// The store itself: `store copy --from A.toml --to B.toml`.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Validate a configuration file without starting.
    CheckConfig {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a captured raw HTTP/1.1 request against a source's scheme:
    /// prints `valid` (exit 0) or `invalid: <reason>` (exit 1); exit 2 when no
    /// verdict is possible (bad config, unknown source, unreadable capture).
    Verify {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The source id whose scheme and secrets to use.
        #[arg(long)]
        source: String,
        /// The captured request: request line, headers, empty line, body.
        #[arg(long)]
        request: PathBuf,
        /// The time to verify at, unix seconds (default: now).
        #[arg(long, allow_negative_numbers = true)]
        now: Option<i64>,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy every event within retention, pending delivery (with its
    /// schedule), dead letter, audit record, pause flag and dedup claim of
    /// one config's store into another's (e.g. from sqlite to Redis).
    /// Idempotent: a second run writes only what is missing. Stop the
    /// gateway of `--from` first.
    Copy {
        /// The config whose store is read.
        #[arg(long)]
        from: PathBuf,
        /// The config whose store is written.
        #[arg(long)]
        to: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return match cli.config {
            Some(config) => serve::run(&config),
            None => {
                eprintln!("hookgate: give a subcommand or --config FILE (see hookgate --help)");
                ExitCode::from(2)
            }
        };
    };
    match command {
        Command::CheckConfig { config } => check::run(&config),
        Command::Serve { config } => serve::run(&config),
        Command::Backup { config, to } => store_cmd::backup(&config, &to),
        Command::Store {
            command: StoreCommand::Copy { from, to },
        } => store_cmd::copy(&from, &to),
        Command::Dlq(args) => cli::dlq::run(&cli.common, args),
        Command::Events(args) => cli::events::run(&cli.common, args),
        Command::Subscriptions(args) => cli::subscriptions::run(&cli.common, args),
        Command::Audit(args) => cli::audit::run(&cli.common, args),
        Command::Verify {
            config,
            source,
            request,
            now,
        } => verify_cmd::run(&config, &source, &request, now),
    }
}
