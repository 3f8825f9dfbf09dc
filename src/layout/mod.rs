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

use crate::error::{Error, Result};
use crate::hw::{ACC_W, ArrayConfig, LANES, Widths, bits_for, clog2, raw_words};
use crate::model::{Model, Op};
use serde::Serialize;

/// Mapping of one layer at one width.
#[derive(Debug, Clone, Serialize)]
pub struct WidthMap {
    pub cin_active: usize,
    pub cout_active: usize,
    /// Chunks of input channels gathered and computed.
    pub chunks: usize,
    /// Weight slots iterated per output position: min(cap, cout_active).
    pub slots: usize,
    /// Sub-arrays enabled for this layer (the rest are gated off).
    pub arrays: usize,
    /// First entry of this (layer, width) in the requantization image.
    pub qbase: usize,
}

/// Mapping of one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerMap {
    pub name: String,
    pub ksize: usize,
    /// Input channels per chunk.
    pub cpc: usize,
    /// Chunks at full width.
    pub chunks: usize,
    /// Output channels per sub-array.
    pub cap: usize,
    /// Rows one slot occupies: chunks * N.
    pub slot_rows: usize,
    /// First weight row of this layer in every array it uses.
    pub wrow_base: usize,
    /// Sub-arrays that hold this layer's weights.
    pub arrays: usize,
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
    pub widths: Vec<WidthMap>,
}

impl LayerMap {
    /// Where bit-plane `j` of weight `(co, ci, ky, kx)` is stored:
    /// `(sub-array, row, column)`. The one definition of the weight layout,
    /// used by the image writer, the decoder and the manifest.
    pub fn weight_cell(
        &self,
        n: usize,
        kw: usize,
        (co, ci, ky, kx): (usize, usize, usize, usize),
        j: usize,
    ) -> (usize, usize, usize) {
        let (arr, slot) = (co / self.cap, co % self.cap);
        let (chunk, cl) = (ci / self.cpc, ci % self.cpc);
        let col = (ky * kw + kx) * self.cpc + cl;
        (arr, self.weight_row(n, slot, chunk, j), col)
    }

    /// The row of bit-plane `j` of chunk `chunk` of weight slot `slot`:
    /// `wrow_base + (slot * chunks + chunk) * N + j`.
    pub fn weight_row(&self, n: usize, slot: usize, chunk: usize, j: usize) -> usize {
        self.wrow_base + (slot * self.chunks + chunk) * n + j
    }

    /// Activation words read per tap for chunk `c` with `cin_active` input
    /// channels: the words that hold channels `c * cpc ..` of the chunk.
    pub fn chunk_words(&self, c: usize, cin_active: usize) -> usize {
        let lo = c * self.cpc;
        let cnt = (cin_active - lo).min(self.cpc);
        (lo % LANES + cnt - 1) / LANES + 1
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

        let mut layers = Vec::new();
        let mut scratch_chunks = 1;
        for (li, l) in model.layers.iter().enumerate() {
            let ksize = l.kh * l.kw;
            if l.op == Op::Gap {
                // Pooling runs in the engine's periphery: no weights, no arrays.
                layers.push(LayerMap {
                    name: l.name.clone(),
                    ksize,
                    cpc: 1,
                    chunks: 0,
                    cap: 1,
                    slot_rows: 0,
                    wrow_base: 0,
                    arrays: 0,
                    in_base: region(&l.input).unwrap_or(0),
                    out_base: region(&l.name).unwrap_or(0),
                    res_base: None,
                    in_hw: in_hws[li],
                    out_hw: out_hws[li],
                    in_ps: stride(&l.input),
                    out_ps: stride(&l.name),
                    res_ps: 0,
                    widths: Vec::new(),
                });
                continue;
            }
            if ksize > cols {
                return Err(Error::invalid(
                    cfg_name,
                    "subarray.cols",
                    cols,
                    format!(
                        "at least {ksize}: layer `{}` of {} has a {}x{} kernel and one output channel's taps of an input channel must share a row",
                        l.name,
                        model.path.display(),
                        l.kh,
                        l.kw
                    ),
                ));
            }
            let cpc = (cols / ksize).min(l.cin);
            let chunks = l.cin.div_ceil(cpc);
            scratch_chunks = scratch_chunks.max(chunks);
            let cap = l.cout.div_ceil(count);
            layers.push(LayerMap {
                name: l.name.clone(),
                ksize,
                cpc,
                chunks,
                cap,
                slot_rows: chunks * n,
                wrow_base: 0,
                arrays: l.cout.div_ceil(cap),
                in_base: region(&l.input).unwrap_or(0),
                out_base: region(&l.name).unwrap_or(0),
                res_base: res_src(l).and_then(|r| region(&r)),
                in_hw: in_hws[li],
                out_hw: out_hws[li],
                in_ps: stride(&l.input),
                out_ps: stride(&l.name),
                res_ps: res_src(l).map_or(0, |r| stride(&r)),
                widths: Vec::new(),
            });
        }
        let scratch_rows = scratch_chunks * n;
        let mut next_row = scratch_rows;
        for lm in &mut layers {
            lm.wrow_base = next_row;
            next_row += lm.cap * lm.slot_rows;
        }
        let rows_used = next_row;
        if rows_used > rows {
            // Smallest array count that would fit, if any.
            let max_count = crate::hw::MAX_COUNT as usize;
            let need_count = (count..=max_count).find(|&c| {
                let used: usize = layers
                    .iter()
                    .zip(&model.layers)
                    .map(|(lm, l)| l.cout.div_ceil(c) * lm.slot_rows)
                    .sum();
                scratch_rows + used <= rows
            });
            let hint = match need_count {
                Some(c) => format!(", or `subarray.count` >= {c}"),
                None => format!("; no `subarray.count` up to {max_count} is enough at {rows} rows"),
            };
            return Err(Error::invalid(
                cfg_name,
                "subarray.rows",
                rows,
                format!(
                    "at least {rows_used} to hold model `{}` ({scratch_rows} activation scratch rows + {} weight rows per sub-array){hint}",
                    model.name,
                    rows_used - scratch_rows
                ),
            ));
        }

        // Requantization image and per-width maps.
        let mut qbase = 0;
        for (lm, l) in layers.iter_mut().zip(&model.layers) {
            for wi in 0..model.widths.len() {
                let cin_a = l.cin_active[wi];
                let cout_a = l.cout_active[wi];
                let conv = l.op == Op::Conv;
                lm.widths.push(WidthMap {
                    cin_active: cin_a,
                    cout_active: cout_a,
                    chunks: if conv { cin_a.div_ceil(lm.cpc) } else { 0 },
                    slots: if conv { lm.cap.min(cout_a) } else { 0 },
                    arrays: if conv { cout_a.div_ceil(lm.cap) } else { 0 },
                    qbase,
                });
                qbase += l.cout;
            }
        }
        let quant_depth = qbase;

        // RTL widths.
        let mut max_val = act_depth.max(cols);
        let mut max_cout = 1;
        for (li, l) in model.layers.iter().enumerate() {
            let (h, w) = in_hws[li];
            max_val = max_val.max(h + 2 * l.pad + l.kh).max(w + 2 * l.pad + l.kw);
            max_val = max_val.max(2 * l.cout + 1).max(l.cin + 1);
            max_cout = max_cout.max(l.cout);
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

    /// Words read per tap: a chunk starting mid-word reads the words it touches.
    #[test]
    fn chunk_words_counts_the_words_a_chunk_touches() {
        let model = builtin_model("resnet20-i8").unwrap();
        let lay = Layout::new(&ArrayConfig::builtin(), &model).unwrap();
        let li = model.layer_index("s3b2c1").unwrap();
        let lm = &lay.layers[li];
        assert_eq!(lm.cpc, 28); // 256 / 9
        assert_eq!(lm.chunk_words(0, 64), 2); // channels 0..27: words 0, 1
        assert_eq!(lm.chunk_words(1, 64), 3); // 28..55: words 1, 2, 3
        assert_eq!(lm.chunk_words(2, 64), 1); // 56..63: word 3
        assert_eq!(lm.chunk_words(0, 16), 1); // width 0.25: channels 0..15
    }
}
