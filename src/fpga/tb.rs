//! The bundle's self-checking testbench: `tb/capim_tb.sv` drives
//! `capim_fpga_top` over AXI4-Lite through a **bus script** that capim
//! writes from the Rust reference (`mem/capim_tb.memh`): whole inferences
//! at every width, each a write of the input tensor, the width and layer
//! registers and the start, a wait for `irq`, then a read of every output
//! lane and of `CYCLES`, compared with the reference and the cycle model.
//! The testbench stops at the first difference, names it (entry, address,
//! expected, read) and exits non-zero; it needs nothing but the bundle and
//! a simulator (Icarus `-g2012`, or Verilator `--binary --timing`).
//!
//! One script entry is 96 bits, `{op[95:64], addr[63:32], data[31:0]}`,
//! addresses in bytes:
//! - `1` write `data` to `addr`;
//! - `2` read `addr` and expect `data`;
//! - `3` wait for `irq` (at most `data` cycles);
//! - `0` end.

use crate::cost::layer_cycles;
use crate::emit::Generated;
use crate::hw::regs;
use crate::model::{Model, reference};
use crate::verify::host::input_lanes;
use crate::verify::plan::stimuli;

/// The testbench source.
pub const TB_SV: &str = include_str!("../../templates/tb/capim_tb.sv");
/// Its top module.
pub const TB_TOP: &str = "capim_tb";
/// The bus script's file name (in `mem/`).
pub const SCRIPT: &str = "capim_tb.memh";

/// One entry of the bus script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Write(u32, u32),
    Expect(u32, u32),
    WaitIrq(u32),
}

/// Whole inferences of `images` seeded random images at every width and
/// of the edge cases of [`stimuli`] at the widest, each checked lane by
/// lane.
pub fn script(g: &Generated, model: &Model, seed: u64, images: usize) -> Vec<Op> {
    let lay = &g.layout;
    let n = model.precision;
    let byte = |word: u32| word * 4;
    let lane_mask = (1u64 << n) - 1;
    let inp = lay.tensor(&model.input.name).expect("input region");
    let last = model.layers.len() - 1;
    let out_l = &model.layers[last];
    let out = lay.tensor(&out_l.name).expect("output region");
    let mut ops = vec![
        Op::Expect(byte(regs::ID.addr), regs::ID_VALUE),
        Op::Write(byte(regs::IRQ.addr), 1),
        Op::Write(byte(regs::LAYER_FIRST.addr), 0),
        Op::Write(byte(regs::LAYER_LAST.addr), last as u32),
    ];
    let stims = stimuli(model, seed, images);
    let widest = model.widths.len() - 1;
    // the random images at every width, the edge cases at the widest
    let runs = stims.iter().enumerate().flat_map(|(k, s)| {
        let widths = if k < images {
            0..widest + 1
        } else {
            widest..widest + 1
        };
        widths.map(move |wi| (s, wi))
    });
    for (stim, wi) in runs {
        let t = &stim.input;
        for (off, word) in input_lanes(lay, model, t) {
            ops.push(Op::Write(
                byte(regs::ACT.addr + (inp.base + off) as u32),
                word,
            ));
        }
        ops.push(Op::Write(byte(regs::WIDTH.addr), wi as u32));
        ops.push(Op::Write(byte(regs::CTRL.addr), 1));
        let cycles: u64 = (0..=last).map(|li| layer_cycles(lay, model, li, wi)).sum();
        ops.push(Op::WaitIrq(
            crate::verify::cycle_bound(cycles).min(u32::MAX as u64) as u32,
        ));
        ops.push(Op::Write(byte(regs::IRQ.addr), 3));
        let want = &reference::run_all(model, wi, t)[&out_l.name];
        for (k, v) in want.data.iter().enumerate() {
            let (c, rem) = (k / (want.h * want.w), k % (want.h * want.w));
            let (y, x) = (rem / want.w, rem % want.w);
            for part in 0..out.words {
                let lane = out.base + out.offset(c, y, x, part);
                let bits = ((v as u64) >> (part as u32 * n)) & lane_mask;
                ops.push(Op::Expect(byte(regs::ACT.addr + lane as u32), bits as u32));
            }
        }
        ops.push(Op::Expect(byte(regs::CYCLES.addr), cycles as u32));
    }
    ops
}

/// The script as a `$readmemh` image, ended by an op-0 entry.
pub fn memh(ops: &[Op]) -> String {
    let mut s = String::with_capacity(ops.len() * 25);
    for op in ops {
        let (o, a, d) = match *op {
            Op::Write(a, d) => (1, a, d),
            Op::Expect(a, d) => (2, a, d),
            Op::WaitIrq(n) => (3, 0, n),
        };
        s += &format!("{o:08x}{a:08x}{d:08x}\n");
    }
    s += &format!("{:024x}\n", 0);
    s
}
