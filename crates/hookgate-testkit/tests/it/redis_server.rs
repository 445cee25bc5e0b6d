//! `RedisServer`: start, data round trip, stop/start_again/restart_empty, args, cleanup.

use std::time::Duration;

use hookgate_testkit::RedisServer;
use redis::AsyncCommands;

async fn get(server: &RedisServer, key: &str) -> Option<String> {
    let mut conn = server.conn().await;
    conn.get(key).await.expect("GET")
}

async fn set(server: &RedisServer, key: &str, value: &str) {
    let mut conn = server.conn().await;
    let () = conn.set(key, value).await.expect("SET");
}

/// Running redis-server processes for `port`: its title becomes
/// `redis-server 127.0.0.1:<port>` once up; before that the argv has `--port <port>`.
fn redis_processes_on(port: u16) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-af", &format!("redis-server.*[: ]{port}( |$)")])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn starts_on_a_free_loopback_port_and_round_trips_data() {
    let server = RedisServer::start().await;
    assert_ne!(server.port(), 6379, "must never use the shared Redis port");
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));

    set(&server, "k", "v").await;
    assert_eq!(get(&server, "k").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn stop_refuses_connections_and_start_again_serves_on_the_same_port() {
    let mut server = RedisServer::start().await;
    let port = server.port();
    set(&server, "k", "v").await;

    server.stop();
    assert!(!server.is_running());
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        server.client().get_multiplexed_async_connection(),
    )
    .await
    .expect("a refused connect fails fast");
    assert!(refused.is_err(), "connected to a stopped redis");

    server.start_again().await;
    assert_eq!(server.port(), port);
    assert!(server.is_running());
    // Persistence is off by default: a restart comes back empty.
    assert_eq!(get(&server, "k").await, None);
}

#[tokio::test]
async fn appendfsync_always_keeps_data_across_a_kill_and_restart_empty_loses_it() {
    let mut server =
        RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    set(&server, "durable", "yes").await;

    server.stop(); // SIGKILL: only what is fsynced survives
    server.start_again().await;
    assert_eq!(get(&server, "durable").await.as_deref(), Some("yes"));

    server.restart_empty().await;
    assert_eq!(get(&server, "durable").await, None);
}

#[tokio::test]
async fn restart_empty_loses_data_without_persistence() {
    let mut server = RedisServer::start().await;
    set(&server, "k", "v").await;
    server.restart_empty().await;
    assert_eq!(get(&server, "k").await, None);
    set(&server, "k2", "v2").await;
    assert_eq!(get(&server, "k2").await.as_deref(), Some("v2"));
}

#[tokio::test]
async fn extra_args_override_defaults() {
    let server = RedisServer::start_with(&["--maxmemory", "2mb"]).await;
    let mut conn = server.conn().await;
    let (_, maxmemory): (String, u64) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(maxmemory, 2 * 1024 * 1024);
}

#[tokio::test]
async fn drop_leaves_no_process_and_no_temp_dir() {
    let server = RedisServer::start().await;
    let port = server.port();
    let data_dir = server.data_dir();
    assert!(
        !redis_processes_on(port).is_empty(),
        "pgrep should see the running server on port {port}"
    );

    drop(server);
    // Drop kills and reaps synchronously, so no polling is needed.
    let left = redis_processes_on(port);
    assert!(left.is_empty(), "redis-server outlived its handle: {left}");
    assert!(
        !data_dir.exists(),
        "temp dir {} was not removed",
        data_dir.display()
    );
}

#[tokio::test]
async fn concurrent_servers_are_independent() {
    let (a, b) = tokio::join!(RedisServer::start(), RedisServer::start());
    assert_ne!(a.port(), b.port());
    set(&a, "k", "a").await;
    assert_eq!(get(&b, "k").await, None);
}
