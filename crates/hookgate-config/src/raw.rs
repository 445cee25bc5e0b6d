//! A span-keeping walk over the parsed TOML document.
//!
//! `toml_edit::Document` keeps the byte span of every key and value; this
//! module turns those spans into 1-based lines and offers the typed readers
//! the section builders use (`string`, `uint`, `table`, ...). Each reader
//! records a [`ConfigError`] and returns `None` on a problem, so the caller
//! carries on and every problem in the file is reported at once.
//!
//! A `[table]` and an `{ inline = "table" }` read the same way, and so do
//! `[[array.of.tables]]` and `[{ inline }, { tables }]`: TOML treats them as
//! the same data, and so does Hookgate.
//!
//! Key paths are built here: `server.listen`, `admin.tokens[0].role`,
//! `sources.stripe.types."payment_intent.succeeded"`. A source or
//! subscription is first read under its index (`sources[2]`) and renamed
//! with [`Fields::rename`] once its id is known to be valid.

use crate::env::Env;
use crate::error::ConfigError;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use toml_edit::{ArrayOfTables, InlineTable, Item, Table, Value};

// === impl Lines ===

/// Byte offset to 1-based line.
struct Lines {
    /// Byte offset at which each line starts; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { starts }
    }

    fn line(&self, offset: usize) -> usize {
        // `starts[0] == 0 <= offset`, so the count is at least 1.
        self.starts.partition_point(|&start| start <= offset)
    }
}

// === impl Node ===

/// One value in the document, whatever syntax wrote it.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    /// A scalar, an array or an inline table.
    Value(&'a Value),
    /// A `[table]` (or an implicit / dotted one).
    Table(&'a Table),
    /// An `[[array.of.tables]]`.
    Tables(&'a ArrayOfTables),
}

impl<'a> Node<'a> {
    fn from_item(item: &'a Item) -> Option<Self> {
        match item {
            Item::None => None,
            Item::Value(v) => Some(Node::Value(v)),
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::Tables(a)),
        }
    }

    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
            Node::Tables(a) => a.span(),
        }
    }

    /// "a string", "an integer", ... for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Value(Value::String(_)) => "a string",
            Node::Value(Value::Integer(_)) => "an integer",
            Node::Value(Value::Float(_)) => "a float",
            Node::Value(Value::Boolean(_)) => "a boolean",
            Node::Value(Value::Datetime(_)) => "a datetime",
            Node::Value(Value::Array(_)) => "an array",
            Node::Value(Value::InlineTable(_)) | Node::Table(_) => "a table",
            Node::Tables(_) => "an array of tables",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&'a str> {
        match self {
            Node::Value(Value::String(s)) => Some(s.value()),
            _ => None,
        }
    }

    pub(crate) fn is_table(&self) -> bool {
        matches!(self, Node::Table(_) | Node::Value(Value::InlineTable(_)))
    }
}

// === impl Field ===

/// A value together with where it is: its key path and its line.
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub(crate) node: Node<'a>,
    /// The line of the key (for a table entry) or of the value (for an
    /// array element).
    pub(crate) line: Option<usize>,
    pub(crate) path: String,
}

/// Appends `key` to `base`, quoting keys that are not bare TOML keys.
pub(crate) fn join(base: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if base.is_empty() {
        key
    } else {
        format!("{base}.{key}")
    }
}

// === impl Fields ===

/// The entries of one table, in file order.
pub(crate) struct Fields<'a> {
    path: String,
    /// The line of the table's header or key.
    pub(crate) line: Option<usize>,
    entries: Vec<(&'a str, Option<usize>, Node<'a>)>,
}

impl<'a> Fields<'a> {
    /// The entry `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<Field<'a>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(k, line, node)| Field {
                node: *node,
                line: *line,
                path: join(&self.path, k),
            })
    }

    /// Every entry, in file order.
    pub(crate) fn all(&self) -> Vec<(&'a str, Field<'a>)> {
        self.entries
            .iter()
            .map(|(k, line, node)| {
                (
                    *k,
                    Field {
                        node: *node,
                        line: *line,
                        path: join(&self.path, k),
                    },
                )
            })
            .collect()
    }

    /// The path of `key` in this table (present or not).
    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Names this table differently from here on (a source by its id).
    pub(crate) fn rename(&mut self, path: String) {
        self.path = path;
    }
}

// === impl Ctx ===

/// The state of one parse: where we are, what went wrong so far.
pub(crate) struct Ctx<'e> {
    file: String,
    lines: Lines,
    /// Relative `{ file = ... }` secrets resolve against this directory.
    pub(crate) base_dir: PathBuf,
    pub(crate) env: &'e dyn Env,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'e> Ctx<'e> {
    pub(crate) fn new(file: String, text: &str, base_dir: PathBuf, env: &'e dyn Env) -> Self {
        Ctx {
            file,
            lines: Lines::new(text),
            base_dir,
            env,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The 1-based line at which `span` starts.
    pub(crate) fn line_of(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| self.lines.line(s.start))
    }

    fn problem(&self, line: Option<usize>, key: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line,
            key: key.to_owned(),
            message,
        }
    }

    /// Records an error at `line` for `key`.
    pub(crate) fn error(&mut self, line: Option<usize>, key: &str, message: impl Into<String>) {
        let e = self.problem(line, key, message.into());
        self.errors.push(e);
    }

    /// Records an error about `field`.
    pub(crate) fn error_at(&mut self, field: &Field<'_>, message: impl Into<String>) {
        self.error(field.line, &field.path, message);
    }

    /// Records a warning: the file is accepted, but the operator should know.
    pub(crate) fn warn(&mut self, line: Option<usize>, key: &str, message: impl Into<String>) {
        let w = self.problem(line, key, message.into());
        self.warnings.push(w);
    }

    /// Records a warning about `field`.
    pub(crate) fn warn_at(&mut self, field: &Field<'_>, message: impl Into<String>) {
        let w = self.problem(field.line, &field.path, message.into());
        self.warnings.push(w);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Errors and warnings found, in the order found.
    pub(crate) fn finish(self) -> (Vec<ConfigError>, Vec<ConfigError>) {
        (self.errors, self.warnings)
    }

    /// The document root as a field with an empty path.
    pub(crate) fn root<'a>(&self, root: &'a Table) -> Field<'a> {
        Field {
            node: Node::Table(root),
            line: None,
            path: String::new(),
        }
    }

    fn expected(&mut self, field: &Field<'_>, what: &str) {
        let found = field.node.kind();
        self.error_at(field, format!("expected {what}, found {found}"));
    }

    /// Reports a key that must be present and is not.
    pub(crate) fn missing(&mut self, table: &Fields<'_>, key: &str, what: &str) {
        self.error(
            table.line,
            &table.key_path(key),
            format!("missing required key ({what})"),
        );
    }

    // --- tables and arrays ---

    /// Reads `field` as a table, without checking its keys.
    pub(crate) fn table<'a>(&mut self, field: &Field<'a>) -> Option<Fields<'a>> {
        let entries = match field.node {
            Node::Table(t) => t
                .iter()
                .filter_map(|(k, item)| {
                    let node = Node::from_item(item)?;
                    let line = self.entry_line(t.key(k).and_then(|k| k.span()), &node);
                    Some((k, line, node))
                })
                .collect(),
            Node::Value(Value::InlineTable(t)) => self.inline_entries(t),
            _ => {
                self.expected(field, "a table");
                return None;
            }
        };
        let line = field.line.or_else(|| self.line_of(field.node.span()));
        Some(Fields {
            path: field.path.clone(),
            line,
            entries,
        })
    }

    fn inline_entries<'a>(&self, t: &'a InlineTable) -> Vec<(&'a str, Option<usize>, Node<'a>)> {
        t.iter()
            .map(|(k, v)| {
                let node = Node::Value(v);
                let line = self.entry_line(t.key(k).and_then(|k| k.span()), &node);
                (k, line, node)
            })
            .collect()
    }

    /// The line of a table entry: its key's, else its value's.
    fn entry_line(&self, key_span: Option<Range<usize>>, node: &Node<'_>) -> Option<usize> {
        self.line_of(key_span).or_else(|| self.line_of(node.span()))
    }

    /// Rejects every key of `table` not in `allowed`.
    pub(crate) fn check_keys(&mut self, table: &Fields<'_>, allowed: &[&str]) {
        for (key, field) in table.all() {
            if !allowed.contains(&key) {
                self.error_at(
                    &field,
                    format!("unknown key; expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    /// Reads `field` as a table whose keys must all be in `allowed`.
    pub(crate) fn table_of<'a>(
        &mut self,
        field: &Field<'a>,
        allowed: &[&str],
    ) -> Option<Fields<'a>> {
        let table = self.table(field)?;
        self.check_keys(&table, allowed);
        Some(table)
    }

    /// Reads `field` as an array (of values or of tables); elements are
    /// named `path[i]`.
    pub(crate) fn array<'a>(&mut self, field: &Field<'a>) -> Option<Vec<Field<'a>>> {
        let element = |i: usize, node: Node<'a>, line: Option<usize>| Field {
            node,
            line,
            path: format!("{}[{i}]", field.path),
        };
        match field.node {
            Node::Value(Value::Array(a)) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let line = self.line_of(v.span()).or(field.line);
                        element(i, Node::Value(v), line)
                    })
                    .collect(),
            ),
            Node::Tables(a) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let line = self.line_of(t.span()).or(field.line);
                        element(i, Node::Table(t), line)
                    })
                    .collect(),
            ),
            _ => {
                self.expected(field, "an array");
                None
            }
        }
    }

    // --- scalars ---

    /// A string.
    pub(crate) fn string(&mut self, field: &Field<'_>) -> Option<String> {
        match field.node.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.expected(field, "a string");
                None
            }
        }
    }

    /// A string that is not empty.
    pub(crate) fn nonempty_string(&mut self, field: &Field<'_>) -> Option<String> {
        let s = self.string(field)?;
        if s.is_empty() {
            self.error_at(field, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// One of `choices`, returned as its index.
    pub(crate) fn choice(&mut self, field: &Field<'_>, choices: &[&str]) -> Option<usize> {
        let s = self.string(field)?;
        let found = choices.iter().position(|c| *c == s);
        if found.is_none() {
            let list = choices.join(" | ");
            self.error_at(field, format!("expected one of {list}, found {s:?}"));
        }
        found
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, field: &Field<'_>) -> Option<bool> {
        match field.node {
            Node::Value(Value::Boolean(b)) => Some(*b.value()),
            _ => {
                self.expected(field, "true or false");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(crate) fn uint(&mut self, field: &Field<'_>, min: u64, max: u64) -> Option<u64> {
        let n = match field.node {
            Node::Value(Value::Integer(n)) => *n.value(),
            _ => {
                self.expected(field, &format!("an integer >= {min}"));
                return None;
            }
        };
        match u64::try_from(n) {
            Ok(n) if n < min => {
                self.error_at(field, format!("must be at least {min}, found {n}"));
                None
            }
            Ok(n) if n > max => {
                self.error_at(field, format!("must be at most {max}, found {n}"));
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.error_at(field, format!("must be at least {min}, found {n}"));
                None
            }
        }
    }

    /// A number, integer or float.
    pub(crate) fn number(&mut self, field: &Field<'_>) -> Option<f64> {
        match field.node {
            // Exact up to 2^53, far beyond any rate anyone configures.
            Node::Value(Value::Integer(n)) => Some(*n.value() as f64),
            Node::Value(Value::Float(x)) => Some(*x.value()),
            _ => {
                self.expected(field, "a number");
                None
            }
        }
    }

    /// A list of strings; with `nonempty_items`, each must be non-empty.
    pub(crate) fn string_list(
        &mut self,
        field: &Field<'_>,
        nonempty_items: bool,
    ) -> Option<Vec<String>> {
        if !matches!(field.node, Node::Value(Value::Array(_))) {
            self.expected(field, "an array of strings");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in self.array(field)? {
            let s = if nonempty_items {
                self.nonempty_string(&item)
            } else {
                self.string(&item)
            };
            match s {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A socket address such as `127.0.0.1:8080`.
    pub(crate) fn socket_addr(&mut self, field: &Field<'_>) -> Option<SocketAddr> {
        let s = self.string(field)?;
        let parsed = parse_socket_addr(&s);
        if let Err(message) = &parsed {
            self.error_at(field, message.clone());
        }
        parsed.ok()
    }
}

/// Parses a listen address; the error is the message to show.
pub(crate) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("expected an address like \"127.0.0.1:8080\" or \"[::1]:8080\", found {s:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let lines = Lines::new("a\nbc\n\nd");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line(1), 1); // the newline itself
        assert_eq!(lines.line(2), 2);
        assert_eq!(lines.line(5), 3);
        assert_eq!(lines.line(6), 4);
    }

    #[test]
    fn paths_quote_keys_that_are_not_bare() {
        assert_eq!(join("", "server"), "server");
        assert_eq!(
            join("sources.stripe", "tolerance"),
            "sources.stripe.tolerance"
        );
        assert_eq!(
            join("sources.stripe.types", "payment_intent.succeeded"),
            "sources.stripe.types.\"payment_intent.succeeded\""
        );
    }
}
