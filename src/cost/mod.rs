//! Analytic cost model: cycles (exact, checked against the RTL), AND work,
//! active array-cycles and utilization per layer and width.

pub mod cycles;

pub use cycles::{layer_cycles, layer_ops};

use crate::layout::Layout;
use crate::model::Model;
use serde::Serialize;

/// Cost of one layer at one width.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    /// Engine cycles (exactly what the RTL takes).
    pub cycles: u64,
    /// Sum over cycles of enabled sub-arrays: the energy proxy gating shrinks.
    pub active_array_cycles: u64,
    /// Useful AND work: cout * cin * Kh * Kw * Hout * Wout * N^2 at this width.
    pub and_work: u64,
}

impl Cost {
    /// AND work / (active array-cycles * cols): how well the enabled arrays are used.
    pub fn engaged_utilization(&self, cols: usize) -> f64 {
        ratio(self.and_work, self.active_array_cycles * cols as u64)
    }

    /// AND work / (cycles * all sub-arrays * cols): how well the accelerator is used.
    pub fn array_utilization(&self, count: usize, cols: usize) -> f64 {
        ratio(self.and_work, self.cycles * (count * cols) as u64)
    }

    pub fn add(&mut self, o: &Cost) {
        self.cycles += o.cycles;
        self.active_array_cycles += o.active_array_cycles;
        self.and_work += o.and_work;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Cost of layer `li` at width `wi`. The sub-arrays of a layer are enabled
/// in every cycle of the layer but its descriptor fetch.
pub fn layer(lay: &Layout, model: &Model, li: usize, wi: usize) -> Cost {
    let l = &model.layers[li];
    let wm = &lay.layers[li].widths[wi];
    let (ho, wo) = lay.layers[li].out_hw;
    let n = lay.precision as u64;
    let cycles = layer_cycles(lay, model, li, wi);
    Cost {
        cycles,
        active_array_cycles: (cycles - 1) * wm.arrays as u64,
        and_work: if l.op == crate::model::Op::Conv {
            (wm.cout_active * wm.cin_active * l.kh * l.kw * ho * wo) as u64 * n * n
        } else {
            0
        },
    }
}

/// Cost of the whole network at width `wi`.
pub fn network(lay: &Layout, model: &Model, wi: usize) -> Cost {
    let mut c = Cost::default();
    for li in 0..model.layers.len() {
        c.add(&layer(lay, model, li, wi));
    }
    c
}

/// The per-width cost table printed by `capim gen` and `capim verify`:
/// cycles, active array-cycles (both also as a fraction of full width),
/// engaged and array utilization, for the widths `wis`.
pub fn table(lay: &Layout, model: &Model, wis: &[usize]) -> String {
    let full = network(lay, model, model.widths.len() - 1);
    let mut s = String::from(
        "  cost model (whole network): cycles, active array-cycles, engaged / array utilization\n",
    );
    for &wi in wis {
        let c = network(lay, model, wi);
        s += &format!(
            "  {:<8} {:>10} ({:>5.3} of full) {:>12} ({:>5.3} of full)   {:.3} / {:.3}\n",
            model.widths[wi],
            c.cycles,
            ratio(c.cycles, full.cycles),
            c.active_array_cycles,
            ratio(c.active_array_cycles, full.active_array_cycles),
            c.engaged_utilization(lay.cols),
            c.array_utilization(lay.count, lay.cols)
        );
    }
    s
}
