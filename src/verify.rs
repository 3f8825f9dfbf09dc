//! Co-simulation against the reference (DESIGN.md section 6): runs every
//! layer of the model on the generated RTL at every width, compares every
//! output bit-exactly, checks the cycle model and the channel gating.

use crate::config::ArrayConfig;
use crate::cosim::{self, Sim};
use crate::emit::{BUILD_DIR, CONFIG_FILE, MODEL_DIR};
use crate::error::{Error, Result};
use crate::layout::{Layout, TensorRegion};
use crate::model::{Model, Tensor, reference};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Host register map of `capim_top` (word addresses).
pub mod regs {
    pub const ID: u32 = 0x0000_0000;
    pub const CTRL: u32 = 0x0000_0001;
    pub const WIDTH: u32 = 0x0000_0002;
    pub const LAYER_FIRST: u32 = 0x0000_0003;
    pub const LAYER_LAST: u32 = 0x0000_0004;
    pub const CYCLES: u32 = 0x0000_0005;
    pub const INFO: u32 = 0x0000_0007;
    pub const N_COMPUTE: u32 = 0x0100_0000;
    pub const N_WRITE: u32 = 0x0180_0000;
    pub const ACT: u32 = 0x0200_0000;
    pub const ROW: u32 = 0x4000_0000;
    /// Value of the ID register.
    pub const ID_VALUE: u32 = 0xCA90_0002;
}

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

/// A stimulus image.
#[derive(Debug, Clone)]
pub struct Stimulus {
    pub name: String,
    pub input: Tensor,
}

/// Measured figures of one layer at one width.
#[derive(Debug, Clone)]
pub struct LayerRun {
    pub layer: String,
    pub cycles: u64,
    pub arrays: usize,
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

/// A generated directory, loaded for verification.
pub struct Design {
    pub dir: PathBuf,
    pub cfg: ArrayConfig,
    pub model: Model,
    pub layout: Layout,
}

impl Design {
    /// Loads the configuration and model that `capim gen` stored in `dir`.
    pub fn open(dir: &Path) -> Result<Design> {
        if !dir.join(crate::emit::MANIFEST).is_file() {
            return Err(Error::invalid(
                dir,
                "--from",
                dir.display(),
                "a directory written by `capim gen` (manifest.json is missing)",
            ));
        }
        let cfg_path = dir.join(CONFIG_FILE);
        let cfg = ArrayConfig::load(&cfg_path)?;
        let model = Model::load(&dir.join(MODEL_DIR).join("model.json"))?;
        let layout = Layout::new(&cfg, &model, &cfg_path.display().to_string())?;
        Ok(Design {
            dir: dir.to_path_buf(),
            cfg,
            model,
            layout,
        })
    }
}

/// Stimulus for one width: `images` seeded random images plus edge cases
/// (all zero, all maximum, all minimum when the input is signed).
pub fn stimuli(model: &Model, seed: u64, images: usize) -> Vec<Stimulus> {
    let inp = &model.input;
    let n = model.precision;
    let (lo, hi) = if inp.signed {
        (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1)
    } else {
        (0, (1i64 << n) - 1)
    };
    let len = inp.channels * inp.height * inp.width;
    let mk = |name: String, data: Vec<i64>| Stimulus {
        name,
        input: Tensor {
            c: inp.channels,
            h: inp.height,
            w: inp.width,
            data,
        },
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<Stimulus> = (0..images)
        .map(|k| {
            let data = (0..len).map(|_| rng.random_range(lo..=hi)).collect();
            mk(format!("random #{k} (seed {seed})"), data)
        })
        .collect();
    v.push(mk("all zero".into(), vec![0; len]));
    v.push(mk("all maximum".into(), vec![hi; len]));
    if inp.signed {
        v.push(mk("all minimum".into(), vec![lo; len]));
    }
    v
}

fn to_word(v: i64, n: u32) -> u32 {
    (v as u64 & ((1u64 << n) - 1)) as u32
}

/// The first mismatch found.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub width: f64,
    pub stimulus: String,
    pub layer: String,
    pub channel: usize,
    pub y: usize,
    pub x: usize,
    pub expected: i64,
    pub actual: i64,
}

/// How one stimulus is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One start per layer: per-layer cycles and gating counters.
    PerLayer,
    /// One start for the whole network, activations on chip.
    Network,
    /// A step of the width-switching sequence: whole network, and the
    /// sub-arrays gated off for the whole inference must keep every cell.
    Switch,
}

enum Outcome {
    Ok(Vec<LayerRun>, u64, u64),
    Mismatch(Mismatch),
    /// Verification failed for another reason (hang, cycle model, gating).
    Failed(String),
}

/// Cycle bound of one layer: twice the analytic model plus slack.
pub fn cycle_bound(model_cycles: u64) -> u64 {
    2 * model_cycles + 1000
}

/// Runs layers `first..=last` at width `wi` from one start (activations stay
/// on chip) and checks, in this order: every output of those layers against
/// `reference` (the first diverging layer is named), the RTL's cycle count
/// against the cycle model, and each sub-array's computes and row writes
/// against the gating (enabled arrays do exactly the predicted work, gated
/// ones none).
fn run_range(
    sim: &mut Sim,
    d: &Design,
    wi: usize,
    stim: &Stimulus,
    reference: &BTreeMap<String, Tensor>,
    (first, last): (usize, usize),
) -> Result<Outcome> {
    let model = &d.model;
    let lay = &d.layout;
    let n = model.precision;
    let what = if first == last {
        format!("layer `{}`", model.layers[first].name)
    } else {
        "the network".to_string()
    };
    sim.write(regs::WIDTH, &[wi as u32])?;
    sim.write(regs::LAYER_FIRST, &[first as u32])?;
    sim.write(regs::LAYER_LAST, &[last as u32])?;
    sim.write(regs::CTRL, &[1])?;
    let expect_cycles: u64 = (first..=last)
        .map(|li| lay.layer_cycles(model, li, wi))
        .sum();
    let bound = cycle_bound(expect_cycles);
    if !sim.run(bound)?.finished {
        return Ok(Outcome::Failed(format!(
            "{what} at width {} ({}) did not finish within the cycle bound of {bound} cycles (the cycle model predicts {expect_cycles})",
            model.widths[wi], stim.name
        )));
    }
    let mut compared = 0;
    for l in &model.layers[first..=last] {
        let region = lay.tensor(&l.name).expect("layer region");
        let want = &reference[&l.name];
        let got = read_tensor(sim, region, want.c, n)?;
        if let Some(m) = first_mismatch(want, &got) {
            let how = if first == last { "" } else { ", whole network" };
            return Ok(Outcome::Mismatch(Mismatch {
                width: model.widths[wi],
                stimulus: format!("{}{how}", stim.name),
                layer: l.name.clone(),
                ..m
            }));
        }
        compared += want.data.len() as u64;
    }
    let hw_cycles = sim.read(regs::CYCLES, 1)?[0] as u64;
    if hw_cycles != expect_cycles {
        return Ok(Outcome::Failed(format!(
            "{what} at width {}: the RTL took {hw_cycles} cycles, the cycle model predicts {expect_cycles}",
            model.widths[wi]
        )));
    }
    let ncomp = sim.read(regs::N_COMPUTE, lay.count as u32)?;
    let nwrite = sim.read(regs::N_WRITE, lay.count as u32)?;
    for a in 0..lay.count {
        let (mut wc, mut ww) = (0, 0);
        for li in first..=last {
            if a < lay.layers[li].widths[wi].arrays {
                let (c, w) = lay.layer_ops(model, li, wi);
                wc += c;
                ww += w;
            }
        }
        if ncomp[a] as u64 != wc || nwrite[a] as u64 != ww {
            let state = if wc == 0 && ww == 0 {
                "gated-off"
            } else {
                "enabled"
            };
            return Ok(Outcome::Failed(format!(
                "{what} at width {}: {state} sub-array {a} performed {} computes and {} row writes, expected {wc} and {ww}",
                model.widths[wi], ncomp[a], nwrite[a]
            )));
        }
    }
    let runs = if first == last {
        vec![LayerRun {
            layer: model.layers[first].name.clone(),
            cycles: hw_cycles,
            arrays: lay.layers[first].widths[wi].arrays,
        }]
    } else {
        Vec::new()
    };
    Ok(Outcome::Ok(runs, compared, hw_cycles))
}

/// Writes the stimulus into the network input's activation region.
fn write_input(sim: &mut Sim, d: &Design, stim: &Stimulus) -> Result<()> {
    let model = &d.model;
    let inp = d.layout.tensor(&model.input.name).expect("input region");
    let t = &stim.input;
    let mut lanes = vec![0u32; inp.lanes()];
    for (k, &v) in t.data.iter().enumerate() {
        let (c, y, x) = (k / (t.h * t.w), k / t.w % t.h, k % t.w);
        lanes[inp.offset(c, y, x, 0)] = to_word(v, model.precision);
    }
    sim.write(regs::ACT + inp.base as u32, &lanes)
}

/// Runs one stimulus at width `wi`: layer by layer (one start each) or the
/// whole network from one start. Stops at the first problem.
fn run_stimulus(
    sim: &mut Sim,
    d: &Design,
    wi: usize,
    stim: &Stimulus,
    per_layer: bool,
) -> Result<Outcome> {
    let model = &d.model;
    let reference = reference::run_all(model, wi, &stim.input);
    write_input(sim, d, stim)?;
    let last = model.layers.len() - 1;
    if !per_layer {
        return run_range(sim, d, wi, stim, &reference, (0, last));
    }
    let (mut runs, mut compared, mut cycles) = (Vec::new(), 0, 0);
    for li in 0..=last {
        match run_range(sim, d, wi, stim, &reference, (li, li))? {
            Outcome::Ok(r, c, y) => {
                runs.extend(r);
                compared += c;
                cycles += y;
            }
            other => return Ok(other),
        }
    }
    Ok(Outcome::Ok(runs, compared, cycles))
}

/// Words of one sub-array row on the host bus, and the address of `(array, row)`.
fn row_words(lay: &Layout) -> usize {
    lay.cols.div_ceil(32)
}

fn row_addr(lay: &Layout, a: usize, row: usize) -> u32 {
    let wdw = crate::layout::clog2(row_words(lay) as u64);
    regs::ROW + ((((a << lay.widths.rw) | row) << wdw) as u32)
}

/// Every row of sub-array `a`, as read over the host bus (idle only).
fn read_rows(sim: &mut Sim, lay: &Layout, a: usize) -> Result<Vec<u32>> {
    sim.read(row_addr(lay, a, 0), (lay.rows * row_words(lay)) as u32)
}

/// The weight rows of every sub-array must still equal the image on disk.
fn check_resident(sim: &mut Sim, d: &Design) -> Result<Option<String>> {
    let lay = &d.layout;
    for a in 0..lay.count {
        let f = d.dir.join(crate::emit::subarray_file(a));
        let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
        let img = crate::layout::decode::parse_subarray(&text, lay.rows, lay.cols, &f)?;
        let got = read_rows(sim, lay, a)?;
        for (row, bits) in img.iter().enumerate().skip(lay.scratch_rows) {
            for w in 0..row_words(lay) {
                let mut want = 0u32;
                for b in 0..32.min(lay.cols) {
                    if bits.get(w * 32 + b) {
                        want |= 1 << b;
                    }
                }
                let have = got[row * row_words(lay) + w];
                if have != want {
                    return Ok(Some(format!(
                        "sub-array {a} row {row} bits [{}..{}] read {have:#010x} after the width-switching sequence, its image {} says {want:#010x}: a resident weight was overwritten",
                        w * 32,
                        w * 32 + 32.min(lay.cols),
                        f.display()
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// One inference of the switching sequence: the sub-arrays that every layer
/// gates off at this width must come out with every cell unchanged.
fn run_switch_step(sim: &mut Sim, d: &Design, wi: usize, stim: &Stimulus) -> Result<Outcome> {
    let lay = &d.layout;
    let used = lay
        .layers
        .iter()
        .map(|l| l.widths[wi].arrays)
        .max()
        .unwrap_or(0);
    let before: Vec<Vec<u32>> = (used..lay.count)
        .map(|a| read_rows(sim, lay, a))
        .collect::<Result<_>>()?;
    let out = run_stimulus(sim, d, wi, stim, false)?;
    if !matches!(out, Outcome::Ok(..)) {
        return Ok(out);
    }
    for (k, a) in (used..lay.count).enumerate() {
        let after = read_rows(sim, lay, a)?;
        if let Some(i) = (0..after.len()).find(|&i| after[i] != before[k][i]) {
            return Ok(Outcome::Failed(format!(
                "sub-array {a} was gated off for the whole inference at width {}, but its row {} changed ({:#010x} -> {:#010x})",
                d.model.widths[wi],
                i / row_words(lay),
                before[k][i],
                after[i]
            )));
        }
    }
    Ok(out)
}

/// The first `c` channels of a tensor region in `[c][y][x]` order, decoded:
/// N-bit values, or ACC_W-bit raw outputs stored as ACC_W / N lanes, least
/// significant first.
fn read_tensor(sim: &mut Sim, region: &TensorRegion, c: usize, n: u32) -> Result<Vec<i64>> {
    let lanes = sim.read(regs::ACT + region.base as u32, region.lanes() as u32)?;
    let bits = n * region.words as u32;
    let (h, w) = (region.height, region.width);
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let mut v: u64 = 0;
                for k in 0..region.words {
                    let lane = lanes[region.offset(ch, y, x, k)] as u64;
                    v |= (lane & ((1u64 << n) - 1)) << (k as u32 * n);
                }
                // sign-extend from `bits` when signed
                let v = if region.signed {
                    ((v << (64 - bits)) as i64) >> (64 - bits)
                } else {
                    v as i64
                };
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// First element of `got` that differs from `want`.
fn first_mismatch(want: &Tensor, got: &[i64]) -> Option<Mismatch> {
    for (k, (&e, &a)) in want.data.iter().zip(got).enumerate() {
        if a != e {
            let (c, rem) = (k / (want.h * want.w), k % (want.h * want.w));
            return Some(Mismatch {
                width: 0.0,
                stimulus: String::new(),
                layer: String::new(),
                channel: c,
                y: rem / want.w,
                x: rem % want.w,
                expected: e,
                actual: a,
            });
        }
    }
    None
}

/// Width order of the switching sequence: full, narrowest, ..., full
/// (1.0 -> 0.25 -> 0.75 -> 0.5 -> 1.0 for four widths).
pub fn switch_sequence(widths: &[usize]) -> Vec<usize> {
    let mut w: Vec<usize> = widths.to_vec();
    w.sort_unstable();
    w.dedup();
    let Some(&full) = w.last() else {
        return Vec::new();
    };
    let rest = &w[..w.len() - 1];
    let mut seq = vec![full];
    let (mut lo, mut hi) = (0usize, rest.len());
    let mut take_lo = true;
    while lo < hi {
        if take_lo {
            seq.push(rest[lo]);
            lo += 1;
        } else {
            hi -= 1;
            seq.push(rest[hi]);
        }
        take_lo = !take_lo;
    }
    seq.push(full);
    seq
}

/// Builds the RTL of `d.dir` with Verilator and verifies it.
pub fn verify(d: &Design, opts: &Options) -> Result<Report> {
    let files = crate::cmd::lint::filelist(&d.dir)?;
    let built = cosim::build(&d.dir, &files, &d.dir.join(BUILD_DIR))?;
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
    let mut sim = Sim::spawn(&built.exe, &d.dir, trace.as_deref())?;
    sim.reset(4)?;
    let id = sim.read(regs::ID, 1)?[0];
    if id != regs::ID_VALUE {
        return Err(Error::Verification(format!(
            "{}: ID register reads {id:#010x}, expected {:#010x}",
            d.dir.display(),
            regs::ID_VALUE
        )));
    }
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
    // Plan: per width, the first image layer by layer (per-layer cycles and
    // gating), the others as whole-network runs; then the width-switching
    // sequence, all in one simulation with no weight reload.
    let mut plan: Vec<(usize, &Stimulus, Mode)> = Vec::new();
    for &wi in &widths {
        for (k, stim) in stims.iter().enumerate() {
            plan.push((
                wi,
                stim,
                if k == 0 {
                    Mode::PerLayer
                } else {
                    Mode::Network
                },
            ));
        }
    }
    let seq = switch_sequence(&widths);
    for (k, &wi) in seq.iter().enumerate() {
        plan.push((wi, &stims[k % stims.len()], Mode::Switch));
    }
    pb.set_length(plan.len() as u64);
    report.switch_sequence = seq.iter().map(|&wi| d.model.widths[wi]).collect();
    for (wi, stim, mode) in plan {
        pb.set_message(format!("width {} {}", d.model.widths[wi], stim.name));
        let outcome = match mode {
            Mode::PerLayer => run_stimulus(&mut sim, d, wi, stim, true)?,
            Mode::Network => run_stimulus(&mut sim, d, wi, stim, false)?,
            Mode::Switch => run_switch_step(&mut sim, d, wi, stim)?,
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
    if let Some(msg) = check_resident(&mut sim, d)? {
        pb.finish_and_clear();
        return Err(Error::Verification(msg));
    }
    if let Some(li) = opts.dump_layer {
        for &wi in &widths {
            report
                .dumps
                .push(dump_layer(&mut sim, d, wi, &stims[0], li)?);
        }
    }
    pb.finish_and_clear();
    sim.quit()?;
    report.sim_seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// Runs `stim` through the whole network at width `wi` (already verified)
/// and writes layer `li`'s output as read from the RTL to
/// `DIR/dump/<layer>-w<width>.npy`, shape (C, H, W) at that width.
fn dump_layer(sim: &mut Sim, d: &Design, wi: usize, stim: &Stimulus, li: usize) -> Result<PathBuf> {
    let model = &d.model;
    let l = &model.layers[li];
    let reference = reference::run_all(model, wi, &stim.input);
    write_input(sim, d, stim)?;
    if !matches!(
        run_range(sim, d, wi, stim, &reference, (0, li))?,
        Outcome::Ok(..)
    ) {
        return Err(Error::Verification(format!(
            "dumping layer `{}` at width {}: the run that passed before failed now",
            l.name, model.widths[wi]
        )));
    }
    let region = d.layout.tensor(&l.name).expect("layer region");
    let (h, w) = model.out_hw(li);
    let c = l.cout_active[wi];
    let data = read_tensor(sim, region, c, model.precision)?;
    let dir = d.dir.join("dump");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("{}-w{}.npy", l.name, model.widths[wi]));
    crate::model::npy::write(
        &path,
        &[c, h, w],
        &data,
        crate::model::npy::output_dtype(model, li),
    )?;
    Ok(path)
}

/// Re-runs a failing case with an FST trace; returns where it was written.
fn trace_failure(d: &Design, exe: &Path, wi: usize, stim: &Stimulus, mode: Mode) -> String {
    let dir = d.dir.join("waves");
    let path = dir.join("failure.fst");
    let abs = std::path::absolute(&path).unwrap_or(path.clone());
    let go = || -> Result<()> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut sim = Sim::spawn(exe, &d.dir, Some(&abs))?;
        sim.reset(4)?;
        let _ = run_stimulus(&mut sim, d, wi, stim, mode == Mode::PerLayer)?;
        sim.quit()
    };
    match go() {
        Ok(()) => abs.display().to_string(),
        Err(e) => format!("(not written: {e})"),
    }
}
