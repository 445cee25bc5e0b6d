//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! functions the fuzz targets call, on stable, so CI exercises every seed
//! and every minimized crash input without nightly.

use hookgate_fuzz::{ingest, scheme, target_name};
use hookgate_verify::Rejection;
use hookgate_verify::schemes::NAMES;
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs every file of `target`'s corpus through `f`; fails naming each
/// file that panicked. Returns how many files ran.
fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: these inputs fail: {failed:#?}"
    );
    files.len()
}

#[test]
fn every_scheme_corpus_replays() {
    for name in NAMES {
        let n = replay(&target_name(name), |data| {
            let _ = scheme::run(name, data);
        });
        assert!(n > 0, "{name}: empty corpus");
    }
}

#[test]
fn the_ingest_corpus_replays() {
    let n = replay("ingest", |data| {
        let _ = ingest::run(data);
    });
    assert!(n > 0, "ingest: empty corpus");
}

/// The harness's own signing is right, so `sign` inputs reach extraction
/// and the ingest target's 200 invariant is not vacuous.
#[test]
fn signed_inputs_verify_and_are_accepted() {
    let body = r#"{"id":"evt_1","type":"t","created":1700000000,"data":{"id":"o_1"}}"#;
    for name in NAMES {
        let data = format!("@sign\nx-type: t\ncontent-type: application/json\n\n{body}");
        let verdict = scheme::run(name, data.as_bytes());
        let want: &[Result<(), Rejection>] = match *name {
            // Adyen signs items of a batch; this body is none.
            "adyen" => &[Err(Rejection::Missing)],
            // Shopify requires its other headers, which this input lacks.
            "shopify" => &[Err(Rejection::Missing)],
            // A JSON body is signed with `bodySHA256` in the query.
            "twilio" => &[Err(Rejection::Mismatch)],
            _ => &[Ok(())],
        };
        assert!(
            want.contains(&verdict.expect("default source")),
            "{name}: {verdict:?}"
        );
    }
    let data = format!(
        "@POST /ingest/github sign\nx-github-event: push\nx-github-delivery: d-1\n\n{body}"
    );
    assert_eq!(ingest::run(data.as_bytes()), Some(200));
    let data =
        format!("@POST /ingest/github\nx-github-event: push\nx-github-delivery: d-1\n\n{body}");
    assert_eq!(ingest::run(data.as_bytes()), Some(401));
    assert_eq!(
        ingest::run(b"GET /ingest/github HTTP/1.1\r\n\r\n"),
        Some(405)
    );
    assert_eq!(
        ingest::run(b"POST /nope HTTP/1.1\r\ncontent-length: 0\r\n\r\n"),
        Some(404)
    );
}

/// The seeds `fuzz/seeds.py` wrote from the test vectors say what the
/// vectors say: each exact seed gets its case's expected verdict, so the
/// corpus starts where the vectors are (valid, stale, mismatch...).
#[test]
fn exact_seeds_reproduce_their_vectors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    let mut differ = Vec::new();
    for name in NAMES {
        let dir = root.join("crates/hookgate-verify/tests/vectors").join(name);
        for file in std::fs::read_dir(&dir).expect("vectors dir") {
            let path = file.expect("dir entry").path();
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            for (i, case) in doc["cases"].as_array().expect("cases").iter().enumerate() {
                let seed = corpus_dir(&target_name(name)).join(format!("seed-{stem}-{i:02}"));
                // Identical seeds are written once.
                let Ok(data) = std::fs::read(&seed) else {
                    continue;
                };
                checked += 1;
                let got = match scheme::run(name, &data) {
                    None => "build-error",
                    Some(Ok(())) => "valid",
                    Some(Err(r)) => r.as_str(),
                };
                if got != case["expect"] {
                    differ.push(format!(
                        "{}: {got}, want {}",
                        seed.display(),
                        case["expect"]
                    ));
                }
            }
        }
    }
    assert!(
        checked > 200,
        "only {checked} seeds found; run fuzz/seeds.py"
    );
    assert!(differ.is_empty(), "{differ:#?}");
}
