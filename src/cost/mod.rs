//! Analytic cost model: cycles (exact, checked against the RTL), AND work,
//! active array-cycles and utilization per layer and width.
//!
//! [`Report`] is the machine-readable form, written by `capim gen` as
//! `cost.json` in the generated directory (schema in the README, DESIGN.md
//! section 9); [`table`] is the form printed for people.

pub mod cycles;
pub mod energy;
pub mod sweep;
pub mod tech;
pub mod tradeoff;

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
        active_array_cycles: (cycles - 1) * wm.arrays() as u64,
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

/// Cycles of a narrow width with replica rows if it ran on the full
/// width's rows instead.
fn replica_alternative(lay: &Layout, li: usize, wi: usize) -> Option<u64> {
    let lm = &lay.layers[li];
    let wm = &lm.widths[wi];
    let full = lm.widths.last()?.plan.as_ref()?;
    let p = wm.plan.as_ref()?;
    if wi + 1 == lm.widths.len() || p.rows != crate::layout::Rows::Own {
        return None;
    }
    let (ho, wo) = lm.out_hw;
    let shape = crate::layout::Shape {
        taps: lm.ksize,
        positions: ho * wo,
        cin_active: wm.cin_active,
        cout_active: wm.cout_active,
        out_words: lm.out_words,
    };
    let alt = crate::layout::plan::shared(&shape, lay.segment, lay.groups, full);
    Some(crate::layout::plan::cycles(
        &shape,
        &alt,
        lay.precision as usize,
        lay.groups,
    ))
}

/// One layer at one width in [`Report`].
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub cycles: u64,
    pub active_array_cycles: u64,
    pub and_work: u64,
    /// Weight rows this width's plan has of its own in each sub-array
    /// (0 when it runs on the full width's rows).
    pub rows_used: usize,
    /// Sub-arrays enabled (the rest are gated off for the layer).
    pub arrays: usize,
    /// `null` for layers that run in the periphery (`gap`).
    pub plan: Option<crate::layout::Plan>,
    /// For a narrow width on replica rows: the cycles it would take on the
    /// full width's rows instead (what the replica saves); else `null`.
    pub cycles_on_full_rows: Option<u64>,
}

/// One width in [`Report`]: the whole network and each layer.
#[derive(Debug, Clone, Serialize)]
pub struct WidthReport {
    pub width: f64,
    pub cycles: u64,
    pub active_array_cycles: u64,
    pub and_work: u64,
    pub engaged_utilization: f64,
    pub array_utilization: f64,
    /// Replica rows this width has of its own per sub-array (0 for the full width).
    pub replica_rows: usize,
    pub layers: Vec<LayerReport>,
}

/// The cost of a design per width and layer (`cost.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The mapping policy the planner used.
    pub policy: &'static str,
    /// Columns per bit-counter segment.
    pub segment: usize,
    pub precision: u32,
    pub subarrays: usize,
    pub rows: usize,
    pub cols: usize,
    /// Rows used in the fullest sub-array (scratch rows included).
    pub rows_used: usize,
    pub widths: Vec<WidthReport>,
}

impl Report {
    pub fn new(lay: &Layout, model: &Model) -> Report {
        let widths = (0..model.widths.len())
            .map(|wi| {
                let layers: Vec<LayerReport> = (0..model.layers.len())
                    .map(|li| {
                        let c = layer(lay, model, li, wi);
                        let lm = &lay.layers[li];
                        let wm = &lm.widths[wi];
                        let conv = model.layers[li].op == crate::model::Op::Conv;
                        LayerReport {
                            name: lm.name.clone(),
                            cycles: c.cycles,
                            active_array_cycles: c.active_array_cycles,
                            and_work: c.and_work,
                            rows_used: wm
                                .plan
                                .as_ref()
                                .map_or(0, |p| p.weight_rows(lay.precision as usize)),
                            arrays: wm.arrays(),
                            plan: if conv { wm.plan.clone() } else { None },
                            cycles_on_full_rows: replica_alternative(lay, li, wi),
                        }
                    })
                    .collect();
                let mut total = Cost::default();
                for l in &layers {
                    total.add(&Cost {
                        cycles: l.cycles,
                        active_array_cycles: l.active_array_cycles,
                        and_work: l.and_work,
                    });
                }
                WidthReport {
                    width: model.widths[wi],
                    cycles: total.cycles,
                    active_array_cycles: total.active_array_cycles,
                    and_work: total.and_work,
                    engaged_utilization: total.engaged_utilization(lay.cols),
                    array_utilization: total.array_utilization(lay.count, lay.cols),
                    replica_rows: if wi + 1 == model.widths.len() {
                        0
                    } else {
                        layers.iter().map(|l| l.rows_used).sum()
                    },
                    layers,
                }
            })
            .collect();
        Report {
            policy: lay.policy.name(),
            segment: lay.segment,
            precision: lay.precision,
            subarrays: lay.count,
            rows: lay.rows,
            cols: lay.cols,
            rows_used: lay.rows_used,
            widths,
        }
    }

    /// `cost.json`: pretty JSON and a final newline.
    pub fn json_bytes(&self) -> Vec<u8> {
        crate::fsio::json_bytes(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::ArrayConfig;

    /// The report's totals are the sums of its layers and equal the cost
    /// model's network figures; every conv layer carries its plan.
    #[test]
    fn report_totals_are_the_network_cost() {
        let model = crate::model::builtin_model("resnet20-i8").unwrap();
        let lay = Layout::new(&ArrayConfig::builtin(), &model).unwrap();
        let r = Report::new(&lay, &model);
        assert_eq!(r.widths.len(), model.widths.len());
        for (wi, w) in r.widths.iter().enumerate() {
            let net = network(&lay, &model, wi);
            assert_eq!(w.cycles, net.cycles);
            assert_eq!(w.active_array_cycles, net.active_array_cycles);
            assert_eq!(w.and_work, net.and_work);
            assert_eq!(w.cycles, w.layers.iter().map(|l| l.cycles).sum::<u64>());
            for (l, ml) in w.layers.iter().zip(&model.layers) {
                assert_eq!(
                    l.plan.is_some(),
                    ml.op == crate::model::Op::Conv,
                    "{}",
                    l.name
                );
            }
        }
        let v: serde_json::Value = serde_json::from_slice(&r.json_bytes()).unwrap();
        assert_eq!(v["policy"], "latency");
        assert_eq!(v["segment"], 8);
        assert_eq!(v["widths"][3]["cycles"], network(&lay, &model, 3).cycles);
    }
}
