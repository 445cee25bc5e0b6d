//! `[store] url`: a Redis URL parsed into a [`StoreUrl`], the typed value
//! the Redis store connects with.
//!
//! Why here and not in the store: `check-config` must refuse every URL
//! `serve` would, and it does by parsing the URL once, by the rules the
//! Redis client applies to a URL (redis-rs's: host, port, TLS fragment,
//! database number, credentials, `protocol`); the store then builds its
//! client from the parsed parts and never reads the text again. The
//! configuration thus needs no Redis client of its own.
//!
//! Nothing here prints a URL or a part of one: it may carry a password.
//! Error messages are fixed texts.

use hookgate_core::Secret;
use percent_encoding::percent_decode_str;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// `[store] url` when neither the file nor `HOOKGATE_STORE_URL` gives one.
pub const DEFAULT_STORE_URL: &str = "redis://127.0.0.1:6379";

/// The port of a TCP store URL that names none.
pub const DEFAULT_REDIS_PORT: u16 = 6379;

/// URL schemes a store URL may have (those the Redis client accepts).
pub(crate) const STORE_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "valkey",
    "valkeys",
    "valkey+unix",
];

/// TLS schemes (`[store] ca_file` applies to them only).
const TLS_SCHEMES: &[&str] = &["rediss", "valkeys"];

/// A parsed store URL. It keeps the text it was parsed from (as a secret:
/// [`StoreUrl::expose`]); its `Debug` shows neither the text nor the
/// password.
#[derive(Clone)]
pub struct StoreUrl {
    text: Secret,
    /// Where the store is.
    pub address: StoreAddress,
    /// The database number: the path of a TCP URL (`/2`), the `db` query
    /// key of a unix one; default 0.
    pub db: i64,
    /// The ACL user: a TCP URL's user name, a unix URL's `user` query key.
    pub username: Option<String>,
    /// The password: a TCP URL's, a unix URL's `pass` query key.
    pub password: Option<Secret>,
    /// The `protocol` query key: RESP2 (default) or RESP3.
    pub protocol: RespProtocol,
}

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAddress {
    /// `redis://`, `valkey://`: plain TCP.
    Tcp {
        /// The host name or address (an IPv6 address without brackets).
        host: String,
        /// The port, default [`DEFAULT_REDIS_PORT`].
        port: u16,
    },
    /// `rediss://`, `valkeys://`: TCP with TLS.
    Tls {
        /// The host name or address (an IPv6 address without brackets).
        host: String,
        /// The port, default [`DEFAULT_REDIS_PORT`].
        port: u16,
        /// `#insecure`: the server's certificate is not checked.
        insecure: bool,
    },
    /// `unix://`, `redis+unix://`, `valkey+unix://`: a unix socket.
    Unix(PathBuf),
}

/// The RESP version the store speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RespProtocol {
    /// `protocol=2` or `resp2`, the default.
    #[default]
    Resp2,
    /// `protocol=3` or `resp3`.
    Resp3,
}

impl StoreUrl {
    /// Parses a store URL. The message never contains the URL.
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !scheme.is_some_and(|s| STORE_SCHEMES.contains(&s.as_str())) {
            return Err(format!(
                "expected a URL like \"{DEFAULT_STORE_URL}\" (schemes: {})",
                STORE_SCHEMES.join(", ")
            ));
        }
        // url's messages are fixed texts, never the input.
        let url = url::Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
        let parts = match url.scheme() {
            "unix" | "redis+unix" | "valkey+unix" => unix_parts(&url),
            _ => tcp_parts(&url),
        };
        let (address, db, username, password) =
            parts.map_err(|description| format!("not a usable Redis URL: {description}"))?;
        let protocol = protocol(&url)
            .ok_or_else(|| "not a usable Redis URL: Invalid protocol version".to_owned())?;
        Ok(StoreUrl {
            text: Secret::new(text),
            address,
            db,
            username,
            password,
            protocol,
        })
    }

    /// The URL as written. It may carry a password.
    pub fn expose(&self) -> &[u8] {
        self.text.expose()
    }

    /// Whether the store is reached over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.address, StoreAddress::Tls { .. })
    }
}

impl Default for StoreUrl {
    /// [`DEFAULT_STORE_URL`].
    fn default() -> Self {
        StoreUrl::parse(DEFAULT_STORE_URL).expect("the default store URL parses")
    }
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        StoreUrl::parse(text)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the text nor the password: either may hold a secret.
        f.debug_struct("StoreUrl")
            .field("address", &self.address)
            .field("db", &self.db)
            .field("password", &self.password)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// Address, database, user and password: what the URL's kind decides.
type Parts = (StoreAddress, i64, Option<String>, Option<Secret>);

/// A TCP URL, as the Redis client reads one: a host (not a wildcard), a
/// port (default 6379), `#insecure` as the only fragment of a TLS URL, the
/// database as the path, percent-encoded UTF-8 credentials.
fn tcp_parts(url: &url::Url) -> Result<Parts, &'static str> {
    let host = match url.host() {
        // Without the brackets of an IPv6 address.
        Some(url::Host::Domain(name)) => name.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("Missing hostname"),
    };
    if host == "0.0.0.0" || host == "::" {
        return Err("Cannot connect to a wildcard address (0.0.0.0 or ::)");
    }
    let port = url.port().unwrap_or(DEFAULT_REDIS_PORT);
    let address = if TLS_SCHEMES.contains(&url.scheme()) {
        let insecure = match url.fragment() {
            Some("insecure") => true,
            Some(_) => return Err("only #insecure is supported as URL fragment"),
            None => false,
        };
        StoreAddress::Tls {
            host,
            port,
            insecure,
        }
    } else {
        StoreAddress::Tcp { host, port }
    };
    let db = match url.path().trim_matches('/') {
        "" => 0,
        path => path.parse().map_err(|_| "Invalid database number")?,
    };
    let username = match url.username() {
        "" => None,
        name => Some(
            percent_decode_str(name)
                .decode_utf8()
                .map_err(|_| "Username is not valid UTF-8 string")?
                .into_owned(),
        ),
    };
    let password = match url.password() {
        Some(pw) => Some(Secret::new(
            percent_decode_str(pw)
                .decode_utf8()
                .map_err(|_| "Password is not valid UTF-8 string")?
                .into_owned(),
        )),
        None => None,
    };
    Ok((address, db, username, password))
}

/// A unix-socket URL: the path, and `db`, `user` and `pass` query keys.
fn unix_parts(url: &url::Url) -> Result<Parts, &'static str> {
    let path = url.to_file_path().map_err(|_| "Missing path")?;
    let query = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let db = match query("db") {
        Some(db) => db.parse().map_err(|_| "Invalid database number")?,
        None => 0,
    };
    let password = query("pass").map(Secret::new);
    Ok((StoreAddress::Unix(path), db, query("user"), password))
}

/// The `protocol` query key; `None` when it names no RESP version.
fn protocol(url: &url::Url) -> Option<RespProtocol> {
    // The last one counts, as in a map built from the pairs.
    match url
        .query_pairs()
        .filter(|(k, _)| k == "protocol")
        .last()
        .map(|(_, v)| v)
    {
        None => Some(RespProtocol::Resp2),
        Some(v) if v == "2" || v == "resp2" => Some(RespProtocol::Resp2),
        Some(v) if v == "3" || v == "resp3" => Some(RespProtocol::Resp3),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let u = StoreUrl::parse("redis://us%40r:p%3Aw@[::1]:7000/3?protocol=resp3").unwrap();
        assert_eq!(
            u.address,
            StoreAddress::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        assert_eq!(u.db, 3);
        assert_eq!(u.username.as_deref(), Some("us@r"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some(&b"p:w"[..]));
        assert_eq!(u.protocol, RespProtocol::Resp3);
        assert!(!format!("{u:?}").contains("p:w"));

        let u = StoreUrl::parse("rediss://h#insecure").unwrap();
        assert!(u.is_tls());
        assert_eq!(
            u.address,
            StoreAddress::Tls {
                host: "h".into(),
                port: DEFAULT_REDIS_PORT,
                insecure: true
            }
        );
        let u = StoreUrl::parse("unix:///run/redis.sock?db=2&pass=x").unwrap();
        assert_eq!(u.address, StoreAddress::Unix("/run/redis.sock".into()));
        assert_eq!((u.db, u.username), (2, None));
        assert_eq!(StoreUrl::default().expose(), DEFAULT_STORE_URL.as_bytes());
    }

    #[test]
    fn refused() {
        for (url, message) in [
            ("http://h", "expected a URL like"),
            ("redis://", "Missing hostname"),
            ("redis://0.0.0.0", "wildcard"),
            ("redis://h/x", "Invalid database number"),
            ("rediss://h#other", "only #insecure"),
            ("redis://h?protocol=4", "Invalid protocol version"),
            ("unix:///s?db=x", "Invalid database number"),
        ] {
            let err = StoreUrl::parse(url).unwrap_err();
            assert!(err.contains(message), "{url}: {err}");
        }
    }
}
