//! One failing case per validation rule (and a passing edge where useful).

use super::*;

#[test]
fn ids_must_match_the_pattern() {
    for bad in ["", "has space", "dot.ted", "slash/", "é", &"x".repeat(65)] {
        let text = MINIMAL.replace("id = \"src\"", &format!("id = {bad:?}"));
        let e = one_err(&text, "sources[0].id", "not a valid id");
        assert_eq!(e.line, Some(3));
    }
    let text = MINIMAL.replace("id = \"sub\"", "id = \"a.b\"");
    one_err(&text, "subscriptions[0].id", "not a valid id");
    // 64 characters of the allowed set are fine.
    let long = "A-z_9".repeat(13)[..64].to_owned();
    ok(&MINIMAL.replace("id = \"src\"", &format!("id = {long:?}")));
}

#[test]
fn ids_must_be_unique_within_their_family() {
    let text = format!("{MINIMAL}\n[[sources]]\nid = \"src\"\nscheme = \"github\"\n");
    let e = one_err(
        &text,
        "sources.src.id",
        "duplicate source id \"src\" (first at line 3)",
    );
    assert_eq!(e.line, Some(13));

    let text = format!(
        "{MINIMAL}\n[[subscriptions]]\nid = \"sub\"\nurl = \"http://h/\"\nevents = [\"*\"]\nsecret = {{ value = \"{WHSEC}\" }}\n"
    );
    one_err(&text, "subscriptions.sub.id", "duplicate subscription id");

    // A source and a subscription may share an id.
    ok(&MINIMAL.replace("id = \"sub\"", "id = \"src\""));
}

#[test]
fn store_backend_is_sqlite_or_redis() {
    let text = format!("[store]\nbackend = \"postgres\"\n{MINIMAL}");
    let e = one_err(
        &text,
        "store.backend",
        "expected one of sqlite | redis, found \"postgres\"",
    );
    assert_eq!(e.line, Some(2));
}

#[test]
fn store_url_must_be_a_redis_url_and_is_never_echoed() {
    let text = format!("[store]\nurl = \"postgres://u:hunter2@db\"\n{MINIMAL}");
    let e = one_err(
        &text,
        "store.url",
        "expected a URL like \"redis://127.0.0.1:6379\"",
    );
    assert!(!e.to_string().contains("hunter2"));
    // TLS (rediss://) is a store URL like the others.
    ok(&format!(
        "[store]\nurl = \"rediss://:hunter2@cache:6380/0\"\n{MINIMAL}"
    ));
    ok(&format!(
        "[store]\nurl = \"redis://:pw@cache:6380/0\"\n{MINIMAL}"
    ));
    // The rest of the URL is read as the store reads it: what `serve`
    // would refuse, check-config refuses, naming the key and its line and
    // never echoing the URL (before, these passed check-config and stopped
    // `serve` with an error that named neither).
    for (url, message) in [
        (
            "redis://:hunter2@127.0.0.1:notaport",
            "not a valid URL: invalid port number",
        ),
        (
            "redis://:hunter2@127.0.0.1:6379/zz",
            "not a usable Redis URL: Invalid database number",
        ),
        (
            "redis://:hunter2@0.0.0.0:6379",
            "not a usable Redis URL: Cannot connect to a wildcard address",
        ),
        (
            "redis://:hunter2@h:6379/0?protocol=resp9",
            "not a usable Redis URL: Invalid protocol version",
        ),
        (
            "rediss://:hunter2@h:6379#verify",
            "not a usable Redis URL: only #insecure is supported",
        ),
        (
            "redis://:hunter2@[::1",
            "not a valid URL: invalid IPv6 address",
        ),
    ] {
        let e = one_err(
            &format!("[store]\nurl = {url:?}\n{MINIMAL}"),
            "store.url",
            message,
        );
        assert_eq!(e.line, Some(2), "{url}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    for url in [
        "redis://cache",
        "redis://user:p%40ss@cache:6380/15?protocol=resp3",
        "unix:///run/redis.sock?db=2",
        "redis+unix:///run/redis.sock",
        "valkeys://cache:6380#insecure",
    ] {
        ok(&format!("[store]\nurl = {url:?}\n{MINIMAL}"));
    }
}

#[test]
fn store_cluster_is_a_boolean_and_wants_a_tcp_url_of_database_0() {
    use hookgate_config::StoreTopology;
    // Off unless asked for; `false` is the single Redis of earlier files.
    let c = ok(&format!("[store]\nurl = \"redis://h:1\"\n{MINIMAL}"));
    assert_eq!(
        c.store.redis().expect("redis backend").topology,
        StoreTopology::Single
    );
    let c = ok(&format!("[store]\ncluster = false\n{MINIMAL}"));
    assert_eq!(
        c.store.redis().expect("redis backend").topology,
        StoreTopology::Single
    );
    // A seed node, with or without credentials and an explicit database 0.
    for url in [
        "redis://127.0.0.1:7000",
        "redis://:pw@node-1.internal:7000/0",
        "redis://user:pw@node-1.internal:7000/",
        "valkey://127.0.0.1:7000",
    ] {
        let c = ok(&format!(
            "[store]\nurl = {url:?}\ncluster = true\n{MINIMAL}"
        ));
        assert_eq!(
            c.store.redis().expect("redis backend").topology,
            StoreTopology::Cluster,
            "{url}"
        );
        assert_eq!(
            c.store.redis().expect("redis backend").url.expose(),
            url.as_bytes()
        );
    }

    let e = one_err(
        &format!("[store]\ncluster = \"yes\"\n{MINIMAL}"),
        "store.cluster",
        "expected true or false",
    );
    assert_eq!(e.line, Some(2));

    // A cluster announces its nodes as host:port: no unix socket.
    let text = format!("[store]\nurl = \"unix:///run/redis.sock\"\ncluster = true\n{MINIMAL}");
    let e = one_err(&text, "store.cluster", "not a unix socket");
    assert_eq!(e.line, Some(3));

    // A cluster has database 0 only; the message never echoes the URL.
    for url in ["redis://:hunter2@h:7000/3", "redis://:hunter2@h:7000?db=2"] {
        let text = format!("[store]\nurl = {url:?}\ncluster = true\n{MINIMAL}");
        let e = one_err(&text, "store.cluster", "must select database 0");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    // The URL in effect is checked, also when it comes from the environment.
    let errors = errs_with(
        &format!("[store]\ncluster = true\n{MINIMAL}"),
        &env(&[("HOOKGATE_STORE_URL", "unix:///run/redis.sock")]),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "store.cluster");
    let c = ok_with(
        &format!("[store]\ncluster = true\n{MINIMAL}"),
        &env(&[("HOOKGATE_STORE_URL", "redis://:pw@seed:7000")]),
    );
    assert_eq!(
        c.store.redis().expect("redis backend").topology,
        StoreTopology::Cluster
    );
}

#[test]
fn store_key_prefix_has_no_hash_tag_braces() {
    let text = format!("[store]\nkey_prefix = \"hg{{x}}\"\n{MINIMAL}");
    one_err(&text, "store.key_prefix", "must not contain braces");
}

#[test]
fn subscription_url_must_be_absolute_http() {
    for bad in [
        "ftp://h/x",
        "/events",
        "127.0.0.1:7001",
        "http://",
        "not a url",
    ] {
        let text = MINIMAL.replace("http://127.0.0.1:7001/events", bad);
        let e = one_err(&text, "subscriptions.sub.url", "");
        assert_eq!(e.line, Some(8), "{bad}: {e}");
    }
    ok(&MINIMAL.replace(
        "http://127.0.0.1:7001/events",
        "https://ledger.internal:8443/hooks?x=1",
    ));
}

#[test]
fn subscription_url_is_required() {
    let text = MINIMAL.replace("url = \"http://127.0.0.1:7001/events\"\n", "");
    let e = one_err(&text, "subscriptions.sub.url", "missing required key");
    assert_eq!(e.line, Some(6), "the [[subscriptions]] header");
}

#[test]
fn events_must_be_a_non_empty_list_of_non_empty_strings() {
    let e = |events: &str| MINIMAL.replace("events = [\"*\"]", &format!("events = {events}"));
    one_err(&e("[]"), "subscriptions.sub.events", "at least one");
    one_err(
        &e("[\"a\", \"\"]"),
        "subscriptions.sub.events[1]",
        "must not be empty",
    );
    one_err(
        &e("[\"a\", 1]"),
        "subscriptions.sub.events[1]",
        "expected a string",
    );
    one_err(
        &e("\"*\""),
        "subscriptions.sub.events",
        "expected an array of strings",
    );
    let text = MINIMAL.replace("events = [\"*\"]\n", "");
    one_err(&text, "subscriptions.sub.events", "missing required key");
}

#[test]
fn subscription_needs_exactly_one_of_secret_and_secrets() {
    let none = MINIMAL.replace(&format!("secret = {{ value = \"{WHSEC}\" }}\n"), "");
    one_err(&none, "subscriptions.sub.secret", "missing required key");

    let both = with_sub(&format!("secrets = [{{ value = \"{WHSEC}\" }}]"));
    one_err(&both, "subscriptions.sub.secrets", "not both");

    let empty = none.clone() + "secrets = []\n";
    one_err(&empty, "subscriptions.sub.secrets", "at least one");

    let two = none
        + &format!("secrets = [{{ value = \"{WHSEC}\" }}, {{ value = \"whsec_d29ybGQ=\" }}]\n");
    let c = ok(&two);
    let keys: Vec<_> = c.subscriptions[0]
        .secrets
        .iter()
        .map(|s| s.expose().to_vec())
        .collect();
    assert_eq!(keys, [b"hello".to_vec(), b"world".to_vec()]);
}

#[test]
fn subscription_secrets_should_be_standard_webhooks_keys() {
    // Not base64: accepted (the gateway can sign with it) with a warning
    // that names the key, never the value.
    let bad = MINIMAL.replace(WHSEC, "whsec_***not-base64***");
    let c = ok(&bad);
    assert_eq!(
        c.subscriptions[0].secrets[0].expose(),
        b"whsec_***not-base64***"
    );
    let w = c
        .warnings
        .iter()
        .find(|w| w.key == "subscriptions.sub.secret")
        .expect("a warning for the secret");
    assert!(w.message.contains("not a Standard Webhooks signing key"));
    assert!(!w.to_string().contains("not-base64"));

    let empty = MINIMAL.replace(WHSEC, "whsec_");
    one_err(&empty, "subscriptions.sub.secret", "empty after decoding");

    let no_prefix = MINIMAL.replace(WHSEC, "aGVsbG8=");
    assert_eq!(
        ok(&no_prefix).subscriptions[0].secrets[0].expose(),
        b"hello"
    );
}

#[test]
fn subscription_keys_shorter_than_24_bytes_are_a_warning() {
    let short = |c: &hookgate_config::Config| {
        c.warnings
            .iter()
            .filter(|w| w.message.contains("shorter than 24 bytes"))
            .map(|w| (w.key.clone(), w.line))
            .collect::<Vec<_>>()
    };
    // whsec_ + base64("hello"): 5 bytes. Warned at its line, never shown.
    let c = ok(MINIMAL);
    assert_eq!(
        short(&c),
        [("subscriptions.sub.secret".to_owned(), Some(10))]
    );
    assert!(
        c.warnings
            .iter()
            .all(|w| !w.to_string().contains("aGVsbG8"))
    );
    // 23 bytes warns, 24 does not; each key of a list is judged alone.
    let text = MINIMAL.replace(
        &format!("secret = {{ value = \"{WHSEC}\" }}"),
        &format!(
            "secrets = [\n  {{ value = \"whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG0=\" }},\n  {{ value = \"{WHSEC_24}\" }},\n]"
        ),
    );
    assert_eq!(
        short(&ok(&text)),
        [("subscriptions.sub.secrets[0]".to_owned(), Some(11))]
    );
    assert!(short(&ok(&MINIMAL.replace(WHSEC, WHSEC_24))).is_empty());
}

#[test]
fn a_retry_budget_beyond_the_attempt_log_is_a_warning() {
    let about_retry = |c: &hookgate_config::Config| {
        c.warnings
            .iter()
            .filter(|w| w.key == "subscriptions.sub.retry.max_attempts")
            .map(|w| w.message.clone())
            .collect::<Vec<_>>()
    };
    assert!(about_retry(&ok(&with_sub("retry = { max_attempts = 100 }"))).is_empty());
    let warned = about_retry(&ok(&with_sub("retry = { max_attempts = 150 }")));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("keeps its last 100 attempts"),
        "{warned:?}"
    );
}

#[test]
fn retry_rules() {
    one_err(
        &with_sub("retry = { max_attempts = 0 }"),
        "subscriptions.sub.retry.max_attempts",
        "must be at least 1",
    );
    one_err(
        &with_sub("retry = { max_attempts = -3 }"),
        "subscriptions.sub.retry.max_attempts",
        "must be at least 1",
    );
    let e = one_err(
        &with_sub("retry = { base_delay = \"10m\", max_delay = \"1m\" }"),
        "subscriptions.sub.retry.max_delay",
        "max_delay (1m) must be at least base_delay (10m)",
    );
    assert_eq!(e.line, Some(11));
    // Against the default max_delay (1h).
    one_err(
        &with_sub("retry = { base_delay = \"2h\" }"),
        "subscriptions.sub.retry.base_delay",
        "max_delay (1h) must be at least base_delay (2h)",
    );
    one_err(
        &with_sub("retry = { base_delay = \"0s\" }"),
        "subscriptions.sub.retry.base_delay",
        "greater than zero",
    );
    one_err(
        &with_sub("retry = { max_age = \"0s\" }"),
        "subscriptions.sub.retry.max_age",
        "greater than zero",
    );
}

#[test]
fn breaker_rules() {
    one_err(
        &with_sub("breaker = { failures = 0 }"),
        "subscriptions.sub.breaker.failures",
        "must be at least 1",
    );
    one_err(
        &with_sub("breaker = { cooldown = 30 }"),
        "subscriptions.sub.breaker.cooldown",
        "expected a duration like \"30s\"",
    );
}

#[test]
fn rate_limit_rules() {
    let key = "subscriptions.sub.rate_limit.per_second";
    one_err(
        &with_sub("rate_limit = { per_second = 0 }"),
        key,
        "greater than zero",
    );
    one_err(
        &with_sub("rate_limit = { per_second = -1.5 }"),
        key,
        "greater than zero",
    );
    one_err(
        &with_sub("rate_limit = { per_second = nan }"),
        key,
        "finite",
    );
    one_err(
        &with_sub("rate_limit = { per_second = inf }"),
        key,
        "finite",
    );
    one_err(
        &with_sub("rate_limit = { per_second = \"5\" }"),
        key,
        "expected a number",
    );
    one_err(
        &with_sub("rate_limit = { burst = 5 }"),
        "subscriptions.sub.rate_limit.per_second",
        "missing required key",
    );
    one_err(
        &with_sub("rate_limit = { per_second = 5, burst = 0 }"),
        "subscriptions.sub.rate_limit.burst",
        "must be at least 1",
    );
    one_err(
        &with_sub("rate_limit = { per_second = 5, burst = 2.5 }"),
        "subscriptions.sub.rate_limit.burst",
        "expected an integer",
    );
    // burst defaults to max(1, ceil(per_second)).
    let burst = |rate: &str| {
        ok(&with_sub(&format!(
            "rate_limit = {{ per_second = {rate} }}"
        )))
        .subscriptions[0]
            .rate_limit
            .unwrap()
            .burst
    };
    assert_eq!(burst("0.2"), 1);
    assert_eq!(burst("2.5"), 3);
    assert_eq!(burst("200"), 200);
}

#[test]
fn capacity_counts_must_be_at_least_one() {
    one_err(
        &with_sub("max_in_flight = 0"),
        "subscriptions.sub.max_in_flight",
        "must be at least 1",
    );
    one_err(
        &with_source("id = \"s\"\nscheme = \"stripe\"\nworkers = 0"),
        "sources.s.workers",
        "must be at least 1",
    );
    one_err(
        &format!("[server]\nmax_body_bytes = 0\n{MINIMAL}"),
        "server.max_body_bytes",
        "must be at least 1",
    );
    one_err(
        &format!("[server]\nmax_body_bytes = 2048\nmax_body_buffer_bytes = 1024\n{MINIMAL}"),
        "server.max_body_buffer_bytes",
        "must be at least server.max_body_bytes (2048), found 1024",
    );
    one_err(
        &format!("[store]\npool_size = 0\n{MINIMAL}"),
        "store.pool_size",
        "must be at least 1",
    );
}

#[test]
fn zero_durations_are_refused_where_meaningless() {
    for (section, key) in [
        ("server", "read_timeout"),
        ("server", "header_read_timeout"),
        ("store", "store_timeout"),
        ("delivery", "visibility_timeout"),
        ("delivery", "retention"),
        ("delivery", "poll_interval"),
    ] {
        let text = format!("[{section}]\n{key} = \"0s\"\n{MINIMAL}");
        let e = one_err(&text, &format!("{section}.{key}"), "greater than zero");
        assert_eq!(e.line, Some(2));
    }
    one_err(
        &with_sub("timeout = \"0ms\""),
        "subscriptions.sub.timeout",
        "greater than zero",
    );
    let src = |k: &str| with_source(&format!("id = \"s\"\nscheme = \"stripe\"\n{k} = \"0s\""));
    one_err(
        &src("tolerance"),
        "sources.s.tolerance",
        "greater than zero",
    );
    one_err(
        &src("dedup_window"),
        "sources.s.dedup_window",
        "greater than zero",
    );
    // Zero grace means "stop at once", which is meaningful.
    let c = ok(&format!("[server]\nshutdown_grace = \"0s\"\n{MINIMAL}"));
    assert!(c.server.shutdown_grace.is_zero());
}

#[test]
fn durations_are_strings_with_a_unit() {
    let e = one_err(
        &with_sub("timeout = 30"),
        "subscriptions.sub.timeout",
        "expected a duration like \"30s\"",
    );
    assert!(e.message.contains("found an integer"));
    one_err(
        &with_sub("timeout = \"30\""),
        "subscriptions.sub.timeout",
        "expected a duration",
    );
    one_err(
        &with_sub("timeout = \"soon\""),
        "subscriptions.sub.timeout",
        "\"soon\"",
    );
    let c = ok(&with_sub("timeout = \"100ms\""));
    assert_eq!(c.subscriptions[0].timeout.as_millis(), 100);
}

#[test]
fn source_types_values_are_strings() {
    let text = with_source(
        "id = \"s\"\nscheme = \"stripe\"\n[sources.types]\n\"a.b\" = \"c\"\n\"x.y\" = 1",
    );
    let e = one_err(
        &text,
        "sources.s.types.\"x.y\"",
        "expected a string, found an integer",
    );
    assert_eq!(e.line, Some(6));
}

#[test]
fn scheme_keys_go_into_params_as_strings() {
    let text = with_source(
        "id = \"h\"\nscheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"sha256\"\nevent_id = \"/id\"",
    );
    let c = ok(&text);
    let p = &c.sources[0].params;
    assert_eq!(p.len(), 3);
    assert_eq!(p["header"], "X-Sig");
    assert_eq!(p["algorithm"], "sha256");
    assert_eq!(p["event_id"], "/id");

    let bad = with_source("id = \"h\"\nscheme = \"hmac\"\nheader = 5");
    one_err(&bad, "sources.h.header", "expected a string");
}

#[test]
fn scheme_must_be_a_non_empty_string_and_its_line_is_kept() {
    one_err(
        &with_source("id = \"s\"\nscheme = \"\""),
        "sources.s.scheme",
        "must not be empty",
    );
    one_err(
        &with_source("id = \"s\""),
        "sources.s.scheme",
        "missing required key",
    );
    let c = ok(&with_source("id = \"s\"\n\nscheme = \"anything-at-all\""));
    // Unknown schemes are hookgate-verify's to refuse, at this line.
    assert_eq!(c.sources[0].scheme, "anything-at-all");
    assert_eq!(c.sources[0].scheme_line, 4);
    // Secrets may be empty here: schemes decide whether they need one.
    assert!(c.sources[0].secrets.is_empty());
}

#[test]
fn every_source_key_line_is_kept_for_scheme_errors() {
    let c = ok(&with_source(
        "id = \"h\"\nscheme = \"hmac\"\n\nheader = \"x-sig\"\nsecrets = [\n  { value = \"a\" },\n  { value = \"b\" },\n]\npublic_url = \"https://gw.example.com/in\"",
    ));
    let s = &c.sources[0];
    assert_eq!(s.scheme_line, 3);
    assert_eq!(s.line_of("header"), 5);
    assert_eq!(s.line_of("secrets"), 6);
    assert_eq!(s.line_of("secrets[0]"), 7);
    assert_eq!(s.line_of("secrets[1]"), 8);
    assert_eq!(s.line_of("public_url"), 10);
    // A key not written (a required one missing) points at `scheme`.
    assert_eq!(s.line_of("event_id"), 3);
    assert_eq!(s.line_of("secrets[9]"), 6);
}

#[test]
fn a_file_with_errors_still_hands_back_the_sources_that_parsed() {
    let text = format!(
        "[server]\nread_timeout = \"soon\"\n{MINIMAL}\n[[sources]]\nid = \"bad\"\nscheme = \"stripe\"\ntolerance = 5\n"
    );
    let (errors, sources) =
        hookgate_config::parse_with_sources(&text, std::path::Path::new(FILE), &env(&[]))
            .unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    let ids: Vec<&str> = sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["src"]);
}

#[test]
fn public_url_must_be_absolute_http_without_query() {
    let src = |url: &str| {
        with_source(&format!(
            "id = \"t\"\nscheme = \"twilio\"\npublic_url = {url:?}"
        ))
    };
    one_err(
        &src("/ingest/t"),
        "sources.t.public_url",
        "absolute http or https",
    );
    one_err(
        &src("ws://h/x"),
        "sources.t.public_url",
        "absolute http or https",
    );
    one_err(
        &src("https://h/x?a=1"),
        "sources.t.public_url",
        "must not contain a query",
    );
    let c = ok(&src("https://hooks.example.com/ingest/t"));
    assert_eq!(
        c.sources[0].public_url.as_deref(),
        Some("https://hooks.example.com/ingest/t")
    );
}

#[test]
fn visibility_timeout_must_exceed_every_subscription_timeout() {
    let text = format!(
        "[delivery]\nvisibility_timeout = \"30s\"\n{}",
        with_sub("timeout = \"30s\"")
    );
    let e = one_err(
        &text,
        "delivery.visibility_timeout",
        "subscription \"sub\" (30s, line 13)",
    );
    assert_eq!(e.line, Some(2));

    // With the default visibility timeout (60s), the error points at the
    // subscription's timeout.
    let e = one_err(
        &with_sub("timeout = \"2m\""),
        "delivery.visibility_timeout",
        "\"sub\" (2m",
    );
    assert_eq!(e.line, Some(11));

    ok(&format!(
        "[delivery]\nvisibility_timeout = \"31s\"\n{}",
        with_sub("timeout = \"30s\"")
    ));
}

#[test]
fn admin_token_rules() {
    let hex = "ab".repeat(32);
    let token = |body: &str| format!("[[admin.tokens]]\n{body}\n{MINIMAL}");
    one_err(
        &token(&format!(
            "name = \"a\"\nrole = \"root\"\nsha256 = \"{hex}\""
        )),
        "admin.tokens[0].role",
        "expected one of viewer | operator | admin, found \"root\"",
    );
    one_err(
        &token(&format!("role = \"admin\"\nsha256 = \"{hex}\"")),
        "admin.tokens[0].name",
        "missing required key",
    );
    one_err(
        &token("name = \"a\"\nrole = \"admin\""),
        "admin.tokens[0].sha256",
        "missing required key",
    );
    one_err(
        &token(&format!(
            "name = \"a\"\nrole = \"admin\"\nsha256 = \"{hex}\"\ntenants = []"
        )),
        "admin.tokens[0].tenants",
        "remove the key to allow all tenants",
    );
    let dup = format!(
        "[[admin.tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"{hex}\"\n[[admin.tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{hex}\"\n{MINIMAL}"
    );
    let e = one_err(
        &dup,
        "admin.tokens[1].name",
        "duplicate token name \"a\" (first at line 2)",
    );
    assert_eq!(e.line, Some(6));
}

#[test]
fn admin_token_hash_decodes_either_case() {
    let upper = "AB".repeat(32);
    let c = ok(&format!(
        "[[admin.tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{upper}\"\n{MINIMAL}"
    ));
    assert_eq!(c.admin.tokens[0].sha256.expose(), [0xab; 32]);
    assert!(c.admin.tokens[0].tenants.is_none());
    assert!(c.warnings.iter().all(|w| !w.key.starts_with("admin")));
}

#[test]
fn admin_token_hash_that_is_not_hex_warns_and_never_matches() {
    for bad in [
        "<hex SHA-256 of the bearer token>",
        &"a".repeat(63),
        &"g".repeat(64),
    ] {
        let c = ok(&format!(
            "[[admin.tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = {bad:?}\n{MINIMAL}"
        ));
        assert!(c.admin.tokens[0].sha256.expose().is_empty());
        let w = c
            .warnings
            .iter()
            .find(|w| w.key == "admin.tokens[0].sha256")
            .unwrap();
        assert_eq!(w.line, Some(4));
        assert!(!w.to_string().contains(bad));
    }
    // Not a string at all is still an error.
    one_err(
        &format!("[[admin.tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = 1\n{MINIMAL}"),
        "admin.tokens[0].sha256",
        "expected a string",
    );
}

#[test]
fn log_format_is_text_or_json() {
    one_err(
        &format!("[log]\nformat = \"xml\"\n{MINIMAL}"),
        "log.format",
        "expected one of text | json, found \"xml\"",
    );
    let c = ok(&format!(
        "[log]\nformat = \"json\"\nlevel = \"hookgate=debug\"\n{MINIMAL}"
    ));
    assert_eq!(c.log.format, hookgate_config::LogFormat::Json);
    assert_eq!(c.log.level, "hookgate=debug");
}

#[test]
fn listen_addresses_must_be_socket_addresses() {
    one_err(
        &format!("[server]\nlisten = \"localhost:80\"\n{MINIMAL}"),
        "server.listen",
        "expected an address like \"127.0.0.1:8080\"",
    );
    let c = ok(&format!("[admin]\nlisten = \"[::1]:9999\"\n{MINIMAL}"));
    assert_eq!(c.admin.listen, "[::1]:9999".parse().unwrap());
}

#[test]
fn admin_listen_must_not_take_the_ingest_listeners_socket() {
    let both = |server: &str, admin: &str| {
        format!("[server]\nlisten = \"{server}\"\n\n[admin]\nlisten = \"{admin}\"\n{MINIMAL}")
    };
    // The same address: refused at admin.listen's line, both named.
    let e = one_err(
        &both("127.0.0.1:8080", "127.0.0.1:8080"),
        "admin.listen",
        "127.0.0.1:8080 (line 5) is the same address as server.listen 127.0.0.1:8080 (line 2)",
    );
    assert_eq!(e.line, Some(5));
    // A wildcard takes the port on every address, either way round, and
    // [::] covers IPv4 as well.
    for (server, admin) in [
        ("0.0.0.0:9000", "127.0.0.1:9000"),
        ("127.0.0.1:9000", "0.0.0.0:9000"),
        ("[::]:9000", "127.0.0.1:9000"),
        ("[::1]:9000", "[::]:9000"),
        ("0.0.0.0:9000", "[::]:9000"),
        ("[::ffff:127.0.0.1]:9000", "127.0.0.1:9000"),
    ] {
        let e = one_err(&both(server, admin), "admin.listen", "overlaps");
        assert!(e.message.contains("port 9000"), "{e}");
    }
    // admin.listen left at its default (127.0.0.1:9090): server.listen's line.
    let e = one_err(
        &format!("[server]\nlisten = \"0.0.0.0:9090\"\n{MINIMAL}"),
        "admin.listen",
        "127.0.0.1:9090 (default) overlaps server.listen 0.0.0.0:9090 (line 2)",
    );
    assert_eq!(e.line, Some(2));
    // From the environment: the variable is named, no file line.
    let errors = errs_with(
        MINIMAL,
        &env(&[("HOOKGATE_ADMIN_LISTEN", "127.0.0.1:8080")]),
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "admin.listen");
    assert_eq!(errors[0].line, None);
    assert!(
        errors[0].message.contains("(from HOOKGATE_ADMIN_LISTEN)"),
        "{}",
        errors[0]
    );
    // Distinct sockets are fine: other port, other address, port 0 (each
    // bind picks a free port).
    for (server, admin) in [
        ("127.0.0.1:8080", "127.0.0.1:8081"),
        ("127.0.0.1:8080", "127.0.0.2:8080"),
        ("[::1]:8080", "127.0.0.1:8080"),
        ("0.0.0.0:0", "127.0.0.1:0"),
    ] {
        ok(&both(server, admin));
    }
    // A bad address is reported alone, not compared as a default.
    one_err(
        &both("nonsense", "127.0.0.1:8080"),
        "server.listen",
        "expected an address",
    );
}

#[test]
fn visibility_timeout_is_checked_even_when_the_subscription_has_other_errors() {
    let text = with_sub("timeout = \"2m\"\nmax_in_flight = 0");
    let errors = errs(&text);
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "delivery.visibility_timeout",
            "subscriptions.sub.max_in_flight"
        ]
    );
    // A bad visibility_timeout is reported once, not again per subscription.
    let text = format!(
        "[delivery]\nvisibility_timeout = \"soon\"\n{}",
        with_sub("timeout = \"2m\"")
    );
    one_err(&text, "delivery.visibility_timeout", "expected a duration");
}

#[test]
fn a_source_pool_smaller_than_its_routes_is_a_warning() {
    let second = r#"
[[subscriptions]]
id = "other"
url = "http://127.0.0.1:7002/events"
events = ["*"]
secret = { value = "whsec_aGVsbG8=" }
"#;
    // Two subscriptions of 16 in flight each: 32 workers (the default) fit.
    let c = ok(&(MINIMAL.to_owned() + second));
    assert!(
        c.warnings.iter().all(|w| !w.key.ends_with("workers")),
        "{:?}",
        c.warnings
    );
    // 8 workers do not: accepted, with a warning naming the source's key.
    let small = MINIMAL.replace("scheme = \"stripe\"", "scheme = \"stripe\"\nworkers = 8") + second;
    let c = ok(&small);
    let w = c
        .warnings
        .iter()
        .find(|w| w.key == "sources.src.workers")
        .expect("a pool-size warning");
    assert!(w.message.contains("workers >= 32"), "{}", w.message);
}

#[test]
fn delivery_nice_is_a_number_of_nice_steps_up_to_19() {
    assert_eq!(
        ok(&format!("[delivery]\nnice = 19\n{MINIMAL}"))
            .delivery
            .nice,
        19
    );
    let e = one_err(
        &format!("[delivery]\nnice = 20\n{MINIMAL}"),
        "delivery.nice",
        "19",
    );
    assert_eq!(e.line, Some(2));
    one_err(
        &format!("[delivery]\nnice = -1\n{MINIMAL}"),
        "delivery.nice",
        "",
    );
}

#[test]
fn header_limits_have_bounds() {
    for (key, bad) in [
        ("max_headers", "0"),
        ("max_headers", "10001"),
        ("max_header_bytes", "4096"),
        ("max_header_bytes", "409601"),
        ("max_header_bytes", "\"64k\""),
    ] {
        let text = format!("[server]\n{key} = {bad}\n{MINIMAL}");
        let e = one_err(&text, &format!("server.{key}"), "");
        assert_eq!(e.line, Some(2), "{key} = {bad}");
    }
    ok(&format!(
        "[server]\nmax_headers = 1\nmax_header_bytes = 409600\n{MINIMAL}"
    ));
    ok(&format!("[server]\nmax_header_bytes = 8192\n{MINIMAL}"));
}

#[test]
fn the_pool_size_warning_counts_only_subscriptions_a_source_can_reach() {
    // `other` wants adyen's events only: it never takes stripe's workers.
    let text = MINIMAL.replace("scheme = \"stripe\"", "scheme = \"stripe\"\nworkers = 20")
        + r#"
[[subscriptions]]
id = "other"
url = "http://127.0.0.1:7002/events"
events = ["adyen.*"]
secret = { value = "whsec_aGVsbG8=" }
"#;
    let c = ok(&text);
    assert!(
        c.warnings.iter().all(|w| !w.key.ends_with("workers")),
        "{:?}",
        c.warnings
    );
    // A mapped type brings it back in: 20 < 16 + 16.
    let mapped = text.replace(
        "workers = 20",
        "workers = 20\n[sources.types]\n\"charge.succeeded\" = \"adyen.like\"",
    );
    let c = ok(&mapped);
    assert!(
        c.warnings.iter().any(|w| w.key == "sources.src.workers"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn ordering_is_subject_a_pointer_or_a_header_and_defaults_to_none() {
    use hookgate_config::Ordering;
    assert_eq!(ok(MINIMAL).subscriptions[0].ordering, None);
    let sub = |extra: &str| ok(&with_sub(extra)).subscriptions[0].ordering.clone();
    assert_eq!(sub("ordering = \"subject\""), Some(Ordering::Subject));
    assert_eq!(
        sub("ordering = { pointer = \"/data/object/id\" }"),
        Some(Ordering::Pointer("/data/object/id".to_owned()))
    );
    // RFC 6901 escapes are fine.
    assert_eq!(
        sub("ordering = { pointer = \"/a~1b/c~0d\" }"),
        Some(Ordering::Pointer("/a~1b/c~0d".to_owned()))
    );
    // Header names are kept lowercase: they compare case-insensitively.
    assert_eq!(
        sub("ordering = { header = \"X-Account-ID\" }"),
        Some(Ordering::Header(http::HeaderName::from_static(
            "x-account-id"
        )))
    );
    // A table header writes the same thing.
    assert_eq!(
        sub("[subscriptions.ordering]\nheader = \"x-key\""),
        Some(Ordering::Header(http::HeaderName::from_static("x-key")))
    );
}

#[test]
fn bad_ordering_values_name_the_key_and_the_line() {
    let e = one_err(
        &with_sub("ordering = \"type\""),
        "subscriptions.sub.ordering",
        "expected \"subject\", { pointer = \"/json/pointer\" } or { header = \"Header-Name\" }, found \"type\"",
    );
    assert_eq!(e.line, Some(11));
    one_err(
        &with_sub("ordering = true"),
        "subscriptions.sub.ordering",
        "found a boolean",
    );
    one_err(
        &with_sub("ordering = { field = \"id\" }"),
        "subscriptions.sub.ordering.field",
        "unknown key; expected one of: pointer, header",
    );
    one_err(
        &with_sub("ordering = {}"),
        "subscriptions.sub.ordering",
        "found an empty table",
    );
    one_err(
        &with_sub("ordering = { pointer = \"/a\", header = \"b\" }"),
        "subscriptions.sub.ordering.header",
        "either `pointer` or `header`",
    );
    for bad in ["", "data/id", "#/data"] {
        one_err(
            &with_sub(&format!("ordering = {{ pointer = {bad:?} }}")),
            "subscriptions.sub.ordering.pointer",
            "starts with \"/\"",
        );
    }
    one_err(
        &with_sub("ordering = { pointer = \"/a~2\" }"),
        "subscriptions.sub.ordering.pointer",
        "must be followed by 0",
    );
    one_err(
        &with_sub("ordering = { header = \"X Key\" }"),
        "subscriptions.sub.ordering.header",
        "not a valid header name",
    );
    one_err(
        &with_sub("ordering = { header = \"\" }"),
        "subscriptions.sub.ordering.header",
        "must not be empty",
    );
}

#[test]
fn ordering_with_one_in_flight_is_a_warning() {
    let warned = |text: &str| {
        ok(text)
            .warnings
            .iter()
            .filter(|w| w.message.contains("ordering keys cannot go in parallel"))
            .map(|w| (w.key.clone(), w.line))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        warned(&with_sub("max_in_flight = 1\nordering = \"subject\"")),
        [("subscriptions.sub.ordering".to_owned(), Some(12))]
    );
    assert!(warned(&with_sub("max_in_flight = 2\nordering = \"subject\"")).is_empty());
    assert!(warned(&with_sub("max_in_flight = 1")).is_empty());
}
