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

/// A certificate and its key (throwaway, see `fixtures/tls/README.md`).
const CERT: &str = include_str!("fixtures/tls/cert.pem");
const KEY: &str = include_str!("fixtures/tls/key.pem");

#[test]
fn pem_files_are_read_as_serve_reads_them() {
    // Before, check-config only asked that the files exist, and `serve`
    // then stopped on one that held no certificate or key.
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("cert.pem", CERT),
        ("key.pem", KEY),
        ("garbage.pem", "garbage"),
        ("empty.pem", ""),
        (
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("c.toml");
    let with = |section: &str| {
        std::fs::write(&path, format!("{section}\n{MINIMAL}")).unwrap();
        load(&path, &MapEnv::default())
    };
    let delivery = |ca: &str| with(&format!("[delivery]\nca_file = \"{ca}\""));
    let store = |ca: &str, cert: &str, key: &str| {
        with(&format!(
            "[store]\nurl = \"rediss://cache:6380\"\nca_file = \"{ca}\"\nclient_cert_file = \"{cert}\"\nclient_key_file = \"{key}\""
        ))
    };
    assert!(delivery("cert.pem").is_ok());
    assert!(store("cert.pem", "cert.pem", "key.pem").is_ok());
    for (bad, why) in [
        ("garbage.pem", "no PEM certificate in it"),
        ("empty.pem", "no PEM certificate in it"),
        ("key.pem", "no PEM certificate in it"),
        ("broken.pem", "not valid PEM"),
    ] {
        let err = delivery(bad).unwrap_err().to_string();
        assert!(err.contains(":2: delivery.ca_file: "), "{err}");
        assert!(err.contains(why), "{bad}: {err}");
        let err = store(bad, "cert.pem", "key.pem").unwrap_err().to_string();
        assert!(err.contains(":3: store.ca_file: "), "{err}");
        assert!(err.contains(why), "{bad}: {err}");
        let err = store("cert.pem", bad, "key.pem").unwrap_err().to_string();
        assert!(err.contains(":4: store.client_cert_file: "), "{err}");
    }
    for bad in ["garbage.pem", "cert.pem", "empty.pem"] {
        let err = store("cert.pem", "cert.pem", bad).unwrap_err().to_string();
        assert!(
            err.contains(":5: store.client_key_file: ") && err.contains("no PEM private key in it"),
            "{bad}: {err}"
        );
    }
    // The contents are never quoted.
    let err = delivery("garbage.pem").unwrap_err().to_string();
    assert!(
        !err.contains("garbage\n") && !err.contains("BEGIN"),
        "{err}"
    );
}

#[test]
fn store_ca_file_is_relative_to_the_config_and_wants_a_tls_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-ca.pem"), CERT).unwrap();
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
    assert_eq!(
        c.store.redis().expect("redis backend").ca_file,
        Some(dir.path().join("redis-ca.pem"))
    );
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
    std::fs::write(dir.path().join("client.crt"), CERT).unwrap();
    std::fs::write(dir.path().join("client.key"), KEY).unwrap();
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
        c.store.redis().expect("redis backend").client_tls,
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
