//! capim's error type and its mapping to exit codes.
//!
//! Exit codes: 0 ok, 1 verification failed (mismatch, hang), 2 bad input or
//! missing tool. Every user-facing error names the file, the field, the value
//! and what was expected.

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value in a user-supplied file (configuration, model, tensor) is wrong.
    #[error("{file}: `{field}` = {value}: expected {expected}")]
    Invalid {
        file: String,
        field: String,
        value: String,
        expected: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
    /// An external tool (verilator, yosys, iverilog) is missing.
    #[error("required tool `{tool}` was not found on PATH; install it with: {install}")]
    MissingTool { tool: String, install: String },
    /// An external tool ran and reported failure (lint error, build error).
    #[error("{tool} failed: {msg}")]
    ToolFailed { tool: String, msg: String },
    /// The RTL did not match the reference, or the simulation misbehaved.
    #[error("verification failed: {0}")]
    Verification(String),
}

impl Error {
    pub fn invalid(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            file: clip(&file.as_ref().display().to_string()),
            field: clip(&field.into()),
            value: clip(&value.to_string()),
            expected: expected.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, err: impl std::fmt::Display) -> Self {
        Error::Io {
            path: clip(&path.as_ref().display().to_string()),
            msg: err.to_string(),
        }
    }

    pub fn missing_tool(tool: &str) -> Self {
        Error::MissingTool {
            tool: tool.to_string(),
            install: format!("apt-get install -y {tool}"),
        }
    }

    /// Process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Verification(_) => 1,
            Error::ToolFailed { .. } => 1,
            _ => 2,
        }
    }
}

/// Longest echo of a user-supplied file name, field or value in a message,
/// in characters.
pub const ECHO_CHARS: usize = 160;

/// A user-supplied text as it is echoed in a message: control characters
/// escaped (`\n`, `\u{0}`), cut after [`ECHO_CHARS`] characters with a note
/// of how many were left out.
pub fn clip(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == ECHO_CHARS {
            let rest = s.chars().count() - n;
            out.push_str(&format!("... ({rest} more characters)"));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_escaped_and_cut() {
        assert_eq!(clip("a\nb\0"), "a\\nb\\u{0}");
        let long = "x".repeat(10_000);
        let c = clip(&long);
        assert!(
            c.len() < 200 && c.ends_with("(9840 more characters)"),
            "{c}"
        );
        let e = Error::invalid("m.json", "name", "evil\nmodule x;", "a name");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
