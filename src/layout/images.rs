//! `$readmemh` images: sub-array weight images, layer descriptors and
//! requantization parameters.

use super::{Layout, Plan, Rows};
use crate::hw::{ACC_W, Bits, LANES, desc};
use crate::model::{Model, Op};

fn memh(lines: impl IntoIterator<Item = String>) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// Weight image of every sub-array: `count` arrays of `rows` words of
/// `cols` bits; every plan with rows of its own (the full width's and the
/// narrow widths' replicas) is written.
pub fn subarray_images(lay: &Layout, model: &Model) -> Vec<Vec<Bits>> {
    let n = lay.precision as usize;
    let mut img = vec![vec![Bits::new(lay.cols); lay.rows]; lay.count];
    for (lm, l) in lay.layers.iter().zip(&model.layers) {
        if l.op != Op::Conv {
            continue;
        }
        let k = l.kh * l.kw;
        for wi in 0..lm.widths.len() {
            for co in 0..l.cout {
                for ci in 0..l.cin {
                    for tap in 0..k {
                        let w = l.weights[(co * l.cin + ci) * k + tap];
                        for j in 0..n {
                            if (w >> j) & 1 == 1 {
                                for (arr, row, col) in lm.weight_cells(lay, wi, (co, ci, tap), j) {
                                    img[arr][row].set(col, 1, 1);
                                }
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
    let fields = desc::layout(&lay.widths);
    let entries = 1usize << (lay.widths.lw + lay.widths.ww);
    let mut words = vec![Bits::new(desc::width(&fields) as usize); entries];
    for (li, (lm, l)) in lay.layers.iter().zip(&model.layers).enumerate() {
        let (hi, wi_) = lm.in_hw;
        let (ho, wo) = lm.out_hw;
        let rq = l.requant.as_ref();
        let res = rq.and_then(|r| r.residual.as_ref());
        for (wi, wm) in lm.widths.iter().enumerate() {
            let none = Plan {
                d: 1,
                qp: 1,
                qg: 1,
                sets: 1,
                ppa: 0,
                gpa: 0,
                ppa_it: 0,
                gpa_it: 0,
                qp_used: 0,
                qg_used: 0,
                rows: Rows::Shared,
            };
            let p = wm.plan.as_ref().unwrap_or(&none);
            let d = desc::Descriptor {
                in_base: lm.in_base as u64,
                out_base: lm.out_base as u64,
                res_base: lm.res_base.unwrap_or(0) as u64,
                in_h: hi as u64,
                in_w: wi_ as u64,
                out_w: wo as u64,
                in_hw: (hi * wi_) as u64,
                in_ps: lm.in_ps as u64,
                out_ps: lm.out_ps as u64,
                res_ps: lm.res_ps as u64,
                kw: l.kw as u64,
                stride: l.stride as u64,
                pad: l.pad as u64,
                cin_a: wm.cin_active as u64,
                cout_a: wm.cout_active as u64,
                taps: l.kh as u64 * l.kw as u64,
                positions: (ho * wo) as u64,
                words: wm.cin_active.div_ceil(LANES) as u64,
                ld: p.d.trailing_zeros() as u64,
                lqp: p.qp.trailing_zeros() as u64,
                lqg: p.qg.trailing_zeros() as u64,
                lsets: p.sets.trailing_zeros() as u64,
                cpr: p.cpr(lay.groups) as u64,
                ppa: p.ppa as u64,
                gpa: p.gpa as u64,
                ppa_it: p.ppa_it as u64,
                gpa_it: p.gpa_it as u64,
                pps: p.pps() as u64,
                pieces: (wm.cin_active.div_ceil(lay.segment) * l.kh * l.kw) as u64,
                wrow_base: wm.wrow_base as u64,
                n_arrays: (p.sets * p.qg * p.qp) as u64,
                qp_used: p.qp_used as u64,
                qg_used: p.qg_used as u64,
                qbase: wm.qbase as u64,
                shift: rq.map(|r| r.shift[wi]).unwrap_or(0) as u64,
                res_mult: res.map(|r| r.mult[wi]).unwrap_or(0) as u64,
                in_signed: model.tensor_signed(&l.input) as u64,
                relu: l.relu as u64,
                has_res: res.is_some() as u64,
                res_signed: res.map(|r| model.tensor_signed(&r.source)).unwrap_or(false) as u64,
                op_gap: (l.op == Op::Gap) as u64,
                raw: rq.is_none() as u64,
            };
            words[(li << lay.widths.ww) | wi] = desc::pack(&fields, &d);
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
                let bias = (l.bias[wi][co] as u64) & ((1u64 << ACC_W) - 1);
                words[wm.qbase + co] = (bias << 16) | l.mult[wi][co] as u64;
            }
        }
    }
    memh(words.iter().map(|w| format!("{w:016x}")))
}
