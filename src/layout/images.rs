//! `$readmemh` images: sub-array weight images, layer descriptors and
//! requantization parameters.

use super::Layout;
use crate::model::{Model, Op};
use serde::Serialize;

/// One field of a layer descriptor word.
#[derive(Debug, Clone, Serialize)]
pub struct DescField {
    pub name: &'static str,
    pub bits: u32,
    pub offset: u32,
}

/// Field list of a descriptor word, LSB first. The RTL slices the same list.
pub fn desc_fields(lay: &Layout) -> Vec<DescField> {
    let w = &lay.widths;
    let spec: [(&'static str, u32); 34] = [
        ("in_base", w.aw),
        ("out_base", w.aw),
        ("res_base", w.aw),
        ("in_h", w.aw),
        ("in_w", w.aw),
        ("out_h", w.aw),
        ("out_w", w.aw),
        ("in_hw", w.aw),
        ("in_ps", w.aw),
        ("out_ps", w.aw),
        ("res_ps", w.aw),
        ("kh", w.aw),
        ("kw", w.aw),
        ("stride", w.aw),
        ("pad", w.aw),
        ("cpc", w.aw),
        ("cin_a", w.aw),
        ("cout_a", w.aw),
        ("cap", w.aw),
        ("slots_a", w.aw),
        ("wrow_base", w.rw),
        ("slot_rows", w.rw),
        ("chunks_a", w.rw),
        ("n_arrays", w.sw),
        ("qbase", w.qaw),
        ("cap_q", w.qaw),
        ("shift", 6),
        ("res_mult", 16),
        ("in_signed", 1),
        ("relu", 1),
        ("has_res", 1),
        ("res_signed", 1),
        ("op_gap", 1),
        ("raw", 1),
    ];
    let mut off = 0;
    spec.iter()
        .map(|&(name, bits)| {
            let f = DescField {
                name,
                bits,
                offset: off,
            };
            off += bits;
            f
        })
        .collect()
}

/// Total bits of a descriptor word.
pub fn desc_width(fields: &[DescField]) -> u32 {
    fields.last().map(|f| f.offset + f.bits).unwrap_or(0)
}

/// A little-endian bit vector, rendered as one `$readmemh` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    pub width: usize,
    pub words: Vec<u64>,
}

impl Bits {
    pub fn new(width: usize) -> Self {
        Bits {
            width,
            words: vec![0; width.div_ceil(64).max(1)],
        }
    }
    pub fn set(&mut self, offset: usize, bits: u32, value: u64) {
        for k in 0..bits as usize {
            let b = (value >> k) & 1;
            let pos = offset + k;
            let (w, s) = (pos / 64, pos % 64);
            self.words[w] = (self.words[w] & !(1u64 << s)) | (b << s);
        }
    }
    pub fn get(&self, pos: usize) -> bool {
        (self.words[pos / 64] >> (pos % 64)) & 1 == 1
    }
    /// Hex digits, most significant first, `ceil(width/4)` of them.
    pub fn hex(&self) -> String {
        let digits = self.width.div_ceil(4);
        (0..digits)
            .rev()
            .map(|d| {
                let mut v = 0;
                for k in 0..4 {
                    let pos = d * 4 + k;
                    if pos < self.width && self.get(pos) {
                        v |= 1 << k;
                    }
                }
                char::from_digit(v, 16).expect("nibble")
            })
            .collect()
    }
    /// Parses `ceil(width/4)` hex digits (as written by [`Bits::hex`]).
    pub fn from_hex(s: &str, width: usize) -> Option<Bits> {
        let s = s.trim();
        if s.len() != width.div_ceil(4) {
            return None;
        }
        let mut b = Bits::new(width);
        for (d, ch) in s.chars().rev().enumerate() {
            let v = ch.to_digit(16)?;
            for k in 0..4 {
                let pos = d * 4 + k;
                if (v >> k) & 1 == 1 {
                    if pos >= width {
                        return None;
                    }
                    b.set(pos, 1, 1);
                }
            }
        }
        Some(b)
    }
}

fn memh(lines: impl IntoIterator<Item = String>) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// Weight image of every sub-array: `count` arrays of `rows` words of `cols` bits.
pub fn subarray_images(lay: &Layout, model: &Model) -> Vec<Vec<Bits>> {
    let n = lay.precision as usize;
    let mut img = vec![vec![Bits::new(lay.cols); lay.rows]; lay.count];
    for (lm, l) in lay.layers.iter().zip(&model.layers) {
        if l.op != Op::Conv {
            continue;
        }
        for co in 0..l.cout {
            for ci in 0..l.cin {
                for ky in 0..l.kh {
                    for kx in 0..l.kw {
                        let w = l.weights[((co * l.cin + ci) * l.kh + ky) * l.kw + kx];
                        for j in 0..n {
                            if (w >> j) & 1 == 1 {
                                let (arr, row, col) = lm.weight_cell(n, l.kw, (co, ci, ky, kx), j);
                                img[arr][row].set(col, 1, 1);
                            }
                        }
                    }
                }
            }
        }
    }
    img
}

/// `$readmemh` text of one sub-array image.
pub fn subarray_memh(rows: &[Bits]) -> String {
    memh(rows.iter().map(Bits::hex))
}

/// Descriptor image: entry `{layer, width}` (width index in the low `ww` bits).
pub fn desc_memh(lay: &Layout, model: &Model) -> String {
    let fields = desc_fields(lay);
    let dw = desc_width(&fields) as usize;
    let entries = 1usize << (lay.widths.lw + lay.widths.ww);
    let mut words = vec![Bits::new(dw); entries];
    for (li, (lm, l)) in lay.layers.iter().zip(&model.layers).enumerate() {
        let (hi, wi_) = model.in_hw(li);
        let (ho, wo) = model.out_hw(li);
        let rq = l.requant.as_ref();
        let res = rq.and_then(|r| r.residual.as_ref());
        for (wi, wm) in lm.widths.iter().enumerate() {
            let vals: Vec<(&str, u64)> = vec![
                ("in_base", lm.in_base as u64),
                ("out_base", lm.out_base as u64),
                ("res_base", lm.res_base.unwrap_or(0) as u64),
                ("in_h", hi as u64),
                ("in_w", wi_ as u64),
                ("out_h", ho as u64),
                ("out_w", wo as u64),
                ("in_hw", (hi * wi_) as u64),
                ("in_ps", lm.in_ps as u64),
                ("out_ps", lm.out_ps as u64),
                ("res_ps", lm.res_ps as u64),
                ("kh", l.kh as u64),
                ("kw", l.kw as u64),
                ("stride", l.stride as u64),
                ("pad", l.pad as u64),
                ("cpc", lm.cpc as u64),
                ("cin_a", wm.cin_active as u64),
                ("cout_a", wm.cout_active as u64),
                ("cap", lm.cap as u64),
                ("slots_a", wm.slots as u64),
                ("wrow_base", lm.wrow_base as u64),
                ("slot_rows", lm.slot_rows as u64),
                ("chunks_a", wm.chunks as u64),
                ("n_arrays", wm.arrays as u64),
                ("qbase", wm.qbase as u64),
                ("cap_q", lm.cap as u64),
                ("shift", rq.map(|r| r.shift[wi]).unwrap_or(0) as u64),
                ("res_mult", res.map(|r| r.mult[wi]).unwrap_or(0) as u64),
                ("in_signed", model.tensor_signed(&l.input) as u64),
                ("relu", l.relu as u64),
                ("has_res", res.is_some() as u64),
                (
                    "res_signed",
                    res.map(|r| model.tensor_signed(&r.source)).unwrap_or(false) as u64,
                ),
                ("op_gap", (l.op == Op::Gap) as u64),
                ("raw", rq.is_none() as u64),
            ];
            let idx = (li << lay.widths.ww) | wi;
            for (name, v) in vals {
                let f = fields
                    .iter()
                    .find(|f| f.name == name)
                    .expect("descriptor field");
                debug_assert!(
                    f.bits >= 64 || v < (1u64 << f.bits),
                    "{name} = {v} overflows"
                );
                words[idx].set(f.offset as usize, f.bits, v);
            }
        }
    }
    memh(words.iter().map(Bits::hex))
}

/// Requantization image: `{bias[47:0], M[15:0]}` per (layer, width, channel).
pub fn quant_memh(lay: &Layout, model: &Model) -> String {
    let depth = 1usize << lay.widths.qaw;
    let mut words = vec![0u64; depth];
    for (lm, l) in lay.layers.iter().zip(&model.layers) {
        for (wi, wm) in lm.widths.iter().enumerate() {
            for co in 0..l.cout {
                let bias = (l.bias[wi][co] as u64) & ((1u64 << 48) - 1);
                words[wm.qbase + co] = (bias << 16) | l.mult[wi][co] as u64;
            }
        }
    }
    memh(words.iter().map(|w| format!("{w:016x}")))
}
