//! Array configuration (TOML): the accelerator's size and precision.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Text of the built-in default configuration.
pub const DEFAULT_TOML: &str = include_str!("../configs/default.toml");
/// Name used in messages for the built-in default configuration.
pub const DEFAULT_NAME: &str = "<built-in default config>";

pub const MIN_ROWS: u32 = 16;
pub const MAX_ROWS: u32 = 4096;
pub const MIN_COLS: u32 = 16;
pub const MAX_COLS: u32 = 1024;
pub const MAX_COUNT: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubArray {
    /// Rows of 1-bit cells.
    pub rows: u32,
    /// Columns: bits per row, ANDed and counted per compute cycle.
    pub cols: u32,
    /// Number of computational sub-arrays.
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    /// Datapath operand bits: 8 or 16.
    pub precision: u32,
    pub subarray: SubArray,
}

impl ArrayConfig {
    /// The built-in default configuration.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_TOML, Path::new(DEFAULT_NAME)).expect("built-in config is valid")
    }

    /// Loads and validates a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates TOML text; `origin` names it in messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let cfg: ArrayConfig = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|s| text[s].trim().to_string())
                .unwrap_or_else(|| "<document>".to_string());
            Error::invalid(
                origin,
                "toml",
                field,
                format!(
                    "a valid array configuration ({})",
                    e.message().replace('\n', " ")
                ),
            )
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Checks every field against the limits the generator supports.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        if self.precision != 8 && self.precision != 16 {
            return Err(Error::invalid(
                origin,
                "precision",
                self.precision,
                "8 or 16",
            ));
        }
        let sa = &self.subarray;
        if !(MIN_ROWS..=MAX_ROWS).contains(&sa.rows) {
            return Err(Error::invalid(
                origin,
                "subarray.rows",
                sa.rows,
                format!("{MIN_ROWS} ..= {MAX_ROWS}"),
            ));
        }
        if !(MIN_COLS..=MAX_COLS).contains(&sa.cols) || !sa.cols.is_power_of_two() {
            return Err(Error::invalid(
                origin,
                "subarray.cols",
                sa.cols,
                format!("a power of two in {MIN_COLS} ..= {MAX_COLS}"),
            ));
        }
        if !(1..=MAX_COUNT).contains(&sa.count) {
            return Err(Error::invalid(
                origin,
                "subarray.count",
                sa.count,
                format!("1 ..= {MAX_COUNT}"),
            ));
        }
        Ok(())
    }

    /// SHA-256 of the canonical (JSON) form of the configuration, hex.
    pub fn hash(&self) -> String {
        let canon = serde_json::to_string(self).expect("config serializes");
        hex(&Sha256::digest(canon.as_bytes()))
    }
}

/// Lower-case hex of a byte slice.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
}
