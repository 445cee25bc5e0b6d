//! The docs/configuration.md reference configuration and the two files in `config/`.

use super::*;
use hookgate_config::{LogFormat, Role};
use std::time::Duration;

const REFERENCE_CONFIG: &str = include_str!("fixtures/reference.toml");
const EXAMPLE: &str = include_str!("../../../../config/hookgate.example.toml");
const DEV: &str = include_str!("../../../../config/dev.toml");

const STRIPE_SECRET: &str = "whsec_stripe_test_secret_0123456789";
/// `whsec_` + base64("ledger-signing-key-for-tests-32b").
const LEDGER_SECRET: &str = "whsec_bGVkZ2VyLXNpZ25pbmcta2V5LWZvci10ZXN0cy0zMmI=";

fn reference_env() -> MapEnv {
    env(&[
        ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ("LEDGER_SIGNING_SECRET", LEDGER_SECRET),
    ])
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn reference_config_is_accepted_as_written() {
    let c = ok_with(REFERENCE_CONFIG, &reference_env());
    assert_eq!(c.path, Path::new(FILE));

    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.server.max_body_bytes, 1_048_576);
    assert_eq!(c.server.read_timeout, secs(10));
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());

    let [token] = c.admin.tokens.as_slice() else {
        panic!("one token expected: {:?}", c.admin.tokens)
    };
    assert_eq!(token.name, "oncall");
    assert_eq!(token.role, Role::Operator);
    assert_eq!(token.tenants, Some(vec!["payments".to_owned()]));
    assert!(
        token.sha256.expose().is_empty(),
        "the placeholder hash matches nothing"
    );

    assert_eq!(
        c.store.redis().expect("redis backend").url.expose(),
        b"redis://127.0.0.1:6379"
    );

    let [s] = c.sources.as_slice() else {
        panic!("one source expected")
    };
    assert_eq!(s.id, "stripe");
    assert_eq!(s.scheme, "stripe");
    assert_eq!(s.scheme_line, 21);
    assert_eq!(s.secrets.len(), 1);
    assert_eq!(s.secrets[0].expose(), STRIPE_SECRET.as_bytes());
    assert_eq!(s.tolerance, Some(secs(300)));
    assert_eq!(s.dedup_window, Some(secs(7 * 86400)));
    let rl = s.rate_limit.unwrap();
    assert_eq!((rl.per_second, rl.burst), (500.0, 1000));
    assert_eq!(
        s.types.get("payment_intent.succeeded").map(String::as_str),
        Some("payment.succeeded")
    );
    assert_eq!(s.types.len(), 1);
    assert_eq!(s.workers, 32);
    assert!(s.params.is_empty());

    let [sub] = c.subscriptions.as_slice() else {
        panic!("one subscription expected")
    };
    assert_eq!(sub.id, "ledger");
    assert_eq!(sub.tenant.as_deref(), Some("payments"));
    assert_eq!(sub.url.to_string(), "http://127.0.0.1:7001/events");
    assert_eq!(sub.events, ["payment.*", "stripe.charge.*"]);
    assert_eq!(sub.secrets.len(), 1);
    assert_eq!(sub.secrets[0].expose(), b"ledger-signing-key-for-tests-32b");
    assert_eq!(sub.timeout, secs(5));
    assert_eq!(sub.max_in_flight, 16);
    let rl = sub.rate_limit.unwrap();
    assert_eq!((rl.per_second, rl.burst), (200.0, 200));
    assert_eq!(sub.retry.max_attempts, 10);
    assert_eq!(sub.retry.base_delay, secs(1));
    assert_eq!(sub.retry.max_delay, secs(3600));
    assert_eq!(sub.retry.max_age, secs(86400));
    assert_eq!(sub.breaker.failures, 5);
    assert_eq!(sub.breaker.cooldown, secs(30));

    // Sections the reference leaves out get their defaults.
    assert_eq!(c.delivery.visibility_timeout, secs(60));
    assert_eq!(c.log.format, LogFormat::Text);
}

#[test]
fn reference_config_placeholder_hash_is_a_warning_with_its_line() {
    let c = ok_with(REFERENCE_CONFIG, &reference_env());
    let [w] = c.warnings.as_slice() else {
        panic!("one warning expected: {:#?}", c.warnings)
    };
    assert_eq!(w.line, Some(12));
    assert_eq!(w.key, "admin.tokens[0].sha256");
    assert!(w.message.contains("not 64 hex characters"), "{w}");
    assert!(w.message.contains("never authenticate"), "{w}");
}

#[test]
fn reference_config_without_its_env_vars_names_both() {
    let errors = errs(REFERENCE_CONFIG);
    let lines: Vec<_> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Some(22),
                "environment variable STRIPE_WEBHOOK_SECRET is not set"
            ),
            (
                Some(35),
                "environment variable LEDGER_SIGNING_SECRET is not set"
            ),
        ]
    );
    assert_eq!(errors[0].key, "sources.stripe.secrets[0].env");
    assert_eq!(errors[1].key, "subscriptions.ledger.secret.env");
}

#[test]
fn example_file_parses_and_matches_the_reference() {
    let mut example = ok_with(EXAMPLE, &reference_env());
    let mut reference = ok_with(REFERENCE_CONFIG, &reference_env());
    // The example only adds comments and commented-out defaults, so it
    // holds the same values; lines differ, so line-bearing fields are
    // compared apart. Debug redacts secrets: compare those by hand.
    assert_eq!(example.warnings.len(), 1);
    assert_eq!(example.warnings[0].key, "admin.tokens[0].sha256");
    for c in [&mut example, &mut reference] {
        c.warnings.clear();
        c.sources[0].scheme_line = 0;
        c.sources[0].key_lines.clear();
    }
    assert_eq!(format!("{example:?}"), format!("{reference:?}"));
    assert_eq!(
        example.sources[0].secrets[0].expose(),
        reference.sources[0].secrets[0].expose()
    );
    assert_eq!(
        example.subscriptions[0].secrets[0].expose(),
        reference.subscriptions[0].secrets[0].expose()
    );
}

#[test]
fn dev_file_parses() {
    let c = ok(DEV);
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());
    let token = &c.admin.tokens[0];
    assert_eq!(token.role, Role::Admin);
    assert_eq!(
        hex::encode(token.sha256.expose()),
        "1734d503f6aa6a047c36d113cbad769f719c93784b469b771c4c3e7c63adbefd",
    );
    // The quick start runs on the embedded store, in data/ at the repo root.
    let sqlite = c.store.sqlite().expect("sqlite backend");
    assert!(
        sqlite.path.ends_with("../data/hookgate.db"),
        "{}",
        sqlite.path.display()
    );

    let ids: Vec<_> = c.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["stripe", "acme"]);
    assert_eq!(c.sources[0].scheme, "stripe");
    assert_eq!(c.sources[0].secrets[0].expose(), b"whsec_dev_stripe_secret");
    assert_eq!(
        c.sources[0].types["payment_intent.succeeded"],
        "payment.succeeded"
    );
    assert_eq!(c.sources[1].scheme, "standard-webhooks");
    // Sources keep raw bytes: decoding is the scheme's business.
    assert_eq!(
        c.sources[1].secrets[0].expose(),
        b"whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldA=="
    );

    let sub = &c.subscriptions[0];
    assert_eq!(sub.id, "ledger");
    assert_eq!(sub.events, ["payment.*", "stripe.*", "acme.*"]);
    assert_eq!(sub.secrets[0].expose(), b"dev-ledger-signing-secret");

    // One "local demos only" warning per literal secret, nothing else.
    assert_eq!(c.warnings.len(), 3, "{:#?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .all(|w| w.message.contains("local demos only"))
    );
}

#[test]
fn dev_admin_token_hash_is_sha256_of_the_documented_token() {
    use sha2::Digest as _;
    let c = ok(DEV);
    let digest = sha2::Sha256::digest(b"dev-admin-token");
    assert!(c.admin.tokens[0].sha256.ct_eq(&digest));
}

#[test]
fn debug_output_contains_no_secret() {
    let c = ok_with(REFERENCE_CONFIG, &reference_env());
    let dbg = format!("{c:?} {c:#?}");
    for needle in [
        STRIPE_SECRET,
        LEDGER_SECRET,
        "bGVkZ2VyLXNpZ25pbmcta2V5",
        "ledger-signing-key-for-tests-32b",
        "redis://127.0.0.1:6379",
    ] {
        assert!(!dbg.contains(needle), "Debug shows {needle}");
    }
    assert!(dbg.contains("**REDACTED**"));

    let dev = ok(DEV);
    let dbg = format!("{dev:?}");
    for needle in [
        "dev_stripe_secret",
        "ZGV2LXN0YW5kYXJk",
        "ZGV2LWxlZGdlci",
        "dev-ledger-signing-secret",
        "1734d503",
    ] {
        assert!(!dbg.contains(needle), "Debug shows {needle}");
    }
}
