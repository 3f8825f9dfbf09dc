//! Lint of the generated RTL with the three tools users are expected to run
//! it through (DESIGN.md §5): Verilator 5.006 `-Wall`, Yosys 0.23 synthesis
//! and Icarus Verilog 11 (`-g2012`).
//!
//! The three tools run concurrently:
//!
//! - `verilator --lint-only -Wall --top-module <top> <files>`
//! - `yosys -q -p "read_verilog -sv <files>; <synth> -top <top>"`, run in
//!   `rtl_dir` so that `$readmemh` finds its images, where `<synth>` is
//!   `synth` or `synth_xilinx` (see [`Synth`]);
//! - `iverilog -g2012 -o <temporary file> -s <top> <files>`.
//!
//! A tool fails when it exits non-zero or prints anything at all: all three
//! are silent on success (Yosys because of `-q`, which leaves only warnings
//! and errors), so every line of output is a warning or an error. One Yosys
//! warning is exempted, under `synth_xilinx` only: `Resizing cell port
//! <mem>.<BRAM port> from X bits to Y bits.` on the data/parity/write-enable
//! and address ports of the block RAMs that Yosys 0.23's own `memory_libmap`
//! created.
//! It is printed for every inferred RAMB18E1/RAMB36E1 whose configured width
//! is narrower than the primitive's widest port, whatever the RTL; any other
//! warning fails.
//!
//! The first tool to fail stops the others (Verilator answers in a second,
//! Yosys can take minutes); the error names the failing tools and those
//! stopped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::tools::{first_lines, require_tool, resolve, run_merged_unless};
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Memory bits above which [`Synth::Auto`] picks `synth_xilinx`: Yosys's
/// generic `synth` maps memories to flip-flops, which takes minutes for
/// megabit memories, while `synth_xilinx` infers block RAM (DESIGN.md §7).
/// On the other hand `synth_xilinx` costs ~9 s even for a tiny design, where
/// `synth` takes ~1.4 s.
pub const XILINX_ABOVE_BITS: u64 = 64 * 1024;

/// Lines of each failing tool's output quoted in the error.
const ERROR_LINES: usize = 20;

/// Which Yosys synthesis script the lint runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synth {
    /// `synth`: generic gates; memories become flip-flops.
    Generic,
    /// `synth_xilinx`: block RAM inference, fast for big memories.
    Xilinx,
    /// `Xilinx` when the `$readmemh`/`$readmemb` images the RTL loads hold
    /// more than [`XILINX_ABOVE_BITS`] bits, else `Generic`.
    Auto,
}

/// What one tool did.
#[derive(Debug, Clone)]
pub struct ToolReport {
    /// `verilator`, `yosys` or `iverilog`.
    pub tool: &'static str,
    /// The command line, for the user to rerun.
    pub command: String,
    /// Exited 0 and printed nothing.
    pub ok: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Its stdout and stderr, merged.
    pub output: String,
}

/// The result of a passing lint.
#[derive(Debug, Clone)]
pub struct LintReport {
    /// One entry per tool, in the order verilator, yosys, iverilog.
    pub tools: Vec<ToolReport>,
    /// The synthesis script used (never [`Synth::Auto`]).
    pub synth: Synth,
    /// Bits in the memory images the RTL loads (what [`Synth::Auto`] uses).
    pub image_bits: u64,
}

/// [`lint_with`] using [`Synth::Auto`].
pub fn lint(rtl_dir: &Path, filelist: &[PathBuf], top: &str) -> Result<LintReport> {
    lint_with(rtl_dir, filelist, top, Synth::Auto)
}

/// Lints `filelist` (paths relative to `rtl_dir`, or absolute) with top
/// module `top` under Verilator, Yosys and Icarus.
///
/// Errors: a tool not on `PATH` → [`Error::MissingTool`] (checked before
/// anything runs); a file missing → [`Error::Io`]; any tool failing →
/// [`Error::ToolFailed`] naming the failing tools with the first lines of
/// their output.
pub fn lint_with(
    rtl_dir: &Path,
    filelist: &[PathBuf],
    top: &str,
    synth: Synth,
) -> Result<LintReport> {
    let verilator = require_tool("verilator")?;
    let yosys = require_tool("yosys")?;
    let iverilog = require_tool("iverilog")?;
    if filelist.is_empty() {
        return Err(Error::invalid(
            rtl_dir,
            "filelist",
            "[]",
            "at least one Verilog file",
        ));
    }
    if top.is_empty() || !top.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::invalid(
            rtl_dir,
            "top",
            format!("{top:?}"),
            "a Verilog module name (letters, digits, `_`)",
        ));
    }
    let rtl_dir = std::path::absolute(rtl_dir).map_err(|e| Error::io(rtl_dir, e))?;
    let mut files = Vec::with_capacity(filelist.len());
    for f in filelist {
        let p = resolve(&rtl_dir, f);
        if !p.is_file() {
            return Err(Error::io(&p, "no such RTL file (listed in the filelist)"));
        }
        if p.to_string_lossy().contains('"') {
            return Err(Error::invalid(
                &p,
                "filelist",
                p.display(),
                "a path without `\"` (Yosys scripts cannot quote it)",
            ));
        }
        files.push(p);
    }

    let image_bits = image_bits(&rtl_dir, &files)?;
    let synth = match synth {
        Synth::Auto if image_bits > XILINX_ABOVE_BITS => Synth::Xilinx,
        Synth::Auto => Synth::Generic,
        s => s,
    };
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;

    let mut v = Command::new(&verilator);
    v.args(["--lint-only", "-Wall", "--top-module", top])
        .args(&files)
        .current_dir(&rtl_dir);

    let script = format!(
        "read_verilog -sv {}; {} -top {top}",
        files
            .iter()
            .map(|f| format!("\"{}\"", f.display()))
            .collect::<Vec<_>>()
            .join(" "),
        match synth {
            Synth::Xilinx => "synth_xilinx",
            _ => "synth",
        }
    );
    let mut y = Command::new(&yosys);
    y.args(["-q", "-p", &script]).current_dir(&rtl_dir);

    let mut i = Command::new(&iverilog);
    i.arg("-g2012")
        .arg("-o")
        .arg(tmp.path().join("lint.vvp"))
        .args(["-s", top])
        .args(&files)
        .current_dir(&rtl_dir);

    // The three run at once; the first to reject the RTL stops the others
    // (fail fast: Yosys takes a minute where Verilator takes a second).
    let tmp_path = tmp.path();
    let cancel = AtomicBool::new(false);
    let finish = |r: Result<Option<ToolReport>>| -> Result<Option<ToolReport>> {
        if !matches!(r, Ok(Some(ref t)) if t.ok) {
            cancel.store(true, Ordering::Relaxed);
        }
        r
    };
    let (rv, ry, ri) = std::thread::scope(|s| {
        let hv = s.spawn(|| finish(run_tool("verilator", &mut v, tmp_path, &cancel)));
        let hy = s.spawn(|| {
            finish(run_tool("yosys", &mut y, tmp_path, &cancel).map(|r| {
                r.map(|mut r| {
                    if synth == Synth::Xilinx {
                        exempt_bram_port_resizing(&mut r);
                    }
                    r
                })
            }))
        });
        let ri = finish(run_tool("iverilog", &mut i, tmp_path, &cancel));
        (join(hv, "verilator"), join(hy, "yosys"), ri)
    });
    let ran = [("verilator", rv?), ("yosys", ry?), ("iverilog", ri?)];
    let stopped: Vec<&str> = ran
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(t, _)| *t)
        .collect();
    let tools: Vec<ToolReport> = ran.into_iter().filter_map(|(_, r)| r).collect();
    let failed: Vec<&ToolReport> = tools.iter().filter(|t| !t.ok).collect();
    if !failed.is_empty() {
        let names = failed.iter().map(|t| t.tool).collect::<Vec<_>>().join(", ");
        let details = failed
            .iter()
            .map(|t| {
                let out = if t.output.trim().is_empty() {
                    "(no output)".to_string()
                } else {
                    first_lines(t.output.trim_end(), ERROR_LINES)
                };
                format!("$ {}\n{out}", t.command)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let stopped = if stopped.is_empty() {
            String::new()
        } else {
            format!("\n({} stopped early: fix this first)", stopped.join(", "))
        };
        return Err(Error::ToolFailed {
            tool: names,
            msg: format!(
                "lint of `{top}` in {} rejected:\n{details}{stopped}",
                rtl_dir.display()
            ),
        });
    }
    Ok(LintReport {
        tools,
        synth,
        image_bits,
    })
}

fn join(
    h: std::thread::ScopedJoinHandle<'_, Result<Option<ToolReport>>>,
    tool: &str,
) -> Result<Option<ToolReport>> {
    h.join().unwrap_or_else(|_| {
        Err(Error::ToolFailed {
            tool: tool.to_string(),
            msg: "the thread running it panicked".into(),
        })
    })
}

/// Runs one lint tool; `None` when `cancel` stopped it (another tool
/// rejected the RTL first).
fn run_tool(
    tool: &'static str,
    cmd: &mut Command,
    tmp: &Path,
    cancel: &AtomicBool,
) -> Result<Option<ToolReport>> {
    let command = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            if s.contains(' ') || s.contains(';') || s.is_empty() {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let Some((status, output)) = run_merged_unless(cmd, tmp, cancel)? else {
        return Ok(None);
    };
    Ok(Some(ToolReport {
        tool,
        command,
        ok: status.success() && output.trim().is_empty(),
        seconds: start.elapsed().as_secs_f64(),
        output: if status.success() {
            output
        } else {
            format!("{output}({tool} {status})\n")
        },
    }))
}

/// Bits held by the `$readmemh`/`$readmemb` images named in `files`
/// (relative to `rtl_dir`): hex digits times 4, binary digits times 1, not
/// counting `//` comments and `@address` tokens. Images that do not exist
/// count 0 (the tools report them).
fn image_bits(rtl_dir: &Path, files: &[PathBuf]) -> Result<u64> {
    let mut images: Vec<(PathBuf, u64)> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        for (task, bits_per_digit) in [("$readmemh", 4), ("$readmemb", 1)] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(task) {
                rest = &rest[at + task.len()..];
                let after = rest.trim_start();
                let Some(after) = after.strip_prefix('(') else {
                    continue;
                };
                let Some(after) = after.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some(end) = after.find('"') else {
                    continue;
                };
                let image = rtl_dir.join(&after[..end]);
                if !images.iter().any(|(p, _)| *p == image) {
                    images.push((image, bits_per_digit));
                }
            }
        }
    }
    let mut bits = 0u64;
    for (image, per_digit) in images {
        let Ok(text) = std::fs::read_to_string(&image) else {
            continue;
        };
        for line in text.lines() {
            let line = line.split("//").next().unwrap_or("");
            for tok in line.split_whitespace().filter(|t| !t.starts_with('@')) {
                let digits = tok.chars().filter(|c| c.is_ascii_hexdigit()).count() as u64;
                bits += digits * per_digit;
            }
        }
    }
    Ok(bits)
}

/// Block-RAM primitive ports whose resizing Yosys 0.23 reports for every
/// block RAM it infers (see the module documentation). The address ports
/// are reported (17 to 16 bits) for RAMB18E1s in simple dual-port mode,
/// e.g. for any `reg [127:0] mem [0:511]` written in 8-bit lanes.
const BRAM_PORTS: &[&str] = &[
    "ADDRARDADDR",
    "ADDRBWRADDR",
    "DIADI",
    "DIBDI",
    "DIPADIP",
    "DIPBDIP",
    "DOADO",
    "DOBDO",
    "DOPADOP",
    "DOPBDOP",
    "WEA",
    "WEBWE",
];

/// Whether `line` is Yosys's report of resizing a port of a block RAM it inferred.
fn is_bram_port_resizing(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("Warning: Resizing cell port ") else {
        return false;
    };
    let Some((cell_port, widths)) = rest.split_once(" from ") else {
        return false;
    };
    let port = cell_port.rsplit('.').next().unwrap_or("");
    BRAM_PORTS.contains(&port) && widths.ends_with(" bits.") && widths.contains(" bits to ")
}

/// Drops the exempted block-RAM warnings from a Yosys report and re-judges it.
fn exempt_bram_port_resizing(r: &mut ToolReport) {
    let kept: Vec<&str> = r
        .output
        .lines()
        .filter(|l| !is_bram_port_resizing(l))
        .collect();
    let failed_run = r.output.contains("(yosys ");
    r.output = kept.iter().map(|l| format!("{l}\n")).collect();
    r.ok = !failed_run && r.output.trim().is_empty();
}

#[cfg(test)]
mod bram_tests {
    use super::is_bram_port_resizing;

    #[test]
    fn exempts_only_bram_port_resizing() {
        assert!(is_bram_port_resizing(
            "Warning: Resizing cell port capim_top.act_mem.0.0.DOBDO from 64 bits to 16 bits."
        ));
        assert!(is_bram_port_resizing(
            "Warning: Resizing cell port capim_top.act_mem.0.3.ADDRARDADDR from 17 bits to 16 bits."
        ));
        assert!(!is_bram_port_resizing(
            "Warning: Resizing cell port capim_top.u_engine.foo from 64 bits to 16 bits."
        ));
        assert!(!is_bram_port_resizing(
            "Warning: Resizing cell port capim_top.u_engine.ADDR from 17 bits to 16 bits."
        ));
        assert!(!is_bram_port_resizing(
            "Warning: Range [263:248] select out of bounds on signal `desc_data'"
        ));
    }
}
