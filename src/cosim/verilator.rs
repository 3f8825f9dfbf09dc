//! Building the co-simulation harness with Verilator.
//!
//! [`build`] writes the embedded harness source into the build directory and
//! runs
//!
//! ```text
//! verilator --cc --exe --build -Wall --trace-fst --top-module capim_top \
//!     -Mdir <build_dir> -o capim_harness -j <jobs> -MAKEFLAGS OPT_FAST=-O2 \
//!     <rtl files> <build_dir>/harness.cpp
//! ```
//!
//! with `OBJCACHE=ccache` in the environment when `ccache` is on `PATH`
//! (DESIGN.md §7). `-lz` for FST is added by Verilator's own makefile.
//! `<jobs>` is the number of available CPUs, at most 8.
//!
//! A successful build leaves a stamp (`capim_harness.stamp`): the SHA-256 of
//! the Verilator command line (with the RTL files named as given, not by
//! absolute path), the verilator executable's path, size and modification
//! time, the harness source, and the name and contents of every RTL file. A
//! later build with the same stamp reuses the executable without running
//! Verilator. Files pulled in with `` `include `` are not hashed: list every
//! source in the filelist. Two processes must not build into the same
//! directory at the same time.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::tools::{find_tool, first_lines, require_tool, resolve, run_merged};
use crate::{Error, Result};

/// The harness source, embedded so capim works from any directory.
pub const HARNESS_CPP: &str = include_str!("../../testbenches/harness.cpp");

/// Name of the harness executable inside the build directory.
pub const EXE_NAME: &str = "capim_harness";
const STAMP_NAME: &str = "capim_harness.stamp";
const HARNESS_NAME: &str = "harness.cpp";
/// Lines of tool output quoted in a build error.
const ERROR_LINES: usize = 40;

/// A built harness.
#[derive(Debug, Clone)]
pub struct Built {
    /// The harness executable.
    pub exe: PathBuf,
    /// Wall-clock seconds [`build`] took (stamp check included).
    pub seconds: f64,
    /// True when the executable was reused from an identical earlier build.
    pub cached: bool,
}

/// Verilates `filelist` (paths relative to `rtl_dir`, or absolute) with the
/// embedded harness into `build_dir` (created if missing) and returns the
/// harness executable. See the module documentation for the command line and
/// the reuse rule.
///
/// Errors: verilator not on `PATH` → [`Error::MissingTool`]; an unreadable
/// RTL file or unwritable build directory → [`Error::Io`]; Verilator or the
/// C++ compiler failing (any `-Wall` warning included) →
/// [`Error::ToolFailed`] with the first 40 lines of their output.
pub fn build(rtl_dir: &Path, filelist: &[PathBuf], build_dir: &Path) -> Result<Built> {
    let start = Instant::now();
    let verilator = require_tool("verilator")?;
    if filelist.is_empty() {
        return Err(Error::invalid(
            rtl_dir,
            "filelist",
            "[]",
            "at least one Verilog file",
        ));
    }
    for dir in [rtl_dir, build_dir] {
        crate::fsio::check_no_spaces(dir, "directory")?;
    }
    fs::create_dir_all(build_dir).map_err(|e| Error::io(build_dir, e))?;
    let build_dir = std::path::absolute(build_dir).map_err(|e| Error::io(build_dir, e))?;
    let files: Vec<PathBuf> = filelist
        .iter()
        .map(|f| std::path::absolute(resolve(rtl_dir, f)).map_err(|e| Error::io(f, e)))
        .collect::<Result<_>>()?;

    let jobs = std::thread::available_parallelism()
        .map(|n| n.get().min(8))
        .unwrap_or(2);
    let fixed_args: Vec<String> = [
        "--cc",
        "--exe",
        "--build",
        "-Wall",
        "--trace-fst",
        "--top-module",
        crate::hw::TOP_MODULE,
        "-o",
        EXE_NAME,
        "-MAKEFLAGS",
        "OPT_FAST=-O2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let stamp = stamp(&verilator, &fixed_args, filelist, &files)?;
    let exe = build_dir.join(EXE_NAME);
    let stamp_path = build_dir.join(STAMP_NAME);
    if exe.is_file() && fs::read_to_string(&stamp_path).is_ok_and(|s| s.trim() == stamp) {
        return Ok(Built {
            exe,
            seconds: start.elapsed().as_secs_f64(),
            cached: true,
        });
    }

    // Invalidate first: a failed build must not leave a stamp that matches.
    match fs::remove_file(&stamp_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&stamp_path, e)),
    }
    let harness = build_dir.join(HARNESS_NAME);
    if fs::read_to_string(&harness).ok().as_deref() != Some(HARNESS_CPP) {
        fs::write(&harness, HARNESS_CPP).map_err(|e| Error::io(&harness, e))?;
    }

    let mut cmd = Command::new(&verilator);
    cmd.args(&fixed_args)
        .arg("-Mdir")
        .arg(&build_dir)
        .arg("-j")
        .arg(jobs.to_string())
        .args(&files)
        .arg(&harness)
        .current_dir(&build_dir)
        .stdin(Stdio::null());
    if find_tool("ccache").is_some() {
        cmd.env("OBJCACHE", "ccache");
    }
    let (status, output) = run_merged(&mut cmd, &build_dir)?;
    if !status.success() || !exe.is_file() {
        return Err(Error::ToolFailed {
            tool: "verilator".into(),
            msg: format!(
                "building the co-simulation harness for {} ({}) in {}; output:\n{}",
                rtl_dir.display(),
                status,
                build_dir.display(),
                first_lines(&output, ERROR_LINES)
            ),
        });
    }
    fs::write(&stamp_path, format!("{stamp}\n")).map_err(|e| Error::io(&stamp_path, e))?;
    Ok(Built {
        exe,
        seconds: start.elapsed().as_secs_f64(),
        cached: false,
    })
}

/// SHA-256 (hex) of everything that determines the harness executable.
fn stamp(
    verilator: &Path,
    fixed_args: &[String],
    names: &[PathBuf],
    files: &[PathBuf],
) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"capim harness stamp v1");
    field(verilator.as_os_str().as_encoded_bytes());
    let meta = fs::metadata(verilator).map_err(|e| Error::io(verilator, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    field(format!("{} {}", meta.len(), mtime).as_bytes());
    for a in fixed_args {
        field(a.as_bytes());
    }
    field(HARNESS_CPP.as_bytes());
    for (name, path) in names.iter().zip(files) {
        let text = fs::read(path).map_err(|e| Error::io(path, e))?;
        field(name.as_os_str().as_encoded_bytes());
        field(&text);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
