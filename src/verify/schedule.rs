//! The adaptive width scheduler in co-simulation. A seeded workload trace
//! (per inference a deadline, an energy budget and a cap on enabled
//! sub-arrays) runs whole inferences on the RTL in automatic mode. For
//! every inference the choice the RTL reports (`SCHED_STATUS`) must equal
//! [`scheduler::choose`] on the cost table the cost model gives for the
//! design (not the table image in the directory, so a corrupted image is
//! caught), and the inference must be bit-exact at the chosen width, with
//! the cycles and operation counts of that width. Every tenth inference
//! runs in manual mode instead; and while the first inference is busy the
//! host rewrites the mode, the manual width and every limit: that
//! inference must still finish bit-exact at the width chosen at its start.

use super::check::{self, Outcome};
use super::host::{self, write_input};
use super::plan::Stimulus;
use crate::cosim::Sim;
use crate::emit::Design;
use crate::error::{Error, Result};
use crate::hw::regs;
use crate::hw::scheduler::{self, Constraints, Table};
use crate::model::{Tensor, reference};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// One inference of the workload trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Automatic mode under these limits.
    Auto(Constraints),
    /// Manual mode at this width index.
    Manual(usize),
}

/// A seeded trace of `n` inferences for `table`. Each limit is absent (0)
/// half of the time, at an entry's own value or one off it a third of the
/// time (where the comparisons decide), anywhere up to a quarter above the
/// largest entry otherwise. Every tenth inference is manual.
pub fn workload(t: &Table, seed: u64, n: usize) -> Vec<Step> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let limit = |rng: &mut ChaCha8Rng, vals: &[u32]| -> u32 {
        let max = vals.iter().copied().max().unwrap_or(1) as u64;
        match rng.random_range(0..6) {
            0..=2 => 0,
            3 | 4 => {
                let v = vals[rng.random_range(0..vals.len())] as i64;
                (v + rng.random_range(-1..=1)).clamp(1, u32::MAX as i64) as u32
            }
            _ => rng.random_range(1..=(max + max / 4).min(u32::MAX as u64)) as u32,
        }
    };
    let field = |f: fn(&scheduler::Entry) -> u32| t.entries.iter().map(f).collect::<Vec<u32>>();
    let (cycles, energy, arrays) = (
        field(|e| e.cycles),
        field(|e| e.energy),
        field(|e| e.arrays),
    );
    (0..n)
        .map(|k| {
            if k % 10 == 9 {
                Step::Manual(rng.random_range(0..t.entries.len()))
            } else {
                Step::Auto(Constraints {
                    deadline: limit(&mut rng, &cycles),
                    budget: limit(&mut rng, &energy),
                    cap: limit(&mut rng, &arrays),
                })
            }
        })
        .collect()
}

/// What the trace did.
#[derive(Debug, Clone, Default)]
pub struct ScheduleReport {
    /// Inferences run (automatic and manual).
    pub inferences: usize,
    /// Automatic inferences per width index.
    pub chosen: Vec<usize>,
    /// Automatic inferences where no point met every limit.
    pub violated: usize,
    /// Outputs compared bit-exactly.
    pub outputs_compared: u64,
    pub cycles_simulated: u64,
}

/// The cost table the scheduler of `d` must hold: the cost model's, in the
/// design's technology (recomputed, not read from the image).
pub fn table(d: &Design) -> Table {
    crate::cost::tradeoff::TradeOff::new(&d.layout, &d.model, &d.tech).schedule_table()
}

/// Runs `trace` on a fresh simulation `sim` of design `d` whose cost table
/// is `table`, images taken in turn from `stims`. A wrong choice or a run
/// that is not bit-exact at the chosen width is a verification error
/// naming the inference and its limits.
pub fn run(
    sim: &mut Sim,
    d: &Design,
    table: &Table,
    trace: &[Step],
    stims: &[Stimulus],
) -> Result<ScheduleReport> {
    let model = &d.model;
    let lay = &d.layout;
    let fail = |msg: String| Error::Verification(format!("adaptive width scheduler: {msg}"));
    let info = sim.read(regs::SCHED_INFO.addr, 1)?[0];
    if info != table.info_value() {
        return Err(fail(format!(
            "SCHED_INFO reads {info:#010x}, the cost model's table gives {:#010x}",
            table.info_value()
        )));
    }
    let n_w = model.widths.len();
    let last = model.layers.len() - 1;
    sim.write(regs::LAYER_FIRST.addr, &[0])?;
    sim.write(regs::LAYER_LAST.addr, &[last as u32])?;
    let mut refs: BTreeMap<(usize, usize), BTreeMap<String, Tensor>> = BTreeMap::new();
    let mut rep = ScheduleReport {
        chosen: vec![0; n_w],
        ..ScheduleReport::default()
    };
    for (k, step) in trace.iter().enumerate() {
        let si = k % stims.len();
        let stim = &stims[si];
        let (wi, expect_status, what) = match *step {
            Step::Auto(c) => {
                let ch = scheduler::choose(table, &c);
                // WIDTH holds another width: a run that ignored the
                // scheduler would run at it
                sim.write(regs::WIDTH.addr, &[((ch.width + 1) % n_w) as u32])?;
                sim.write(regs::SCHED_DEADLINE.addr, &[c.deadline])?;
                sim.write(regs::SCHED_BUDGET.addr, &[c.budget])?;
                sim.write(regs::SCHED_CAP.addr, &[c.cap])?;
                sim.write(regs::SCHED_MODE.addr, &[1])?;
                rep.chosen[ch.width] += 1;
                rep.violated += usize::from(ch.why.any());
                (
                    ch.width,
                    scheduler::status_value(true, ch.width, Some(&ch)),
                    format!(
                        "automatic, deadline {} cycles, budget {}, cap {}",
                        c.deadline, c.budget, c.cap
                    ),
                )
            }
            Step::Manual(w) => {
                sim.write(regs::WIDTH.addr, &[w as u32])?;
                sim.write(regs::SCHED_MODE.addr, &[0])?;
                (
                    w,
                    scheduler::status_value(false, w, None),
                    format!("manual, width {}", model.widths[w]),
                )
            }
        };
        write_input(sim, d, stim)?;
        let reference = refs
            .entry((si, wi))
            .or_insert_with(|| reference::run_all(model, wi, &stim.input));
        sim.write(regs::CTRL.addr, &[1])?;
        if k == 0 {
            // rewrite everything while the run is busy: mode, width, limits
            let half = lay.layers.iter().map(|l| l.widths[wi].cycles).sum::<u64>() / 2;
            if sim.run(half.max(1))?.finished {
                return Err(fail(format!(
                    "inference 0 ({what}) finished within {half} cycles, half of what the cycle model predicts"
                )));
            }
            // the done interrupt is not pending while the run is busy
            let irq = host::irq(sim)?;
            if irq & 2 != 0 {
                return Err(fail(format!(
                    "inference 0 ({what}): IRQ reads {irq:#x} half-way through the run: done is set while busy"
                )));
            }
            sim.write(
                regs::SCHED_MODE.addr,
                &[1 - u32::from(matches!(step, Step::Auto(_)))],
            )?;
            sim.write(regs::WIDTH.addr, &[((wi + 1) % n_w) as u32])?;
            for r in [regs::SCHED_DEADLINE, regs::SCHED_BUDGET, regs::SCHED_CAP] {
                sim.write(r.addr, &[1])?;
            }
        }
        let label = format!(
            "inference {k} of the schedule trace ({what}; {})",
            stim.name
        );
        let named = Stimulus {
            name: label.clone(),
            input: stim.input.clone(),
            label: stim.label,
        };
        let outcome = check::finish_range(sim, d, wi, &named, reference, (0, last))?;
        // a wrong choice is named first: it explains a run at another width
        let status = sim.read(regs::SCHED_STATUS.addr, 1)?[0];
        if status != expect_status {
            return Err(fail(format!(
                "{label}: SCHED_STATUS reads {status:#010x} ({}), the model expects {expect_status:#010x} ({})",
                status_text(status, &model.widths),
                status_text(expect_status, &model.widths)
            )));
        }
        match outcome {
            Outcome::Ok(_, compared, cycles, _) => {
                rep.outputs_compared += compared;
                rep.cycles_simulated += cycles;
            }
            Outcome::Mismatch(m) => {
                return Err(fail(format!(
                    "{label}: the RTL reports the model's choice, width {}, but the run is not bit-exact at it: layer `{}`, channel {}, position (y={}, x={}): expected {}, got {}",
                    model.widths[wi], m.layer, m.channel, m.y, m.x, m.expected, m.actual
                )));
            }
            Outcome::Failed(msg) => {
                return Err(fail(format!(
                    "{label}: the RTL reports the model's choice, width {}: {msg}",
                    model.widths[wi]
                )));
            }
        }
        rep.inferences += 1;
    }
    // the cost table as the host reads it
    let words = sim.read(regs::SCHED_TABLE.addr, 4 * table.entries.len() as u32)?;
    for (e, entry) in table.entries.iter().enumerate() {
        for (f, &want) in entry.fields().iter().enumerate() {
            let got = words[4 * e + f];
            if got != want {
                return Err(fail(format!(
                    "cost-table entry {e} field `{}` reads {got} over the bus, the cost model says {want}",
                    scheduler::FIELDS[f]
                )));
            }
        }
    }
    host::check_id(sim, d)?;
    Ok(rep)
}

/// `SCHED_STATUS` in words.
fn status_text(s: u32, widths: &[f64]) -> String {
    let w = (s >> 8 & 0xFF) as usize;
    let width = widths
        .get(w)
        .map_or(format!("index {w}"), |v| v.to_string());
    if s >> 31 == 0 {
        return format!("manual, width {width}");
    }
    let why: Vec<&str> = [(0, "deadline"), (1, "budget"), (2, "cap")]
        .iter()
        .filter(|(b, _)| s >> b & 1 == 1)
        .map(|(_, n)| *n)
        .collect();
    format!(
        "automatic, entry {}, width {width}, {}",
        s >> 16 & 0xFF,
        if why.is_empty() {
            "every limit met".to_string()
        } else {
            format!("violates {}", why.join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_hits_the_limits_and_is_reproducible() {
        let t = Table::new(&[
            (100, 10.0, 2, None),
            (200, 30.0, 4, None),
            (300, 60.0, 8, None),
        ]);
        let a = workload(&t, 3, 200);
        assert_eq!(a, workload(&t, 3, 200));
        assert_ne!(a, workload(&t, 4, 200));
        let autos: Vec<Constraints> = a
            .iter()
            .filter_map(|s| match s {
                Step::Auto(c) => Some(*c),
                Step::Manual(_) => None,
            })
            .collect();
        assert_eq!(autos.len(), 180);
        // exactly at an entry's deadline, and one below one
        assert!(autos.iter().any(|c| c.deadline == 200));
        assert!(autos.iter().any(|c| c.deadline == 199));
        assert!(autos.iter().any(|c| c.deadline == 0));
        // every entry is chosen at least once, and some fall back
        let mut seen = [0; 3];
        let mut fell_back = 0;
        for c in &autos {
            let ch = scheduler::choose(&t, c);
            seen[ch.width] += 1;
            fell_back += usize::from(ch.why.any());
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        assert!(fell_back > 0);
    }
}
