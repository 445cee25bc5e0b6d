//! `hookgate check-config`: every error at once, each with file and line.

use hookgate_config::{Config, ConfigError, ProcessEnv};
use hookgate_verify::Verifier;
use std::path::Path;
use std::process::ExitCode;

/// Loads the config and builds every source's verifier; returns the config
/// or every error as printable lines, in file order. When other keys are
/// wrong, the sources that parsed still have their schemes checked, so one
/// run shows every error.
pub fn load_checked(path: &Path) -> Result<Config, Vec<String>> {
    let loaded = hookgate_config::load_with_sources(path, &ProcessEnv);
    let (sources, mut errors) = match &loaded {
        Ok(config) => (config.sources.as_slice(), Vec::new()),
        Err((errors, sources)) => (sources.as_slice(), errors.0.clone()),
    };
    let file = path.display().to_string();
    errors.extend(sources.iter().filter_map(|src| {
        Verifier::from_source(src).err().map(|e| ConfigError {
            file: file.clone(),
            // The line of the key the scheme names, else of `scheme`.
            line: Some(src.line_of(&e.key)),
            key: format!("sources.{}.{}", e.source_id, e.key),
            message: e.message,
        })
    }));
    match loaded {
        Ok(mut config) if errors.is_empty() => {
            // `tolerance` on a scheme that signs no timestamp changes
            // nothing: say so rather than let it look like replay cover.
            let ignored: Vec<ConfigError> = config
                .sources
                .iter()
                .filter(|src| {
                    src.tolerance.is_some() && !hookgate_verify::schemes::uses_tolerance(src)
                })
                .map(|src| ConfigError {
                    file: file.clone(),
                    line: Some(src.line_of("tolerance")),
                    key: format!("sources.{}.tolerance", src.id),
                    message: format!(
                        "has no effect: scheme {:?} signs no timestamp{}",
                        src.scheme,
                        if src.scheme == "hmac" {
                            " (set timestamp_header)"
                        } else {
                            ""
                        }
                    ),
                })
                .collect();
            config.warnings.extend(ignored);
            Ok(config)
        }
        _ => {
            // Stable: errors on one line keep their order; no line goes last.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(errors.iter().map(ToString::to_string).collect())
        }
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
