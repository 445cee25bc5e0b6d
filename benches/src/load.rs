//! What the load tools (`loadgen`, `baseline`) share: the loopback-only
//! address checks, request bodies signed per scheme with a unique provider
//! event id and an embedded send timestamp, and the result summary (human
//! table and one CSV row).

use crate::hmac256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Hard cap on `--requests`.
pub const MAX_REQUESTS: u64 = 10_000_000;
/// Hard cap on `--duration` / `--timeout`, seconds.
pub const MAX_SECONDS: f64 = 600.0;

/// Default secrets, matching the config `benches/run.sh` writes.
pub const STRIPE_SECRET: &str = "whsec_bench_stripe";
/// `whsec_` + base64("bench-standard-webhooks-key-0001").
pub const STANDARD_WEBHOOKS_SECRET: &str = "whsec_YmVuY2gtc3RhbmRhcmQtd2ViaG9va3Mta2V5LTAwMDE=";
/// An Adyen HMAC key as the Customer Area shows it (hex).
pub const ADYEN_KEY_HEX: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

/// Whether `ip` is loopback: 127.0.0.0/8 or ::1.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The address to connect to for `url`, which must be `http://` on a
/// loopback host (`127.0.0.0/8`, `[::1]` or `localhost`); anything else is
/// refused with the reason.
pub fn loopback_target(url: &str) -> Result<(SocketAddr, http::Uri), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "`{url}`: only http:// URLs are supported (loopback load tests need no TLS)"
        ));
    }
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| {
                format!(
                    "refusing `{url}`: the host must be a loopback address (127.0.0.0/8, [::1]) or localhost, not a name"
                )
            })?
    };
    if !is_loopback(ip) {
        return Err(format!(
            "refusing `{url}`: {ip} is not loopback; this tool only targets 127.0.0.0/8, ::1 or localhost"
        ));
    }
    Ok((SocketAddr::new(ip, port), uri))
}

/// A listen address, which must be loopback.
pub fn loopback_listen(addr: &str) -> Result<SocketAddr, String> {
    let sa: SocketAddr = if let Some(port) = addr.strip_prefix("localhost:") {
        let port = port.parse().map_err(|_| format!("`{addr}`: bad port"))?;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    } else {
        addr.parse()
            .map_err(|_| format!("`{addr}` is not an address:port"))?
    };
    if !is_loopback(sa.ip()) {
        return Err(format!(
            "refusing to listen on {sa}: only loopback (127.0.0.0/8, ::1) is allowed"
        ));
    }
    Ok(sa)
}

/// Wall-clock nanoseconds since the Unix epoch (comparable across processes
/// on one machine, which is what end-to-end latency needs).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The `sent_at_ns` value embedded in a payload (`"sent_at_ns":123` or
/// `"sent_at_ns":"123"`), found by a byte search so it works whatever the
/// envelope around the provider payload.
pub fn find_sent_at_ns(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent_at_ns\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &body[at..];
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The `order_key` and `order_seq` a keyed generator put in a payload.
pub fn find_order(body: &[u8]) -> Option<(String, u64)> {
    fn after<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
        let at = body.windows(key.len()).position(|w| w == key)? + key.len();
        Some(&body[at..])
    }
    let rest = after(body, b"\"order_key\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let key = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
    let rest = after(body, b"\"order_seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((key, seq))
}

/// The signing scheme of generated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `stripe-signature: t=<ts>,v1=<hex>`.
    Stripe,
    /// `webhook-id` / `-timestamp` / `-signature`.
    StandardWebhooks,
    /// An Adyen notification batch of one item, HMAC inside the item.
    Adyen,
}

impl Scheme {
    /// The default secret (as configured) for the scheme.
    pub fn default_secret(self) -> &'static str {
        match self {
            Scheme::Stripe => STRIPE_SECRET,
            Scheme::StandardWebhooks => STANDARD_WEBHOOKS_SECRET,
            Scheme::Adyen => ADYEN_KEY_HEX,
        }
    }

    /// The default provider event type.
    pub fn default_type(self) -> &'static str {
        match self {
            Scheme::Stripe => "payment_intent.succeeded",
            Scheme::StandardWebhooks => "invoice.paid",
            Scheme::Adyen => "AUTHORISATION",
        }
    }

    /// The scheme's name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Adyen => "adyen",
        }
    }
}

/// Builds signed requests for one scheme: each has a unique provider event
/// id (`run` + sequence number) and carries `sent_at_ns`.
pub struct Signer {
    scheme: Scheme,
    key: Vec<u8>,
    event_type: String,
    run: String,
    body_size: usize,
    pad: String,
    /// Events share `keys` objects (`0`: one object per event).
    keys: u64,
}

/// One generated request: extra headers and the body.
pub struct Signed {
    /// Signature (and id) headers.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Signer {
    /// A signer; `secret` as it appears in the gateway's config.
    pub fn new(
        scheme: Scheme,
        secret: &str,
        event_type: &str,
        run: &str,
        body_size: usize,
    ) -> Result<Self, String> {
        let key = match scheme {
            Scheme::Stripe => secret.as_bytes().to_vec(),
            Scheme::StandardWebhooks => STANDARD
                .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                .map_err(|_| "standard-webhooks secret: expected whsec_<base64>".to_string())?,
            Scheme::Adyen => hex::decode(secret)
                .map_err(|_| "adyen secret: expected the HMAC key as hex".to_string())?,
        };
        Ok(Signer {
            scheme,
            key,
            event_type: event_type.to_string(),
            run: run.to_string(),
            body_size,
            pad: "x".repeat(body_size),
            keys: 0,
        })
    }

    /// Events spread over `keys` provider objects (`data.object.id` =
    /// `pi_lg_<run>_k<seq mod keys>`), each carrying `order_key` and
    /// `order_seq` for the sink's order check; `0` gives every event its
    /// own object.
    pub fn with_keys(mut self, keys: u64) -> Self {
        self.keys = keys;
        self
    }

    /// The `seq`-th request, timestamped now.
    pub fn sign(&self, seq: u64) -> Signed {
        let sent = unix_nanos();
        let ts = (sent / 1_000_000_000).to_string();
        let run = &self.run;
        let ty = &self.event_type;
        // The body is built twice at most: once to measure, once padded.
        let build = |pad: &str| -> String {
            match self.scheme {
                Scheme::Stripe if self.keys > 0 => {
                    let k = seq % self.keys;
                    format!(
                        r#"{{"id":"evt_lg_{run}_{seq}","object":"event","type":"{ty}","created":{ts},"data":{{"object":{{"id":"pi_lg_{run}_k{k}","order_key":"k{k}","order_seq":{seq},"sent_at_ns":{sent},"pad":"{pad}"}}}}}}"#
                    )
                }
                Scheme::Stripe => format!(
                    r#"{{"id":"evt_lg_{run}_{seq}","object":"event","type":"{ty}","created":{ts},"data":{{"object":{{"id":"pi_lg_{run}_{seq}","sent_at_ns":{sent},"pad":"{pad}"}}}}}}"#
                ),
                Scheme::StandardWebhooks => format!(
                    r#"{{"type":"{ty}","data":{{"id":"obj_lg_{run}_{seq}","sent_at_ns":{sent},"pad":"{pad}"}}}}"#
                ),
                Scheme::Adyen => {
                    let psp = format!("LG{run}{seq}");
                    let merchant_ref = format!("ref_{seq}");
                    let signed = format!("{psp}::BenchMerchant:{merchant_ref}:1000:EUR:{ty}:true");
                    let sig = STANDARD.encode(hmac256(&self.key, &[signed.as_bytes()]));
                    format!(
                        r#"{{"live":"false","notificationItems":[{{"NotificationRequestItem":{{"additionalData":{{"hmacSignature":"{sig}","sent_at_ns":"{sent}","pad":"{pad}"}},"amount":{{"currency":"EUR","value":1000}},"eventCode":"{ty}","eventDate":"2024-01-01T00:00:00+01:00","merchantAccountCode":"BenchMerchant","merchantReference":"{merchant_ref}","pspReference":"{psp}","success":"true"}}}}]}}"#
                    )
                }
            }
        };
        let bare = build("");
        let want = self.body_size.saturating_sub(bare.len());
        let body = if want == 0 {
            bare
        } else {
            build(&self.pad[..want.min(self.pad.len())])
        }
        .into_bytes();
        let mut headers = Vec::with_capacity(3);
        match self.scheme {
            Scheme::Stripe => {
                let sig = hex::encode(hmac256(&self.key, &[ts.as_bytes(), b".", &body]));
                headers.push(("stripe-signature", format!("t={ts},v1={sig}")));
            }
            Scheme::StandardWebhooks => {
                let id = format!("msg_lg_{run}_{seq}");
                let sig = STANDARD.encode(hmac256(
                    &self.key,
                    &[id.as_bytes(), b".", ts.as_bytes(), b".", &body],
                ));
                headers.push(("webhook-id", id));
                headers.push(("webhook-timestamp", ts));
                headers.push(("webhook-signature", format!("v1,{sig}")));
            }
            Scheme::Adyen => {}
        }
        Signed { headers, body }
    }
}

/// Counts by outcome.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// 2xx answers.
    pub s2xx: u64,
    /// 3xx answers.
    pub s3xx: u64,
    /// 4xx answers.
    pub s4xx: u64,
    /// 5xx answers.
    pub s5xx: u64,
    /// Connection errors and timeouts (no answer).
    pub errors: u64,
}

impl Counts {
    /// Counts one answer.
    pub fn status(&mut self, code: u16) {
        match code {
            200..=299 => self.s2xx += 1,
            300..=399 => self.s3xx += 1,
            400..=499 => self.s4xx += 1,
            _ => self.s5xx += 1,
        }
    }

    /// Adds another worker's counts.
    pub fn add(&mut self, o: &Counts) {
        self.s2xx += o.s2xx;
        self.s3xx += o.s3xx;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.errors += o.errors;
    }

    /// Answers of any status.
    pub fn answered(&self) -> u64 {
        self.s2xx + self.s3xx + self.s4xx + self.s5xx
    }
}

/// A new latency histogram in microseconds, 1 µs to 10 min, 3 digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// One measured run, printed as a table and as a CSV row.
pub struct Summary<'a> {
    /// Free label (run.sh names the step).
    pub label: &'a str,
    /// `closed`, `open` or `sink`.
    pub kind: &'a str,
    /// Scheme, or `-`.
    pub scheme: &'a str,
    /// Connections (0 for the sink).
    pub connections: usize,
    /// Target rate of an open-loop run (0 otherwise).
    pub target_rate: f64,
    /// Body size asked for.
    pub body_size: usize,
    /// Seconds measured.
    pub elapsed_s: f64,
    /// Completed operations per second.
    pub per_s: f64,
    /// Latencies, µs.
    pub hist: &'a Histogram<u64>,
    /// Outcomes.
    pub counts: Counts,
    /// Anything else worth a column (free text, no commas).
    pub note: String,
}

/// The CSV header of [`Summary::csv_row`].
pub const CSV_HEADER: &str = "unix_time,label,kind,scheme,connections,target_rate,body_size,count,elapsed_s,per_s,p50_us,p90_us,p99_us,p999_us,max_us,s2xx,s3xx,s4xx,s5xx,errors,note";

impl Summary<'_> {
    fn q(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }

    /// The human table.
    pub fn table(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut s = String::new();
        let c = &self.counts;
        let _ = writeln!(
            s,
            "{} [{}] scheme={} connections={} target_rate={} body={}B",
            if self.label.is_empty() {
                "run"
            } else {
                self.label
            },
            self.kind,
            self.scheme,
            self.connections,
            self.target_rate,
            self.body_size
        );
        let _ = writeln!(
            s,
            "  {:>12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "count", "per_s", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms", "secs"
        );
        let _ = writeln!(
            s,
            "  {:>12} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.2}",
            self.hist.len(),
            self.per_s,
            ms(self.q(0.5)),
            ms(self.q(0.9)),
            ms(self.q(0.99)),
            ms(self.q(0.999)),
            ms(self.hist.max()),
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            "  status: 2xx={} 3xx={} 4xx={} 5xx={} errors={}{}{}",
            c.s2xx,
            c.s3xx,
            c.s4xx,
            c.s5xx,
            c.errors,
            if self.note.is_empty() { "" } else { "  " },
            self.note
        );
        s
    }

    /// One CSV row (no newline).
    pub fn csv_row(&self) -> String {
        let c = &self.counts;
        let clean = |s: &str| s.replace([',', '\n'], ";");
        format!(
            "{},{},{},{},{},{},{},{},{:.3},{:.1},{},{},{},{},{},{},{},{},{},{},{}",
            unix_nanos() / 1_000_000_000,
            clean(self.label),
            self.kind,
            self.scheme,
            self.connections,
            self.target_rate,
            self.body_size,
            self.hist.len(),
            self.elapsed_s,
            self.per_s,
            self.q(0.5),
            self.q(0.9),
            self.q(0.99),
            self.q(0.999),
            self.hist.max(),
            c.s2xx,
            c.s3xx,
            c.s4xx,
            c.s5xx,
            c.errors,
            clean(&self.note)
        )
    }

    /// Appends the row to `path`, writing the header first if the file is new
    /// or empty.
    pub fn append_csv(&self, path: &Path) -> std::io::Result<()> {
        let fresh = std::fs::metadata(path)
            .map(|m| m.len() == 0)
            .unwrap_or(true);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if fresh {
            writeln!(f, "{CSV_HEADER}")?;
        }
        writeln!(f, "{}", self.csv_row())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_target("http://127.0.0.1:8080/ingest/stripe").is_ok());
        assert!(loopback_target("http://127.5.6.7/").is_ok());
        assert!(loopback_target("http://localhost:1/").is_ok());
        assert!(loopback_target("http://[::1]:8080/").is_ok());
        assert!(loopback_target("http://10.0.0.1:8080/").is_err());
        assert!(loopback_target("http://example.com/").is_err());
        assert!(loopback_target("http://[::2]/").is_err());
        assert!(loopback_target("https://127.0.0.1/").is_err());
        assert!(loopback_listen("127.0.0.1:7001").is_ok());
        assert!(loopback_listen("0.0.0.0:7001").is_err());
    }

    #[test]
    fn sent_at_is_found_in_any_envelope() {
        assert_eq!(
            find_sent_at_ns(br#"{"data":{"sent_at_ns":123,"x":1}}"#),
            Some(123)
        );
        assert_eq!(find_sent_at_ns(br#"{"a":{"sent_at_ns":"45"}}"#), Some(45));
        assert_eq!(find_sent_at_ns(b"{}"), None);
    }

    #[test]
    fn keyed_bodies_carry_their_key_and_sequence() {
        let s = Signer::new(
            Scheme::Stripe,
            STRIPE_SECRET,
            "payment_intent.succeeded",
            "r1",
            1024,
        )
        .unwrap()
        .with_keys(10);
        let b = s.sign(23);
        assert_eq!(b.body.len(), 1024);
        assert_eq!(find_order(&b.body), Some(("k3".to_owned(), 23)));
        let v: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(v["data"]["object"]["id"], "pi_lg_r1_k3");
        assert_eq!(find_order(b"{}"), None);
    }

    #[test]
    fn bodies_have_the_asked_size_and_unique_ids() {
        for scheme in [Scheme::Stripe, Scheme::StandardWebhooks, Scheme::Adyen] {
            let s = Signer::new(
                scheme,
                scheme.default_secret(),
                scheme.default_type(),
                "r1",
                1024,
            )
            .unwrap();
            let a = s.sign(1);
            let b = s.sign(2);
            assert_eq!(a.body.len(), 1024, "{scheme:?}");
            assert_ne!(a.body, b.body);
            assert!(find_sent_at_ns(&a.body).is_some());
            serde_json::from_slice::<serde_json::Value>(&a.body).unwrap();
        }
    }
}
