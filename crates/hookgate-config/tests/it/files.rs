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
