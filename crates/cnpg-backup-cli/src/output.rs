//! Printing data on stdout: tables for people, JSON and YAML documents for scripts.
//!
//! Only data goes to stdout; logs and progress go to stderr through tracing. Colour goes through
//! anstream, which strips it when `NO_COLOR` is set or stdout is not a terminal, and colour never
//! carries meaning on its own (the words are always there).

use std::io::{self, Write};

use serde::Serialize;

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON document (camelCase fields).
    Json,
    /// One YAML document (camelCase fields).
    Yaml,
}

/// Something that can be shown as a table for people.
pub trait Table {
    /// Writes the human form.
    ///
    /// # Errors
    /// An I/O error from `w`.
    fn table(&self, w: &mut dyn Write) -> io::Result<()>;
}

/// Writes `value` in `format` to stdout.
///
/// # Errors
/// An I/O error writing stdout (a broken pipe is handled by `main`).
pub fn emit<T: Serialize + Table>(format: Output, value: &T) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    match format {
        Output::Table => value.table(&mut out)?,
        Output::Json => {
            let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
            writeln!(out, "{text}")?;
        }
        Output::Yaml => {
            let text = to_yaml(value)?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

/// Writes text as is to stdout.
///
/// # Errors
/// An I/O error writing stdout.
pub fn emit_text(text: &str) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// YAML text of `value` (serde-saphyr).
///
/// # Errors
/// When `value` cannot be represented in YAML.
pub fn to_yaml<T: Serialize>(value: &T) -> io::Result<String> {
    let mut text = serde_saphyr::to_string(value).map_err(io::Error::other)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// ANSI styles used on top of words that already say the same thing.
pub mod style {
    /// Bold.
    pub const BOLD: &str = "\x1b[1m";
    /// Green.
    pub const GREEN: &str = "\x1b[32m";
    /// Red.
    pub const RED: &str = "\x1b[31m";
    /// Yellow.
    pub const YELLOW: &str = "\x1b[33m";
    /// Reset.
    pub const RESET: &str = "\x1b[0m";

    /// `text` painted with `style`.
    pub fn paint(style: &str, text: &str) -> String {
        format!("{style}{text}{RESET}")
    }
}

/// Writes aligned columns: a bold header row, then the rows. Cells never contain colour codes,
/// so widths are exact.
///
/// # Errors
/// An I/O error from `w`.
pub fn columns(w: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            s.push_str(c);
            if i + 1 < n {
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s
    };
    let header = line(headers.to_vec());
    writeln!(w, "{}", style::paint(style::BOLD, &header))?;
    for row in rows {
        writeln!(w, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// `-` for an absent value in tables.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut buf = Vec::new();
        columns(
            &mut buf,
            &["A", "LONG"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        )
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let plain = text.replace(style::BOLD, "").replace(style::RESET, "");
        assert_eq!(plain, "A    LONG\nxyz  1\nq    22\n");
    }
}
