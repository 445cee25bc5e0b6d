//! `GatewayProcess` with stand-in binaries (shell scripts), since the real
//! `hookgate` binary is tested from its own crate.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use hookgate_testkit::{GatewayProcess, free_addr, free_port};
use tempfile::TempDir;

use crate::SOON;

/// Writes an executable `/bin/sh` script standing in for `hookgate`.
fn stand_in(script: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake-hookgate");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, path)
}

/// `true` if `pid` is gone or a zombie (killed, awaiting reaping).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Field 3 is the state; the command name before it is in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[tokio::test]
async fn writes_config_passes_args_env_and_captures_logs_then_terminates() {
    let (_bin_dir, bin) =
        stand_in(r#"echo "args: $*"; echo "env: $HG_TEST"; echo "to stderr" >&2; exec sleep 30"#);
    let mut gw =
        GatewayProcess::start(&bin, "[admin]\nlisten = \"x\"\n", &[("HG_TEST", "42")]).await;
    assert!(gw.pid() > 0);
    assert_eq!(
        std::fs::read_to_string(gw.config_path()).unwrap(),
        "[admin]\nlisten = \"x\"\n"
    );
    let config = gw.config_path().display().to_string();
    hookgate_testkit::assert_eventually(
        "stand-in wrote its logs",
        SOON,
        Duration::from_millis(20),
        || {
            let logs = gw.logs();
            let config = config.clone();
            async move {
                logs.contains(&format!("args: serve --config {config}"))
                    && logs.contains("to stderr")
            }
        },
    )
    .await;
    assert!(gw.logs().contains("env: 42"), "{}", gw.logs());

    assert_eq!(
        gw.wait_exit(Duration::from_millis(100)).await,
        None,
        "still running"
    );
    gw.terminate();
    let status = gw.wait_exit(SOON).await.expect("exits on SIGTERM");
    assert_eq!(status.signal(), Some(15));
}

#[tokio::test]
async fn kill_is_sigkill_and_reaps() {
    let (_d, bin) = stand_in("exec sleep 30");
    let mut gw = GatewayProcess::start(&bin, "", &[]).await;
    gw.kill().await;
    assert_eq!(gw.try_exit().and_then(|s| s.signal()), Some(9));
    assert!(is_dead(gw.pid()));
    // Idempotent after exit.
    gw.kill().await;
    gw.terminate();
}

#[tokio::test]
async fn wait_healthy_polls_until_healthz_answers_200() {
    // python3's static file server answers /healthz once the file exists in
    // the child's working directory (the gateway temp dir).
    let admin = free_addr();
    let port = admin.rsplit_once(':').unwrap().1.to_owned();
    let (_d, bin) = stand_in(
        "sleep 0.3; echo ok > healthz; exec python3 -m http.server --bind 127.0.0.1 \"$PORT\"",
    );
    let mut gw = GatewayProcess::start(&bin, "", &[("PORT", &port)]).await;
    gw.wait_healthy(&admin, SOON).await;
    assert!(gw.dir().join("healthz").exists());
}

#[tokio::test]
#[should_panic(expected = "exited with exit status: 3")]
async fn wait_healthy_panics_with_logs_when_the_process_exits() {
    let (_d, bin) = stand_in("echo 'config error: boom' >&2; exit 3");
    let mut gw = GatewayProcess::start(&bin, "", &[]).await;
    gw.wait_healthy(&free_addr(), SOON).await;
}

#[tokio::test]
#[should_panic(expected = "did not answer 200 within 300ms")]
async fn wait_healthy_panics_at_the_deadline() {
    let (_d, bin) = stand_in("exec sleep 30");
    let mut gw = GatewayProcess::start(&bin, "", &[]).await;
    gw.wait_healthy(
        &format!("127.0.0.1:{}", free_port()),
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test]
async fn drop_kills_the_process() {
    let (_d, bin) = stand_in("exec sleep 30");
    let gw = GatewayProcess::start(&bin, "", &[]).await;
    let pid = gw.pid();
    assert!(!is_dead(pid));
    drop(gw);
    hookgate_testkit::assert_eventually(
        "dropped gateway to die",
        SOON,
        Duration::from_millis(10),
        || async move { is_dead(pid) },
    )
    .await;
}
