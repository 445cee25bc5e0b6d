//! A throwaway `redis-server` per test, on a free loopback port.
//!
//! Why this exists: the store's guarantees (atomic dedup + enqueue, durable
//! schedules, recovery from an empty store) are only worth testing against a
//! real Redis, and fault tests need to stop, restart and wipe it. Sharing one
//! Redis between tests would couple them, and the shared instance on 6379 is
//! off limits, so each [`RedisServer`] owns a process, a port and a temp dir.
//!
//! Layout of the temp dir: `data/` is Redis's `--dir` (RDB/AOF files, wiped by
//! [`RedisServer::restart_empty`]); `redis.log` collects Redis's output across
//! restarts and is quoted when the server fails to come up.
//!
//! Lifetime: [`Drop`] sends SIGKILL and reaps the process before the temp dir
//! is removed, also while a failing test unwinds. (A test process that is
//! itself SIGKILLed cannot run `Drop`; that is the one case that leaks.)

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// How long [`RedisServer::start`] and friends wait for the first PONG.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A freshly picked port can be taken by someone else before Redis binds it;
/// that race is retried with a new port this many times.
const PORT_ATTEMPTS: usize = 3;

/// A `redis-server` child process on `127.0.0.1:<port>`, with its own temp dir.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The TLS listener, for a server from [`RedisServer::start_tls`].
    tls: Option<TlsListener>,
    args: Vec<String>,
    /// Invariant: `None` only between [`RedisServer::stop`] and the next start.
    child: Option<Child>,
    // Declared last so it is dropped after `child` has been killed in `Drop`
    // (Drop::drop runs first anyway; the order documents the intent).
    dir: TempDir,
}

// === impl RedisServer ===

impl RedisServer {
    /// Starts Redis with persistence off (`--save "" --appendonly no`).
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts Redis with `extra_args` appended after the defaults, so they
    /// override them, e.g. `&["--appendonly", "yes", "--appendfsync", "always"]`
    /// or `&["--maxmemory", "2mb"]`.
    ///
    /// Panics (with Redis's log) if no server answers PING within 10 s.
    pub async fn start_with(extra_args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-redis-")
            .tempdir()
            .expect("create temp dir for redis");
        fs::create_dir(dir.path().join("data")).expect("create redis data dir");

        let mut server = RedisServer {
            port: crate::gateway::free_port(),
            tls: None,
            args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            dir,
        };
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.port = crate::gateway::free_port();
                }
            }
        }
        panic!("redis-server did not start after {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// Starts Redis with a TLS listener beside the plain one (which
    /// [`Self::url`], [`Self::conn`] and readiness keep using): a throwaway
    /// CA signs a certificate for `localhost` and `127.0.0.1`; clients are
    /// not asked for certificates. See [`Self::tls_url`] and
    /// [`Self::ca_file`].
    pub async fn start_tls() -> Self {
        Self::start_tls_with(false).await
    }

    /// [`Self::start_tls`], and the server asks for a client certificate
    /// signed by the same CA (`--tls-auth-clients yes`, mutual TLS): see
    /// [`Self::client_cert_file`] and [`Self::client_key_file`].
    pub async fn start_mtls() -> Self {
        Self::start_tls_with(true).await
    }

    async fn start_tls_with(require_client_cert: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-redis-tls-")
            .tempdir()
            .expect("create temp dir for TLS material");
        let pems = crate::tls::TestPems::generate();
        let ca_file = dir.path().join("ca.pem");
        let cert = dir.path().join("redis.crt");
        let key = dir.path().join("redis.key");
        let client_cert = dir.path().join("client.crt");
        let client_key = dir.path().join("client.key");
        for (path, pem) in [
            (&ca_file, &pems.ca),
            (&cert, &pems.server_cert),
            (&key, &pems.server_key),
            (&client_cert, &pems.client_cert),
            (&client_key, &pems.client_key),
        ] {
            fs::write(path, pem).expect("write TLS material");
        }
        let port = crate::gateway::free_port();
        let (port_s, cert_s, key_s, ca_s) = (
            port.to_string(),
            cert.display().to_string(),
            key.display().to_string(),
            ca_file.display().to_string(),
        );
        let mut server = Self::start_with(&[
            "--tls-port",
            &port_s,
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
            "--tls-ca-cert-file",
            &ca_s,
            "--tls-auth-clients",
            if require_client_cert { "yes" } else { "no" },
        ])
        .await;
        server.tls = Some(TlsListener {
            port,
            ca_file,
            client_cert,
            client_key,
            _dir: dir,
        });
        server
    }

    /// `rediss://localhost:<tls port>` of a [`Self::start_tls`] server.
    pub fn tls_url(&self) -> String {
        let tls = self.tls.as_ref().expect("started with start_tls");
        format!("rediss://localhost:{}", tls.port)
    }

    /// The PEM file of the CA that signed a [`Self::start_tls`] server's
    /// certificate.
    pub fn ca_file(&self) -> &Path {
        &self.tls.as_ref().expect("started with start_tls").ca_file
    }

    /// A client certificate (PEM) the server's CA signed, for
    /// [`Self::start_mtls`].
    pub fn client_cert_file(&self) -> &Path {
        &self
            .tls
            .as_ref()
            .expect("started with start_tls")
            .client_cert
    }

    /// The key (PEM) of [`Self::client_cert_file`].
    pub fn client_key_file(&self) -> &Path {
        &self
            .tls
            .as_ref()
            .expect("started with start_tls")
            .client_key
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The loopback port Redis listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, for configs that want an address rather than a URL.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Redis's data directory (`--dir`), where RDB/AOF files land.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A client for [`Self::url`].
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("redis url is valid")
    }

    /// A fresh multiplexed connection. Panics if none is made within 10 s.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        let client = self.client();
        match timeout(READY_TIMEOUT, client.get_multiplexed_async_connection()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("connect to {}: {e}", self.url()),
            Err(_) => panic!(
                "connect to {}: timed out after {READY_TIMEOUT:?}",
                self.url()
            ),
        }
    }

    /// Whether the process is currently running (started and not exited).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL, like a crash) and reaps it. Files stay in
    /// the data dir, so with persistence on, [`Self::start_again`] reloads
    /// them. Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean the process already exited; `wait` still reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Redis again on the same port, with the same dir and arguments.
    /// Stops it first if it is running. Panics if it does not come up in 10 s
    /// (for example if another process took the port meanwhile).
    pub async fn start_again(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait().await {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// [`Self::start_again`] with `extra_args` in place of the arguments
    /// it was started with (e.g. a Redis restarted with another
    /// `--maxmemory-policy`); they are kept for later restarts.
    pub async fn start_again_with(&mut self, extra_args: &[&str]) {
        self.args = extra_args.iter().map(|a| (*a).to_owned()).collect();
        self.start_again().await;
    }

    /// Stops Redis, deletes everything in its data dir, and starts it again:
    /// a store that "comes back empty".
    pub async fn restart_empty(&mut self) {
        self.stop();
        let data = self.data_dir();
        fs::remove_dir_all(&data).expect("wipe redis data dir");
        fs::create_dir(&data).expect("recreate redis data dir");
        self.start_again().await;
    }

    /// Everything Redis has logged since the first start.
    pub fn logs(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Spawns redis-server and waits for PONG. On failure the child is
    /// already reaped and the error quotes the log.
    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        debug_assert!(self.child.is_none(), "spawn over a running child");
        let log = open_log(&self.log_path());
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.data_dir())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-server (is it installed?): {e}"));
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited with {status}; log:\n{}",
                    self.port,
                    self.logs()
                ));
            }
            if ping(self.port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}; log:\n{}",
                    self.port,
                    self.logs()
                ));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Kill and reap before `dir` is removed, so Redis never writes into a
        // deleted directory and no zombie or orphan outlives the test.
        self.stop();
    }
}

/// The TLS side of a [`RedisServer::start_tls`] server.
#[derive(Debug)]
struct TlsListener {
    port: u16,
    ca_file: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    _dir: TempDir,
}

pub(crate) fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Whether something on `127.0.0.1:port` answers `PING` with `+PONG` within
/// 500 ms. A Redis still loading its AOF answers `-LOADING`, which is "not yet".
pub(crate) async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}
