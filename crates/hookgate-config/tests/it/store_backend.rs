//! `[store] backend`: which store holds the gateway's state, its own keys,
//! and the defaults that keep older files meaning what they meant.

use super::*;
use std::path::{Path, PathBuf};

fn sqlite_path(c: &Config) -> PathBuf {
    c.store
        .sqlite()
        .unwrap_or_else(|| panic!("expected sqlite, got {:?}", c.store))
        .path
        .clone()
}

#[test]
fn without_a_store_section_the_embedded_store_lives_next_to_the_config() {
    let c = ok(MINIMAL);
    assert_eq!(sqlite_path(&c), Path::new("conf/data/hookgate.db"));
}

#[test]
fn sqlite_path_is_relative_to_the_config_file_unless_absolute() {
    let c = ok(&format!(
        "[store]\nbackend = \"sqlite\"\npath = \"state/gw.db\"\n{MINIMAL}"
    ));
    assert_eq!(sqlite_path(&c), Path::new("conf/state/gw.db"));
    let c = ok(&format!(
        "[store]\nbackend = \"sqlite\"\npath = \"/var/lib/hookgate/gw.db\"\n{MINIMAL}"
    ));
    assert_eq!(sqlite_path(&c), Path::new("/var/lib/hookgate/gw.db"));
    // A path alone says sqlite.
    let c = ok(&format!("[store]\npath = \"gw.db\"\n{MINIMAL}"));
    assert_eq!(sqlite_path(&c), Path::new("conf/gw.db"));
    let e = one_err(
        &format!("[store]\npath = \"\"\n{MINIMAL}"),
        "store.path",
        "must not be empty",
    );
    assert_eq!(e.line, Some(2));
}

#[test]
fn a_store_section_of_an_earlier_version_still_means_redis() {
    // Before the embedded store, [store] was Redis's: with a URL, with only
    // Redis keys, or with only the shared timeout.
    for store in [
        "url = \"redis://10.0.0.5:6379\"",
        "key_prefix = \"gw\"",
        "store_timeout = \"1s\"",
    ] {
        let c = ok(&format!("[store]\n{store}\n{MINIMAL}"));
        assert!(c.store.redis().is_some(), "{store}: {:?}", c.store);
    }
    let c = ok(&format!("[store]\nstore_timeout = \"1s\"\n{MINIMAL}"));
    assert_eq!(
        c.store.redis().unwrap().url.expose(),
        b"redis://127.0.0.1:6379"
    );
}

#[test]
fn keys_of_the_other_backend_are_refused_with_their_line() {
    let text =
        format!("[store]\nbackend = \"sqlite\"\nurl = \"redis://h:1\"\ncluster = true\n{MINIMAL}");
    let errors = errs(&text);
    let got: Vec<_> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(got, [(Some(3), "store.url"), (Some(4), "store.cluster")]);
    assert!(
        errors
            .iter()
            .all(|e| e.message.contains("applies to backend = \"redis\" only")),
        "{errors:?}"
    );
    let e = one_err(
        &format!("[store]\nbackend = \"redis\"\npath = \"x.db\"\n{MINIMAL}"),
        "store.path",
        "applies to backend = \"sqlite\" only",
    );
    assert_eq!(e.line, Some(3));
}

#[test]
fn the_environment_chooses_the_backend_and_its_path_or_url() {
    let c = ok_with(MINIMAL, &env(&[("HOOKGATE_STORE_BACKEND", "redis")]));
    assert_eq!(
        c.store.redis().expect("redis").url.expose(),
        b"redis://127.0.0.1:6379"
    );
    let c = ok_with(
        MINIMAL,
        &env(&[("HOOKGATE_STORE_URL", "redis://cache:6379")]),
    );
    assert_eq!(
        c.store.redis().expect("redis").url.expose(),
        b"redis://cache:6379"
    );
    // The variable wins over the file; its path is the shell's.
    let c = ok_with(
        &format!("[store]\nstore_timeout = \"1s\"\n{MINIMAL}"),
        &env(&[
            ("HOOKGATE_STORE_BACKEND", "sqlite"),
            ("HOOKGATE_STORE_PATH", "run/gw.db"),
        ]),
    );
    assert_eq!(sqlite_path(&c), Path::new("run/gw.db"));
}

#[test]
fn environment_mistakes_name_the_variable() {
    let errors = errs_with(MINIMAL, &env(&[("HOOKGATE_STORE_BACKEND", "postgres")]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "store.backend");
    assert!(
        errors[0].message.contains("HOOKGATE_STORE_BACKEND"),
        "{}",
        errors[0]
    );

    let errors = errs_with(
        &format!("[store]\nbackend = \"sqlite\"\n{MINIMAL}"),
        &env(&[("HOOKGATE_STORE_URL", "redis://:hunter2@cache:6379")]),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "store.url");
    assert!(
        errors[0].message.contains("HOOKGATE_STORE_URL"),
        "{}",
        errors[0]
    );
    assert!(!errors[0].to_string().contains("hunter2"));

    let c = ok_with(MINIMAL, &env(&[("HOOKGATE_STORE_PATH", "run/gw.db")]));
    assert_eq!(sqlite_path(&c), Path::new("run/gw.db"));
}

#[test]
fn when_the_environment_chooses_the_backend_the_other_backends_keys_are_warnings() {
    // A file written for the embedded store, run against Redis.
    let text = format!("[store]\nbackend = \"sqlite\"\npath = \"gw.db\"\n{MINIMAL}");
    let c = ok_with(
        &text,
        &env(&[
            ("HOOKGATE_STORE_BACKEND", "redis"),
            ("HOOKGATE_STORE_URL", "redis://cache:6379"),
        ]),
    );
    assert_eq!(
        c.store.redis().expect("redis").url.expose(),
        b"redis://cache:6379"
    );
    let store: Vec<_> = c
        .warnings
        .iter()
        .filter(|w| w.key.starts_with("store."))
        .collect();
    assert_eq!(store.len(), 1, "{:?}", c.warnings);
    assert_eq!(
        (store[0].line, store[0].key.as_str()),
        (Some(3), "store.path")
    );
    assert!(store[0].message.contains("HOOKGATE_STORE_BACKEND"));
    // And the other way round.
    let text = format!("[store]\nurl = \"redis://h:1\"\n{MINIMAL}");
    let c = ok_with(&text, &env(&[("HOOKGATE_STORE_BACKEND", "sqlite")]));
    assert_eq!(sqlite_path(&c), Path::new("conf/data/hookgate.db"));
    let store: Vec<_> = c
        .warnings
        .iter()
        .filter(|w| w.key.starts_with("store."))
        .collect();
    assert_eq!(store.len(), 1, "{:?}", c.warnings);
}
