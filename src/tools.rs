//! External tools (Verilator, Yosys, Icarus, ccache): finding them on
//! `PATH`, running them with their output captured, and quoting that output
//! in errors. Shared by [`crate::cosim`] and [`crate::lint`].

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// Finds `tool` in the directories of `PATH` (an executable regular file).
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

/// Like [`find_tool`], but a missing tool is [`Error::MissingTool`].
pub fn require_tool(tool: &str) -> Result<PathBuf> {
    find_tool(tool).ok_or_else(|| Error::missing_tool(tool))
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

/// Runs `cmd` with stdout and stderr going to one temporary file (so their
/// order is kept) and returns the exit status and the combined output.
pub(crate) fn run_merged(
    cmd: &mut Command,
    tmp_dir: &Path,
) -> Result<(std::process::ExitStatus, String)> {
    let never = AtomicBool::new(false);
    Ok(run_merged_unless(cmd, tmp_dir, &never)?.expect("never cancelled"))
}

/// [`run_merged`], but when `cancel` is set while `cmd` runs (another
/// tool failed) the command is killed and the answer is `None`.
pub(crate) fn run_merged_unless(
    cmd: &mut Command,
    tmp_dir: &Path,
    cancel: &AtomicBool,
) -> Result<Option<(std::process::ExitStatus, String)>> {
    use std::io::{Read, Seek};
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let mut log = tempfile::tempfile_in(tmp_dir).map_err(|e| Error::io(tmp_dir, e))?;
    let out = log.try_clone().map_err(|e| Error::io(tmp_dir, e))?;
    let err = log.try_clone().map_err(|e| Error::io(tmp_dir, e))?;
    let mut child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::ToolFailed {
            tool: tool.clone(),
            msg: format!("could not start: {e}"),
        })?;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| Error::io(tmp_dir, e))? {
            break st;
        }
        if cancel.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut bytes = Vec::new();
    log.rewind()
        .and_then(|_| log.read_to_end(&mut bytes))
        .map_err(|e| Error::io(tmp_dir, e))?;
    Ok(Some((status, String::from_utf8_lossy(&bytes).into_owned())))
}
