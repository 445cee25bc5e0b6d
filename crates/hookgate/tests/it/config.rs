//! The operator's first contact: `check-config` and a gateway that refuses
//! a bad file, naming every problem with its line.

use crate::common::*;
use std::process::Command;

fn check(config: &str, envs: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile_dir();
    let path = dir.join("hookgate.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hookgate-check-{}-{}",
        std::process::id(),
        hookgate_testkit::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The harness config on an SQLite file that is never opened (the store
/// is dropped at once: check-config does not open it).
fn base() -> String {
    config_text(
        "127.0.0.1:1",
        "127.0.0.1:2",
        &TestStore::sqlite(),
        "http://127.0.0.1:4/e",
        &Options::default(),
    )
}

#[test]
fn a_valid_file_checks_ok() {
    let (ok, out) = check(&base(), &[]);
    assert!(ok, "{out}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn every_error_is_reported_at_once_with_key_and_line() {
    // An unknown key (line 3), a bad duration, and a missing env secret.
    let text = base()
        .replacen("[server]\n", "[server]\nlisten_adress = \"x\"\n", 1)
        .replace("\nread_timeout = \"1s\"", "\nread_timeout = \"soon\"")
        .replace(
            &format!("secrets = [{{ value = \"{ACME_SECRET}\" }}]"),
            "secrets = [{ env = \"HOOKGATE_TEST_UNSET_SECRET\" }]",
        );
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("listen_adress"),
        "names the unknown key: {out}"
    );
    assert!(out.contains(":3:"), "with its line: {out}");
    assert!(out.contains("read_timeout"), "{out}");
    assert!(
        out.contains("HOOKGATE_TEST_UNSET_SECRET"),
        "names the variable: {out}"
    );
    assert!(out.contains("3 error"), "{out}");
}

#[test]
fn an_unknown_scheme_is_refused_never_run_unverified() {
    let text = base().replace("scheme = \"standard-webhooks\"", "scheme = \"none\"");
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("sources.acme.scheme"), "{out}");
    assert!(out.contains("unknown scheme"), "{out}");
}

#[test]
fn the_reference_configuration_is_accepted() {
    let reference = include_str!("../../../../config/hookgate.example.toml");
    let (ok, out) = check(
        reference,
        &[
            ("STRIPE_WEBHOOK_SECRET", "whsec_reference"),
            ("LEDGER_SIGNING_SECRET", "whsec_bGVkZ2VyLXNpZ25pbmc="),
        ],
    );
    assert!(ok, "{out}");
    // Whatever the operator put in the variables, as written.
    let (ok, out) = check(
        reference,
        &[
            ("STRIPE_WEBHOOK_SECRET", "whsec_reference"),
            ("LEDGER_SIGNING_SECRET", "ledger-signing-secret"),
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("not a Standard Webhooks signing key"), "{out}");
    assert!(
        !out.contains("ledger-signing-secret"),
        "a secret in the output: {out}"
    );
}

/// The README's check-config command works as shown: the example file,
/// with the variables of `config/example.env`, checks ok.
#[test]
fn the_example_config_checks_ok_with_the_example_env() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_file = std::fs::read_to_string(root.join("config/example.env")).unwrap();
    let vars: Vec<(&str, &str)> = env_file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('=').expect("NAME=value"))
        .collect();
    assert!(!vars.is_empty(), "config/example.env sets no variable");
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(root.join("config/hookgate.example.toml"))
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("LEDGER_SIGNING_SECRET")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for (_, value) in &vars {
        assert!(!text.contains(value), "a secret in the output: {text}");
    }
}

#[tokio::test]
async fn serve_refuses_a_bad_file_and_says_why() {
    let text = base().replace("[admin]", "[admin]\nbogus = 1");
    let mut gw = hookgate_testkit::GatewayProcess::start(bin(), &text, &[]).await;
    let status = gw
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .expect("exits");
    assert!(!status.success());
    assert!(gw.logs().contains("admin.bogus"), "{}", gw.logs());
}

#[tokio::test]
async fn serve_refuses_an_unsafe_file_before_binding() {
    // Overlapping listeners and a replayable dedup window: the config
    // errors, not "address in use" from a bind.
    let text = base().replace("listen = \"127.0.0.1:2\"", "listen = \"127.0.0.1:1\"")
        + "\n[[sources]]\nid = \"extra\"\nscheme = \"stripe\"\nsecrets = [{ value = \"s\" }]\ndedup_window = \"1m\"\n";
    let mut gw = hookgate_testkit::GatewayProcess::start(bin(), &text, &[]).await;
    let status = gw
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .expect("exits");
    assert!(!status.success());
    let logs = gw.logs();
    assert!(logs.contains("admin.listen: 127.0.0.1:1"), "{logs}");
    assert!(
        logs.contains("sources.extra.dedup_window: 1m is shorter"),
        "{logs}"
    );
    assert!(logs.contains("2 error(s); not starting"), "{logs}");
}

#[tokio::test]
async fn bare_config_flag_runs_the_gateway() {
    let store = TestStore::sqlite();
    let (text, _, admin) = local_config(&store, "http://127.0.0.1:9/e", &Options::default());
    let mut gw =
        hookgate_testkit::GatewayProcess::start_args(bin(), &["--config"], &text, &[]).await;
    gw.wait_healthy(&admin, std::time::Duration::from_secs(15))
        .await;
}

#[test]
fn scheme_errors_point_at_the_key_they_name() {
    // stripe does not sign the URL: the error names public_url, at its line.
    let text = base().replacen(
        "scheme = \"stripe\"\n",
        "scheme = \"stripe\"\n\npublic_url = \"https://gw.example.com/ingest/stripe\"\n",
        1,
    );
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("public_url"))
        .unwrap();
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(":{line}: sources.stripe.public_url: ")),
        "{out}"
    );
    // A bad secret of a list written over several lines: that element's line.
    let text = base().replace(
        &format!("secrets = [{{ value = \"{ACME_SECRET}\" }}]"),
        &format!(
            "secrets = [\n  {{ value = \"{ACME_SECRET}\" }},\n  {{ value = \"not base64!\" }},\n]"
        ),
    );
    let line = 1 + text
        .lines()
        .position(|l| l.contains("not base64!"))
        .unwrap();
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(":{line}: sources.acme.secrets[1]: ")),
        "{out}"
    );
    assert!(
        !out.contains("not base64!"),
        "a secret in the output: {out}"
    );
}

#[test]
fn scheme_errors_are_reported_with_the_other_errors() {
    // A bad duration elsewhere no longer hides a source's scheme error.
    let text = base()
        .replace("\nread_timeout = \"1s\"", "\nread_timeout = \"soon\"")
        .replace("scheme = \"standard-webhooks\"", "scheme = \"none\"");
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("server.read_timeout"), "{out}");
    assert!(out.contains("sources.acme.scheme"), "{out}");
    assert!(out.contains("unknown scheme"), "{out}");
    assert!(out.contains("2 error"), "{out}");
    // In file order: [server] comes before [[sources]].
    assert!(
        out.find("server.read_timeout").unwrap() < out.find("sources.acme.scheme").unwrap(),
        "{out}"
    );
}

#[test]
fn tolerance_on_a_scheme_without_a_timestamp_is_a_warning() {
    let text = format!(
        "{}\n[[sources]]\nid = \"gh\"\nscheme = \"github\"\nsecrets = [{{ value = \"s\" }}]\ntolerance = \"5m\"\n",
        base()
    );
    let line = text
        .lines()
        .position(|l| l == "tolerance = \"5m\"")
        .expect("the line")
        + 1;
    let (ok, out) = check(&text, &[]);
    assert!(ok, "a warning, not an error: {out}");
    assert!(
        out.contains(&format!(
            "hookgate.toml:{line}: sources.gh.tolerance: has no effect: scheme \"github\" signs no timestamp"
        )),
        "{out}"
    );
    // Where it applies, no such warning.
    let (ok, out) = check(
        &base().replace("id = \"stripe\"\n", "id = \"stripe\"\ntolerance = \"1m\"\n"),
        &[],
    );
    assert!(ok, "{out}");
    assert!(!out.contains("has no effect"), "{out}");
}

/// `base()` with one more source made of `body` (after `[[sources]]`), and
/// the 1-based line of its first line that starts with `key`.
fn with_source(body: &str, key: &str) -> (String, usize) {
    let text = format!("{}\n[[sources]]\n{body}\n", base());
    let start = text
        .find("\n[[sources]]\nid = \"extra\"")
        .expect("the source");
    let line = text[..start].lines().count()
        + 1
        + text[start..]
            .lines()
            .position(|l| l.starts_with(key))
            .expect("the key");
    (text, line)
}

#[test]
fn a_dedup_window_shorter_than_the_tolerance_is_refused() {
    // Written both: the error is at dedup_window's line.
    let (text, line) = with_source(
        "id = \"extra\"\nscheme = \"stripe\"\nsecrets = [{ value = \"s\" }]\ntolerance = \"10m\"\ndedup_window = \"5m\"",
        "dedup_window",
    );
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "hookgate.toml:{line}: sources.extra.dedup_window: 5m is shorter than the tolerance (10m): "
        )),
        "{out}"
    );
    assert!(out.contains("at least 20m"), "{out}");
    assert!(out.contains("1 error"), "{out}");

    // Against the scheme's default tolerance (Stripe: 300 s).
    let (text, line) = with_source(
        "id = \"extra\"\nscheme = \"stripe\"\nsecrets = [{ value = \"s\" }]\ndedup_window = \"1m\"",
        "dedup_window",
    );
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            ":{line}: sources.extra.dedup_window: 1m is shorter than the tolerance (5m, the scheme's default)"
        )),
        "{out}"
    );

    // A tolerance beyond the scheme's default window (7 days): at its line.
    let (text, line) = with_source(
        "id = \"extra\"\nscheme = \"standard-webhooks\"\nsecrets = [{ value = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }]\ntolerance = \"8d\"",
        "tolerance",
    );
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            ":{line}: sources.extra.dedup_window: 7days (the scheme's default) is shorter than the tolerance (8days)"
        )),
        "{out}"
    );

    // At least the tolerance but under twice it: a warning, not an error.
    let (text, line) = with_source(
        "id = \"extra\"\nscheme = \"paddle\"\nsecrets = [{ value = \"pdl\" }]\ndedup_window = \"8s\"",
        "dedup_window",
    );
    let (ok, out) = check(&text, &[]);
    assert!(ok, "{out}");
    let warning = out
        .lines()
        .find(|l| l.contains("sources.extra.dedup_window"))
        .unwrap_or_else(|| panic!("no warning: {out}"));
    assert!(warning.starts_with("warning: "), "{warning}");
    assert!(
        warning.contains(&format!(
            ":{line}: sources.extra.dedup_window: 8s is less than twice the tolerance (5s, the scheme's default)"
        )),
        "{warning}"
    );

    // A scheme that signs no timestamp has no tolerance to outlast.
    let (text, _) = with_source(
        "id = \"extra\"\nscheme = \"github\"\nsecrets = [{ value = \"s\" }]\ndedup_window = \"1s\"",
        "dedup_window",
    );
    let (ok, out) = check(&text, &[]);
    assert!(ok, "{out}");
    assert!(!out.contains("dedup_window"), "{out}");
}

#[test]
fn an_admin_listener_on_the_ingest_socket_is_refused_before_bind() {
    let text = base().replace("listen = \"127.0.0.1:2\"", "listen = \"0.0.0.0:1\"");
    let line = 1 + text
        .lines()
        .position(|l| l == "listen = \"0.0.0.0:1\"")
        .unwrap();
    let (ok, out) = check(&text, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "hookgate.toml:{line}: admin.listen: 0.0.0.0:1 (line {line}) overlaps server.listen 127.0.0.1:1"
        )),
        "{out}"
    );
    // Set from the environment: named, and serve refuses it the same way.
    let (ok, out) = check(&base(), &[("HOOKGATE_ADMIN_LISTEN", "127.0.0.1:1")]);
    assert!(!ok, "{out}");
    assert!(out.contains("admin.listen: 127.0.0.1:1 (from HOOKGATE_ADMIN_LISTEN) is the same address as server.listen"), "{out}");
}

#[test]
fn a_blank_secret_is_refused_without_showing_it() {
    let text = base().replace(
        &format!("secrets = [{{ value = \"{ACME_SECRET}\" }}]"),
        "secrets = [{ env = \"HOOKGATE_TEST_BLANK_SECRET\" }]",
    );
    let (ok, out) = check(&text, &[("HOOKGATE_TEST_BLANK_SECRET", " \t ")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "sources.acme.secrets[0].env: environment variable HOOKGATE_TEST_BLANK_SECRET holds only whitespace"
        ),
        "{out}"
    );
    assert!(out.contains("1 error"), "{out}");
}

#[test]
fn short_standard_webhooks_keys_are_warnings() {
    // whsec_ + base64("hello"): 5 bytes, on a source and on a subscription.
    let text = base()
        .replace(
            &format!("secrets = [{{ value = \"{ACME_SECRET}\" }}]"),
            "secrets = [{ value = \"whsec_aGVsbG8=\" }]",
        )
        .replace(
            &format!("secret = {{ value = \"{LEDGER_SECRET}\" }}"),
            "secret = { value = \"whsec_aGVsbG8=\" }",
        );
    let (ok, out) = check(&text, &[]);
    assert!(ok, "a warning, not an error: {out}");
    for key in ["sources.acme.secrets[0]", "subscriptions.ledger.secret"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {key}: the signing key is shorter than 24 bytes")))
            .unwrap_or_else(|| panic!("no warning for {key}: {out}"));
        assert!(line.starts_with("warning: "), "{line}");
    }
    assert!(!out.contains("aGVsbG8"), "a key in the output: {out}");
    // Keys of 24 bytes or more (the harness's): no such warning.
    let (ok, out) = check(&base(), &[]);
    assert!(ok, "{out}");
    assert!(!out.contains("shorter than 24 bytes"), "{out}");
}

/// A malformed `ordering` is refused with its key and line; `ordering`
/// with `max_in_flight = 1` is accepted with a warning.
#[test]
fn check_config_reads_ordering() {
    let with_ledger = |ledger_extra: &'static str| {
        config_text(
            "127.0.0.1:1",
            "127.0.0.1:2",
            &TestStore::sqlite(),
            "http://127.0.0.1:4/e",
            &Options {
                ledger_extra,
                ..Options::default()
            },
        )
    };
    let line_of = |text: &str, start: &str| {
        text.lines()
            .position(|l| l.starts_with(start))
            .expect("the line")
            + 1
    };
    let (ok, out) = check(&with_ledger("ordering = { pointer = \"data/id\" }"), &[]);
    assert!(!ok, "{out}");
    let text = with_ledger("ordering = { pointer = \"data/id\" }");
    assert!(
        out.contains(&format!(
            "hookgate.toml:{}: subscriptions.ledger.ordering.pointer: a JSON pointer (RFC 6901) starts with \"/\"",
            line_of(&text, "ordering")
        )),
        "{out}"
    );
    let text = with_ledger("max_in_flight = 1\nordering = \"subject\"");
    let (ok, out) = check(&text, &[]);
    assert!(ok, "a warning, not an error: {out}");
    assert!(
        out.contains(&format!(
            "hookgate.toml:{}: subscriptions.ledger.ordering: with max_in_flight = 1",
            line_of(&text, "ordering")
        )),
        "{out}"
    );
    let (ok, out) = check(&with_ledger("ordering = { header = \"X-Key\" }"), &[]);
    assert!(ok, "{out}");
    assert!(!out.contains("ordering"), "{out}");
}
