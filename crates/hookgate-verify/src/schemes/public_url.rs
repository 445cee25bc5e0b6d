//! `public_url` for the schemes that sign the URL the provider called
//! (`twilio`, `square`; docs/schemes.md): checked once at start, then combined with
//! the query string of each actual request.
//!
//! The configured URL must already be in the form every SDK would
//! serialize it to, so that "the URL as the provider sees it" has one
//! spelling: `http` or `https`, a lowercase host, an optional port, a path
//! that starts with `/`, no user info, query or fragment, visible ASCII
//! only. (twilio-node runs the URL through WHATWG `new URL()`, which
//! lowercases the host and adds a `/` path; twilio-python signs it as
//! given. Requiring the normalized spelling makes both sign the same
//! bytes.)

use super::common;
use crate::SchemeError;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;

/// What a URL-signing scheme builds from its source: no scheme keys, at
/// least one non-empty secret, and a valid `public_url`.
pub(crate) fn secrets_and_url(
    source: &SourceConfig,
    scheme: &str,
) -> Result<(Vec<Secret>, PublicUrl), SchemeError> {
    common::reject_other_keys(source, scheme, &[], true)?;
    let secrets = common::require_secrets(source, scheme)?.to_vec();
    let url = PublicUrl::from_source(source, scheme)?;
    Ok((secrets, url))
}

/// A validated `public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrl {
    scheme: &'static str,
    host: String,
    port: Option<u16>,
    path: String,
}

impl PublicUrl {
    /// Reads and checks `source.public_url` (required).
    pub(crate) fn from_source(source: &SourceConfig, scheme: &str) -> Result<Self, SchemeError> {
        let Some(raw) = source.public_url.as_deref() else {
            return Err(common::scheme_error(
                source,
                "public_url",
                format!(
                    "scheme {scheme:?} signs the URL it calls: set public_url to the URL configured at the provider, e.g. \"https://gateway.example.com/ingest/{}\"",
                    source.id
                ),
            ));
        };
        Self::parse(raw).map_err(|why| common::scheme_error(source, "public_url", why))
    }

    fn parse(raw: &str) -> Result<Self, String> {
        let (scheme, rest) = if let Some(rest) = raw.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = raw.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err("must start with \"https://\" or \"http://\" (lowercase)".into());
        };
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII (percent-encode anything else)".into());
        }
        if raw.contains(['?', '#']) {
            return Err(
                "must not carry a query or fragment (the request's query is appended)".into(),
            );
        }
        if raw.bytes().any(|b| b"\"<>\\^`{|}".contains(&b)) {
            return Err("contains characters URL parsers re-encode; percent-encode them".into());
        }
        let Some(slash) = rest.find('/') else {
            return Err("must include a path, e.g. \"/ingest/<source_id>\"".into());
        };
        let (authority, path) = rest.split_at(slash);
        if authority.contains('@') {
            return Err("must not contain user info".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|_| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("port {port:?} is not a number from 0 to 65535"))?;
                (host, Some(port))
            }
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("host must be lowercase (as URL parsers normalize it)".into());
        }
        if path.contains("/./")
            || path.contains("/../")
            || path.ends_with("/.")
            || path.ends_with("/..")
        {
            return Err("path must not contain dot segments".into());
        }
        Ok(PublicUrl {
            scheme,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    fn render(&self, port: Option<u16>, query: &str) -> String {
        match port {
            Some(p) => format!("{}://{}:{p}{}{query}", self.scheme, self.host, self.path),
            None => format!("{}://{}{}{query}", self.scheme, self.host, self.path),
        }
    }

    /// docs/schemes.md for Square: the URL as configured, and the same URL with its
    /// default port made explicit or removed (a non-default port is kept).
    pub(crate) fn default_port_variants(&self, query: &str) -> Vec<String> {
        let default = self.default_port();
        match self.port {
            None => vec![self.render(None, query), self.render(Some(default), query)],
            Some(p) if p == default => vec![self.render(Some(p), query), self.render(None, query)],
            Some(p) => vec![self.render(Some(p), query)],
        }
    }

    /// Twilio's helper libraries (`RequestValidator.validate` in
    /// twilio-python, `validateRequest` in twilio-node): the URL with any
    /// port removed, and with its port (the default one added if none).
    pub(crate) fn twilio_variants(&self, query: &str) -> Vec<String> {
        let port = self.port.unwrap_or_else(|| self.default_port());
        vec![self.render(None, query), self.render(Some(port), query)]
    }
}

/// The query of a request target, with its `?` (empty when there is none).
pub(crate) fn query_of(path_and_query: &str) -> &str {
    path_and_query
        .find('?')
        .map_or("", |i| &path_and_query[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let u = PublicUrl::parse("https://gw.example.com/ingest/tw").unwrap();
        assert_eq!(
            u.default_port_variants("?a=1"),
            vec![
                "https://gw.example.com/ingest/tw?a=1",
                "https://gw.example.com:443/ingest/tw?a=1"
            ]
        );
        assert_eq!(
            u.twilio_variants(""),
            vec![
                "https://gw.example.com/ingest/tw",
                "https://gw.example.com:443/ingest/tw"
            ]
        );
        let u = PublicUrl::parse("http://gw:80/x").unwrap();
        assert_eq!(
            u.default_port_variants(""),
            vec!["http://gw:80/x", "http://gw/x"]
        );
        let u = PublicUrl::parse("https://gw:8443/x").unwrap();
        assert_eq!(u.default_port_variants(""), vec!["https://gw:8443/x"]);
        assert_eq!(
            u.twilio_variants(""),
            vec!["https://gw/x", "https://gw:8443/x"]
        );
        for bad in [
            "ftp://gw/x",
            "HTTPS://gw/x",
            "https://gw",
            "https://GW/x",
            "https://gw/x?a=1",
            "https://gw/x#f",
            "https://u:p@gw/x",
            "https://gw:99999/x",
            "https://gw:/x",
            "https://:80/x",
            "https://gw/a b",
            "https://gw/é",
            "https://gw/a/../b",
            "https://gw/{x}",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query() {
        assert_eq!(query_of("/ingest/x"), "");
        assert_eq!(query_of("/ingest/x?"), "?");
        assert_eq!(query_of("/ingest/x?a=1&b"), "?a=1&b");
    }
}
