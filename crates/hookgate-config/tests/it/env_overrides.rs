//! `HOOKGATE_*` overrides, read through the `Env` trait.

use super::*;

#[test]
fn overrides_replace_file_values() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n[admin]\nlisten = \"127.0.0.1:9090\"\n[store]\nurl = \"redis://file:6379\"\n{MINIMAL}"
    );
    let c = ok_with(
        &text,
        &env(&[
            ("HOOKGATE_SERVER_LISTEN", "0.0.0.0:80"),
            ("HOOKGATE_ADMIN_LISTEN", "[::1]:9000"),
            ("HOOKGATE_STORE_URL", "redis://:pw@redis.internal:6379/2"),
        ]),
    );
    assert_eq!(c.server.listen, "0.0.0.0:80".parse().unwrap());
    assert_eq!(c.admin.listen, "[::1]:9000".parse().unwrap());
    assert_eq!(
        c.store.redis().expect("redis backend").url.expose(),
        b"redis://:pw@redis.internal:6379/2"
    );
}

#[test]
fn overrides_apply_over_defaults_too() {
    let c = ok_with(
        MINIMAL,
        &env(&[("HOOKGATE_SERVER_LISTEN", "127.0.0.1:1234")]),
    );
    assert_eq!(c.server.listen.port(), 1234);
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());
}

#[test]
fn empty_overrides_are_ignored() {
    let c = ok_with(
        MINIMAL,
        &env(&[("HOOKGATE_SERVER_LISTEN", ""), ("HOOKGATE_STORE_URL", "")]),
    );
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
    // An empty store URL is no URL: the default backend stays.
    assert!(c.store.sqlite().is_some(), "{:?}", c.store);
}

#[test]
fn bad_overrides_name_the_variable() {
    let errors = errs_with(
        MINIMAL,
        &env(&[
            ("HOOKGATE_SERVER_LISTEN", "nowhere"),
            ("HOOKGATE_ADMIN_LISTEN", "9090"),
            ("HOOKGATE_STORE_URL", "http://user:hunter2@x"),
        ]),
    );
    let got: Vec<_> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (None, "server.listen"),
            (None, "admin.listen"),
            (None, "store.url")
        ]
    );
    assert!(
        errors[0]
            .message
            .starts_with("environment variable HOOKGATE_SERVER_LISTEN: ")
    );
    assert!(
        errors[1]
            .message
            .starts_with("environment variable HOOKGATE_ADMIN_LISTEN: ")
    );
    assert!(
        errors[2]
            .message
            .starts_with("environment variable HOOKGATE_STORE_URL: ")
    );
    assert!(!errors[2].to_string().contains("hunter2"));
    assert_eq!(
        errors[0].to_string(),
        "error in conf/hookgate.toml: server.listen: environment variable HOOKGATE_SERVER_LISTEN: \
         expected an address like \"127.0.0.1:8080\" or \"[::1]:8080\", found \"nowhere\""
    );
}

#[test]
fn process_env_is_read_not_written() {
    // ProcessEnv reads the real environment; PATH is set in any test run.
    use hookgate_config::{Env, ProcessEnv};
    assert!(ProcessEnv.var("PATH").is_some());
    assert!(ProcessEnv.var("HOOKGATE_SURELY_UNSET_7F3A").is_none());
}

#[test]
fn map_env_debug_hides_values() {
    let e = env(&[("STRIPE_WEBHOOK_SECRET", "whsec_shh")]);
    let dbg = format!("{e:?}");
    assert!(dbg.contains("STRIPE_WEBHOOK_SECRET"));
    assert!(!dbg.contains("whsec_shh"));
}

#[test]
fn instance_id_defaults_to_the_host_name_and_is_overridden() {
    // The default: this machine's host name (uname), whatever it is here.
    let c = ok(MINIMAL);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if !host.is_empty() {
        assert_eq!(c.server.instance_id, host);
    }
    assert!(!c.server.instance_id.is_empty());

    let text = format!("[server]\ninstance_id = \"gw-1.eu\"\n{MINIMAL}");
    assert_eq!(ok(&text).server.instance_id, "gw-1.eu");
    let c = ok_with(&text, &env(&[("HOOKGATE_INSTANCE_ID", "pod-7_b")]));
    assert_eq!(c.server.instance_id, "pod-7_b");
    // Empty: no override, as for the other variables.
    let c = ok_with(&text, &env(&[("HOOKGATE_INSTANCE_ID", "")]));
    assert_eq!(c.server.instance_id, "gw-1.eu");
}

#[test]
fn a_bad_instance_id_is_refused_naming_the_key_and_line_or_the_variable() {
    for bad in ["", "gw 1", "gw/1", "gw:1", "é", &"x".repeat(129)] {
        let text = format!("[server]\ninstance_id = \"{bad}\"\n{MINIMAL}");
        let e = one_err(&text, "server.instance_id", "not a valid instance id");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("A-Z a-z 0-9 . _ -"), "{e}");
    }
    let text = format!("[server]\ninstance_id = 7\n{MINIMAL}");
    let e = one_err(&text, "server.instance_id", "string");
    assert_eq!(e.line, Some(2), "{e}");
    let errors = errs_with(MINIMAL, &env(&[("HOOKGATE_INSTANCE_ID", "a b")]));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "server.instance_id");
    assert!(
        errors[0].message.contains("HOOKGATE_INSTANCE_ID"),
        "{}",
        errors[0]
    );
    // 128 characters is the limit, not an error.
    let text = format!("[server]\ninstance_id = \"{}\"\n{MINIMAL}", "x".repeat(128));
    assert_eq!(ok(&text).server.instance_id.len(), 128);
}
