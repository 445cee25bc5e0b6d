//! Subscription patterns (docs/delivery.md): globs on the normalized type where `*`
//! matches any run of characters, dots included; anything else matches
//! exactly. No `?`, no classes: a type containing such characters is matched
//! literally.

/// A compiled pattern. It keeps the text it was compiled from
/// ([`Pattern::as_str`]), and equals that text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<String>,
    /// True when the pattern contains no `*`.
    exact: bool,
}

impl Pattern {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        Pattern {
            text: pattern.to_owned(),
            parts: pattern.split('*').map(str::to_owned).collect(),
            exact: !pattern.contains('*'),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `ty` matches.
    pub fn matches(&self, ty: &str) -> bool {
        if self.exact {
            return self.parts[0] == ty;
        }
        let (first, rest) = self
            .parts
            .split_first()
            .expect("split yields one part at least");
        let (last, middle) = rest.split_last().expect("a `*` yields two parts at least");
        let Some(mut tail) = ty.strip_prefix(first.as_str()) else {
            return false;
        };
        for part in middle {
            match tail.find(part.as_str()) {
                Some(at) => tail = &tail[at + part.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }

    /// Whether some type starting with `prefix` (and going on with anything)
    /// matches: the pattern's text before its first `*` agrees with
    /// `prefix` as far as both go (an exact pattern must itself start with
    /// `prefix`). For config checks: which sources' events can reach a
    /// subscription.
    pub fn may_match_prefix(&self, prefix: &str) -> bool {
        let first = &self.parts[0];
        if self.exact {
            first.starts_with(prefix)
        } else {
            first.starts_with(prefix) || prefix.starts_with(first.as_str())
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for Pattern {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Pattern {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn prefixes_a_pattern_may_match() {
        for (pattern, prefix, expected) in [
            ("*", "stripe.", true),
            ("stripe.*", "stripe.", true),
            ("stripe.charge.*", "stripe.", true),
            ("str*", "stripe.", true),
            ("adyen.*", "stripe.", false),
            ("*.created", "stripe.", true),
            ("stripe.charge.succeeded", "stripe.", true),
            ("payment.succeeded", "stripe.", false),
            ("stripe", "stripe.", false),
        ] {
            assert_eq!(
                Pattern::new(pattern).may_match_prefix(prefix),
                expected,
                "{pattern} / {prefix}"
            );
        }
    }

    #[test]
    fn table() {
        for (pattern, ty, expected) in [
            ("*", "anything.at.all", true),
            ("*", "", true),
            ("payment.*", "payment.succeeded", true),
            ("payment.*", "payment.refund.created", true),
            ("payment.*", "payment", false),
            ("payment.*", "payments.x", false),
            ("stripe.charge.*", "stripe.charge.refunded", true),
            ("stripe.*.created", "stripe.customer.created", true),
            ("stripe.*.created", "stripe.created", false),
            ("*.created", "a.b.created", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("exact.type", "exact.type", true),
            ("exact.type", "exact.types", false),
            ("a?c", "abc", false),
            ("a?c", "a?c", true),
        ] {
            assert_eq!(
                Pattern::new(pattern).matches(ty),
                expected,
                "{pattern} vs {ty}"
            );
        }
    }
}
