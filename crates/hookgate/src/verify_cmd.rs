//! `hookgate verify --config F --source ID --request FILE [--now UNIX]`
//! (docs/admin-api.md): checks a captured raw HTTP/1.1 request offline against one
//! source's scheme and secrets, the same `Verifier` the ingest path uses.
//!
//! A verdict is one line on stdout: `valid` (exit 0) or `invalid: <reason>`
//! (exit 1), the reason being the 401 reason (`missing`, `malformed`,
//! `mismatch`, `stale`) and nothing else, so a script can branch on it.
//! When no verdict is possible (config that does not load, unknown source,
//! request file unreadable, not an HTTP/1.1 request, or shorter than its
//! framing says) the command prints `error: <message>` on stderr and exits
//! 2, like a usage error: a broken capture is not a forged request. Secrets
//! and expected signatures are never printed.
//!
//! Only the signature is judged, as ingest step 3 does (docs/ingest.md): whether
//! the payload then has what the scheme extracts (step 4, a 400) is not
//! part of the verdict, so `valid` does not promise the gateway accepts it.
//!
//! The request file is what a capture shows: a request line, header lines,
//! an empty line, then the body. The body is framed as HTTP/1.1 frames it
//! (RFC 9112 §6), because a capture often ends with a newline the provider
//! never signed: with `Content-Length`, exactly that many bytes (a shorter
//! file is an error); with `Transfer-Encoding: chunked`, the decoded chunks;
//! with neither, every byte after the first empty line, as is. Lines of the
//! head (and chunk framing) may end in CRLF or LF. Header names are
//! case-insensitive; repeated headers are kept (a scheme decides whether
//! that is `malformed`).

use hookgate_config::ProcessEnv;
use hookgate_verify::{RawRequest, Rejection, Verifier};
use std::path::Path;
use std::process::ExitCode;

/// A captured request, parsed.
#[derive(Debug)]
struct Captured {
    method: String,
    path_and_query: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// Splits and parses a raw HTTP/1.1 request; the error says what is wrong.
fn parse_request(raw: &[u8]) -> Result<Captured, String> {
    // The head ends at the first empty line, whichever line ending it uses.
    let crlf = find(raw, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find(raw, b"\n\n").map(|i| (i, i + 2));
    let (head_end, body_start) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return Err("no empty line after the headers".into()),
    };
    let head = std::str::from_utf8(&raw[..head_end])
        .map_err(|_| "the request line and headers must be ASCII".to_string())?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "bad request line {request_line:?} (expected \"POST /path HTTP/1.1\")"
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported HTTP version {version:?}"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("bad method {method:?}"));
    }
    let path_and_query = if target.starts_with('/') {
        target.to_owned()
    } else {
        // Absolute form (`POST https://host/path?q HTTP/1.1`, as proxies log it).
        let uri: http::Uri = target
            .parse()
            .map_err(|_| format!("bad request target {target:?}"))?;
        uri.path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err("folded header lines are not supported (RFC 9112 §5.2)".into());
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name {name:?}"))?;
        let value = http::HeaderValue::from_str(value.trim_matches([' ', '\t']))
            .map_err(|_| format!("bad value for header {name}"))?;
        headers.append(name, value);
    }
    let body = frame_body(&headers, &raw[body_start..])?;
    Ok(Captured {
        method: method.to_owned(),
        path_and_query,
        headers,
        body,
    })
}

/// The body as the head frames it (module docs).
fn frame_body(headers: &http::HeaderMap, rest: &[u8]) -> Result<Vec<u8>, String> {
    let te = headers.get_all(http::header::TRANSFER_ENCODING);
    let cl = headers.get_all(http::header::CONTENT_LENGTH);
    match (te.iter().next().is_some(), cl.iter().next().is_some()) {
        (true, true) => {
            Err("both Transfer-Encoding and Content-Length are set (ambiguous framing)".into())
        }
        (true, false) => {
            let codings: Vec<String> = te
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("?").split(','))
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            if codings != ["chunked"] {
                return Err(format!(
                    "unsupported Transfer-Encoding {:?} (only \"chunked\" is decoded)",
                    codings.join(", ")
                ));
            }
            decode_chunked(rest)
        }
        (false, true) => {
            // Repeated or listed values must all agree (RFC 9112 §6.3).
            let mut len = None;
            for v in cl.iter().flat_map(|v| v.to_str().unwrap_or("?").split(',')) {
                let v = v.trim();
                let n: Option<usize> = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse().ok()
                } else {
                    None
                };
                let n = n.ok_or_else(|| format!("bad Content-Length {v:?}"))?;
                if len.is_some_and(|l| l != n) {
                    return Err("Content-Length values disagree".into());
                }
                len = Some(n);
            }
            let len = len.unwrap_or_default();
            if rest.len() < len {
                return Err(format!(
                    "the body is {} bytes, shorter than its Content-Length {len}",
                    rest.len()
                ));
            }
            Ok(rest[..len].to_vec())
        }
        (false, false) => Ok(rest.to_vec()),
    }
}

/// Decodes a chunked body (RFC 9112 §7.1): chunk extensions are skipped,
/// trailer fields and anything after them ignored.
fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let (line, after) = split_line(rest).ok_or("chunked body ends inside a chunk size line")?;
        let size = std::str::from_utf8(line)
            .ok()
            .map(|l| {
                l.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim_matches([' ', '\t'])
            })
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad chunk size line {:?}", String::from_utf8_lossy(line)))?;
        if size == 0 {
            return Ok(body);
        }
        if after.len() < size {
            return Err(format!(
                "chunked body ends inside a chunk ({} of {size} bytes)",
                after.len()
            ));
        }
        body.extend_from_slice(&after[..size]);
        rest = match split_line(&after[size..]) {
            Some((b"", next)) => next,
            _ => return Err("a chunk is not followed by a line end".into()),
        };
    }
}

/// The line at the start of `bytes` (without its LF or CRLF) and the rest.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..lf];
    Some((line.strip_suffix(b"\r").unwrap_or(line), &bytes[lf + 1..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Why the command has no `valid`: a verdict on the request, or an error
/// that left no verdict to give.
#[derive(Debug)]
enum Failure {
    /// The signature is rejected (exit 1).
    Invalid(Rejection),
    /// No verdict was possible (exit 2); the message says why.
    Error(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Error(message)
    }
}

/// The verdict, or why there is none.
fn verdict(
    config: &Path,
    source_id: &str,
    request: &Path,
    now: Option<i64>,
) -> Result<(), Failure> {
    let config = hookgate_config::load(config, &ProcessEnv).map_err(|errs| {
        let all: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
        format!("bad config: {}", all.join("; "))
    })?;
    let Some(source) = config.sources.iter().find(|s| s.id == source_id) else {
        let known: Vec<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
        return Err(format!(
            "unknown source {source_id:?} (sources: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )
        .into());
    };
    let verifier = Verifier::from_source(source).map_err(|e| format!("bad config: {e}"))?;
    let raw = std::fs::read(request)
        .map_err(|e| format!("cannot read request file {}: {e}", request.display()))?;
    let captured = parse_request(&raw).map_err(|e| {
        format!(
            "request file {} is not an HTTP/1.1 request: {e}",
            request.display()
        )
    })?;
    let req = RawRequest {
        method: &captured.method,
        path_and_query: &captured.path_and_query,
        headers: &captured.headers,
        body: &captured.body,
    };
    let now = now.unwrap_or_else(hookgate_core::time::now_unix);
    verifier.verify(&req, now).map_err(Failure::Invalid)
}

/// Runs the command: prints the verdict (or the error) and returns the
/// exit code: 0 valid, 1 invalid, 2 no verdict.
pub fn run(config: &Path, source_id: &str, request: &Path, now: Option<i64>) -> ExitCode {
    match verdict(config, source_id, request, now) {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(Failure::Invalid(reason)) => {
            println!("invalid: {}", reason.as_str());
            ExitCode::FAILURE
        }
        Err(Failure::Error(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_heads_and_raw_bodies() {
        let r = parse_request(b"POST /ingest/s?a=1 HTTP/1.1\r\nHost: x\r\nX-Sig: a\r\nx-sig: b\r\n\r\nbody\r\n\r\nmore\n").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path_and_query, "/ingest/s?a=1");
        assert_eq!(r.headers.get_all("X-SIG").iter().count(), 2);
        assert_eq!(r.body, b"body\r\n\r\nmore\n");
        let r = parse_request(
            b"POST https://gw.example.com/ingest/s?b HTTP/1.0\nStripe-Signature:  t=1,v1=x \n\n{}",
        )
        .unwrap();
        assert_eq!(r.path_and_query, "/ingest/s?b");
        assert_eq!(r.headers["stripe-signature"], "t=1,v1=x");
        assert_eq!(r.body, b"{}");
        let r = parse_request(b"POST / HTTP/1.1\r\n\r\n").unwrap();
        assert!(r.body.is_empty() && r.headers.is_empty());
    }

    #[test]
    fn content_length_frames_the_body() {
        let r = parse_request(b"POST / HTTP/1.1\r\ncontent-LENGTH: 4\r\n\r\nbody\n").unwrap();
        assert_eq!(r.body, b"body");
        let r =
            parse_request(b"POST / HTTP/1.1\nContent-Length: 4\nContent-Length: 4\n\nbody\r\n\r\n")
                .unwrap();
        assert_eq!(r.body, b"body");
        let r = parse_request(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\n").unwrap();
        assert!(r.body.is_empty());
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nbody"[..],
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\nbody",
            b"POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\nbody",
            b"POST / HTTP/1.1\r\nContent-Length: 4x\r\n\r\nbody",
            b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 3\r\n\r\nbody",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nbody",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let err = parse_request(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nbody").unwrap_err();
        assert!(err.contains("shorter than its Content-Length 5"), "{err}");
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let r = parse_request(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\nA\r\n:1}\r\n\r\nxxx\r\n0\r\nX-Trailer: t\r\n\r\n\n",
        )
        .unwrap();
        assert_eq!(r.body, b"{\"a\":1}\r\n\r\nxxx");
        let r =
            parse_request(b"POST / HTTP/1.1\ntransfer-encoding: chunked\n\n2\nab\n0\n\n").unwrap();
        assert_eq!(r.body, b"ab");
        for bad in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bad_files_say_why() {
        for bad in [
            &b"POST / HTTP/1.1\r\nHost: x"[..],
            b"POST /\r\n\r\n",
            b"POST / HTTP/2\r\n\r\n",
            b"post / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"POST / HTTP/1.1\r\nbad name: b\r\n\r\n",
            b"\xff / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
