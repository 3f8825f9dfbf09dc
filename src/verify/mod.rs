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
pub mod reload;
pub mod schedule;

pub use check::{LayerRun, Mismatch};
pub use plan::{Stimulus, cycle_bound, dataset_stimuli, stimuli, switch_sequence};

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
    /// Simulations run side by side (processes); 1 with a waveform.
    pub jobs: usize,
    /// Labelled real images run at every width besides the random ones
    /// ([`plan::dataset_stimuli`]); their classes are compared and counted.
    pub labelled: Vec<Stimulus>,
    /// Inferences of the adaptive width scheduler's workload trace
    /// ([`schedule`]), seeded by `seed`; 0 for none.
    pub schedule: usize,
    /// A model to load over the host bus after the verification
    /// ([`reload`]): the same stimuli then run at every width against it.
    pub load: Option<crate::model::Model>,
}

/// Inferences of the scheduler trace unless asked otherwise.
pub const DEFAULT_SCHEDULE: usize = 4;

/// Every width of the model, seed 1, two random images per width (plus the
/// edge cases), no waveform, no dump, one simulation per CPU core (at most
/// four), a scheduler trace of [`DEFAULT_SCHEDULE`] inferences.
impl Default for Options {
    fn default() -> Self {
        Options {
            widths: Vec::new(),
            seed: 1,
            images: 2,
            trace: None,
            dump_layer: None,
            jobs: default_jobs(),
            labelled: Vec::new(),
            schedule: DEFAULT_SCHEDULE,
            load: None,
        }
    }
}

/// One simulation per CPU core, at most four (each holds the design's
/// state; more rarely pays off against the longest run).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(1)
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
    /// Simulations that ran side by side.
    pub simulations: usize,
    pub images: usize,
    pub outputs_compared: u64,
    pub cycles_simulated: u64,
    pub widths: Vec<WidthReport>,
    /// Widths of the switching sequence that ran.
    pub switch_sequence: Vec<f64>,
    /// NPY files written by `--dump-layer`.
    pub dumps: Vec<PathBuf>,
    /// Per verified width, the labelled images' classes (empty without).
    pub classified: Vec<Classified>,
    /// The scheduler trace, when one ran.
    pub schedule: Option<schedule::ScheduleReport>,
    /// Runs (width x image) of the model loaded over the bus, all bit-exact.
    pub loaded_runs: usize,
}

/// The labelled images of one width: the RTL's class of every one equals
/// the reference's (checked), and how many equal the label.
#[derive(Debug, Clone)]
pub struct Classified {
    pub width: f64,
    pub images: usize,
    pub correct: usize,
}

/// Builds the RTL of `d.out` with Verilator and verifies it.
///
/// The runs are spread over `opts.jobs` simulations of the same harness,
/// each a process of its own with every weight resident from reset (see
/// [`plan::shards`]); a waveform (`trace`) needs one simulation. Every
/// shard runs its runs in plan order, and of several failures the one
/// earliest in the plan is reported. A passing design passes with any
/// number of simulations; a fault that corrupts state the later runs of a
/// simulation read (a stray write into resident rows) may show up in a
/// different run, or only in the resident-weight check that ends every
/// simulation, depending on how the runs were spread.
pub fn verify(d: &Design, opts: &Options) -> Result<Report> {
    let files = d.out.filelist()?;
    let built = cosim::build(d.out.path(), &files, &d.out.build_dir())?;
    let widths: Vec<usize> = if opts.widths.is_empty() {
        (0..d.model.widths.len()).collect()
    } else {
        opts.widths.clone()
    };
    let mut stims = stimuli(&d.model, opts.seed, opts.images);
    stims.extend(opts.labelled.iter().cloned());
    let t = Instant::now();
    let trace = match &opts.trace {
        Some(p) => Some(std::path::absolute(p).map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let plan = plan::runs(&widths, &stims);
    let jobs = if trace.is_some() { 1 } else { opts.jobs.max(1) };
    let width_cycles =
        |wi: usize| -> u64 { d.layout.layers.iter().map(|l| l.widths[wi].cycles).sum() };
    let shards = plan::shards(&plan, jobs, width_cycles);
    let pb = ProgressBar::new(plan.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("  co-simulating {bar:30} {pos}/{len} {msg}")
            .expect("progress template"),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let results: Vec<Result<Shard>> = std::thread::scope(|sc| {
        let handles: Vec<_> = shards
            .iter()
            .map(|runs| {
                let (plan, pb, trace, exe) = (&plan, &pb, trace.as_deref(), &built.exe);
                sc.spawn(move || run_shard(d, exe, trace, plan, runs, pb))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a verification shard panicked"))
            .collect()
    });
    pb.finish_and_clear();
    let mut done: Vec<(usize, Outcome)> = Vec::new();
    let mut resident: Option<String> = None;
    for r in results {
        let sh = r?;
        done.extend(sh.outcomes);
        if resident.is_none() {
            resident = sh.resident;
        }
    }
    done.sort_by_key(|(k, _)| *k);
    let mut report = Report {
        build_seconds: built.seconds,
        build_cached: built.cached,
        sim_seconds: 0.0,
        simulations: shards.len(),
        images: stims.len(),
        outputs_compared: 0,
        cycles_simulated: 0,
        widths: Vec::new(),
        switch_sequence: switch_sequence(&widths)
            .iter()
            .map(|&wi| d.model.widths[wi])
            .collect(),
        dumps: Vec::new(),
        classified: Vec::new(),
        schedule: None,
        loaded_runs: 0,
    };
    for (k, outcome) in done {
        let (wi, stim, mode) = plan[k];
        match outcome {
            Outcome::Ok(runs, compared, cycles, class) => {
                report.outputs_compared += compared;
                report.cycles_simulated += cycles;
                if let (Some(label), Some((rtl, reference)), true) =
                    (stim.label, class, mode != Mode::Switch)
                {
                    if rtl != reference {
                        return Err(Error::Verification(format!(
                            "width {} ({}): the RTL classifies it as {rtl}, the reference as {reference}",
                            d.model.widths[wi], stim.name
                        )));
                    }
                    let w = d.model.widths[wi];
                    match report.classified.iter_mut().find(|c| c.width == w) {
                        Some(c) => {
                            c.images += 1;
                            c.correct += usize::from(rtl == label as usize);
                        }
                        None => report.classified.push(Classified {
                            width: w,
                            images: 1,
                            correct: usize::from(rtl == label as usize),
                        }),
                    }
                }
                if mode == Mode::PerLayer {
                    report.widths.push(WidthReport {
                        index: wi,
                        width: d.model.widths[wi],
                        layers: runs,
                    });
                }
            }
            Outcome::Mismatch(m) => {
                let wave = trace_failure(d, &built.exe, wi, stim, mode);
                return Err(Error::Verification(format!(
                    "mismatch at width {} ({}), layer `{}`, channel {}, position (y={}, x={}): expected {}, got {}\n  waveform: {}",
                    m.width, m.stimulus, m.layer, m.channel, m.y, m.x, m.expected, m.actual, wave
                )));
            }
            Outcome::Failed(msg) => {
                let wave = trace_failure(d, &built.exe, wi, stim, mode);
                return Err(Error::Verification(format!("{msg}\n  waveform: {wave}")));
            }
        }
    }
    if let Some(msg) = resident {
        return Err(Error::Verification(msg));
    }
    if opts.schedule > 0 {
        let table = schedule::table(d);
        let trace = schedule::workload(&table, opts.seed, opts.schedule);
        let mut sim = Sim::spawn(&built.exe, d.out.path(), None)?;
        sim.reset(4)?;
        let rep = schedule::run(&mut sim, d, &table, &trace, &stims)?;
        sim.quit()?;
        report.cycles_simulated += rep.cycles_simulated;
        report.outputs_compared += rep.outputs_compared;
        report.schedule = Some(rep);
    }
    if let Some(m) = &opts.load {
        let g = crate::emit::generate_with(&d.cfg, m, &d.tech)?;
        reload::check_same_rtl(d, &g)?;
        let dn = reload::design_of(d, &g, m)?;
        let mut sim = Sim::spawn(&built.exe, d.out.path(), None)?;
        sim.reset(4)?;
        reload::load(&mut sim, &g, &dn.images)?;
        for wi in &widths {
            for stim in stimuli(m, opts.seed, opts.images) {
                match check::run_stimulus(&mut sim, &dn, *wi, &stim, false)? {
                    Outcome::Ok(_, compared, cycles, _) => {
                        report.outputs_compared += compared;
                        report.cycles_simulated += cycles;
                        report.loaded_runs += 1;
                    }
                    Outcome::Mismatch(mm) => {
                        return Err(Error::Verification(format!(
                            "model `{}` loaded over the bus: mismatch at width {} ({}), layer `{}`, channel {}, position (y={}, x={}): expected {}, got {}",
                            m.name,
                            mm.width,
                            mm.stimulus,
                            mm.layer,
                            mm.channel,
                            mm.y,
                            mm.x,
                            mm.expected,
                            mm.actual
                        )));
                    }
                    Outcome::Failed(msg) => {
                        return Err(Error::Verification(format!(
                            "model `{}` loaded over the bus: {msg}",
                            m.name
                        )));
                    }
                }
            }
        }
        sim.quit()?;
    }
    if let Some(li) = opts.dump_layer {
        let mut sim = Sim::spawn(&built.exe, d.out.path(), None)?;
        sim.reset(4)?;
        for &wi in &widths {
            report
                .dumps
                .push(check::dump_layer(&mut sim, d, wi, &stims[0], li)?);
        }
        sim.quit()?;
    }
    report.sim_seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// What one simulation returns: the outcome of each of its runs (plan
/// index; it stops at the first failure) and, when they all passed, the
/// resident-weight check after them.
struct Shard {
    outcomes: Vec<(usize, Outcome)>,
    resident: Option<String>,
}

fn run_shard(
    d: &Design,
    exe: &Path,
    trace: Option<&Path>,
    plan: &[(usize, &Stimulus, Mode)],
    runs: &[usize],
    pb: &ProgressBar,
) -> Result<Shard> {
    let mut sim = Sim::spawn(exe, d.out.path(), trace)?;
    sim.reset(4)?;
    host::check_id(&mut sim, d)?;
    let mut outcomes = Vec::new();
    for &k in runs {
        let (wi, stim, mode) = plan[k];
        pb.set_message(format!("width {} {}", d.model.widths[wi], stim.name));
        let outcome = match mode {
            Mode::PerLayer => check::run_stimulus(&mut sim, d, wi, stim, true)?,
            Mode::Network => check::run_stimulus(&mut sim, d, wi, stim, false)?,
            Mode::Switch => check::run_switch_step(&mut sim, d, wi, stim)?,
        };
        let failed = !matches!(outcome, Outcome::Ok(..));
        outcomes.push((k, outcome));
        pb.inc(1);
        if failed {
            return Ok(Shard {
                outcomes,
                resident: None,
            });
        }
    }
    let resident = check::check_resident(&mut sim, d)?;
    sim.quit()?;
    Ok(Shard { outcomes, resident })
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
