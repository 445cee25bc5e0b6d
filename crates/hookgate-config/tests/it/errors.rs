//! Every error at once, each with its file, line and key path.

use super::*;

#[test]
fn unknown_key_bad_duration_and_missing_env_are_reported_together() {
    let text = r#"[server]
listen = "127.0.0.1:8080"
colour = "blue"

[[sources]]
id = "stripe"
scheme = "stripe"
secrets = [{ env = "STRIPE_WEBHOOK_SECRET" }]
tolerance = "5 parsecs"
"#;
    let errors = errs(text);
    let got: Vec<_> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(3), "server.colour"),
            (Some(8), "sources.stripe.secrets[0].env"),
            (Some(9), "sources.stripe.tolerance"),
        ],
        "{errors:#?}"
    );
    assert!(errors[0].message.contains("unknown key"));
    assert!(errors[0].message.contains("listen, max_body_bytes"));
    assert_eq!(
        errors[1].message,
        "environment variable STRIPE_WEBHOOK_SECRET is not set"
    );
    assert!(
        errors[2]
            .message
            .starts_with("expected a duration like \"30s\"")
    );

    // The rendered form, as check-config prints it.
    let shown = hookgate_config::ConfigErrors(errors).to_string();
    let first = shown.lines().next().unwrap();
    assert!(
        first.starts_with("error in conf/hookgate.toml:3: server.colour: unknown key"),
        "{first}"
    );
    assert_eq!(shown.lines().count(), 3);
}

#[test]
fn toml_syntax_error_has_a_line_and_does_not_quote_the_file() {
    let text = "[server]\nlisten = \"127.0.0.1:8080\"\nsecret_here = \"whsec_leak\" oops\n";
    let errors = errs(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, Some(3));
    assert!(errors[0].message.starts_with("invalid TOML"));
    assert!(!errors[0].to_string().contains("whsec_leak"));
}

#[test]
fn a_duplicate_key_is_named_with_its_line_and_never_its_value() {
    // Before: "(syntax): invalid TOML: duplicate key", no key named.
    for (text, line, key) in [
        (
            "[server]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n",
            3,
            "server.listen",
        ),
        (
            "[[sources]]\nid = \"s\"\nscheme = \"stripe\"\nsecrets = [{ value = \"whsec_leak\" }]\nsecrets = [{ value = \"whsec_leak2\" }]\n",
            5,
            "sources.secrets",
        ),
        (
            "[[sources]]\nid = \"s\"\n[sources.types]\n\"a.b\" = \"x\"\n\"a.b\" = \"y\"\n",
            5,
            "sources.types.a.b",
        ),
        ("[server]\n[admin]\n[server]\n", 3, "server"),
        ("top = 1\ntop = 2\n", 2, "top"),
    ] {
        let errors = errs(text);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].line, Some(line), "{text}");
        assert_eq!(errors[0].key, key, "{text}");
        assert!(
            errors[0].message.contains("duplicate key"),
            "{:?}",
            errors[0]
        );
        assert!(!errors[0].to_string().contains("whsec_leak"));
    }
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    let text = format!(
        r#"surprise = 1
[server]
nope = 1
[admin]
nope = 1
[[admin.tokens]]
name = "a"
role = "viewer"
sha256 = "{zeros}"
nope = 1
[store]
nope = 1
[delivery]
nope = 1
[log]
nope = 1
[[sources]]
id = "src"
scheme = "hmac"
nope = 1
rate_limit = {{ per_second = 1, nope = 1 }}
secrets = [{{ env = "X", nope = 1 }}]
[[subscriptions]]
id = "sub"
url = "http://h/"
events = ["*"]
secret = {{ value = "{WHSEC}" }}
nope = 1
retry = {{ nope = 1 }}
breaker = {{ nope = 1 }}
"#,
        zeros = "0".repeat(64)
    );
    let errors = errs_with(&text, &env(&[("X", "x")]));
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "surprise",
            "server.nope",
            "admin.nope",
            "admin.tokens[0].nope",
            "store.nope",
            "delivery.nope",
            "log.nope",
            "sources.src.nope",
            "sources.src.rate_limit.nope",
            "sources.src.secrets[0].nope",
            "subscriptions.sub.nope",
            "subscriptions.sub.retry.nope",
            "subscriptions.sub.breaker.nope",
        ],
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.message.starts_with("unknown key; expected one of:"))
    );
    // Source keys include the scheme-specific ones.
    assert!(errors[7].message.contains("signed_content"));
    // Lines point at the keys.
    let lines: Vec<_> = errors.iter().map(|e| e.line.unwrap()).collect();
    assert_eq!(lines, [1, 3, 5, 10, 12, 14, 16, 20, 21, 22, 28, 29, 30]);
}

#[test]
fn wrong_types_say_what_was_expected() {
    let text = format!(
        r#"[server]
listen = 8080
max_body_bytes = "1MB"
[store]
allow_eviction = "yes"
[log]
level = 3
{}"#,
        MINIMAL
    );
    let errors = errs(&text);
    let got: Vec<_> = errors
        .iter()
        .map(|e| (e.key.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("server.listen", "expected a string, found an integer"),
            (
                "server.max_body_bytes",
                "expected an integer >= 1, found a string"
            ),
            (
                "store.allow_eviction",
                "expected true or false, found a string"
            ),
            ("log.level", "expected a string, found an integer"),
        ]
    );
}

#[test]
fn sections_must_be_tables_and_lists_must_be_lists() {
    let text = "server = 1\nsources = \"all\"\n";
    let errors = errs(text);
    let got: Vec<_> = errors
        .iter()
        .map(|e| (e.key.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("server", "expected a table, found an integer"),
            ("sources", "expected an array, found a string"),
        ]
    );
}

#[test]
fn entries_without_a_valid_id_are_named_by_index() {
    let text = r#"
[[sources]]
id = "ok"
scheme = "stripe"

[[sources]]
id = "not ok!"
scheme = "stripe"
tolerance = 5

[[sources]]
scheme = 7
"#;
    let errors = errs(text);
    let got: Vec<_> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(7), "sources[1].id"),
            (Some(9), "sources[1].tolerance"),
            (Some(11), "sources[2].id"),
            (Some(12), "sources[2].scheme"),
        ],
        "{errors:#?}"
    );
    assert!(errors[0].message.contains("not a valid id"));
    assert!(errors[2].message.contains("missing required key"));
}

#[test]
fn inline_and_dotted_tables_read_like_headers() {
    // `retry.max_attempts = 0` (dotted) and `[subscriptions.breaker]`
    // (a header) are the same data as the inline form.
    let text = format!("{MINIMAL}retry.max_attempts = 0\n[subscriptions.breaker]\nfailures = 0\n");
    let errors = errs(&text);
    let got: Vec<_> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(11), "subscriptions.sub.retry.max_attempts"),
            (Some(13), "subscriptions.sub.breaker.failures"),
        ],
        "{errors:#?}"
    );
}

#[test]
fn load_reports_an_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let err = hookgate_config::load(&path, &MapEnv::default()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].file.ends_with("absent.toml"));
    assert!(err.0[0].message.contains("cannot read"), "{}", err);
}
