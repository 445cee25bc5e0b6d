//! `hookgate check-config`: every error at once, each with file and line.

use hookgate_config::{Config, ConfigError, ProcessEnv};
use hookgate_verify::Verifier;
use std::path::Path;
use std::process::ExitCode;

/// Loads the config and builds every source's verifier; returns the config
/// or every error as printable lines.
pub fn load_checked(path: &Path) -> Result<Config, Vec<String>> {
    let config = hookgate_config::load(path, &ProcessEnv)
        .map_err(|errs| errs.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let file = path.display().to_string();
    let scheme_errors: Vec<String> = config
        .sources
        .iter()
        .filter_map(|src| {
            Verifier::from_source(src).err().map(|e| {
                ConfigError {
                    file: file.clone(),
                    line: Some(src.scheme_line),
                    key: format!("sources.{}.{}", e.source_id, e.key),
                    message: e.message,
                }
                .to_string()
            })
        })
        .collect();
    if scheme_errors.is_empty() {
        Ok(config)
    } else {
        Err(scheme_errors)
    }
}

/// Prints config warnings (never fatal).
pub fn print_warnings(config: &Config) {
    for w in &config.warnings {
        eprintln!("warning: {}", w.to_string().trim_start_matches("error "));
    }
}

pub fn run(path: &Path) -> ExitCode {
    match load_checked(path) {
        Ok(config) => {
            print_warnings(&config);
            println!(
                "{}: ok ({} sources, {} subscriptions)",
                path.display(),
                config.sources.len(),
                config.subscriptions.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{}: {} error(s)", path.display(), errors.len());
            ExitCode::FAILURE
        }
    }
}
