//! Reference arithmetic, exactly DESIGN.md §1–2: i64 accumulation, i128 in
//! requantization. Everything here is the oracle the RTL is compared with.
//!
//! The functions take validated models and tensors of the documented shapes;
//! a shape mismatch is a programming error and panics with a message.

use super::{INPUT, Layer, Model, Op, Tensor, Values};
use std::collections::BTreeMap;

/// `clamp(floor((acc*M + r*R + (S > 0 ? 2^(S-1) : 0)) / 2^S), lo, hi)`,
/// evaluated in i128 (floor of a negative value is the arithmetic shift).
/// Total for any arguments: a shift of 128 or more gives 0 or -1 before the
/// clamp, and `lo > hi` yields `hi`.
pub fn requantize(acc: i64, m: u32, r: i64, rr: u32, shift: u32, lo: i64, hi: i64) -> i64 {
    let round = if shift == 0 {
        0
    } else {
        1i128.checked_shl(shift - 1).unwrap_or(0)
    };
    let v = acc as i128 * m as i128 + r as i128 * rr as i128 + round;
    let q = v.checked_shr(shift).unwrap_or(if v < 0 { -1 } else { 0 });
    q.max(lo as i128).min(hi as i128) as i64
}

/// Output range `(lo, hi)`: `0 ..= 2^N-1` with ReLU, else
/// `-2^(N-1) ..= 2^(N-1)-1`.
pub fn out_range(precision: u32, relu: bool) -> (i64, i64) {
    if relu {
        (0, (1i64 << precision) - 1)
    } else {
        (-(1i64 << (precision - 1)), (1i64 << (precision - 1)) - 1)
    }
}

/// Accumulators `bias + sum` of conv `layer` at width index `width`, laid
/// out `[cout_active][Hout][Wout]`; `input` holds the first `cin_active`
/// channels.
pub fn conv_acc(model: &Model, layer: usize, width: usize, input: &Tensor) -> Vec<i64> {
    let l = &model.layers[layer];
    let (ho, wo) = conv_shape(l, width, input);
    let cout = l.cout_active[width];
    let mut out = vec![0i64; cout * ho * wo];
    for (co, plane) in out.chunks_mut((ho * wo).max(1)).enumerate().take(cout) {
        conv_plane(l, width, input, co, plane);
    }
    out
}

/// Output map of conv `l` for `input`, after checking the input's shape.
fn conv_shape(l: &Layer, width: usize, input: &Tensor) -> (usize, usize) {
    assert!(l.op == Op::Conv, "conv_acc({}): a {:?} layer", l.name, l.op);
    let cin = l.cin_active[width];
    let (hi, wi) = (input.h, input.w);
    assert!(
        input.c == cin && input.data.len() == cin * hi * wi,
        "conv_acc({}): input is {}x{}x{}, expected {cin}x{hi}x{wi}",
        l.name,
        input.c,
        input.h,
        input.w
    );
    l.out_size((hi, wi))
}

/// Accumulators of output channel `co` of conv `l` into `plane`
/// (`Hout * Wout`, bias included), whatever the input's storage type.
fn conv_plane(l: &Layer, width: usize, input: &Tensor, co: usize, plane: &mut [i64]) {
    match &input.data {
        Values::I16(d) => conv_plane_of(l, width, d, (input.h, input.w), co, plane),
        Values::I32(d) => conv_plane_of(l, width, d, (input.h, input.w), co, plane),
        Values::I64(d) => conv_plane_of(l, width, d, (input.h, input.w), co, plane),
    }
}

fn conv_plane_of<T: Copy + Into<i64>>(
    l: &Layer,
    width: usize,
    input: &[T],
    (hi, wi): (usize, usize),
    co: usize,
    plane: &mut [i64],
) {
    let cin = l.cin_active[width];
    let (ho, wo) = l.out_size((hi, wi));
    let (kh, kw, s, p) = (l.kh, l.kw, l.stride, l.pad);
    // Output columns x whose tap kx lands inside the input: x*s + kx - p in
    // 0..wi (likewise rows). The sum is exact in any order: every partial
    // sum stays within |bias| + cin*kh*kw*2^(2N-1) < 2^47 (validation).
    let valid = |k: usize, n_in: usize, n_out: usize| -> (usize, usize) {
        // first = ceil((p - k) / s) clamped at 0; last exclusive.
        let first = if k >= p { 0 } else { (p - k).div_ceil(s) };
        let last = if n_in + p > k {
            ((n_in + p - k - 1) / s + 1).min(n_out)
        } else {
            0
        };
        (first.min(last), last)
    };
    plane.fill(l.bias[width][co]);
    for ci in 0..cin {
        let chan = &input[ci * hi * wi..(ci + 1) * hi * wi];
        let wbase = (co * l.cin + ci) * kh * kw;
        for ky in 0..kh {
            let (y0, y1) = valid(ky, hi, ho);
            for kx in 0..kw {
                let wt = l.weights[wbase + ky * kw + kx];
                if wt == 0 {
                    continue;
                }
                let (x0, x1) = valid(kx, wi, wo);
                for y in y0..y1 {
                    let row = &chan[(y * s + ky - p) * wi..];
                    let orow = &mut plane[y * wo..(y + 1) * wo];
                    for x in x0..x1 {
                        orow[x] += row[x * s + kx - p].into() * wt;
                    }
                }
            }
        }
    }
}

/// Accumulators `bias[c] + sum_{y,x} a[c,y,x]` of gap `layer` at width index
/// `width`, one per active channel (`[cout_active]`, i.e. `C x 1 x 1`);
/// `input` holds the first `cin_active` channels.
pub fn gap_acc(model: &Model, layer: usize, width: usize, input: &Tensor) -> Vec<i64> {
    let l = &model.layers[layer];
    assert!(l.op == Op::Gap, "gap_acc({}): a {:?} layer", l.name, l.op);
    let c = l.cin_active[width];
    let (hi, wi) = (input.h, input.w);
    assert!(
        input.c == c && input.data.len() == c * hi * wi,
        "gap_acc({}): input is {}x{}x{}, expected {c}x{hi}x{wi}",
        l.name,
        input.c,
        input.h,
        input.w
    );
    (0..c)
        .map(|ch| {
            l.bias[width][ch]
                + (ch * hi * wi..(ch + 1) * hi * wi)
                    .map(|i| input.data.get(i))
                    .sum::<i64>()
        })
        .collect()
}

/// Accumulators of `layer` (any operator) at width index `width`: [`conv_acc`]
/// or [`gap_acc`], laid out `[cout_active][Hout][Wout]`.
pub fn layer_acc(model: &Model, layer: usize, width: usize, input: &Tensor) -> Vec<i64> {
    match model.layers[layer].op {
        Op::Conv => conv_acc(model, layer, width, input),
        Op::Gap => gap_acc(model, layer, width, input),
    }
}

/// Output of `layer` at width index `width`: `cout_active[width]` channels.
/// `residual` must be given (with `cout_active[width]` channels) exactly
/// when the layer declares one. A conv is computed one output channel at a
/// time, so its accumulators never exist all at once: the memory it takes
/// is its output, in the narrowest type ([`Values`]).
pub fn run_layer(
    model: &Model,
    layer: usize,
    width: usize,
    input: &Tensor,
    residual: Option<&Tensor>,
) -> Tensor {
    let l = &model.layers[layer];
    if l.op == Op::Gap {
        let acc = gap_acc(model, layer, width, input);
        return finish_layer(model, layer, width, acc, (1, 1), residual);
    }
    let out_hw = conv_shape(l, width, input);
    let mut fin = Finisher::new(model, layer, width, out_hw, residual);
    let mut plane = vec![0i64; out_hw.0 * out_hw.1];
    for co in 0..l.cout_active[width] {
        conv_plane(l, width, input, co, &mut plane);
        fin.push_plane(co, &plane);
    }
    fin.tensor()
}

/// The output of `layer` at width index `width` from its accumulators (as
/// [`layer_acc`] gives them) and its output map `(Hout, Wout)`:
/// requantization with the residual, or the raw accumulators for
/// `requant: "none"`.
pub fn finish_layer(
    model: &Model,
    layer: usize,
    width: usize,
    acc: Vec<i64>,
    (ho, wo): (usize, usize),
    residual: Option<&Tensor>,
) -> Tensor {
    let l = &model.layers[layer];
    let cout = l.cout_active[width];
    assert!(
        acc.len() == cout * ho * wo,
        "finish_layer({}): {} accumulators, expected {cout}x{ho}x{wo}",
        l.name,
        acc.len()
    );
    let mut fin = Finisher::new(model, layer, width, (ho, wo), residual);
    for co in 0..cout {
        fin.push_plane(co, &acc[co * ho * wo..(co + 1) * ho * wo]);
    }
    fin.tensor()
}

/// Turns a layer's accumulators into its output, one output channel at a
/// time, into storage of the narrowest type for the layer's range.
struct Finisher<'a> {
    l: &'a super::Layer,
    width: usize,
    shape: (usize, usize, usize),
    /// `(lo, hi)` of a requantized output; `None` for raw outputs.
    range: Option<(i64, i64)>,
    residual: Option<(&'a Tensor, u32)>,
    out: Values,
}

impl<'a> Finisher<'a> {
    fn new(
        model: &'a Model,
        layer: usize,
        width: usize,
        (ho, wo): (usize, usize),
        residual: Option<&'a Tensor>,
    ) -> Self {
        let l = &model.layers[layer];
        let cout = l.cout_active[width];
        let range = l
            .requant
            .as_ref()
            .map(|_| out_range(model.precision, l.relu));
        let residual = match l.requant.as_ref().and_then(|rq| rq.residual.as_ref()) {
            Some(spec) => {
                let t = residual.unwrap_or_else(|| {
                    panic!(
                        "run_layer({}): residual `{}` not given",
                        l.name, spec.source
                    )
                });
                assert!(
                    t.c == cout && t.h == ho && t.w == wo,
                    "run_layer({}): residual is {}x{}x{}, expected {cout}x{ho}x{wo}",
                    l.name,
                    t.c,
                    t.h,
                    t.w
                );
                Some((t, spec.mult[width]))
            }
            None => None,
        };
        let (lo, hi) = range.unwrap_or((i64::MIN, i64::MAX));
        Finisher {
            l,
            width,
            shape: (cout, ho, wo),
            range,
            residual,
            out: Values::with_range(lo, hi, cout * ho * wo),
        }
    }

    /// Appends output channel `co` from its accumulators.
    fn push_plane(&mut self, co: usize, acc: &[i64]) {
        let Some((lo, hi)) = self.range else {
            acc.iter().for_each(|&a| self.out.push(a));
            return;
        };
        let (l, wi) = (self.l, self.width);
        let shift = l.requant.as_ref().map_or(0, |rq| rq.shift[wi]);
        let m = l.mult[wi][co];
        let base = co * acc.len();
        for (i, &a) in acc.iter().enumerate() {
            let (r, rr) = self
                .residual
                .map_or((0, 0), |(t, rr)| (t.data.get(base + i), rr));
            self.out.push(requantize(a, m, r, rr, shift, lo, hi));
        }
    }

    fn tensor(self) -> Tensor {
        let (c, h, w) = self.shape;
        debug_assert_eq!(self.out.len(), c * h * w);
        Tensor {
            c,
            h,
            w,
            data: self.out,
        }
    }
}

/// Every tensor (`"input"` and each layer's output) at width index `width`.
pub fn run_all(model: &Model, width: usize, input: &Tensor) -> BTreeMap<String, Tensor> {
    run_to(model, width, input, model.layers.len().saturating_sub(1))
}

/// Like [`run_all`], stopping after layer index `last`.
pub fn run_to(
    model: &Model,
    width: usize,
    input: &Tensor,
    last: usize,
) -> BTreeMap<String, Tensor> {
    let mut t: BTreeMap<String, Tensor> = BTreeMap::new();
    t.insert(INPUT.to_string(), input.clone());
    for (i, l) in model.layers.iter().enumerate().take(last + 1) {
        let cin = l.cin_active[width];
        let src = t[&l.input].prefix(cin);
        let res = l
            .requant
            .as_ref()
            .and_then(|r| r.residual.as_ref())
            .map(|r| &t[&r.source]);
        let out = run_layer(model, i, width, &src, res);
        t.insert(l.name.clone(), out);
    }
    t
}

/// Dot product through the DESIGN.md §2 bit-plane identity:
/// `sum_i sum_j sigma_a(i) sigma_w(j) 2^(i+j) popcount(A_i AND W_j)` with
/// `sigma(N-1) = -1` for a signed operand (weights are always signed).
/// Bit planes are packed 64 elements to a word, as rows of a sub-array.
pub fn dot_bitplane(a: &[i64], w: &[i64], n: u32, a_signed: bool) -> i64 {
    assert_eq!(a.len(), w.len(), "dot_bitplane: operand lengths differ");
    let planes = |v: &[i64]| -> Vec<Vec<u64>> {
        (0..n)
            .map(|bit| {
                let mut words = vec![0u64; v.len().div_ceil(64)];
                for (k, &x) in v.iter().enumerate() {
                    if (x >> bit) & 1 == 1 {
                        words[k / 64] |= 1 << (k % 64);
                    }
                }
                words
            })
            .collect()
    };
    let ap = planes(a);
    let wp = planes(w);
    let mut sum = 0i64;
    for (i, ai) in ap.iter().enumerate() {
        let sa = if a_signed && i as u32 == n - 1 { -1 } else { 1 };
        for (j, wj) in wp.iter().enumerate() {
            let sw = if j as u32 == n - 1 { -1 } else { 1 };
            let count: i64 = ai
                .iter()
                .zip(wj)
                .map(|(x, y)| (x & y).count_ones() as i64)
                .sum();
            sum += sa * sw * (count << (i + j));
        }
    }
    sum
}
