//! `application/x-www-form-urlencoded` bodies (Twilio callbacks, Slack
//! slash commands and interactions): decoding and the JSON object they
//! become in the normalized event (docs/event.md).
//!
//! Decoding is WHATWG `application/x-www-form-urlencoded` parsing, which is
//! what the frameworks the providers' SDKs are used with do (werkzeug,
//! Django `QueryDict`, Node `URLSearchParams`): `&`-separated, the first
//! `=` splits name from value, `+` is a space, `%XX` escapes are decoded,
//! empty sequences are skipped, an invalid escape is kept as is, and bytes
//! that are not UTF-8 after decoding become U+FFFD.

use serde_json::{Map, Value};

/// The (name, value) pairs of a form body, in body order, repeats kept.
pub(crate) fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Whether the request says its body is a form (media type compared
/// case-insensitively, parameters such as `charset` ignored).
pub(crate) fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The pairs as one JSON object: a name sent once maps to its string
/// value; a name sent several times maps to an array of its values in
/// body order (the multi-value view the Twilio SDKs sign over, docs/event.md
/// "form-encoded payloads become a JSON object").
pub(crate) fn to_json(pairs: &[(String, String)]) -> Vec<u8> {
    let mut map: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        let value = Value::String(value.clone());
        match map.get_mut(name) {
            None => {
                map.insert(name.clone(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                map.insert(name.clone(), Value::Array(vec![first, value]));
            }
        }
    }
    // Serializing a map of strings cannot fail.
    serde_json::to_vec(&Value::Object(map)).expect("a JSON object of strings serializes")
}

/// The value of the first pair named `name`.
pub(crate) fn first<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_repeats() {
        let p = pairs(b"a=1&b=x+y%21&a=2&&c&=e&d=%zz&f=%FF");
        assert_eq!(
            p,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("a".into(), "2".into()),
                ("c".into(), "".into()),
                ("".into(), "e".into()),
                ("d".into(), "%zz".into()),
                ("f".into(), "\u{fffd}".into()),
            ]
        );
        let json: Value = serde_json::from_slice(&to_json(&p)).unwrap();
        assert_eq!(json["a"], serde_json::json!(["1", "2"]));
        assert_eq!(json["b"], "x y!");
        assert_eq!(first(&p, "a"), Some("1"));
    }

    #[test]
    fn content_type() {
        let mut h = http::HeaderMap::new();
        assert!(!is_form(&h));
        h.insert(
            "content-type",
            http::HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        );
        assert!(is_form(&h));
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        assert!(!is_form(&h));
    }
}
