//! The real `hookgate` binary as a child process, plus free loopback ports.
//!
//! Why this exists: the product's promises (no 2xx before the write, nothing
//! lost across a crash, graceful drain on SIGTERM) are about the process, not
//! about a library call, so end-to-end tests run the binary itself, with a
//! config file in a temp dir, and kill or signal it. The harness never parses
//! the config — it would then share the gateway's assumptions — so callers
//! pick addresses with [`free_addr`], write them into the TOML, and pass the
//! admin address to [`GatewayProcess::wait_healthy`].
//!
//! Files in the temp dir: `hookgate.toml`, `stdout.log`, `stderr.log` (the
//! latter two are appended to, so they survive a kill for post-mortems). The
//! child runs with that dir as its working directory. It is killed when the
//! [`GatewayProcess`] is dropped (`kill_on_drop`), also while a test unwinds.

use std::fs::{self, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

/// A loopback port that was free a moment ago: bind `127.0.0.1:0`, read the
/// port, release it. Another process can take it before the caller binds it;
/// callers that can retry on a bind failure should.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `127.0.0.1:<free_port()>`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A running `hookgate serve --config <tempdir>/hookgate.toml`.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    /// Kept apart from `child` because tokio forgets the id once the child
    /// has been reaped, and tests still want it for messages.
    pid: u32,
    /// Set once the exit has been observed (tokio's `try_wait` caches too,
    /// but this keeps `wait_exit` cheap and explicit).
    exit: Option<ExitStatus>,
    config_path: PathBuf,
    dir: TempDir,
}

// === impl GatewayProcess ===

impl GatewayProcess {
    /// Writes `config_toml` to `<tempdir>/hookgate.toml` and spawns
    /// `<bin> serve --config <file>` with `envs` added to the inherited
    /// environment. Returns at once; use [`Self::wait_healthy`] next.
    pub async fn start(bin: &Path, config_toml: &str, envs: &[(&str, &str)]) -> Self {
        Self::start_args(bin, &["serve", "--config"], config_toml, envs).await
    }

    /// Like [`Self::start`] with other leading arguments; the config path is
    /// appended last (e.g. `&["serve", "--config"]`).
    pub async fn start_args(
        bin: &Path,
        args: &[&str],
        config_toml: &str,
        envs: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-gw-")
            .tempdir()
            .expect("create temp dir for gateway");
        let config_path = dir.path().join("hookgate.toml");
        fs::write(&config_path, config_toml)
            .unwrap_or_else(|e| panic!("write {}: {e}", config_path.display()));
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join(name))
                .unwrap_or_else(|e| panic!("open {name}: {e}"))
        };

        let child = Command::new(bin)
            .args(args)
            .arg(&config_path)
            .envs(envs.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(open("stdout.log"))
            .stderr(open("stderr.log"))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let pid = child.id().expect("a just-spawned child has a pid");
        GatewayProcess {
            child,
            pid,
            exit: None,
            config_path,
            dir,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where the config was written.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temp dir (working directory of the child; holds config and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// stdout then stderr, as captured so far.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// The exit status, if the process has exited (does not block).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Polls `GET http://{admin_addr}/healthz` until it answers 200.
    ///
    /// Panics, quoting the captured logs, if the process exits first or
    /// `deadline` passes.
    pub async fn wait_healthy(&mut self, admin_addr: &str, deadline: Duration) {
        if let Err(why) = self.healthy(admin_addr, deadline).await {
            panic!("{why}");
        }
    }

    /// [`Self::wait_healthy`] that returns why it did not become healthy
    /// (the message quotes the captured logs) instead of panicking.
    pub async fn healthy(&mut self, admin_addr: &str, deadline: Duration) -> Result<(), String> {
        let url = format!("http://{admin_addr}/healthz");
        let end = Instant::now() + deadline;
        let mut last = String::from("no attempt made");
        loop {
            if let Some(status) = self.try_exit() {
                return Err(format!(
                    "gateway (pid {}) exited with {status} before {url} answered 200 \
                     (last: {last})\n{}",
                    self.pid,
                    self.logs()
                ));
            }
            let left = end.saturating_duration_since(Instant::now());
            let per_try = left.min(Duration::from_secs(1));
            match crate::http::try_request(
                http::Method::GET,
                &url,
                &[],
                bytes::Bytes::new(),
                per_try,
            )
            .await
            {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= end {
                return Err(format!(
                    "gateway (pid {}): {url} did not answer 200 within {deadline:?} \
                     (last: {last})\n{}",
                    self.pid,
                    self.logs()
                ));
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (a crash) and reap. Nothing the process has not written by now
    /// is written. Does nothing if it already exited.
    pub async fn kill(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        // An error means it exited between the check and the kill; `wait`
        // below still reaps it.
        let _ = self.child.start_kill();
        match timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) => self.exit = Some(status),
            Ok(Err(e)) => panic!("wait for killed gateway (pid {}): {e}", self.pid),
            Err(_) => panic!("gateway (pid {}) survived SIGKILL for 10 s", self.pid),
        }
    }

    /// Sends SIGTERM (graceful shutdown) without waiting; follow with
    /// [`Self::wait_exit`]. Does nothing if the process already exited.
    pub fn terminate(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        // `kill(1)` keeps this crate free of `libc` and `unsafe`.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run kill(1)");
        // Failure means the process exited meanwhile; `wait_exit` tells.
        let _ = status;
    }

    /// Waits up to `deadline` for the process to exit and returns its status,
    /// or `None` if it is still running.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_exit() {
            return Some(status);
        }
        match timeout(deadline, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.exit = Some(status);
                Some(status)
            }
            Ok(Err(e)) => panic!("wait for gateway (pid {}): {e}", self.pid),
            Err(_) => None,
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        // `kill_on_drop` sends SIGKILL and tokio reaps in the background; do
        // the kill here too so it also happens if the runtime is gone.
        if self.exit.is_none() {
            let _ = self.child.start_kill();
        }
    }
}
