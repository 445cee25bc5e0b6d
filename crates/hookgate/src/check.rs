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
    let mut warnings = Vec::new();
    for src in sources {
        match Verifier::from_source(src) {
            Ok(verifier) => replay_window(&file, src, &verifier, &mut errors, &mut warnings),
            Err(e) => errors.push(ConfigError {
                file: file.clone(),
                // The line of the key the scheme names, else of `scheme`.
                line: Some(src.line_of(&e.key)),
                key: format!("sources.{}.{}", e.source_id, e.key),
                message: e.message,
            }),
        }
        warnings.extend(hookgate_verify::schemes::warnings(src).into_iter().map(
            |(key, message)| ConfigError {
                file: file.clone(),
                line: Some(src.line_of(&key)),
                key: format!("sources.{}.{key}", src.id),
                message,
            },
        ));
    }
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
            config.warnings.extend(warnings);
            config
                .warnings
                .sort_by_key(|w| w.line.unwrap_or(usize::MAX));
            Ok(config)
        }
        _ => {
            // Stable: errors on one line keep their order; no line goes last.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }
}

/// A source's dedup window against its timestamp tolerance. A request is
/// accepted while its signed timestamp is within `tolerance` of the clock,
/// and its event id is remembered for `dedup_window` after it first came:
/// with a window shorter than the tolerance, a captured request replayed
/// after its claim expired still passes the signature and timestamp checks
/// and is enqueued and delivered again. That is an error. Up to twice the
/// tolerance is a warning: a timestamp may also be up to `tolerance` ahead
/// of the gateway's clock, so a provider whose clock runs ahead keeps its
/// request replayable for up to twice the tolerance after it arrived.
fn replay_window(
    file: &str,
    src: &hookgate_config::SourceConfig,
    verifier: &Verifier,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) {
    let Some(tolerance) = hookgate_verify::schemes::effective_tolerance(src) else {
        return;
    };
    let dedup = verifier.dedup_window();
    let twice = tolerance.saturating_mul(2);
    if dedup >= twice {
        return;
    }
    let show = hookgate_config::show_duration;
    let dedup_text = match src.dedup_window {
        Some(_) => show(dedup),
        None => format!("{} (the scheme's default)", show(dedup)),
    };
    let tolerance_text = match src.tolerance {
        Some(_) => format!("tolerance ({})", show(tolerance)),
        None => format!("tolerance ({}, the scheme's default)", show(tolerance)),
    };
    // Where the window is written, else the tolerance that outgrew it.
    let line = if src.key_lines.contains_key("dedup_window") {
        src.line_of("dedup_window")
    } else {
        src.line_of("tolerance")
    };
    let (list, message) = if dedup < tolerance {
        (
            &mut *errors,
            format!(
                "{dedup_text} is shorter than the {tolerance_text}: a captured request replayed \
                 after its event id is forgotten is still within its timestamp tolerance, and \
                 would be accepted and delivered again; set dedup_window to at least {} (twice \
                 the tolerance) or lower tolerance",
                show(twice)
            ),
        )
    } else {
        (
            &mut *warnings,
            format!(
                "{dedup_text} is less than twice the {tolerance_text}: a request timestamped \
                 ahead of this clock (a provider clock running fast, up to the tolerance) stays \
                 acceptable after its event id is forgotten; {} or more closes that gap",
                show(twice)
            ),
        )
    };
    list.push(ConfigError {
        file: file.to_owned(),
        line: Some(line),
        key: format!("sources.{}.dedup_window", src.id),
        message,
    });
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
