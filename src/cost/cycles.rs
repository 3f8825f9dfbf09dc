//! The exact cycle model of the convolution engine and the operations each
//! enabled sub-array performs, per layer and width. `capim verify` checks
//! both against the RTL's counters for every layer and width; the cost
//! model ([`super`]) derives energy proxies and utilization from them.
//!
//! Conv layers follow their plan's schedule ([`crate::layout::plan::cycles`]);
//! global average pooling takes `1 + cout_active * (H*W + 3)` cycles.

use crate::layout::{Layout, Shape, plan};
use crate::model::{Model, Op};

/// Busy cycles the engine takes for layer `li` at width `wi` (exact).
pub fn layer_cycles(lay: &Layout, model: &Model, li: usize, wi: usize) -> u64 {
    let wm = &lay.layers[li].widths[wi];
    if model.layers[li].op == Op::Gap {
        // per channel: start, one read per input position, last read, requantize
        let (h, w) = lay.layers[li].in_hw;
        return 1 + wm.cout_active as u64 * ((h * w) as u64 + 3);
    }
    wm.cycles
}

/// (computes, row writes) every enabled sub-array performs for layer `li` at width `wi`.
pub fn layer_ops(lay: &Layout, li: usize, wi: usize) -> (u64, u64) {
    let lm = &lay.layers[li];
    let wm = &lm.widths[wi];
    match &wm.plan {
        None => (0, 0),
        Some(p) => {
            let (ho, wo) = lm.out_hw;
            let shape = Shape {
                taps: lm.ksize,
                positions: ho * wo,
                cin_active: wm.cin_active,
                cout_active: wm.cout_active,
                out_words: lm.out_words,
            };
            plan::ops(&shape, p, lay.precision as usize)
        }
    }
}
