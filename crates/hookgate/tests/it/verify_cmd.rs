//! `hookgate verify` end to end (docs/admin-api.md): the real binary on captured raw
//! requests written to a temp dir; exact stdout and exit codes. A verdict
//! is stdout with exit 0 or 1; no verdict is `error: ...` on stderr, exit 2.

use crate::common::bin;
use hookgate_verify::schemes::{slack, twilio};
use std::path::{Path, PathBuf};
use std::process::Command;

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TWILIO_TOKEN: &str = "12345";
const NOW: i64 = 1_700_000_000;
const BODY: &str = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;

/// A temp dir removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hookgate-verify-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            r#"
[store]
url = "redis://127.0.0.1:1"

[[sources]]
id = "slack"
scheme = "slack"
secrets = [{{ value = "{SLACK_SECRET}" }}]

[[sources]]
id = "twilio"
scheme = "twilio"
secrets = [{{ value = "{TWILIO_TOKEN}" }}]
public_url = "https://gateway.example.com/ingest/twilio"
"#
        );
        std::fs::write(dir.join("hookgate.toml"), config).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn config(&self) -> PathBuf {
        self.0.join("hookgate.toml")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `hookgate verify` for a verdict; returns (exit code, stdout), and
/// checks that a verdict leaves stderr empty.
fn verify(config: &Path, source: &str, request: &Path, now: Option<i64>) -> (i32, String) {
    let (code, stdout, stderr) = run(config, source, request, now);
    assert_eq!(stderr, "", "a verdict writes nothing on stderr");
    (code, stdout)
}

/// Runs `hookgate verify` where no verdict is possible: asserts exit 2 and
/// an empty stdout; returns stderr.
fn no_verdict(config: &Path, source: &str, request: &Path) -> String {
    let (code, stdout, stderr) = run(config, source, request, Some(NOW));
    assert_eq!((code, stdout.as_str()), (2, ""), "stderr: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.ends_with('\n'),
        "{stderr}"
    );
    stderr
}

/// Runs `hookgate verify`; returns (exit code, stdout, stderr).
fn run(config: &Path, source: &str, request: &Path, now: Option<i64>) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["verify", "--config"])
        .arg(config)
        .args(["--source", source, "--request"])
        .arg(request);
    if let Some(now) = now {
        cmd.arg("--now").arg(now.to_string());
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A captured Slack request with `headers` given as raw lines.
fn slack_request(header_lines: &[String], body: &str, eol: &str) -> Vec<u8> {
    let mut out = format!("POST /ingest/slack HTTP/1.1{eol}Host: gateway.example.com{eol}");
    for line in header_lines {
        out.push_str(line);
        out.push_str(eol);
    }
    out.push_str(eol);
    out.push_str(body);
    out.into_bytes()
}

fn slack_headers(ts: i64, ts_name: &str, sig_name: &str) -> Vec<String> {
    let t = ts.to_string();
    vec![
        format!("{ts_name}: {t}"),
        format!(
            "{sig_name}: {}",
            slack::sign(SLACK_SECRET.as_bytes(), &t, BODY.as_bytes())
        ),
        "Content-Type: application/json".into(),
    ]
}

#[test]
fn valid_tampered_stale_missing() {
    let dir = Dir::new();
    let h = slack_headers(NOW, "X-Slack-Request-Timestamp", "X-Slack-Signature");
    let good = dir.write("good.http", &slack_request(&h, BODY, "\r\n"));
    assert_eq!(
        verify(&dir.config(), "slack", &good, Some(NOW)),
        (0, "valid\n".into())
    );
    assert_eq!(
        verify(&dir.config(), "slack", &good, Some(NOW + 60)),
        (0, "valid\n".into())
    );

    let tampered = dir.write(
        "tampered.http",
        &slack_request(&h, &BODY.replace("Ev1", "Ev2"), "\r\n"),
    );
    assert_eq!(
        verify(&dir.config(), "slack", &tampered, Some(NOW)),
        (1, "invalid: mismatch\n".into())
    );

    assert_eq!(
        verify(&dir.config(), "slack", &good, Some(NOW + 3600)),
        (1, "invalid: stale\n".into())
    );
    // Without --now the current clock is used: a 2023 timestamp is stale.
    assert_eq!(
        verify(&dir.config(), "slack", &good, None),
        (1, "invalid: stale\n".into())
    );

    let missing = dir.write("missing.http", &slack_request(&h[..1], BODY, "\r\n"));
    assert_eq!(
        verify(&dir.config(), "slack", &missing, Some(NOW)),
        (1, "invalid: missing\n".into())
    );

    let dup = [h.clone(), vec![h[1].clone()]].concat();
    let dup = dir.write("dup.http", &slack_request(&dup, BODY, "\r\n"));
    assert_eq!(
        verify(&dir.config(), "slack", &dup, Some(NOW)),
        (1, "invalid: malformed\n".into())
    );
}

#[test]
fn header_names_in_any_case_and_lf_line_ends() {
    let dir = Dir::new();
    for (i, (ts_name, sig_name)) in [
        ("x-slack-request-timestamp", "x-slack-signature"),
        ("X-SLACK-REQUEST-TIMESTAMP", "X-SLACK-SIGNATURE"),
        ("x-Slack-Request-timestamp", "X-slack-SIGNATURE"),
    ]
    .into_iter()
    .enumerate()
    {
        let h = slack_headers(NOW, ts_name, sig_name);
        for eol in ["\r\n", "\n"] {
            let path = dir.write(&format!("case{i}.http"), &slack_request(&h, BODY, eol));
            assert_eq!(
                verify(&dir.config(), "slack", &path, Some(NOW)),
                (0, "valid\n".into()),
                "{ts_name} {eol:?}"
            );
        }
    }
}

#[test]
fn the_body_is_every_byte_after_the_blank_line() {
    let dir = Dir::new();
    let body = "{\"a\":1}\r\n\r\n";
    let t = NOW.to_string();
    let h = vec![
        format!("X-Slack-Request-Timestamp: {t}"),
        format!(
            "X-Slack-Signature: {}",
            slack::sign(SLACK_SECRET.as_bytes(), &t, body.as_bytes())
        ),
    ];
    let path = dir.write("trailing.http", &slack_request(&h, body, "\r\n"));
    assert_eq!(
        verify(&dir.config(), "slack", &path, Some(NOW)),
        (0, "valid\n".into())
    );
}

#[test]
fn twilio_uses_the_query_of_the_captured_request() {
    let dir = Dir::new();
    let params = vec![
        ("CallSid".to_owned(), "CA1".to_owned()),
        ("CallStatus".to_owned(), "completed".to_owned()),
    ];
    let sig = twilio::sign(
        TWILIO_TOKEN.as_bytes(),
        "https://gateway.example.com/ingest/twilio?x=1",
        &params,
    );
    let req = format!(
        "POST /ingest/twilio?x=1 HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nx-twilio-signature: {sig}\r\n\r\nCallSid=CA1&CallStatus=completed"
    );
    let path = dir.write("twilio.http", req.as_bytes());
    assert_eq!(
        verify(&dir.config(), "twilio", &path, None),
        (0, "valid\n".into())
    );
    let other = dir.write("twilio2.http", req.replace("?x=1", "?x=2").as_bytes());
    assert_eq!(
        verify(&dir.config(), "twilio", &other, None),
        (1, "invalid: mismatch\n".into())
    );
}

/// No verdict is possible: an error on stderr and exit 2, never an
/// `invalid: ...` a script would take for a rejected signature.
#[test]
fn no_verdict_is_an_error_with_exit_2() {
    let dir = Dir::new();
    let h = slack_headers(NOW, "X-Slack-Request-Timestamp", "X-Slack-Signature");
    let good = dir.write("good.http", &slack_request(&h, BODY, "\r\n"));

    assert_eq!(
        no_verdict(&dir.config(), "nope", &good),
        "error: unknown source \"nope\" (sources: slack, twilio)\n"
    );

    let err = no_verdict(&dir.config(), "slack", &dir.0.join("absent.http"));
    assert!(err.starts_with("error: cannot read request file "), "{err}");
    // A directory is no more readable as a capture.
    let err = no_verdict(&dir.config(), "slack", &dir.0);
    assert!(err.starts_with("error: cannot read request file "), "{err}");

    let junk = dir.write("junk.http", b"not a request");
    let err = no_verdict(&dir.config(), "slack", &junk);
    assert!(
        err.starts_with("error: request file ") && err.contains("not an HTTP/1.1 request"),
        "{err}"
    );

    // No verifier from the config: an unknown scheme, an unset secret, a
    // scheme that cannot be built from what loaded, an absent file.
    let bad = dir.write(
        "bad.toml",
        b"[[sources]]\nid = \"s\"\nscheme = \"strype\"\nsecrets = [{ value = \"x\" }]\n",
    );
    let err = no_verdict(&bad, "s", &good);
    assert!(err.starts_with("error: bad config: "), "{err}");
    let unset = dir.write(
        "unset.toml",
        b"[[sources]]\nid = \"s\"\nscheme = \"slack\"\nsecrets = [{ env = \"HOOKGATE_VERIFY_TEST_UNSET\" }]\n",
    );
    let err = no_verdict(&unset, "s", &good);
    assert!(err.starts_with("error: bad config: "), "{err}");
    let unbuilt = dir.write(
        "unbuilt.toml",
        b"[[sources]]\nid = \"s\"\nscheme = \"header-token\"\nsecrets = [{ value = \"x\" }]\n",
    );
    let err = no_verdict(&unbuilt, "s", &good);
    assert!(
        err.starts_with("error: bad config: sources.s.header: "),
        "{err}"
    );
    let err = no_verdict(&dir.0.join("absent.toml"), "slack", &good);
    assert!(err.starts_with("error: bad config: "), "{err}");
    assert!(!err.contains(SLACK_SECRET));
}

#[test]
fn content_length_frames_the_body() {
    let dir = Dir::new();
    let mut h = slack_headers(NOW, "X-Slack-Request-Timestamp", "X-Slack-Signature");
    h.push(format!("Content-Length: {}", BODY.len()));
    // A capture saved with a trailing newline the provider never signed.
    for (eol, trailer) in [("\r\n", "\n"), ("\n", "\n"), ("\r\n", "\r\n\r\n")] {
        let mut bytes = slack_request(&h, BODY, eol);
        bytes.extend_from_slice(trailer.as_bytes());
        let path = dir.write("cl.http", &bytes);
        assert_eq!(
            verify(&dir.config(), "slack", &path, Some(NOW)),
            (0, "valid\n".into()),
            "{eol:?} {trailer:?}"
        );
    }
    // Shorter than its Content-Length: a truncated capture, no verdict.
    let short = dir.write(
        "short.http",
        &slack_request(&h, &BODY[..BODY.len() - 1], "\r\n"),
    );
    let err = no_verdict(&dir.config(), "slack", &short);
    assert!(
        err.starts_with("error: request file ")
            && err.contains(&format!("shorter than its Content-Length {}", BODY.len())),
        "{err}"
    );
}

#[test]
fn chunked_bodies_are_decoded() {
    let dir = Dir::new();
    let mut h = slack_headers(NOW, "X-Slack-Request-Timestamp", "X-Slack-Signature");
    h.push("Transfer-Encoding: chunked".into());
    let (a, b) = BODY.split_at(10);
    let chunked = format!(
        "{:x}\r\n{a}\r\n{:x};x=y\r\n{b}\r\n0\r\n\r\n\n",
        a.len(),
        b.len()
    );
    let path = dir.write("chunked.http", &slack_request(&h, &chunked, "\r\n"));
    assert_eq!(
        verify(&dir.config(), "slack", &path, Some(NOW)),
        (0, "valid\n".into())
    );
    let cut = dir.write(
        "cut.http",
        &slack_request(&h, &chunked[..chunked.len() - 12], "\r\n"),
    );
    let err = no_verdict(&dir.config(), "slack", &cut);
    assert!(err.contains("chunked body ends"), "{err}");
}
