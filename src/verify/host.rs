//! The verifier's host I/O over the simulated bus, in terms of the register
//! map ([`crate::hw::regs`]): starting a run, reading its counters, writing
//! an input tensor, reading tensors and sub-array rows back.

use super::plan::Stimulus;
use crate::cosim::Sim;
use crate::emit::Design;
use crate::error::{Error, Result};
use crate::hw::regs::{self, RowWindow};
use crate::layout::{Layout, TensorRegion};
use crate::model::{Model, Tensor};

pub fn to_word(v: i64, n: u32) -> u32 {
    (v as u64 & ((1u64 << n) - 1)) as u32
}

/// Checks the ID register.
pub fn check_id(sim: &mut Sim, d: &Design) -> Result<()> {
    let id = sim.read(regs::ID.addr, 1)?[0];
    if id != regs::ID_VALUE {
        return Err(Error::Verification(format!(
            "{}: ID register reads {id:#010x}, expected {:#010x}",
            d.out.path().display(),
            regs::ID_VALUE
        )));
    }
    Ok(())
}

/// Starts layers `first..=last` at width `wi`.
pub fn start(sim: &mut Sim, wi: usize, (first, last): (usize, usize)) -> Result<()> {
    sim.write(regs::WIDTH.addr, &[wi as u32])?;
    sim.write(regs::LAYER_FIRST.addr, &[first as u32])?;
    sim.write(regs::LAYER_LAST.addr, &[last as u32])?;
    sim.write(regs::CTRL.addr, &[1])
}

/// The IRQ register: `{done, enable}`.
pub fn irq(sim: &mut Sim) -> Result<u32> {
    Ok(sim.read(regs::IRQ.addr, 1)?[0])
}

/// Clears the done interrupt (and leaves the interrupt disabled).
pub fn clear_irq(sim: &mut Sim) -> Result<()> {
    sim.write(regs::IRQ.addr, &[2])
}

/// Cycles of the last run.
pub fn cycles(sim: &mut Sim) -> Result<u64> {
    Ok(sim.read(regs::CYCLES.addr, 1)?[0] as u64)
}

/// What the RTL's event counters saw since the last start.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Per sub-array: computes, row writes, enabled cycles.
    pub computes: Vec<u32>,
    pub writes: Vec<u32>,
    pub enabled: Vec<u32>,
    pub act_reads: u32,
    pub act_writes: u32,
    pub requantizations: u32,
    pub acc_updates: u32,
}

/// Reads the event counters of a design with `count` sub-arrays.
pub fn activity(sim: &mut Sim, count: usize) -> Result<Activity> {
    let one = |sim: &mut Sim, r: regs::Reg| -> Result<u32> { Ok(sim.read(r.addr, 1)?[0]) };
    Ok(Activity {
        computes: sim.read(regs::N_COMPUTE.addr, count as u32)?,
        writes: sim.read(regs::N_WRITE.addr, count as u32)?,
        enabled: sim.read(regs::N_ENABLED.addr, count as u32)?,
        act_reads: one(sim, regs::N_ACT_READ)?,
        act_writes: one(sim, regs::N_ACT_WRITE)?,
        requantizations: one(sim, regs::N_REQUANT)?,
        acc_updates: one(sim, regs::N_ACC_UPDATE)?,
    })
}

/// The input tensor `t` of `model` as activation-memory lanes: `(lane
/// offset from the input region's base, N-bit word)` per value, in the
/// tensor's `[c][y][x]` order.
pub fn input_lanes<'a>(
    lay: &'a Layout,
    model: &'a Model,
    t: &'a Tensor,
) -> impl Iterator<Item = (usize, u32)> + 'a {
    let inp = lay.tensor(&model.input.name).expect("input region");
    t.data.iter().enumerate().map(move |(k, v)| {
        let (c, y, x) = (k / (t.h * t.w), k / t.w % t.h, k % t.w);
        (inp.offset(c, y, x, 0), to_word(v, model.precision))
    })
}

/// Writes the stimulus into the network input's activation region.
pub fn write_input(sim: &mut Sim, d: &Design, stim: &Stimulus) -> Result<()> {
    let inp = d.layout.tensor(&d.model.input.name).expect("input region");
    let mut lanes = vec![0u32; inp.lanes()];
    for (off, word) in input_lanes(&d.layout, &d.model, &stim.input) {
        lanes[off] = word;
    }
    sim.write(regs::ACT.addr + inp.base as u32, &lanes)
}

/// Where sub-array rows sit on the host bus for design `d`.
pub fn row_window(d: &Design) -> RowWindow {
    RowWindow::new(&d.cfg.subarray, &d.layout.widths)
}

/// Every row of sub-array `a`, as read over the host bus (idle only).
pub fn read_rows(sim: &mut Sim, d: &Design, a: usize) -> Result<Vec<u32>> {
    let rw = row_window(d);
    sim.read(rw.addr(a, 0, 0), (d.layout.rows * rw.words) as u32)
}

/// The first `c` channels of a tensor region in `[c][y][x]` order, decoded:
/// N-bit values, or ACC_W-bit raw outputs stored as ACC_W / N lanes, least
/// significant first.
pub fn read_tensor(sim: &mut Sim, region: &TensorRegion, c: usize, n: u32) -> Result<Vec<i64>> {
    let lanes = sim.read(regs::ACT.addr + region.base as u32, region.lanes() as u32)?;
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
