//! The checks of one run against the reference: outputs bit-exact, cycles
//! equal to the cycle model, gating observed in the activity counters, the
//! energy model's operation counts equal to the RTL's event counters, gated
//! sub-arrays and resident weights unchanged.

use super::host::{self, read_rows, read_tensor, row_window, write_input};
use super::plan::{Stimulus, cycle_bound};
use crate::cosim::Sim;
use crate::cost::energy::{Counts, energy, layer_counts};
use crate::cost::{layer_cycles, layer_ops};
use crate::emit::Design;
use crate::error::{Error, Result};
use crate::model::classify::argmax;
use crate::model::{Tensor, reference};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Measured figures of one layer at one width.
#[derive(Debug, Clone)]
pub struct LayerRun {
    pub layer: String,
    pub cycles: u64,
    pub arrays: usize,
    /// The operations the RTL's counters saw (equal to the energy model's).
    pub counts: Counts,
    /// Energy (J) of those operations in the design's technology.
    pub energy_j: f64,
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

pub enum Outcome {
    /// Per-layer figures, outputs compared, cycles, and for a run that
    /// ended with the model's last layer the class of its largest output
    /// `(RTL, reference)` (see [`crate::model::classify::argmax`]).
    Ok(Vec<LayerRun>, u64, u64, Option<(usize, usize)>),
    Mismatch(Mismatch),
    /// Verification failed for another reason (hang, cycle model, gating).
    Failed(String),
}

/// Runs layers `first..=last` at width `wi` from one start (activations stay
/// on chip) and checks, in this order: every output of those layers against
/// `reference` (the first diverging layer is named), the RTL's cycle count
/// against the cycle model, and each sub-array's computes and row writes
/// against the gating (enabled arrays do exactly the predicted work, gated
/// ones none).
pub fn run_range(
    sim: &mut Sim,
    d: &Design,
    wi: usize,
    stim: &Stimulus,
    reference: &BTreeMap<String, Tensor>,
    range: (usize, usize),
) -> Result<Outcome> {
    host::start(sim, wi, range)?;
    finish_range(sim, d, wi, stim, reference, range)
}

/// [`run_range`] after its start: clocks the run to its end and checks it
/// as a run of layers `first..=last` at width `wi` (the width the run must
/// have taken, however it was chosen).
pub fn finish_range(
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
    let expect_cycles: u64 = (first..=last)
        .map(|li| layer_cycles(lay, model, li, wi))
        .sum();
    let bound = cycle_bound(expect_cycles);
    if !sim.run(bound)?.finished {
        return Ok(Outcome::Failed(format!(
            "{what} at width {} ({}) did not finish within the cycle bound of {bound} cycles (the cycle model predicts {expect_cycles})",
            model.widths[wi], stim.name
        )));
    }
    // the done interrupt is pending, and clears
    let irq = host::irq(sim)?;
    if irq & 2 == 0 {
        return Ok(Outcome::Failed(format!(
            "{what} at width {} ({}) finished, but IRQ reads {irq:#x}: the done bit (1) is not set",
            model.widths[wi], stim.name
        )));
    }
    host::clear_irq(sim)?;
    let irq = host::irq(sim)?;
    if irq & 2 != 0 {
        return Ok(Outcome::Failed(format!(
            "IRQ reads {irq:#x} after writing 1 to its done bit: it did not clear"
        )));
    }
    let mut compared = 0;
    let mut class = None;
    for (li, l) in model.layers.iter().enumerate().take(last + 1).skip(first) {
        let region = lay.tensor(&l.name).expect("layer region");
        let want = &reference[&l.name];
        let got = read_tensor(sim, region, want.c, n)?;
        if li == model.layers.len() - 1 {
            class = Some((argmax(&got), argmax(&want.data.to_vec())));
        }
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
    let hw_cycles = host::cycles(sim)?;
    if hw_cycles != expect_cycles {
        return Ok(Outcome::Failed(format!(
            "{what} at width {}: the RTL took {hw_cycles} cycles, the cycle model predicts {expect_cycles}",
            model.widths[wi]
        )));
    }
    let act = host::activity(sim, lay.count)?;
    let (ncomp, nwrite) = (&act.computes, &act.writes);
    for a in 0..lay.count {
        let (mut wc, mut ww, mut we) = (0, 0, 0);
        for li in first..=last {
            if lay.layers[li].widths[wi].enabled(a) {
                let (c, w) = layer_ops(lay, li, wi);
                wc += c;
                ww += w;
                we += layer_cycles(lay, model, li, wi) - 1;
            }
        }
        if ncomp[a] as u64 != wc || nwrite[a] as u64 != ww || act.enabled[a] as u64 != we {
            let state = if wc == 0 && ww == 0 {
                "gated-off"
            } else {
                "enabled"
            };
            return Ok(Outcome::Failed(format!(
                "{what} at width {}: {state} sub-array {a} performed {} computes and {} row writes in {} enabled cycles, expected {wc}, {ww} and {we}",
                model.widths[wi], ncomp[a], nwrite[a], act.enabled[a]
            )));
        }
    }
    // the energy model's counts against the RTL's event counters
    let mut expect = Counts::default();
    for li in first..=last {
        expect.add(&layer_counts(lay, model, li, wi));
    }
    let computes: u64 = ncomp.iter().map(|&c| c as u64).sum();
    let enabled: u64 = act.enabled.iter().map(|&c| c as u64).sum();
    let seen = Counts {
        cycles: hw_cycles,
        computes,
        row_writes: nwrite.iter().map(|&c| c as u64).sum(),
        counts: computes * lay.groups as u64,
        shift_adds: act.acc_updates as u64,
        requantizations: act.requantizations as u64,
        act_reads: act.act_reads as u64,
        act_writes: act.act_writes as u64,
        enabled_array_cycles: enabled,
        gated_array_cycles: hw_cycles * lay.count as u64 - enabled,
    };
    if seen != expect {
        return Ok(Outcome::Failed(format!(
            "{what} at width {}: the RTL's operation counts differ from the energy model's:\n  RTL:   {seen:?}\n  model: {expect:?}",
            model.widths[wi]
        )));
    }
    let energy_j = energy(&d.tech, lay, &seen).total();
    let runs = if first == last {
        vec![LayerRun {
            layer: model.layers[first].name.clone(),
            cycles: hw_cycles,
            arrays: lay.layers[first].widths[wi].arrays(),
            counts: seen,
            energy_j,
        }]
    } else {
        Vec::new()
    };
    Ok(Outcome::Ok(runs, compared, hw_cycles, class))
}

/// Runs one stimulus at width `wi`: layer by layer (one start each) or the
/// whole network from one start. Stops at the first problem.
pub fn run_stimulus(
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
    let (mut runs, mut compared, mut cycles, mut class) = (Vec::new(), 0, 0, None);
    for li in 0..=last {
        match run_range(sim, d, wi, stim, &reference, (li, li))? {
            Outcome::Ok(r, c, y, k) => {
                runs.extend(r);
                compared += c;
                cycles += y;
                class = class.or(k);
            }
            other => return Ok(other),
        }
    }
    Ok(Outcome::Ok(runs, compared, cycles, class))
}

/// The weight rows of every sub-array must still equal its image (as read
/// from the directory when the design was loaded).
pub fn check_resident(sim: &mut Sim, d: &Design) -> Result<Option<String>> {
    let lay = &d.layout;
    for (a, img) in d.images.iter().enumerate() {
        let f = d.out.subarray_image(a);
        let got = read_rows(sim, d, a)?;
        let words = row_window(d).words;
        for (row, bits) in img.iter().enumerate().skip(lay.scratch_rows) {
            for w in 0..words {
                let mut want = 0u32;
                for b in 0..32.min(lay.cols) {
                    if bits.get(w * 32 + b) {
                        want |= 1 << b;
                    }
                }
                let have = got[row * words + w];
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
pub fn run_switch_step(sim: &mut Sim, d: &Design, wi: usize, stim: &Stimulus) -> Result<Outcome> {
    let lay = &d.layout;
    let gated: Vec<usize> = (0..lay.count)
        .filter(|&a| !lay.layers.iter().any(|l| l.widths[wi].enabled(a)))
        .collect();
    let before: Vec<Vec<u32>> = gated
        .iter()
        .map(|&a| read_rows(sim, d, a))
        .collect::<Result<_>>()?;
    let out = run_stimulus(sim, d, wi, stim, false)?;
    if !matches!(out, Outcome::Ok(..)) {
        return Ok(out);
    }
    for (k, &a) in gated.iter().enumerate() {
        let after = read_rows(sim, d, a)?;
        if let Some(i) = (0..after.len()).find(|&i| after[i] != before[k][i]) {
            return Ok(Outcome::Failed(format!(
                "sub-array {a} was gated off for the whole inference at width {}, but its row {} changed ({:#010x} -> {:#010x})",
                d.model.widths[wi],
                i / row_window(d).words,
                before[k][i],
                after[i]
            )));
        }
    }
    Ok(out)
}

/// First element of `got` that differs from `want`.
fn first_mismatch(want: &Tensor, got: &[i64]) -> Option<Mismatch> {
    for (k, (e, &a)) in want.data.iter().zip(got).enumerate() {
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

/// Runs `stim` through the whole network at width `wi` (already verified)
/// and writes layer `li`'s output as read from the RTL to
/// `DIR/dump/<layer>-w<width>.npy`, shape (C, H, W) at that width.
pub fn dump_layer(
    sim: &mut Sim,
    d: &Design,
    wi: usize,
    stim: &Stimulus,
    li: usize,
) -> Result<PathBuf> {
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
    let (h, w) = d.layout.layers[li].out_hw;
    let c = l.cout_active[wi];
    let data = read_tensor(sim, region, c, model.precision)?;
    let dir = d.out.join("dump");
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
