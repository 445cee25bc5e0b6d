//! Secret references: `{ env }`, `{ file }`, `{ value }`, and nothing else.

use super::*;
use hookgate_config::{load, parse};

/// A source whose `secrets` list is `refs`.
fn source_with(refs: &str) -> String {
    with_source(&format!(
        "id = \"s\"\nscheme = \"stripe\"\nsecrets = [{refs}]"
    ))
}

#[test]
fn a_bare_string_is_refused_and_not_echoed() {
    let e = one_err(
        &source_with("\"sk_live_plaintext\""),
        "sources.s.secrets[0]",
        "expected a secret reference: { env = \"NAME\" }, { file = \"path\" } or { value = \"...\" }",
    );
    assert_eq!(e.line, Some(4));
    assert!(!e.to_string().contains("sk_live_plaintext"));

    let e = one_err(
        &MINIMAL.replace(
            &format!("{{ value = \"{WHSEC}\" }}"),
            &format!("\"{WHSEC}\""),
        ),
        "subscriptions.sub.secret",
        "expected a secret reference",
    );
    assert!(!e.to_string().contains("aGVsbG8"));
}

#[test]
fn exactly_one_form_and_a_string_inside() {
    one_err(
        &source_with("{ env = \"A\", value = \"x\" }"),
        "sources.s.secrets[0]",
        "exactly one",
    );
    one_err(
        &source_with("{}"),
        "sources.s.secrets[0]",
        "expected a secret reference",
    );
    let e = one_err(
        &source_with("{ value = 12345678 }"),
        "sources.s.secrets[0].value",
        "expected a string, found an integer",
    );
    assert!(!e.to_string().contains("12345678"));
    one_err(
        &source_with("{ env = \"\" }"),
        "sources.s.secrets[0].env",
        "must not be empty",
    );
}

#[test]
fn env_secrets_name_the_variable_when_unset_or_empty() {
    let text = source_with("{ env = \"STRIPE_WEBHOOK_SECRET\" }");
    let e = one_err(
        &text,
        "sources.s.secrets[0].env",
        "environment variable STRIPE_WEBHOOK_SECRET is not set",
    );
    assert_eq!(
        e.message,
        "environment variable STRIPE_WEBHOOK_SECRET is not set"
    );

    let errors = errs_with(&text, &env(&[("STRIPE_WEBHOOK_SECRET", "")]));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        "environment variable STRIPE_WEBHOOK_SECRET is set but empty"
    );

    let c = ok_with(&text, &env(&[("STRIPE_WEBHOOK_SECRET", "whsec_abc")]));
    assert_eq!(c.sources[0].secrets[0].expose(), b"whsec_abc");
    assert!(c.warnings.iter().all(|w| !w.key.starts_with("sources")));
}

#[test]
fn rotation_keeps_every_secret_in_order() {
    let text = source_with("{ env = \"OLD\" }, { env = \"NEW\" }");
    let c = ok_with(&text, &env(&[("OLD", "one"), ("NEW", "two")]));
    let s: Vec<_> = c.sources[0]
        .secrets
        .iter()
        .map(|s| s.expose().to_vec())
        .collect();
    assert_eq!(s, [b"one".to_vec(), b"two".to_vec()]);

    // Both missing: both reported, each at its own element.
    let errors = errs(&text);
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["sources.s.secrets[0].env", "sources.s.secrets[1].env"]
    );
}

#[test]
fn value_secrets_work_with_a_warning() {
    let c = ok(&source_with("{ value = \"demo\" }"));
    assert_eq!(c.sources[0].secrets[0].expose(), b"demo");
    let w = c
        .warnings
        .iter()
        .find(|w| w.key == "sources.s.secrets[0].value")
        .expect("a warning for the literal secret");
    assert!(w.message.contains("local demos only"));
    assert!(!w.to_string().contains("demo\""));
}

#[test]
fn file_secrets_resolve_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/stripe"), "whsec_from_file\n").unwrap();
    std::fs::write(dir.path().join("secrets/crlf"), "crlf-secret\r\n").unwrap();
    std::fs::write(dir.path().join("secrets/two"), "two-newlines\n\n").unwrap();
    std::fs::write(dir.path().join("secrets/ledger"), format!("{WHSEC_24}\n")).unwrap();

    let text = with_source(
        "id = \"s\"\nscheme = \"stripe\"\nsecrets = [{ file = \"secrets/stripe\" }, { file = \"secrets/crlf\" }, { file = \"secrets/two\" }]",
    )
    .replace(&format!("{{ value = \"{WHSEC}\" }}"), "{ file = \"secrets/ledger\" }");
    let path = dir.path().join("hookgate.toml");
    std::fs::write(&path, &text).unwrap();

    // Through load() and through parse() with the same path.
    for c in [
        load(&path, &MapEnv::default()).unwrap(),
        parse(&text, &path, &MapEnv::default()).unwrap(),
    ] {
        let s: Vec<_> = c.sources[0]
            .secrets
            .iter()
            .map(|s| s.expose().to_vec())
            .collect();
        assert_eq!(
            s,
            [
                b"whsec_from_file".to_vec(),
                b"crlf-secret".to_vec(),
                b"two-newlines\n".to_vec()
            ]
        );
        assert_eq!(
            c.subscriptions[0].secrets[0].expose(),
            b"0123456789abcdefghijklmn"
        );
        assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
    }
}

#[test]
fn absolute_file_paths_are_used_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("abs");
    std::fs::write(&secret, "abs-secret").unwrap();
    let text = source_with(&format!("{{ file = {:?} }}", secret.display().to_string()));
    // FILE is elsewhere; the absolute path still resolves.
    let c = ok(&text);
    assert_eq!(c.sources[0].secrets[0].expose(), b"abs-secret");
}

#[test]
fn unreadable_or_empty_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let text = source_with("{ file = \"missing\" }, { file = \"empty\" }");
    let path = dir.path().join("hookgate.toml");
    let errors = parse(&text, &path, &MapEnv::default()).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let missing = dir.path().join("missing").display().to_string();
    assert_eq!(errors[0].key, "sources.s.secrets[0].file");
    assert!(
        errors[0]
            .message
            .starts_with(&format!("cannot read secret file {missing}: ")),
        "{}",
        errors[0]
    );
    let empty = dir.path().join("empty").display().to_string();
    assert_eq!(errors[1].message, format!("secret file {empty} is empty"));
}

#[test]
fn a_bare_file_name_resolves_against_the_current_directory() {
    // `hookgate.toml` (no directory part) means "./hookgate.toml".
    let text = source_with("{ file = \"definitely-not-here-7f3a\" }");
    let errors = parse(
        &text,
        std::path::Path::new("hookgate.toml"),
        &MapEnv::default(),
    )
    .unwrap_err()
    .0;
    assert!(
        errors[0].message.contains("./definitely-not-here-7f3a"),
        "{}",
        errors[0]
    );
}

#[test]
fn secrets_never_appear_in_errors_of_other_keys() {
    // A bad file with secrets resolved elsewhere in it: the error output
    // must not contain any resolved secret.
    let text = source_with("{ env = \"S1\" }").replace(
        "scheme = \"stripe\"",
        "scheme = \"stripe\"\ntolerance = \"bad\"",
    );
    let e = env(&[("S1", "super-secret-value")]);
    let errors = errs_with(&text, &e);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let shown = hookgate_config::ConfigErrors(errors).to_string();
    assert!(!shown.contains("super-secret-value"));
}

#[test]
fn blank_secrets_are_refused_in_every_form_and_never_shown() {
    // { env }: the resolved value.
    let text = source_with("{ env = \"S\" }");
    let errors = errs_with(&text, &env(&[("S", " \t \n")]));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "sources.s.secrets[0].env");
    assert_eq!(errors[0].line, Some(4));
    assert_eq!(
        errors[0].message,
        "environment variable S holds only whitespace"
    );

    // { value }, and Unicode spaces count as whitespace too.
    let e = one_err(
        &source_with("{ value = \"   \" }"),
        "sources.s.secrets[0].value",
        "must not be only whitespace",
    );
    assert_eq!(e.line, Some(4));
    one_err(
        &source_with("{ value = \"\\u00a0\\u2003\" }"),
        "sources.s.secrets[0].value",
        "only whitespace",
    );

    // { file }: a blank line left after the one newline is stripped.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blank"), " \n\n").unwrap();
    let text = source_with("{ file = \"blank\" }");
    let errors = parse(&text, &dir.path().join("hookgate.toml"), &MapEnv::default())
        .unwrap_err()
        .0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "sources.s.secrets[0].file");
    let blank = dir.path().join("blank").display().to_string();
    assert_eq!(
        errors[0].message,
        format!("secret file {blank} holds only whitespace")
    );

    // A subscription key that is `whsec_` and blanks.
    one_err(
        &MINIMAL.replace(WHSEC, "whsec_ \\t "),
        "subscriptions.sub.secret",
        "the signing key is only whitespace",
    );

    // Whitespace around a real secret is kept: it is part of the secret.
    let c = ok_with(&source_with("{ env = \"S\" }"), &env(&[("S", " padded ")]));
    assert_eq!(c.sources[0].secrets[0].expose(), b" padded ");
}
