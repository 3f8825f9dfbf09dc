//! The array configuration file (TOML): parsed into the accelerator's
//! typed description, [`ArrayConfig`] (see [`crate::hw`]). Every error names
//! the file, the field as a dotted key (`subarray.rows`), the value as
//! written and what was expected.

use crate::error::{Error, Result};
use crate::hw::{ArrayConfig, Mapping, Policy, SubArray, expected};
use std::path::Path;

/// Text of the built-in default configuration.
pub const DEFAULT_TOML: &str = include_str!("../configs/default.toml");
/// Name used in messages for the built-in default configuration.
pub const DEFAULT_NAME: &str = "<built-in default config>";

impl ArrayConfig {
    /// The built-in default configuration.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_TOML, Path::new(DEFAULT_NAME)).expect("built-in config is valid")
    }

    /// Loads and validates a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(&read_toml(path, "an array configuration")?, path)
    }

    /// Parses and validates TOML text; `origin` names it in messages. Every
    /// error names the field as a dotted key (`subarray.rows`), the value as
    /// written and what was expected.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let table = parse_table(text, origin)?;
        known_keys(&table, "", &["precision", "subarray", "mapping"], origin)?;
        let precision = uint(&table, "", "precision", origin)?;
        let sub = match table.get("subarray") {
            Some(toml::Value::Table(t)) => t,
            Some(v) => {
                return Err(Error::invalid(
                    origin,
                    "subarray",
                    v,
                    "a table `[subarray]` with `rows`, `cols` and `count`",
                ));
            }
            None => {
                return Err(Error::invalid(
                    origin,
                    "subarray",
                    "(missing)",
                    "a table `[subarray]` with `rows`, `cols` and `count`",
                ));
            }
        };
        known_keys(sub, "subarray.", &["rows", "cols", "count"], origin)?;
        let mapping = match table.get("mapping") {
            None => Mapping::default(),
            Some(toml::Value::Table(t)) => mapping(t, origin)?,
            Some(v) => {
                return Err(Error::invalid(
                    origin,
                    "mapping",
                    v,
                    "a table `[mapping]` with `segment`, `policy` and `max_active` (all optional)",
                ));
            }
        };
        let cfg = ArrayConfig {
            origin: origin.display().to_string(),
            precision,
            mapping,
            subarray: SubArray {
                rows: uint(sub, "subarray.", "rows", origin)?,
                cols: uint(sub, "subarray.", "cols", origin)?,
                count: uint(sub, "subarray.", "count", origin)?,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Reads a TOML file (at most [`crate::fsio::MAX_CONFIG_BYTES`]) as UTF-8
/// text; `what` names the kind of file in the size error.
pub(crate) fn read_toml(path: &Path, what: &str) -> Result<String> {
    let bytes = crate::fsio::read_bounded(path, crate::fsio::MAX_CONFIG_BYTES, what)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let (line, col) = line_col(&String::from_utf8_lossy(&e.as_bytes()[..at]), at);
        Error::invalid(
            path,
            "encoding",
            format!("byte {at} (line {line}, column {col})"),
            "UTF-8 text (TOML)",
        )
    })
}

/// Parses TOML text into a table; a syntax error names the line, the column
/// and the dotted key it is in.
pub(crate) fn parse_table(text: &str, origin: &Path) -> Result<toml::Table> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(text.len());
        let (line, col) = line_col(text, at);
        Error::invalid(
            origin,
            key_path_at(text, at),
            format!("line {line}, column {col}"),
            format!("valid TOML ({})", e.message().trim().replace('\n', " ")),
        )
    })
}

/// Rejects a key of `table` not in `known`; `prefix` is the table's dotted
/// path (`subarray.`).
pub(crate) fn known_keys(
    table: &toml::Table,
    prefix: &str,
    known: &[&str],
    origin: &Path,
) -> Result<()> {
    if let Some(key) = table.keys().find(|k| !known.contains(&k.as_str())) {
        let list: Vec<String> = known.iter().map(|k| format!("`{prefix}{k}`")).collect();
        return Err(Error::invalid(
            origin,
            format!("{prefix}{key}"),
            format!("unknown key \"{key}\""),
            format!("a known key: {}", list.join(", ")),
        ));
    }
    Ok(())
}

/// The optional `[mapping]` table.
fn mapping(t: &toml::Table, origin: &Path) -> Result<Mapping> {
    known_keys(t, "mapping.", &["segment", "policy", "max_active"], origin)?;
    let mut m = Mapping::default();
    if t.contains_key("segment") {
        m.segment = uint(t, "mapping.", "segment", origin)?;
    }
    if t.contains_key("max_active") {
        m.max_active = Some(uint(t, "mapping.", "max_active", origin)?);
    }
    match t.get("policy") {
        None => {}
        Some(toml::Value::String(p)) if p == "latency" => m.policy = Policy::Latency,
        Some(toml::Value::String(p)) if p == "energy" => m.policy = Policy::Energy,
        Some(v) => {
            return Err(Error::invalid(
                origin,
                "mapping.policy",
                v,
                "\"latency\" (fewest cycles) or \"energy\" (fewest active array-cycles)",
            ));
        }
    }
    Ok(m)
}

/// The required integer `key` of `table` as a `u32`.
fn uint(table: &toml::Table, prefix: &str, key: &str, origin: &Path) -> Result<u32> {
    let field = format!("{prefix}{key}");
    match table.get(key) {
        None => Err(Error::invalid(
            origin,
            &field,
            "(missing)",
            format!("a value for this required key: {}", expected(&field)),
        )),
        Some(toml::Value::Integer(i)) => {
            u32::try_from(*i).map_err(|_| Error::invalid(origin, &field, i, expected(&field)))
        }
        Some(v) => Err(Error::invalid(
            origin,
            &field,
            v,
            format!("an integer: {}", expected(&field)),
        )),
    }
}

/// 1-based line and column (in characters) of byte `at` of `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Best-effort dotted key path of the line holding byte `at`: the table
/// header in force plus the key before `=` on that line, the header itself
/// on a header line, `<document>` when there is neither.
fn key_path_at(text: &str, at: usize) -> String {
    let unquote = |k: &str| {
        k.split('.')
            .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut table = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let is_header = trimmed.starts_with('[');
        if is_header {
            let name = trimmed.trim_start_matches('[');
            table = unquote(name.split(']').next().unwrap_or(name));
        }
        if at < offset + line.len() {
            if is_header {
                break;
            }
            let key = line
                .split_once('=')
                .map(|(k, _)| unquote(k))
                .filter(|k| !k.is_empty() && !k.starts_with('#'));
            return match (table.is_empty(), key) {
                (true, Some(k)) => k,
                (false, Some(k)) => format!("{table}.{k}"),
                (false, None) => table,
                (true, None) => "<document>".to_string(),
            };
        }
        offset += line.len();
    }
    if table.is_empty() {
        "<document>".to_string()
    } else {
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ArrayConfig> {
        ArrayConfig::parse(s, Path::new("t.toml"))
    }

    #[test]
    fn builtin_is_valid() {
        let c = ArrayConfig::builtin();
        assert_eq!(c.precision, 8);
    }

    #[test]
    fn rejects_zero_rows() {
        let e = parse("precision = 8\n[subarray]\nrows = 0\ncols = 64\ncount = 4\n").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("t.toml") && m.contains("subarray.rows") && m.contains("= 0"),
            "{m}"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn rejects_unsupported_cols() {
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncols = 100\ncount = 4\n").unwrap_err();
        assert!(e.to_string().contains("subarray.cols"), "{e}");
    }

    #[test]
    fn rejects_unknown_key() {
        let e = parse("precision = 8\nfoo = 1\n[subarray]\nrows = 64\ncols = 64\ncount = 4\n")
            .unwrap_err();
        assert!(e.to_string().contains("foo"), "{e}");
    }

    #[test]
    fn rejects_precision() {
        let e = parse("precision = 4\n[subarray]\nrows = 64\ncols = 64\ncount = 4\n").unwrap_err();
        assert!(e.to_string().contains("precision"), "{e}");
    }

    #[test]
    fn unknown_key_names_its_table() {
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncolz = 64\ncols = 64\ncount = 4\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`subarray.colz`")
                && e.contains("unknown key \"colz\"")
                && e.contains("`subarray.cols`"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_name_the_field_and_value() {
        let e = parse("precision = 8\n[subarray]\nrows = \"many\"\ncols = 64\ncount = 4\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`subarray.rows` = \"many\"") && e.contains("integer"),
            "{e}"
        );
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncols = 64\ncount = -3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`subarray.count` = -3") && e.contains("1 ..= 256"),
            "{e}"
        );
        let e = parse("precision = 8\nsubarray = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`subarray` = 3"), "{e}");
    }

    #[test]
    fn missing_keys_are_named() {
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncols = 64\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`subarray.count` = (missing)"), "{e}");
        let e = parse("[subarray]\nrows = 64\ncols = 64\ncount = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`precision` = (missing)"), "{e}");
        let e = parse("precision = 8\n").unwrap_err().to_string();
        assert!(e.contains("`subarray` = (missing)"), "{e}");
    }

    #[test]
    fn syntax_errors_name_line_and_key() {
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncols = \ncount = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`subarray.cols`") && e.contains("line 4"), "{e}");
        let e = parse("precision = 8\n[subarray]\nrows = 64\ncols = 64\nrows = 4\ncount = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`subarray.rows`") && e.contains("line 5"), "{e}");
        assert_eq!(
            parse("\u{e9}\u{e9} = [\n").unwrap_err().exit_code(),
            2,
            "never panics on multi-byte text"
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let c = ArrayConfig::builtin();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(parse(&text).unwrap(), c);
    }
}
