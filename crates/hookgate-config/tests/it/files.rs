//! `load()` from disk: the path in messages is the path given.

use super::*;
use hookgate_config::load;

#[test]
fn load_reports_errors_with_the_given_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = 1\n").unwrap();
    let err = load(&path, &MapEnv::default()).unwrap_err();
    let shown = err.to_string();
    let want = format!(
        "error in {}:2: server.listen: expected a string",
        path.display()
    );
    assert!(shown.starts_with(&want), "{shown}");
}

#[test]
fn load_keeps_the_path_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let c = load(&path, &MapEnv::default()).unwrap();
    assert_eq!(c.path, path);
}

#[test]
fn store_ca_file_is_relative_to_the_config_and_wants_a_tls_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-ca.pem"), "PEM").unwrap();
    let path = dir.path().join("c.toml");
    let with = |url: &str, ca: &str| {
        std::fs::write(
            &path,
            format!("[store]\nurl = \"{url}\"\nca_file = \"{ca}\"\n{MINIMAL}"),
        )
        .unwrap();
        load(&path, &MapEnv::default())
    };
    let c = with("rediss://cache:6380", "redis-ca.pem").unwrap();
    assert_eq!(c.store.ca_file, Some(dir.path().join("redis-ca.pem")));
    // Missing file, and a CA for a plain-TCP URL (it would do nothing).
    let err = with("rediss://cache:6380", "nope.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains(":3: store.ca_file: no readable file"), "{err}");
    let err = with("redis://cache:6379", "redis-ca.pem")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":3: store.ca_file: applies to a TLS store URL only"),
        "{err}"
    );
}

#[test]
fn store_client_certificate_comes_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["client.crt", "client.key"] {
        std::fs::write(dir.path().join(f), "PEM").unwrap();
    }
    let path = dir.path().join("c.toml");
    let with = |keys: &str| {
        std::fs::write(
            &path,
            format!("[store]\nurl = \"rediss://cache:6380\"\n{keys}\n{MINIMAL}"),
        )
        .unwrap();
        load(&path, &MapEnv::default())
    };
    let c = with("client_cert_file = \"client.crt\"\nclient_key_file = \"client.key\"").unwrap();
    assert_eq!(
        c.store.client_tls,
        Some((dir.path().join("client.crt"), dir.path().join("client.key")))
    );
    let err = with("client_cert_file = \"client.crt\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":3: store.client_cert_file: needs store.client_key_file"),
        "{err}"
    );
}
