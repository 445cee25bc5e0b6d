//! W3C trace context (`traceparent`): continue the provider's trace when it
//! sent a valid one, start a new trace otherwise. The value stored with the
//! event names the ingest step as parent, so every delivery attempt joins
//! the same trace.

use rand::RngCore;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random span id (16 hex).
pub fn new_span_id() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    if b == [0; 8] {
        b[7] = 1;
    }
    hex(&b)
}

/// A fresh request id (16 hex).
pub fn new_request_id() -> String {
    new_span_id()
}

/// The traceparent to store: the caller's trace id and flags when the
/// header is valid, else a new trace; the span id is new. Written as
/// version 00, the one this gateway knows. A higher version is read as W3C
/// Trace Context says: its first four fields as version 00's, anything
/// after them ignored, and of its flags only the sampled bit kept.
pub fn continue_or_start(incoming: Option<&str>) -> String {
    if let Some((trace, flags)) = incoming.map(str::trim).and_then(parse_incoming) {
        return format!("00-{trace}-{}-{flags}", new_span_id());
    }
    let mut trace = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut trace);
    trace[15] |= 1;
    format!("00-{}-{}-01", hex(&trace), new_span_id())
}

/// Trace id and flags of a valid incoming traceparent.
fn parse_incoming(tp: &str) -> Option<(&str, String)> {
    // version "-" trace-id (32) "-" parent-id (16) "-" flags (2): 55 bytes.
    if !tp.is_ascii() || tp.len() < 55 {
        return None;
    }
    let (version, trace, parent, flags) = (&tp[0..2], &tp[3..35], &tp[36..52], &tp[53..55]);
    let b = tp.as_bytes();
    let dashes = b[2] == b'-' && b[35] == b'-' && b[52] == b'-';
    let rest_ok = if version == "00" {
        tp.len() == 55
    } else {
        // A later version may append fields, each after a dash.
        tp.len() == 55 || b[55] == b'-'
    };
    let valid = dashes
        && rest_ok
        && is_lower_hex(version, 2)
        && version != "ff"
        && is_lower_hex(trace, 32)
        && trace != "00000000000000000000000000000000"
        && is_lower_hex(parent, 16)
        && parent != "0000000000000000"
        && is_lower_hex(flags, 2);
    if !valid {
        return None;
    }
    let flags = if version == "00" {
        flags.to_owned()
    } else {
        let bits = u8::from_str_radix(flags, 16).ok()?;
        format!("{:02x}", bits & 0x01)
    };
    Some((trace, flags))
}

/// The traceparent of one delivery attempt: same trace, new span.
pub fn child_of(stored: &str) -> Option<String> {
    let parts: Vec<&str> = stored.split('-').collect();
    match parts.as_slice() {
        [version, trace, _, flags] if is_lower_hex(trace, 32) => {
            Some(format!("{version}-{trace}-{}-{flags}", new_span_id()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_valid_and_replaces_invalid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let out = continue_or_start(Some(tp));
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(out.ends_with("-01"));
        assert!(!out.contains("00f067aa0ba902b7"));
        for bad in [
            "",
            "garbage",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736é00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            let fresh = continue_or_start(Some(bad));
            assert!(!fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{bad}");
            assert_eq!(fresh.len(), 55);
        }
        // Higher versions: the first four fields, only the sampled bit.
        for (tp, flags) in [
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "01",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-extra",
                "01",
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
                "00",
            ),
        ] {
            let out = continue_or_start(Some(tp));
            assert!(
                out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{tp}"
            );
            assert!(out.ends_with(&format!("-{flags}")), "{tp}: {out}");
            assert_eq!(out.len(), 55);
        }
        let child = child_of(&out).unwrap();
        assert_eq!(&child[..36], &out[..36]);
    }
}
