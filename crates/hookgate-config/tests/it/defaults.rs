//! Every default, as documented in `model.rs` and the example file.

use super::*;
use hookgate_config::{LogFormat, StoreTopology};
use std::time::Duration;

#[test]
fn an_empty_file_is_a_gateway_with_defaults() {
    let c = ok("");
    assert!(c.sources.is_empty() && c.subscriptions.is_empty());
    assert!(c.admin.tokens.is_empty());
    assert!(c.warnings.is_empty());
}

#[test]
fn gateway_wide_defaults() {
    let c = ok(MINIMAL);
    let s = Duration::from_secs;
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.server.max_body_bytes, 1_048_576);
    assert_eq!(c.server.read_timeout, s(10));
    assert_eq!(c.server.header_read_timeout, s(10));
    assert_eq!(c.server.max_headers, 100);
    assert_eq!(c.server.max_header_bytes, 64 * 1024);
    assert_eq!(c.server.shutdown_grace, s(10));
    assert_eq!(c.server.max_in_flight_per_source, 256);
    assert_eq!(c.server.max_body_buffer_bytes, 64 << 20);
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(c.store.timeout, s(2));
    // No [store]: the embedded store, next to the config file.
    let sqlite = c.store.sqlite().expect("sqlite by default");
    assert_eq!(sqlite.path, std::path::Path::new("conf/data/hookgate.db"));
    assert_eq!(c.delivery.visibility_timeout, s(60));
    assert_eq!(c.delivery.retention, s(14 * 86400));
    assert_eq!(c.delivery.poll_interval, Duration::from_millis(500));
    assert_eq!(c.delivery.nice, 5);
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.level, "info");
}

#[test]
fn source_and_subscription_defaults() {
    let c = ok(MINIMAL);
    let src = &c.sources[0];
    assert_eq!(src.workers, 32);
    assert_eq!(src.tolerance, None);
    assert_eq!(src.dedup_window, None);
    assert_eq!(src.rate_limit, None);
    assert!(src.types.is_empty() && src.params.is_empty() && src.secrets.is_empty());
    assert_eq!(src.public_url, None);

    let sub = &c.subscriptions[0];
    let s = Duration::from_secs;
    assert_eq!(sub.tenant, None);
    assert_eq!(sub.timeout, s(30));
    assert_eq!(sub.max_in_flight, 16);
    assert_eq!(sub.rate_limit, None);
    assert_eq!(sub.retry.max_attempts, 10);
    assert_eq!(sub.retry.base_delay, s(1));
    assert_eq!(sub.retry.max_delay, s(3600));
    assert_eq!(sub.retry.max_age, s(86400));
    assert_eq!(sub.breaker.failures, 5);
    assert_eq!(sub.breaker.cooldown, s(30));
}

#[test]
fn partial_inline_tables_keep_the_other_defaults() {
    let c = ok(&with_sub(
        "retry = { max_attempts = 3 }\nbreaker = { cooldown = \"1m\" }",
    ));
    let sub = &c.subscriptions[0];
    assert_eq!(sub.retry.max_attempts, 3);
    assert_eq!(sub.retry.max_delay, Duration::from_secs(3600));
    assert_eq!(sub.breaker.failures, 5);
    assert_eq!(sub.breaker.cooldown, Duration::from_secs(60));
}

#[test]
fn every_key_can_be_set() {
    let text = format!(
        r#"[server]
listen = "0.0.0.0:8000"
max_body_bytes = 10
read_timeout = "1s"
header_read_timeout = "2s"
max_headers = 200
max_header_bytes = 131072
shutdown_grace = "3s"
max_body_buffer_bytes = 4096
[store]
backend = "redis"
url = {{ value = "redis://:pw@h:1/0" }}
store_timeout = "250ms"
allow_eviction = true
pool_size = 4
key_prefix = "hookgate:test"
cluster = true
[delivery]
visibility_timeout = "5m"
retention = "30d"
poll_interval = "1s"
nice = 0
[log]
format = "json"
level = "debug"
{MINIMAL}"#
    );
    let c = ok(&text);
    assert_eq!(c.server.max_body_bytes, 10);
    assert_eq!(c.server.shutdown_grace, Duration::from_secs(3));
    assert_eq!(c.server.max_headers, 200);
    assert_eq!(c.server.max_header_bytes, 131_072);
    assert_eq!(c.server.max_body_buffer_bytes, 4096);
    assert_eq!(
        c.store.redis().expect("redis backend").url.expose(),
        b"redis://:pw@h:1/0"
    );
    assert_eq!(c.store.timeout, Duration::from_millis(250));
    assert!(c.store.redis().expect("redis backend").allow_eviction);
    assert_eq!(c.store.redis().expect("redis backend").pool_size, 4);
    assert_eq!(
        c.store.redis().expect("redis backend").key_prefix,
        "hookgate:test"
    );
    assert_eq!(
        c.store.redis().expect("redis backend").topology,
        StoreTopology::Cluster
    );
    assert_eq!(c.delivery.visibility_timeout, Duration::from_secs(300));
    assert_eq!(c.delivery.retention, Duration::from_secs(30 * 86400));
    assert_eq!(c.delivery.poll_interval, Duration::from_secs(1));
    assert_eq!(c.delivery.nice, 0);
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn the_body_buffer_defaults_to_four_large_bodies_when_that_is_more_than_64_mib() {
    // A file that raised max_body_bytes before the key existed still loads.
    let c = ok(&format!("[server]\nmax_body_bytes = 33554432\n{MINIMAL}"));
    assert_eq!(c.server.max_body_buffer_bytes, 4 * 33_554_432);
}
