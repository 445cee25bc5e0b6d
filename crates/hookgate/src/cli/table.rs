//! A tiny aligned-table renderer for terminal output.
//!
//! Columns are left-aligned and separated by two spaces; the last column is
//! not padded. Cells are made safe for a terminal (control characters,
//! e.g. an escape sequence inside a provider's event type, become `?`),
//! empty cells show `-`, and overlong cells are cut with `…`.

use crate::client::printable;

/// Longest cell shown before it is cut.
const MAX_CELL: usize = 80;

/// A table under construction.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells show `-`, extra cells are dropped).
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .map(|c| cell(c.as_ref()))
            .collect();
        row.resize(self.headers.len(), "-".to_owned());
        self.rows.push(row);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rendered table, one line per row after the header line.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(c);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', w - c.chars().count()));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// One cell: printable, `-` when empty, cut at [`MAX_CELL`] characters.
fn cell(s: &str) -> String {
    let s = printable(s);
    if s.is_empty() {
        return "-".to_owned();
    }
    if s.chars().count() > MAX_CELL {
        let mut cut: String = s.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        return cut;
    }
    s
}

/// `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let v = printable(v);
        let v = if v.is_empty() { "-".to_owned() } else { v };
        out.push_str(&format!(
            "{k:<width$}  {v}\n",
            width = width + 1,
            k = format!("{k}:")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_and_leaves_the_last_unpadded() {
        let mut t = Table::new(&["ID", "NAME", "URL"]);
        t.row(["a", "longer name", "http://x"]);
        t.row(["bbbb", "", "http://y/z"]);
        assert_eq!(
            t.render(),
            "ID    NAME         URL\n\
             a     longer name  http://x\n\
             bbbb  -            http://y/z\n"
        );
    }

    #[test]
    fn cells_are_safe_and_bounded() {
        let mut t = Table::new(&["A", "B"]);
        t.row(["x\x1b[2Jy".to_owned(), "z".repeat(200)]);
        t.row(["only one"]);
        let out = t.render();
        assert!(!out.contains('\x1b'));
        assert!(out.contains("x?[2Jy"));
        assert!(out.contains('…'));
        assert!(out.lines().all(|l| l.chars().count() < 100));
        assert!(out.lines().nth(2).unwrap().ends_with('-'));
    }

    #[test]
    fn fields_align() {
        assert_eq!(
            fields(&[("id", "e1".into()), ("source", String::new())]),
            "id:      e1\nsource:  -\n"
        );
    }
}
