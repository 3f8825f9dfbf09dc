//! The trade-off of a design per width: latency, energy per inference (and
//! where it goes), weight and activation memory, area and accuracy, for the
//! whole network and per layer (`capim report`; JSON schema in the README).

use super::energy::{Counts, Energy, energy, layer_counts};
use super::tech::Tech;
use crate::hw::ACC_W;
use crate::layout::{Layout, Rows};
use crate::model::{Model, Op};
use serde::Serialize;

/// One layer at one width.
#[derive(Debug, Clone, Serialize)]
pub struct LayerPoint {
    pub name: String,
    pub cycles: u64,
    pub latency_s: f64,
    pub energy_j: f64,
    pub energy_breakdown_j: Energy,
    /// Sub-arrays enabled while the layer runs.
    pub arrays: usize,
    pub counts: Counts,
}

/// One width: the whole network.
#[derive(Debug, Clone, Serialize)]
pub struct WidthPoint {
    pub width: f64,
    pub cycles: u64,
    pub latency_s: f64,
    pub energy_j: f64,
    pub energy_breakdown_j: Energy,
    /// Average power over the inference (W).
    pub power_w: f64,
    /// Weight bits this width reads (what a separate model of this width stores).
    pub weight_bits: u64,
    /// Bits of the activations this width produces (input and every layer's output).
    pub activation_bits: u64,
    /// The design's area (every width runs on the same silicon).
    pub area_mm2: f64,
    /// Area of the most sub-arrays enabled at once at this width.
    pub enabled_area_mm2: f64,
    /// Top-1 accuracy of the integer model (fraction), where the model records it.
    pub accuracy: Option<f64>,
    pub counts: Counts,
    pub layers: Vec<LayerPoint>,
}

/// Area (mm^2) by part.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Area {
    /// SOT-MRAM cells of all sub-arrays.
    pub cells_mm2: f64,
    /// Sense amplifiers, drivers, counters and decoders.
    pub periphery_mm2: f64,
    /// Accumulators and their shadows behind the bit-counters.
    pub accumulators_mm2: f64,
    pub activation_memory_mm2: f64,
    pub total_mm2: f64,
}

/// Weight storage: the CA-DNN's shared weights against separate models.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// The full-width model's weights, each stored once (N bits each).
    pub shared_weight_bits: u64,
    /// Extra copies: narrow widths' replica rows and the copies of plans
    /// that compute several positions at once.
    pub replica_weight_bits: u64,
    /// What one model per width, trained separately, would store.
    pub separate_models_weight_bits: u64,
    /// Cells of the sub-arrays (`count * rows * cols`).
    pub array_bits: u64,
    /// The activation memory (`lanes * N`).
    pub activation_memory_bits: u64,
    /// Energy (J) of reading every used row of every sub-array once, as the
    /// host does to check the resident weights (`ROW` registers).
    pub weight_readback_j: f64,
}

/// The design whose trade-off it is.
#[derive(Debug, Clone, Serialize)]
pub struct DesignInfo {
    pub model: String,
    pub precision: u32,
    pub rows: usize,
    pub cols: usize,
    pub count: usize,
    pub segment: usize,
    pub policy: &'static str,
    /// The technology file (or `<built-in technology file>`).
    pub tech: String,
    pub clock_hz: f64,
    /// The fastest clock every single-cycle operation of the technology fits.
    pub max_clock_hz: f64,
    /// The operation that sets it.
    pub slowest_operation: &'static str,
}

/// `capim report`'s document.
#[derive(Debug, Clone, Serialize)]
pub struct TradeOff {
    pub design: DesignInfo,
    pub area: Area,
    pub memory: Memory,
    pub widths: Vec<WidthPoint>,
    /// The adaptive width scheduler's cost table (the ROM `capim gen`
    /// writes for this design and technology).
    pub schedule: crate::hw::scheduler::Table,
}

impl TradeOff {
    pub fn new(lay: &Layout, model: &Model, tech: &Tech) -> TradeOff {
        let area = area(lay, tech);
        let secs = |cycles: u64| cycles as f64 * tech.period_s();
        let widths: Vec<WidthPoint> = (0..model.widths.len())
            .map(|wi| {
                let mut total = Counts::default();
                let mut e_total = Energy::default();
                let mut peak_arrays = 0;
                let layers = (0..model.layers.len())
                    .map(|li| {
                        let c = layer_counts(lay, model, li, wi);
                        let e = energy(tech, lay, &c);
                        total.add(&c);
                        e_total.add(&e);
                        let arrays = lay.layers[li].widths[wi].arrays();
                        peak_arrays = peak_arrays.max(arrays);
                        LayerPoint {
                            name: lay.layers[li].name.clone(),
                            cycles: c.cycles,
                            latency_s: secs(c.cycles),
                            energy_j: e.total(),
                            energy_breakdown_j: e,
                            arrays,
                            counts: c,
                        }
                    })
                    .collect();
                let latency_s = secs(total.cycles);
                WidthPoint {
                    width: model.widths[wi],
                    cycles: total.cycles,
                    latency_s,
                    energy_j: e_total.total(),
                    energy_breakdown_j: e_total,
                    power_w: if latency_s > 0.0 {
                        e_total.total() / latency_s
                    } else {
                        0.0
                    },
                    weight_bits: weight_bits(model, wi),
                    activation_bits: activation_bits(lay, wi),
                    area_mm2: area.total_mm2,
                    enabled_area_mm2: area.cells_mm2 / lay.count as f64 * peak_arrays as f64
                        + area.periphery_mm2 / lay.count as f64 * peak_arrays as f64,
                    accuracy: model.evaluation.as_ref().map(|e| e.accuracy[wi]),
                    counts: total,
                    layers,
                }
            })
            .collect();
        let (slowest, lat) = tech.slowest();
        let schedule = schedule_table(&widths);
        TradeOff {
            design: DesignInfo {
                model: model.name.clone(),
                precision: lay.precision,
                rows: lay.rows,
                cols: lay.cols,
                count: lay.count,
                segment: lay.segment,
                policy: lay.policy.name(),
                tech: tech.origin.clone(),
                clock_hz: tech.clock_hz,
                max_clock_hz: if lat > 0.0 { 1.0 / lat } else { f64::INFINITY },
                slowest_operation: slowest,
            },
            area,
            memory: memory(lay, model, tech),
            widths,
            schedule,
        }
    }

    /// The adaptive width scheduler's cost table for this design.
    pub fn schedule_table(&self) -> crate::hw::scheduler::Table {
        self.schedule.clone()
    }

    /// The JSON document: pretty, with a final newline.
    pub fn json_bytes(&self) -> Vec<u8> {
        crate::fsio::json_bytes(self)
    }
}

/// The adaptive width scheduler's cost table: per width its cycles, energy
/// and most sub-arrays enabled at once, in order of preference
/// ([`crate::hw::scheduler`]).
fn schedule_table(widths: &[WidthPoint]) -> crate::hw::scheduler::Table {
    let points: Vec<(u64, f64, usize, Option<f64>)> = widths
        .iter()
        .map(|w| {
            let arrays = w.layers.iter().map(|l| l.arrays).max().unwrap_or(0);
            (w.cycles, w.energy_j * 1e12, arrays, w.accuracy)
        })
        .collect();
    crate::hw::scheduler::Table::new(&points)
}

/// Area of the design of `lay` in `tech`.
pub fn area(lay: &Layout, tech: &Tech) -> Area {
    let mm2 = 1e6;
    let count = lay.count as f64;
    let cells = count * (lay.rows * lay.cols) as f64 * tech.cell_m2() * mm2;
    let periphery = count
        * (lay.cols as f64 * tech.periphery_per_column_m2 + tech.periphery_per_subarray_m2)
        * mm2;
    // an accumulator and its shadow per segment of every array
    let accumulators =
        count * (lay.groups * 2) as f64 * ACC_W as f64 * tech.accumulator_per_bit_m2 * mm2;
    let act = lay.act_depth as f64 * lay.precision as f64 * tech.sram_per_bit_m2 * mm2;
    Area {
        cells_mm2: cells,
        periphery_mm2: periphery,
        accumulators_mm2: accumulators,
        activation_memory_mm2: act,
        total_mm2: cells + periphery + accumulators + act,
    }
}

/// Weight bits of the layers at width `wi` (active channels only).
pub fn weight_bits(model: &Model, wi: usize) -> u64 {
    model
        .layers
        .iter()
        .filter(|l| l.op == Op::Conv)
        .map(|l| (l.cout_active[wi] * l.cin_active[wi] * l.kh * l.kw) as u64)
        .sum::<u64>()
        * model.precision as u64
}

/// Bits of the input at width `wi` and of every layer's output.
fn activation_bits(lay: &Layout, wi: usize) -> u64 {
    let n = lay.precision as u64;
    let first = &lay.layers[0];
    let input = (first.widths[wi].cin_active * first.in_hw.0 * first.in_hw.1) as u64 * n;
    input
        + lay
            .layers
            .iter()
            .map(|lm| {
                (lm.widths[wi].cout_active * lm.out_hw.0 * lm.out_hw.1 * lm.out_words) as u64 * n
            })
            .sum::<u64>()
}

fn memory(lay: &Layout, model: &Model, tech: &Tech) -> Memory {
    let n = lay.precision as u64;
    let full = model.widths.len() - 1;
    let shared = weight_bits(model, full);
    // every weight bit stored: per own-rows plan, its active weights once per set
    let stored: u64 = lay
        .layers
        .iter()
        .zip(&model.layers)
        .filter(|(_, l)| l.op == Op::Conv)
        .flat_map(|(lm, l)| {
            lm.widths.iter().filter_map(move |wm| {
                let p = wm.plan.as_ref().filter(|p| p.rows == Rows::Own)?;
                Some((wm.cout_active * wm.cin_active * l.kh * l.kw * p.sets) as u64 * n)
            })
        })
        .sum();
    Memory {
        shared_weight_bits: shared,
        replica_weight_bits: stored - shared,
        separate_models_weight_bits: (0..model.widths.len())
            .map(|wi| weight_bits(model, wi))
            .sum(),
        array_bits: (lay.count * lay.rows * lay.cols) as u64,
        activation_memory_bits: lay.act_depth as u64 * n,
        weight_readback_j: (lay.count * lay.rows_used * lay.cols) as f64
            * tech.energy.row_read_per_bit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::ArrayConfig;

    fn tradeoff(cfg: &ArrayConfig, tech: &Tech) -> TradeOff {
        let model = crate::model::default_model(cfg.precision).unwrap();
        let lay = Layout::new(cfg, &model).unwrap();
        TradeOff::new(&lay, &model, tech)
    }

    /// Totals are the sums of the layers; energy and latency fall with the width.
    #[test]
    fn totals_and_monotony_in_width() {
        let t = tradeoff(&ArrayConfig::builtin(), &Tech::builtin());
        for w in &t.widths {
            let e: f64 = w.layers.iter().map(|l| l.energy_j).sum();
            assert!((e - w.energy_j).abs() <= 1e-9 * w.energy_j);
            assert_eq!(w.cycles, w.layers.iter().map(|l| l.cycles).sum::<u64>());
            assert!(w.accuracy.is_none());
        }
        for p in t.widths.windows(2) {
            assert!(
                p[0].energy_j < p[1].energy_j,
                "{} {}",
                p[0].energy_j,
                p[1].energy_j
            );
            assert!(p[0].latency_s < p[1].latency_s);
            assert!(p[0].weight_bits < p[1].weight_bits);
        }
        let m = &t.memory;
        assert_eq!(m.shared_weight_bits, t.widths.last().unwrap().weight_bits);
        assert!(m.separate_models_weight_bits > m.shared_weight_bits);
        assert!(m.shared_weight_bits + m.replica_weight_bits <= m.array_bits);
    }

    /// 16-bit operands cost about four times the computes of 8-bit ones.
    #[test]
    fn sixteen_bit_computes_cost_about_four_times_eight_bit() {
        let cfg8 = ArrayConfig::builtin();
        let mut cfg16 = cfg8.clone();
        cfg16.precision = 16;
        let t8 = tradeoff(&cfg8, &Tech::builtin());
        let t16 = tradeoff(&cfg16, &Tech::builtin());
        let full = |t: &TradeOff| t.widths.last().unwrap().energy_breakdown_j.compute;
        let r = full(&t16) / full(&t8);
        assert!((3.0..=5.0).contains(&r), "compute energy 16/8 = {r}");
    }

    /// The scheduler's table: the widest point first for a synthetic model,
    /// the cheapest is the narrowest, and a point's table energy is its
    /// energy rounded up.
    #[test]
    fn schedule_table_of_the_default_design() {
        let t = tradeoff(&ArrayConfig::builtin(), &Tech::builtin());
        let s = t.schedule_table();
        let order: Vec<usize> = s.entries.iter().map(|e| e.width).collect();
        assert_eq!(order, [3, 2, 1, 0]);
        assert_eq!(s.entries[s.cheapest].width, 0);
        for e in &s.entries {
            let w = &t.widths[e.width];
            assert_eq!(e.cycles as u64, w.cycles);
            let unit = 2f64.powi(s.energy_shift as i32) * 1e-12;
            assert!(
                e.energy as f64 * unit >= w.energy_j && (e.energy as f64 - 1.0) * unit < w.energy_j
            );
        }
    }

    /// A bigger array costs more area; a faster clock cuts latency and leakage.
    #[test]
    fn values_move_with_array_size_and_technology() {
        let base = tradeoff(&ArrayConfig::builtin(), &Tech::builtin());
        let mut cfg = ArrayConfig::builtin();
        cfg.subarray.count *= 2;
        let big = tradeoff(&cfg, &Tech::builtin());
        assert!(big.area.total_mm2 > base.area.total_mm2);
        assert!(big.area.cells_mm2 == 2.0 * base.area.cells_mm2);
        let mut fast = Tech::builtin();
        fast.clock_hz *= 2.0;
        let f = tradeoff(&ArrayConfig::builtin(), &fast);
        for (a, b) in f.widths.iter().zip(&base.widths) {
            assert_eq!(a.cycles, b.cycles);
            assert!((a.latency_s - b.latency_s / 2.0).abs() < 1e-15);
            assert!(
                (a.energy_breakdown_j.leakage - b.energy_breakdown_j.leakage / 2.0).abs() < 1e-18
            );
            assert_eq!(a.energy_breakdown_j.compute, b.energy_breakdown_j.compute);
        }
    }
}
