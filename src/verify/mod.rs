//! Co-simulation against the reference (DESIGN.md section 6): runs every
//! layer of the model on the generated RTL at every width, compares every
//! output bit-exactly, checks the cycle model and the channel gating.
//!
//! - [`plan`]: the stimulus and the order of the runs;
//! - [`host`]: host I/O over the simulated register bus;
//! - [`check`]: one run checked against the reference, the cycle model and
//!   the gating.

pub mod check;
pub mod host;
pub mod plan;

pub use check::{LayerRun, Mismatch};
pub use plan::{Stimulus, cycle_bound, stimuli, switch_sequence};

use crate::cosim::{self, Sim};
use crate::emit::Design;
use crate::error::{Error, Result};
use check::Outcome;
use indicatif::{ProgressBar, ProgressStyle};
use plan::Mode;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// Width indices; empty = all.
    pub widths: Vec<usize>,
    pub seed: u64,
    /// Random images per width (edge-case images are added).
    pub images: usize,
    /// Write an FST waveform of the whole verification here.
    pub trace: Option<PathBuf>,
    /// Layer whose RTL output (first image, every width) is written as NPY.
    pub dump_layer: Option<usize>,
}

/// Every width of the model, seed 1, two random images per width (plus the
/// edge cases), no waveform, no dump.
impl Default for Options {
    fn default() -> Self {
        Options {
            widths: Vec::new(),
            seed: 1,
            images: 2,
            trace: None,
            dump_layer: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WidthReport {
    /// Index into the model's widths.
    pub index: usize,
    pub width: f64,
    pub layers: Vec<LayerRun>,
}

#[derive(Debug)]
pub struct Report {
    pub build_seconds: f64,
    pub build_cached: bool,
    pub sim_seconds: f64,
    pub images: usize,
    pub outputs_compared: u64,
    pub cycles_simulated: u64,
    pub widths: Vec<WidthReport>,
    /// Widths of the switching sequence that ran.
    pub switch_sequence: Vec<f64>,
    /// NPY files written by `--dump-layer`.
    pub dumps: Vec<PathBuf>,
}

/// Builds the RTL of `d.out` with Verilator and verifies it.
pub fn verify(d: &Design, opts: &Options) -> Result<Report> {
    let files = d.out.filelist()?;
    let built = cosim::build(d.out.path(), &files, &d.out.build_dir())?;
    let widths: Vec<usize> = if opts.widths.is_empty() {
        (0..d.model.widths.len()).collect()
    } else {
        opts.widths.clone()
    };
    let stims = stimuli(&d.model, opts.seed, opts.images);
    let t = Instant::now();
    let trace = match &opts.trace {
        Some(p) => Some(std::path::absolute(p).map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let mut sim = Sim::spawn(&built.exe, d.out.path(), trace.as_deref())?;
    sim.reset(4)?;
    host::check_id(&mut sim, d)?;
    let pb = ProgressBar::new((widths.len() * stims.len()) as u64);
    pb.set_style(
        ProgressStyle::with_template("  co-simulating {bar:30} {pos}/{len} {msg}")
            .expect("progress template"),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut report = Report {
        build_seconds: built.seconds,
        build_cached: built.cached,
        sim_seconds: 0.0,
        images: stims.len(),
        outputs_compared: 0,
        cycles_simulated: 0,
        widths: Vec::new(),
        switch_sequence: Vec::new(),
        dumps: Vec::new(),
    };
    let plan = plan::runs(&widths, &stims);
    pb.set_length(plan.len() as u64);
    report.switch_sequence = switch_sequence(&widths)
        .iter()
        .map(|&wi| d.model.widths[wi])
        .collect();
    for (wi, stim, mode) in plan {
        pb.set_message(format!("width {} {}", d.model.widths[wi], stim.name));
        let outcome = match mode {
            Mode::PerLayer => check::run_stimulus(&mut sim, d, wi, stim, true)?,
            Mode::Network => check::run_stimulus(&mut sim, d, wi, stim, false)?,
            Mode::Switch => check::run_switch_step(&mut sim, d, wi, stim)?,
        };
        match outcome {
            Outcome::Ok(runs, compared, cycles) => {
                report.outputs_compared += compared;
                report.cycles_simulated += cycles;
                if mode == Mode::PerLayer {
                    report.widths.push(WidthReport {
                        index: wi,
                        width: d.model.widths[wi],
                        layers: runs,
                    });
                }
            }
            Outcome::Mismatch(m) => {
                pb.finish_and_clear();
                drop(sim);
                let wave = trace_failure(d, &built.exe, wi, stim, mode);
                return Err(Error::Verification(format!(
                    "mismatch at width {} ({}), layer `{}`, channel {}, position (y={}, x={}): expected {}, got {}\n  waveform: {}",
                    m.width, m.stimulus, m.layer, m.channel, m.y, m.x, m.expected, m.actual, wave
                )));
            }
            Outcome::Failed(msg) => {
                pb.finish_and_clear();
                drop(sim);
                let wave = trace_failure(d, &built.exe, wi, stim, mode);
                return Err(Error::Verification(format!("{msg}\n  waveform: {wave}")));
            }
        }
        pb.inc(1);
    }
    if let Some(msg) = check::check_resident(&mut sim, d)? {
        pb.finish_and_clear();
        return Err(Error::Verification(msg));
    }
    if let Some(li) = opts.dump_layer {
        for &wi in &widths {
            report
                .dumps
                .push(check::dump_layer(&mut sim, d, wi, &stims[0], li)?);
        }
    }
    pb.finish_and_clear();
    sim.quit()?;
    report.sim_seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// Re-runs a failing case with an FST trace; returns where it was written.
fn trace_failure(d: &Design, exe: &Path, wi: usize, stim: &Stimulus, mode: Mode) -> String {
    let dir = d.out.join("waves");
    let path = dir.join("failure.fst");
    let abs = std::path::absolute(&path).unwrap_or(path.clone());
    let go = || -> Result<()> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut sim = Sim::spawn(exe, d.out.path(), Some(&abs))?;
        sim.reset(4)?;
        let _ = check::run_stimulus(&mut sim, d, wi, stim, mode == Mode::PerLayer)?;
        sim.quit()
    };
    match go() {
        Ok(()) => abs.display().to_string(),
        Err(e) => format!("(not written: {e})"),
    }
}
