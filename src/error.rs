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
            file: file.as_ref().display().to_string(),
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, err: impl std::fmt::Display) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
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
