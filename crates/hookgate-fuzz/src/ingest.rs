//! The whole ingest path: request bytes in, answer bytes out, through the
//! real code — hyper's HTTP/1.1 server (built as `hookgate_http::serve`
//! builds it) over an in-memory pipe, `Ingest::handle`, and the embedded
//! SQLite store in a temp dir opened once per process. One source per
//! scheme, each named after its scheme (`/ingest/stripe`, ...), with the
//! default secrets of [`crate::scheme`].
//!
//! An input is either raw bytes written to the connection as they are
//! (several pipelined requests, chunked bodies, garbage), or, when it
//! starts with `@`, an [`Input`] the harness turns into one well-formed
//! request (`Content-Length` set; with `sign`, signed for the source its
//! path names at the current time).
//!
//! Checked on every input, besides "never panics":
//! - the exchange ends within [`EXCHANGE_DEADLINE`];
//! - the answer bytes are well-formed HTTP/1.1 responses, none a 5xx but
//!   503;
//! - a 2xx answer to the first request only when that request verifies
//!   (checked with a verifier of the harness's own, at the clock before
//!   and after the exchange; raw inputs are re-parsed with `httparse` and
//!   skipped when their framing is not plain `Content-Length`);
//! - a request the harness signed, that verifies and whose payload
//!   extracts to events, is answered 200.

use crate::input::Input;
use crate::scheme::{self, Expect};
use hookgate_ingest::Ingest;
use hookgate_verify::{RawRequest, Verifier};
use http::HeaderMap;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An exchange that takes longer is a hang (a bug).
pub const EXCHANGE_DEADLINE: Duration = Duration::from_secs(10);
/// `[server] max_body_bytes` of the harness (small, so 413 is reachable).
pub const MAX_BODY: usize = 64 * 1024;
/// The `public_url` of source `id` is this followed by `id`.
pub const PUBLIC_URL_BASE: &str = "https://gateway.example.com/ingest/";

struct Harness {
    rt: tokio::runtime::Runtime,
    ingest: Arc<Ingest>,
    verifiers: HashMap<String, Verifier>,
    opts: hookgate_http::ServeOptions,
}

fn toml_str(s: &str) -> String {
    // A JSON string literal of printable ASCII is a TOML basic string.
    serde_json::to_string(s).expect("string")
}

/// The harness's config text with the store file under `dir`.
fn config_text(dir: &std::path::Path) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = {MAX_BODY}\nread_timeout = \"2s\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nbackend = \"sqlite\"\npath = {}\n",
        toml_str(&dir.join("hookgate.db").display().to_string())
    );
    for name in hookgate_verify::schemes::NAMES {
        text.push_str(&format!(
            "\n[[sources]]\nid = {}\nscheme = {}\nsecrets = [{{ value = {} }}]\n",
            toml_str(name),
            toml_str(name),
            toml_str(scheme::default_secret(name))
        ));
        if *name == "square" || *name == "twilio" {
            text.push_str(&format!(
                "public_url = {}\n",
                toml_str(&format!("{PUBLIC_URL_BASE}{name}"))
            ));
        }
        for (k, v) in scheme::default_params(name) {
            text.push_str(&format!("{k} = {}\n", toml_str(v)));
        }
    }
    text
}

/// This process's store dir, `<tmp>/hookgate-fuzz/<pid>`; dirs of
/// processes that are gone are removed first.
fn store_dir() -> PathBuf {
    let base = std::env::temp_dir().join("hookgate-fuzz");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.parse::<u32>().is_ok() && !PathBuf::from(format!("/proc/{name}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the fuzz store dir");
    dir
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = store_dir();
        let text = config_text(&dir);
        let cfg = hookgate_config::parse(
            &text,
            &dir.join("hookgate.toml"),
            &hookgate_config::MapEnv::default(),
        )
        .unwrap_or_else(|e| panic!("harness config: {e}\n{text}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ingest = {
            let _guard = rt.enter();
            let store = hookgate_store::Store::open(
                &cfg.store,
                hookgate_store::Settings::from_config(&cfg),
            )
            .expect("open the SQLite store");
            Ingest::new(&cfg, store, hookgate_telemetry::Tracer::disabled())
                .unwrap_or_else(|e| panic!("harness sources: {e:?}"))
        };
        let verifiers = cfg
            .sources
            .iter()
            .map(|s| (s.id.clone(), Verifier::from_source(s).expect("source")))
            .collect();
        Harness {
            rt,
            ingest: Arc::new(ingest),
            verifiers,
            // As `hookgate serve` builds them from `[server]`.
            opts: hookgate_http::ServeOptions {
                header_read_timeout: cfg.server.header_read_timeout,
                max_headers: cfg.server.max_headers,
                max_header_bytes: cfg.server.max_header_bytes,
            },
        }
    })
}

/// Writes `bytes` to a fresh connection of the ingest listener, closes
/// the write side, and returns everything the server answered.
fn exchange(h: &Harness, bytes: &[u8]) -> Vec<u8> {
    h.rt.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let ingest = h.ingest.clone();
        let service = hyper::service::service_fn(move |req| {
            let ingest = ingest.clone();
            async move { Ok::<_, Infallible>(ingest.handle(req).await) }
        });
        // As `hookgate_http::serve` builds it, plus half-close: this
        // client shuts its write side down once the request is written.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(h.opts.header_read_timeout)
            .max_header_size(h.opts.max_header_bytes)
            .keep_alive(true)
            .half_close(true);
        let conn = tokio::spawn(builder.serve_connection(TokioIo::new(server), service));
        let (mut rd, mut wr) = tokio::io::split(client);
        let write = async {
            // The server may close first (a 431, a 413): not an error here.
            let _ = wr.write_all(bytes).await;
            let _ = wr.shutdown().await;
        };
        let read = async {
            let mut out = Vec::new();
            let _ = rd.read_to_end(&mut out).await;
            out
        };
        let both = async { tokio::join!(write, read).1 };
        let out = tokio::time::timeout(EXCHANGE_DEADLINE, both)
            .await
            .unwrap_or_else(|_| panic!("the exchange hung for {EXCHANGE_DEADLINE:?}"));
        let _ = tokio::time::timeout(EXCHANGE_DEADLINE, conn)
            .await
            .expect("the connection task hung");
        out
    })
}

/// The statuses of every response in `out`; panics on bytes that are no
/// HTTP/1.1 responses.
fn statuses(out: &[u8]) -> Vec<u16> {
    let mut rest = out;
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "the answer is no HTTP/1.1 response ({other:?}): {:?}",
                String::from_utf8_lossy(out)
            ),
        };
        let code = resp.code.expect("a complete response has a code");
        let len = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| {
                std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .expect("a numeric content-length")
            })
            .unwrap_or(0);
        assert!(
            rest.len() >= head + len,
            "a response is cut short: {:?}",
            String::from_utf8_lossy(out)
        );
        codes.push(code);
        rest = &rest[head + len..];
    }
    codes
}

/// The first request of raw `bytes`, as the gateway would see it, when its
/// framing is plain (`Content-Length` once, or no body).
fn first_request(bytes: &[u8]) -> Option<(String, String, HeaderMap, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(n) = req.parse(bytes).ok()? else {
        return None;
    };
    let mut map = HeaderMap::new();
    for h in req.headers.iter() {
        map.append(
            http::HeaderName::from_bytes(h.name.as_bytes()).ok()?,
            http::HeaderValue::from_bytes(h.value).ok()?,
        );
    }
    if map.contains_key(http::header::TRANSFER_ENCODING) {
        return None;
    }
    let len = match map.get_all(http::header::CONTENT_LENGTH).iter().count() {
        0 => 0,
        1 => map
            .get(http::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse::<usize>()
            .ok()?,
        _ => return None,
    };
    let body = bytes.get(n..n.checked_add(len)?)?.to_vec();
    Some((req.method?.to_owned(), req.path?.to_owned(), map, body))
}

/// The source id a request target names, as the gateway routes it.
fn source_of(target: &str) -> Option<(String, String)> {
    let uri: http::Uri = target.parse().ok()?;
    let id = uri.path().strip_prefix("/ingest/")?.to_owned();
    let pq = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Some((id, pq))
}

/// Fuzz target body: one connection's bytes through the ingest listener.
/// Returns the status of the first answer, if any. Over the ~80-line
/// guideline: the exchange and every check of its answer in one sequence,
/// so a crash report points at the one assertion that failed.
pub fn run(data: &[u8]) -> Option<u16> {
    let h = harness();
    let before = hookgate_core::time::now_unix();
    let mut must_accept = false;
    let (bytes, first) = if data.first() == Some(&b'@') {
        let input = Input::parse(data, "/ingest/stripe");
        let mut headers = input.headers.clone();
        headers.remove(http::header::CONTENT_LENGTH);
        headers.remove(http::header::TRANSFER_ENCODING);
        let mut body = input.body.to_vec();
        // Signed only when the gateway will see the target as written
        // (no fragment or other spelling `http::Uri` normalizes).
        if input.sign
            && let Some((id, pq)) = source_of(&input.path_and_query)
            && pq == input.path_and_query
            && hookgate_verify::schemes::NAMES.contains(&id.as_str())
        {
            let (expect, signed_body) = scheme::sign(
                &id,
                &mut headers,
                &input.path_and_query,
                &body,
                before,
                &format!("{PUBLIC_URL_BASE}{id}"),
            );
            if let Some(b) = signed_body {
                body = b;
            }
            must_accept = expect == Expect::Valid
                && input.method == "POST"
                && !headers.contains_key(http::header::CONTENT_ENCODING)
                && body.len() <= MAX_BODY;
        }
        let mut bytes =
            format!("{} {} HTTP/1.1\r\n", input.method, input.path_and_query).into_bytes();
        for (name, value) in &headers {
            bytes.extend_from_slice(name.as_str().as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(value.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        bytes.extend_from_slice(&body);
        // What the gateway sees is what the bytes say (hyper may refuse
        // a request line or header the decoder let through).
        let first = first_request(&bytes);
        must_accept &= first.is_some();
        (bytes, first)
    } else {
        (data.to_vec(), first_request(data))
    };

    let out = exchange(h, &bytes);
    let after = hookgate_core::time::now_unix();
    // Interim answers (`100 Continue` to `Expect`) precede the final one.
    let codes: Vec<u16> = statuses(&out).into_iter().filter(|&c| c >= 200).collect();
    for code in &codes {
        assert!(
            *code < 500 || *code == 503,
            "answered {code}: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    let Some(&status) = codes.first() else {
        assert!(!must_accept, "no answer to a signed request");
        return None;
    };
    let Some((method, target, headers, body)) = first else {
        return Some(status);
    };
    let Some((id, pq)) = source_of(&target) else {
        return Some(status);
    };
    let Some(verifier) = h.verifiers.get(&id) else {
        // 404, or hyper's 400 for what it refuses before routing.
        assert!(
            !(200..300).contains(&status),
            "answered {status} for unknown source {id:?}"
        );
        return Some(status);
    };
    let req = RawRequest {
        method: &method,
        path_and_query: &pq,
        headers: &headers,
        body: &body,
    };
    let verified = verifier.verify(&req, before).is_ok() || verifier.verify(&req, after).is_ok();
    if (200..300).contains(&status) {
        assert!(
            verified,
            "answered {status} to a request that does not verify: {:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(method, "POST", "answered {status} to a {method}");
    }
    if must_accept
        && verified
        && verifier.handshake(&req).is_none()
        && verifier.extract(&req).is_ok_and(|e| !e.is_empty())
    {
        assert_eq!(
            status,
            200,
            "a signed request with a valid payload was answered: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    Some(status)
}
