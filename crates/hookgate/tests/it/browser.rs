//! A real browser for the console suite: Debian's headless Chromium driven
//! through `chromedriver` (WebDriver) with `fantoccini`.
//!
//! Each [`Browser`] starts its own chromedriver on a free loopback port and
//! one headless Chromium session; both end with it. Every wait is bounded
//! ([`STEP`]) and a failed wait saves a screenshot first, so a red test shows
//! what the page looked like. Screenshots go to `target/console-screenshots/`.
//!
//! Without Chromium the test fails (never passes silently), saying what to
//! install. `HOOKGATE_CHROMEDRIVER` and `HOOKGATE_CHROMIUM` override the
//! Debian paths.

use fantoccini::{Client, ClientBuilder, Locator};
use hookgate_testkit::free_port;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, MutexGuard};

/// The longest a single wait for the page may take.
pub const STEP: Duration = Duration::from_secs(15);

/// One browser at a time on this suite's 2-core budget: the console tests
/// take turns (a browser test waits here, never fails for it).
static TURN: Mutex<()> = Mutex::const_new(());

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The folder screenshots are saved in (under the build's `target/`).
pub fn screenshot_dir() -> PathBuf {
    let bin = crate::common::bin();
    let target = bin
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .unwrap_or_else(|| bin.parent().unwrap_or(bin));
    target.join("console-screenshots")
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// chromedriver's port and the session's id, to end the session from
    /// `Drop` when a test panics before [`Browser::close`].
    port: u16,
    session: Option<String>,
    name: &'static str,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; `name` prefixes the
    /// screenshots of this test.
    pub async fn start(name: &'static str) -> Self {
        let turn = TURN.lock().await;
        let driver_path = tool("HOOKGATE_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = tool("HOOKGATE_CHROMIUM", "/usr/bin/chromium");
        for (what, path) in [("chromedriver", &driver_path), ("chromium", &chromium)] {
            assert!(
                path.exists(),
                "the console tests drive a real headless browser and need {what} at {}: \
                 install Debian's `apt-get install -y chromium chromium-driver` \
                 (or point HOOKGATE_CHROMEDRIVER / HOOKGATE_CHROMIUM at them)",
                path.display()
            );
        }
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver_path.display()));
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-extensions",
                    "--no-first-run", "--window-size=1280,1000",
                ],
            },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + STEP;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver at {url}: {e}"),
            }
        };
        let session = client.session_id().await.ok().flatten();
        Browser {
            client,
            driver,
            port,
            session,
            name,
            _turn: turn,
        }
    }

    /// Saves a screenshot as `target/console-screenshots/<test>-<what>.png`.
    pub async fn shot(&self, what: &str) {
        let Ok(png) = self.client.screenshot().await else {
            return;
        };
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{}-{what}.png", self.name)), png);
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments[0..]` are `args`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The text of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)",
                vec![json!(css)],
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (bounded) until some element matching `css` has text
    /// containing `want`; returns that text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(t) = self.texts(css).await.into_iter().find(|t| t.contains(want)) {
                return t;
            }
            if Instant::now() > deadline {
                self.shot(&format!("timeout-{}", slug(css))).await;
                panic!(
                    "no {css:?} with text {want:?} within {STEP:?}; found {:?}; page error {:?}",
                    self.texts(css).await,
                    self.texts("[data-test=page-error], .notice").await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (bounded) for an element matching `css`, then clicks it.
    pub async fn click(&self, css: &str) {
        let el = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await;
        let el = match el {
            Ok(el) => el,
            Err(e) => {
                self.shot(&format!("missing-{}", slug(css))).await;
                panic!("no {css:?} to click within {STEP:?}: {e}");
            }
        };
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await;
        let el = match el {
            Ok(el) => el,
            Err(e) => {
                self.shot(&format!("missing-{}", slug(css))).await;
                panic!("no {css:?} to type into within {STEP:?}: {e}");
            }
        };
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Ends the session (and so Chromium) and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        if let Some(session) = self.session.take() {
            let port = self.port;
            let _ = tokio::task::spawn_blocking(move || end_session(port, &session)).await;
        }
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that panicked never reached [`Browser::close`]: end the
    /// session here, or Chromium would outlive the killed chromedriver.
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            end_session(self.port, &session);
        }
    }
}

/// `DELETE /session/{id}` to chromedriver, blocking and bounded (5 s):
/// chromedriver then quits that session's Chromium.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if conn.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
