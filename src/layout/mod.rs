//! Weight layout: places every layer's weights, resident, into the
//! sub-arrays, and packs the descriptor and requantization images.
//!
//! Power-first mapping (DESIGN.md section 4). For layer `l` with `K = kh*kw`:
//! - the dot product of one output channel is cut into chunks of
//!   `cpc = min(cols / K, cin)` input channels; tap `(ky, kx)` of channel
//!   `ci` sits in column `(ky * kw + kx) * cpc + ci % cpc` of chunk `ci / cpc`;
//! - output channel `co` lives in sub-array `co / cap`, slot `co % cap`,
//!   with `cap = ceil(cout / count)`; bit-plane `j` of chunk `c` is row
//!   `wrow_base + (slot * chunks + c) * N + j`;
//! - rows `0 .. scratch_rows` of every array hold the activation bit-planes
//!   of the current patch: chunk `c`, plane `i` in row `c * N + i`.
//!
//! At width `w` only the first `cout_active` channels are computed: they sit
//! in the first `ceil(cout_active / cap)` arrays (the rest are gated off),
//! and only `ceil(cin_active / cpc)` chunks are gathered and computed.
//!
//! Activation memory: words of `LANES` values of N bits. Every tensor is
//! stored pixel by pixel (`[y][x][c]`), a pixel padded to whole words, so
//! one read gathers up to `LANES` channels of one input pixel. Addresses on
//! the host bus and in the descriptors are lane addresses
//! (`word * LANES + lane`).

pub mod decode;
pub mod images;
pub mod plan;
mod planner;

pub use plan::{Plan, Rows, Shape};

use crate::error::{Error, Result};
use crate::hw::{ACC_W, ArrayConfig, LANES, Policy, Widths, bits_for, clog2, raw_words};
use crate::model::{Model, Op};
use serde::Serialize;

/// Mapping of one layer at one width.
#[derive(Debug, Clone, Serialize)]
pub struct WidthMap {
    pub cin_active: usize,
    pub cout_active: usize,
    /// The plan the engine runs (`None` for pooling).
    pub plan: Option<Plan>,
    /// First row of the weights the plan reads (its own or the full width's).
    pub wrow_base: usize,
    /// Busy cycles of the engine for this layer at this width (exact).
    pub cycles: u64,
    /// First entry of this (layer, width) in the requantization image.
    pub qbase: usize,
}

impl WidthMap {
    /// Arrays enabled for the layer (0 for pooling).
    pub fn arrays(&self) -> usize {
        self.plan.as_ref().map_or(0, Plan::arrays)
    }
    /// Whether sub-array `a` is enabled for the layer at this width.
    pub fn enabled(&self, a: usize) -> bool {
        self.plan.as_ref().is_some_and(|p| p.enabled(a))
    }
}

/// Mapping of one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerMap {
    pub name: String,
    pub ksize: usize,
    pub in_base: usize,
    pub out_base: usize,
    pub res_base: Option<usize>,
    /// Input and output map (H, W).
    pub in_hw: (usize, usize),
    pub out_hw: (usize, usize),
    /// Lanes per pixel of the input, output and residual tensors.
    pub in_ps: usize,
    pub out_ps: usize,
    pub res_ps: usize,
    /// Lanes of one output value: 1, or ACC_W / N for raw outputs.
    pub out_words: usize,
    pub widths: Vec<WidthMap>,
}

/// One stored weight bit: `(sub-array, row, column)`.
pub type Cell = (usize, usize, usize);

impl LayerMap {
    /// Where bit-plane `j` of weight `(co, ci, tap)` is stored in the rows
    /// of width `wi`'s plan, one cell per weight copy (set); empty when
    /// those rows do not hold it (an inactive channel of a replica, or a
    /// shared plan). The one definition of the weight layout, used by the
    /// image writer, the decoder and the manifest.
    pub fn weight_cells(
        &self,
        lay: &Layout,
        wi: usize,
        (co, ci, tap): (usize, usize, usize),
        j: usize,
    ) -> Vec<Cell> {
        let wm = &self.widths[wi];
        let Some(p) = wm.plan.as_ref().filter(|p| p.rows == Rows::Own) else {
            return Vec::new();
        };
        if co >= wm.cout_active || ci >= wm.cin_active {
            return Vec::new();
        }
        let (s, n) = (lay.segment, lay.precision as usize);
        let k = (ci / s) * self.ksize + tap;
        let (kr, sub) = (k / p.d, k % p.d);
        let (pslot, kl) = (kr / p.ppa, kr % p.ppa);
        let cpr = p.cpr(lay.groups);
        let (grp, gl) = (co / cpr, co % cpr);
        let (gslot, tl) = (grp / p.gpa, grp % p.gpa);
        let col = (gl * p.d + sub) * s + ci % s;
        let row = wm.wrow_base + (tl * p.ppa + kl) * n + j;
        (0..p.sets)
            .map(|set| ((set * p.qg + gslot) * p.qp + pslot, row, col))
            .collect()
    }

    /// The width whose plan holds every weight of the layer (the full
    /// width's own rows): the one the decoder reads.
    pub fn full_width(&self) -> usize {
        self.widths.len() - 1
    }
}

/// A tensor's region in the activation memory: pixels in `[y][x]` order,
/// each `pixel_stride` lanes (whole words) holding its channels in order.
#[derive(Debug, Clone, Serialize)]
pub struct TensorRegion {
    pub name: String,
    /// Lane address of pixel (0, 0), channel 0 (a multiple of `LANES`).
    pub base: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub signed: bool,
    /// Lanes per value: 1, or ACC_W / N for raw (requant = none) outputs.
    pub words: usize,
    /// Lanes from one pixel to the next: channels * words rounded up to LANES.
    pub pixel_stride: usize,
}

impl TensorRegion {
    fn new(
        name: &str,
        base: usize,
        (c, h, w): (usize, usize, usize),
        signed: bool,
        words: usize,
    ) -> Self {
        TensorRegion {
            name: name.to_string(),
            base,
            channels: c,
            height: h,
            width: w,
            signed,
            words,
            pixel_stride: (c * words).div_ceil(LANES) * LANES,
        }
    }
    /// Lanes the region spans.
    pub fn lanes(&self) -> usize {
        self.height * self.width * self.pixel_stride
    }
    /// Lane offset (from `base`) of lane `k` of value `(c, y, x)`.
    pub fn offset(&self, c: usize, y: usize, x: usize, k: usize) -> usize {
        (y * self.width + x) * self.pixel_stride + c * self.words + k
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub precision: u32,
    pub rows: usize,
    pub cols: usize,
    pub count: usize,
    pub scratch_rows: usize,
    /// Rows used in the fullest sub-array.
    pub rows_used: usize,
    /// Columns per bit-counter segment, and segments per row (`cols / segment`).
    pub segment: usize,
    pub groups: usize,
    /// Values of the engine's gather buffer (the largest plan's need).
    pub buffer: usize,
    pub policy: Policy,
    pub act_depth: usize,
    pub quant_depth: usize,
    pub widths: Widths,
    pub tensors: Vec<TensorRegion>,
    pub layers: Vec<LayerMap>,
}

impl Layout {
    /// Maps `model` onto the array of `cfg`; says what is missing if it does not fit.
    pub fn new(cfg: &ArrayConfig, model: &Model) -> Result<Layout> {
        let cfg_name = &cfg.origin;
        let n = cfg.precision as usize;
        if model.precision != cfg.precision {
            return Err(Error::invalid(
                &model.path,
                "precision",
                model.precision,
                format!("{} to match `precision` of {cfg_name}", cfg.precision),
            ));
        }
        let rows = cfg.subarray.rows as usize;
        let cols = cfg.subarray.cols as usize;
        let count = cfg.subarray.count as usize;

        // Activation memory: every tensor its own region.
        let inp = &model.input;
        let mut tensors = vec![TensorRegion::new(
            &inp.name,
            0,
            (inp.channels, inp.height, inp.width),
            inp.signed,
            1,
        )];
        let mut act_depth = tensors[0].lanes();
        let out_hws = model.out_hws();
        let in_hws = model.in_hws(&out_hws);
        for (li, l) in model.layers.iter().enumerate() {
            let (ho, wo) = out_hws[li];
            let words = if l.requant.is_none() {
                raw_words(cfg.precision)
            } else {
                1
            };
            let t = TensorRegion::new(
                &l.name,
                act_depth,
                (l.cout, ho, wo),
                !l.relu || l.requant.is_none(),
                words,
            );
            act_depth += t.lanes();
            tensors.push(t);
        }
        let by_name: std::collections::HashMap<&str, &TensorRegion> = tensors
            .iter()
            .rev() // the first region of a name wins
            .map(|t| (t.name.as_str(), t))
            .collect();
        let region = |name: &str| by_name.get(name).map(|t| t.base);
        let stride = |name: &str| by_name.get(name).map_or(0, |t| t.pixel_stride);
        let res_src = |l: &crate::model::Layer| {
            l.requant
                .as_ref()
                .and_then(|r| r.residual.as_ref())
                .map(|r| r.source.clone())
        };

        let seg = cfg.mapping.segment as usize;
        let groups = cfg.segments_per_row();
        let raw = raw_words(cfg.precision);
        let mut layers = Vec::new();
        let mut shapes: Vec<Option<Vec<Shape>>> = Vec::new();
        for (li, l) in model.layers.iter().enumerate() {
            let (ho, wo) = out_hws[li];
            layers.push(LayerMap {
                name: l.name.clone(),
                ksize: l.kh * l.kw,
                in_base: region(&l.input).unwrap_or(0),
                out_base: region(&l.name).unwrap_or(0),
                res_base: res_src(l).and_then(|r| region(&r)),
                in_hw: in_hws[li],
                out_hw: out_hws[li],
                in_ps: stride(&l.input),
                out_ps: stride(&l.name),
                res_ps: res_src(l).map_or(0, |r| stride(&r)),
                out_words: if l.requant.is_none() { raw } else { 1 },
                widths: Vec::new(),
            });
            shapes.push((l.op == Op::Conv).then(|| {
                (0..model.widths.len())
                    .map(|wi| Shape {
                        taps: l.kh * l.kw,
                        positions: ho * wo,
                        cin_active: l.cin_active[wi],
                        cout_active: l.cout_active[wi],
                        out_words: if l.requant.is_none() { raw } else { 1 },
                    })
                    .collect()
            }));
        }
        let chosen = planner::plan(cfg, model, &shapes)?;

        // Rows: activation scratch first, then every plan's own rows.
        let scratch_rows = chosen
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.ppa_it * n)
            .max()
            .unwrap_or(n)
            .max(n);
        let mut next_row = scratch_rows;
        let mut qbase = 0;
        for (li, (lm, l)) in layers.iter_mut().zip(&model.layers).enumerate() {
            let plans = &chosen[li];
            let nw = model.widths.len();
            let full_base = next_row;
            for wi in (0..nw).rev() {
                let plan = plans.as_ref().map(|v| v[wi].clone());
                let wrow_base = match &plan {
                    Some(p) if p.rows == Rows::Own => {
                        let b = next_row;
                        next_row += p.weight_rows(n);
                        b
                    }
                    _ => full_base,
                };
                let cycles = match (&plan, &shapes[li]) {
                    (Some(p), Some(sh)) => plan::cycles(&sh[wi], p, n, groups),
                    _ => 0,
                };
                lm.widths.push(WidthMap {
                    cin_active: l.cin_active[wi],
                    cout_active: l.cout_active[wi],
                    plan,
                    wrow_base,
                    cycles,
                    qbase: 0,
                });
            }
            lm.widths.reverse();
            for wm in &mut lm.widths {
                wm.qbase = qbase;
                qbase += l.cout;
            }
        }
        let rows_used = next_row;
        // the planner fitted these plans into `rows`
        debug_assert!(
            rows_used <= rows,
            "layout uses {rows_used} rows, the planner fitted {rows}"
        );
        let quant_depth = qbase;
        let buffer = chosen
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.buffer(seg))
            .max()
            .unwrap_or(seg)
            .max(seg);

        // RTL widths.
        let mut max_val = act_depth.max(cols);
        let mut max_cout = 1;
        for (li, l) in model.layers.iter().enumerate() {
            let (h, w) = in_hws[li];
            max_val = max_val.max(h + 2 * l.pad + l.kh).max(w + 2 * l.pad + l.kw);
            max_val = max_val.max(2 * l.cout + 1).max(l.cin + 1);
            max_cout = max_cout.max(l.cout);
            let (ho, wo) = out_hws[li];
            // positions of a round may run past the last one by up to `sets`
            max_val = max_val.max(ho * wo + count + 1).max(ho + count + 1);
        }
        let widths = Widths {
            n: cfg.precision,
            plw: clog2(n as u64),
            rw: clog2(rows as u64),
            cnt_w: bits_for(cols as u64),
            sw: bits_for(count as u64),
            clw: clog2(cols as u64),
            aw: bits_for(max_val as u64).max(8),
            qaw: clog2(quant_depth as u64)
                .max(bits_for(2 * max_cout as u64 + 1))
                .max(1),
            lw: clog2(model.layers.len() as u64).max(1),
            ww: clog2(model.widths.len() as u64).max(1),
            acc_w: ACC_W,
            bw: clog2((buffer + cols) as u64),
        };
        if widths.aw > 24 {
            return Err(Error::invalid(
                &model.path,
                "activations",
                format!("{act_depth} lanes"),
                "at most 2^24 activation lanes",
            ));
        }
        Ok(Layout {
            precision: cfg.precision,
            rows,
            cols,
            count,
            scratch_rows,
            rows_used,
            segment: seg,
            groups,
            buffer,
            policy: cfg.mapping.policy,
            act_depth,
            quant_depth,
            widths,
            tensors,
            layers,
        })
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorRegion> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::builtin_model;

    /// Regions are word-aligned, disjoint, in order, and every value's lanes
    /// fall inside its own region; raw outputs take ACC_W / N lanes.
    #[test]
    fn activation_regions_are_word_aligned_and_disjoint() {
        for p in [8u32, 16] {
            let model = builtin_model(&format!("resnet20-i{p}")).unwrap();
            let mut cfg = ArrayConfig::builtin();
            cfg.precision = p;
            let lay = Layout::new(&cfg, &model).unwrap();
            let mut next = 0;
            for t in &lay.tensors {
                assert_eq!(t.base, next, "{} follows the previous region", t.name);
                assert_eq!(t.base % LANES, 0, "{}", t.name);
                assert_eq!(t.pixel_stride % LANES, 0, "{}", t.name);
                assert!(t.pixel_stride >= t.channels * t.words, "{}", t.name);
                assert!(t.pixel_stride < t.channels * t.words + LANES, "{}", t.name);
                let last = t.offset(t.channels - 1, t.height - 1, t.width - 1, t.words - 1);
                assert_eq!(
                    last,
                    (t.height * t.width - 1) * t.pixel_stride + t.channels * t.words - 1
                );
                assert!(last < t.lanes(), "{}", t.name);
                next = t.base + t.lanes();
            }
            assert_eq!(lay.act_depth, next);
            let fc = lay.tensor("fc").unwrap();
            assert_eq!(fc.words, (ACC_W / p) as usize);
            assert_eq!(fc.pixel_stride, (10 * fc.words).div_ceil(LANES) * LANES);
            // 32 channels of a pixel are two words; the next pixel starts after them.
            let s2 = lay.tensor("s2b1c1").unwrap();
            assert_eq!((s2.channels, s2.pixel_stride), (32, 32));
            assert_eq!(s2.offset(5, 0, 1, 0), 32 + 5);
        }
    }

    /// Every stored weight bit has a cell of its own: inside the array,
    /// above the scratch rows, below `rows_used`, never shared by two
    /// weights or two plans; every copy of the full width's rows is written.
    #[test]
    fn weight_cells_never_collide() {
        for p in [8u32, 16] {
            let model = builtin_model(&format!("resnet20-i{p}")).unwrap();
            let mut cfg = ArrayConfig::builtin();
            cfg.precision = p;
            let lay = Layout::new(&cfg, &model).unwrap();
            let n = p as usize;
            let mut seen = std::collections::HashSet::new();
            let mut full_cells = 0usize;
            for (lm, l) in lay.layers.iter().zip(&model.layers) {
                if l.op != Op::Conv {
                    continue;
                }
                let k = l.kh * l.kw;
                for wi in 0..lm.widths.len() {
                    for co in 0..l.cout {
                        for ci in 0..l.cin {
                            for tap in 0..k {
                                for j in 0..n {
                                    let cells = lm.weight_cells(&lay, wi, (co, ci, tap), j);
                                    if wi == lm.full_width() {
                                        let sets = lm.widths[wi].plan.as_ref().unwrap().sets;
                                        assert_eq!(cells.len(), sets, "{} full width", lm.name);
                                        full_cells += 1;
                                    }
                                    for c in cells {
                                        assert!(c.0 < lay.count && c.2 < lay.cols, "{c:?}");
                                        assert!(
                                            c.1 >= lay.scratch_rows && c.1 < lay.rows_used,
                                            "{c:?}"
                                        );
                                        assert!(
                                            seen.insert(c),
                                            "{}: cell {c:?} used twice",
                                            lm.name
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
            assert!(full_cells > 0);
            assert!(lay.rows_used <= lay.rows);
        }
    }
}
