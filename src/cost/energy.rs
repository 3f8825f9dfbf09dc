//! Operation counts per layer and width, from the exact cycle model and the
//! plans, and the energy they cost in a technology ([`super::tech`]).
//!
//! What is counted (summed over the sub-arrays):
//! - `computes`, `row_writes`: [`super::layer_ops`] times the enabled arrays
//!   (the RTL's `N_COMPUTE` / `N_WRITE` counters);
//! - `counts`: one popcount per segment of every compute (`cols / segment`);
//! - `shift_adds`: accumulator updates: per compute, each group's first
//!   array updates its `cpr` accumulators (`capim_accumulate`); for pooling,
//!   one add per input value;
//! - `requantizations`: one per output value written (none for raw outputs);
//! - `act_reads`: activation memory word reads (gather: per round and set,
//!   `words * taps`; residual: one per output value; pooling: one per input
//!   value); `act_writes`: lanes written, one per output value and lane;
//! - `enabled_array_cycles` / `gated_array_cycles`: sub-array cycles enabled
//!   (every cycle of the layer but its descriptor fetch) and gated.

use super::tech::Tech;
use crate::hw::LANES;
use crate::layout::Layout;
use crate::model::{Model, Op};
use serde::Serialize;

/// Operations of one layer at one width (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub cycles: u64,
    pub computes: u64,
    pub row_writes: u64,
    pub counts: u64,
    pub shift_adds: u64,
    pub requantizations: u64,
    pub act_reads: u64,
    pub act_writes: u64,
    pub enabled_array_cycles: u64,
    pub gated_array_cycles: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.cycles += o.cycles;
        self.computes += o.computes;
        self.row_writes += o.row_writes;
        self.counts += o.counts;
        self.shift_adds += o.shift_adds;
        self.requantizations += o.requantizations;
        self.act_reads += o.act_reads;
        self.act_writes += o.act_writes;
        self.enabled_array_cycles += o.enabled_array_cycles;
        self.gated_array_cycles += o.gated_array_cycles;
    }
}

/// Operation counts of layer `li` at width `wi`.
pub fn layer_counts(lay: &Layout, model: &Model, li: usize, wi: usize) -> Counts {
    let lm = &lay.layers[li];
    let wm = &lm.widths[wi];
    let cycles = super::layer_cycles(lay, model, li, wi);
    let arrays = wm.arrays() as u64;
    let enabled = if arrays == 0 {
        0
    } else {
        (cycles - 1) * arrays
    };
    let mut c = Counts {
        cycles,
        enabled_array_cycles: enabled,
        gated_array_cycles: cycles * lay.count as u64 - enabled,
        ..Counts::default()
    };
    let cout = wm.cout_active as u64;
    if model.layers[li].op == Op::Gap {
        let (h, w) = lm.in_hw;
        let inputs = cout * (h * w) as u64;
        c.act_reads = inputs;
        c.shift_adds = inputs;
        c.requantizations = cout;
        c.act_writes = cout;
        return c;
    }
    let p = wm.plan.as_ref().expect("a conv layer has a plan");
    let (computes, writes) = super::layer_ops(lay, li, wi);
    let (ho, wo) = lm.out_hw;
    let outputs = cout * (ho * wo) as u64;
    let rounds = (ho * wo).div_ceil(p.sets) as u64;
    let words = wm.cin_active.div_ceil(LANES) as u64;
    c.computes = computes * arrays;
    c.row_writes = writes * arrays;
    c.counts = c.computes * lay.groups as u64;
    c.shift_adds = computes * (p.sets * p.qg_used * p.cpr(lay.groups)) as u64;
    c.requantizations = if lm.out_words == 1 { outputs } else { 0 };
    c.act_reads = rounds * p.sets as u64 * words * lm.ksize as u64
        + if lm.res_base.is_some() { outputs } else { 0 };
    c.act_writes = outputs * lm.out_words as u64;
    c
}

/// Energy (J) by where it is spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Energy {
    /// Two-row computes in the sub-arrays (sense and AND).
    pub compute: f64,
    /// Activation bit-planes written into the sub-arrays' rows.
    pub row_write: f64,
    /// Bit-counters and shift-add accumulation.
    pub count_accumulate: f64,
    pub requantize: f64,
    pub activation_memory: f64,
    /// Enabled and gated sub-arrays' leakage over the cycles.
    pub leakage: f64,
}

impl Energy {
    pub fn total(&self) -> f64 {
        self.compute
            + self.row_write
            + self.count_accumulate
            + self.requantize
            + self.activation_memory
            + self.leakage
    }

    pub fn add(&mut self, o: &Energy) {
        self.compute += o.compute;
        self.row_write += o.row_write;
        self.count_accumulate += o.count_accumulate;
        self.requantize += o.requantize;
        self.activation_memory += o.activation_memory;
        self.leakage += o.leakage;
    }

    /// The parts with their names, in the order of the struct.
    pub fn parts(&self) -> [(&'static str, f64); 6] {
        [
            ("compute", self.compute),
            ("row_write", self.row_write),
            ("count_accumulate", self.count_accumulate),
            ("requantize", self.requantize),
            ("activation_memory", self.activation_memory),
            ("leakage", self.leakage),
        ]
    }
}

/// What the operations `c` cost in `tech` on the array of `lay`.
pub fn energy(tech: &Tech, lay: &Layout, c: &Counts) -> Energy {
    let e = &tech.energy;
    let cols = lay.cols as f64;
    let n = lay.precision as f64;
    Energy {
        compute: c.computes as f64 * cols * e.compute_per_column,
        row_write: c.row_writes as f64 * cols * e.row_write_per_bit,
        count_accumulate: c.counts as f64 * e.count_per_segment + c.shift_adds as f64 * e.shift_add,
        requantize: c.requantizations as f64 * e.requantize,
        activation_memory: c.act_reads as f64 * (LANES as f64 * n) * e.act_read_per_bit
            + c.act_writes as f64 * n * e.act_write_per_bit,
        leakage: (c.enabled_array_cycles as f64 * tech.leak_enabled_per_column_w
            + c.gated_array_cycles as f64 * tech.leak_gated_per_column_w)
            * cols
            * tech.period_s(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::ArrayConfig;

    fn design() -> (Layout, Model) {
        let model = crate::model::builtin_model("resnet20-i8").unwrap();
        let lay = Layout::new(&ArrayConfig::builtin(), &model).unwrap();
        (lay, model)
    }

    /// The counts agree with the cost model's cycles, active array-cycles
    /// and AND work, layer by layer and width by width.
    #[test]
    fn counts_agree_with_the_cost_model() {
        let (lay, model) = design();
        let n = lay.precision as u64;
        for wi in 0..model.widths.len() {
            for li in 0..model.layers.len() {
                let c = layer_counts(&lay, &model, li, wi);
                let k = super::super::layer(&lay, &model, li, wi);
                assert_eq!(c.cycles, k.cycles);
                assert_eq!(c.enabled_array_cycles, k.active_array_cycles);
                assert_eq!(
                    c.enabled_array_cycles + c.gated_array_cycles,
                    c.cycles * lay.count as u64
                );
                // every AND of useful work is one column of a compute
                assert!(c.computes * lay.cols as u64 >= k.and_work, "{li} {wi}");
                if model.layers[li].op == Op::Conv {
                    assert_eq!(c.computes % (n * n), 0);
                    assert_eq!(c.counts, c.computes * lay.groups as u64);
                }
            }
        }
    }

    /// Energy is linear in each price: doubling one doubles exactly its part.
    #[test]
    fn each_part_follows_its_price() {
        let (lay, model) = design();
        let c = layer_counts(&lay, &model, 1, 3);
        let t = Tech::builtin();
        let base = energy(&t, &lay, &c);
        let mut t2 = t.clone();
        t2.energy.compute_per_column *= 2.0;
        let e2 = energy(&t2, &lay, &c);
        assert_eq!(e2.compute, 2.0 * base.compute);
        assert_eq!(e2.row_write, base.row_write);
        let mut t3 = t.clone();
        t3.clock_hz *= 2.0;
        assert_eq!(energy(&t3, &lay, &c).leakage, base.leakage / 2.0);
        assert!(base.parts().iter().all(|(_, v)| *v > 0.0), "{base:?}");
    }
}
