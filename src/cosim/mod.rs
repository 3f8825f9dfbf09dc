//! Co-simulation of the generated RTL with Verilator, driven from Rust.
//!
//! The crates `verilated` and `marlin` do not work with Verilator 5.006, so
//! capim builds a small C++ harness (`testbenches/harness.cpp`, embedded in
//! the binary) together with the RTL into an executable, spawns it as a child
//! process and talks to it over pipes with little-endian u32 frames.
//!
//! - [`verilator::build`] verilates and compiles the harness (cached by a
//!   SHA-256 stamp of its inputs);
//! - [`sim::Sim`] runs it and offers reset / write / read / run.
//!
//! # The port contract of `capim_top`
//!
//! ```verilog
//! module capim_top (
//!   input  wire        clk,
//!   input  wire        rst_n,      // synchronous, active low
//!   input  wire        host_we,    // write host_wdata to host_addr this cycle
//!   input  wire        host_re,    // read host_addr; data on host_rdata from the next cycle on
//!   input  wire [31:0] host_addr,
//!   input  wire [31:0] host_wdata,
//!   output wire [31:0] host_rdata,
//!   output wire        busy        // 1 while the accelerator runs
//! );
//! ```
//!
//! Memories are initialised with `$readmemh` from files named relative to the
//! simulation's current directory, so [`sim::Sim::spawn`] takes the directory
//! the harness runs in.

pub mod sim;
pub mod verilator;

pub use sim::{RunResult, Sim};
pub use verilator::{Built, build};

use std::path::{Path, PathBuf};

/// The harness source, embedded so capim works from any directory.
pub const HARNESS_CPP: &str = include_str!("../../testbenches/harness.cpp");

/// Name of the top module the harness drives.
pub const TOP: &str = "capim_top";

/// Finds `tool` in the directories of `PATH` (an executable regular file).
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

/// Like [`find_tool`], but a missing tool is [`crate::Error::MissingTool`].
pub fn require_tool(tool: &str) -> crate::Result<PathBuf> {
    find_tool(tool).ok_or_else(|| crate::Error::missing_tool(tool))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// `rtl_dir.join(f)` unless `f` is absolute.
pub(crate) fn resolve(rtl_dir: &Path, f: &Path) -> PathBuf {
    if f.is_absolute() {
        f.to_path_buf()
    } else {
        rtl_dir.join(f)
    }
}

/// The first `n` lines of `text`, with a note of how many were left out.
pub(crate) fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut s = lines.iter().take(n).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > n {
        s.push_str(&format!("\n... ({} more lines)", lines.len() - n));
    }
    s
}
