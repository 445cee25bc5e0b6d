//! The input format every target decodes: a small text message, so seeds
//! are readable, derived from the test vectors by `fuzz/seeds.py`, and
//! mutated by the fuzzer byte by byte.
//!
//! ```text
//! @1700000000 POST /ingest/src?a=b sign        <- the request line (optional)
//! #secret: whsec_test_secret                   <- config lines (optional)
//! stripe-signature: t=1700000000,v1=...        <- header lines
//!                                              <- an empty line
//! {"id":"evt_1"}                               <- the body: every byte left
//! ```
//!
//! The request line starts with `@`; its tokens, in any order: a number
//! (the clock, unix seconds), an upper-case word (the method), a token
//! starting with `/` (path and query) and `sign` (the harness signs the
//! request with the target's default secret). Config lines start with `#`:
//! `#secret: <value>` (repeatable), `#public_url: <url>`, `#tolerance:
//! <seconds>` and `#<param>: <value>` for the scheme's own keys; when any
//! is present the scheme is built from them alone instead of the target's
//! default source. Header lines are `name: value` (values trimmed of
//! spaces and tabs as HTTP does; lines that are no valid header are
//! skipped, a trailing `\r` is dropped). The body is everything after the
//! first empty line.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The clock when the input names none.
pub const DEFAULT_NOW: i64 = 1_700_000_000;

/// One decoded input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The clock (unix seconds).
    pub now: i64,
    /// Request method.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// Whether the harness signs the request.
    pub sign: bool,
    /// `#key: value` lines, in order.
    pub config: Vec<(String, String)>,
    /// Headers, in order (a repeated name is appended).
    pub headers: HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> Input<'a> {
    /// Decodes `data`; never fails (what does not parse takes defaults).
    pub fn parse(data: &'a [u8], default_path: &str) -> Self {
        let mut input = Input {
            now: DEFAULT_NOW,
            method: "POST".to_owned(),
            path_and_query: default_path.to_owned(),
            sign: false,
            config: Vec::new(),
            headers: HeaderMap::new(),
            body: &[],
        };
        let mut rest = data;
        let mut first = true;
        loop {
            let (line, after, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..], true),
                None => (rest, &rest[rest.len()..], false),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            rest = after;
            if line.is_empty() {
                if complete {
                    input.body = rest;
                }
                break;
            }
            if first && line[0] == b'@' {
                input.request_line(&line[1..]);
            } else if line[0] == b'#' {
                if let Some((k, v)) = split_line(&line[1..]) {
                    input.config.push((
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    ));
                }
            } else if let Some((k, v)) = split_line(line)
                && let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(k), HeaderValue::from_bytes(v))
            {
                input.headers.append(name, value);
            }
            first = false;
            if !complete {
                break;
            }
        }
        input
    }

    fn request_line(&mut self, line: &[u8]) {
        for token in String::from_utf8_lossy(line).split(' ') {
            if token == "sign" {
                self.sign = true;
            } else if token.starts_with('/') {
                self.path_and_query = token.to_owned();
            } else if let Ok(n) = token.parse::<i64>() {
                self.now = n;
            } else if !token.is_empty() && token.bytes().all(|b| b.is_ascii_uppercase()) {
                self.method = token.to_owned();
            }
        }
    }

    /// The value of config key `key` (the last one written).
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `name: value` with the value trimmed of spaces and tabs.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let value = trim(&line[colon + 1..]);
    Some((name, value))
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Sets `name` to `value`, replacing every earlier value.
pub fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    } else {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_part() {
        let data = b"@123 PUT /ingest/x?q=1 sign\n#secret: s1\n#secret: s2\nx-a:  v \nbad line\nx-a: w\r\n\r\nbody\n\nmore";
        let i = Input::parse(data, "/d");
        assert_eq!(i.now, 123);
        assert_eq!(i.method, "PUT");
        assert_eq!(i.path_and_query, "/ingest/x?q=1");
        assert!(i.sign);
        assert_eq!(i.config.len(), 2);
        assert_eq!(i.config_value("secret"), Some("s2"));
        let values: Vec<_> = i.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["v", "w"]);
        assert_eq!(i.body, b"body\n\nmore");
    }

    #[test]
    fn anything_decodes() {
        for data in [
            &b""[..],
            b"\n",
            b"@",
            b"@\n",
            b"x",
            b"x: y",
            b"\xff\xfe:\x00\n\n",
        ] {
            let i = Input::parse(data, "/d");
            assert_eq!(i.path_and_query, "/d");
        }
    }
}
