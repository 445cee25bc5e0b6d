//! `hookgate`: the gateway binary.
//!
//! - `hookgate serve --config F` runs the gateway (ingest listener, admin
//!   listener, one delivery pool per source) until SIGTERM or SIGINT.
//! - `hookgate check-config --config F` validates the file, secrets and
//!   every source's scheme without binding a socket or touching the store.
//!
//! Errors from the libraries are typed; this is the edge where they become
//! messages for a human and an exit code (0 ok, 1 failure, 2 usage).

mod check;
mod logging;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hookgate",
    version,
    about = "Webhook ingestion and fan-out gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short, env = "HOOKGATE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file without starting.
    CheckConfig {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => check::run(&config),
        Command::Serve { config } => serve::run(&config),
    }
}
