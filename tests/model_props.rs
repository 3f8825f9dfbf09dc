//! Property tests of the reference arithmetic against formulas written
//! independently, straight from DESIGN.md §1–2.

use capim::model::reference::{
    conv_acc, dot_bitplane, gap_acc, layer_acc, out_range, requantize, run_all, run_layer,
};
use capim::model::{INPUT, InputSpec, Layer, Model, Op, Requant, Residual, Tensor};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A value in `lo..=hi`, biased towards the extremes and zero.
fn pick(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    match rng.random_range(0..16) {
        0 | 1 => lo,
        2 | 3 => hi,
        4 if lo <= 0 && hi >= 0 => 0,
        _ => rng.random_range(lo..=hi),
    }
}

/// Parameters of one random layer.
#[derive(Debug, Clone)]
struct Case {
    precision: u32,
    in_signed: bool,
    relu: bool,
    c: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    /// 0: requant none, 1: plain, 2: with residual.
    kind: u8,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(8u32), Just(16u32)],
        any::<bool>(),
        any::<bool>(),
        (1usize..5, 1usize..8, 1usize..8, 1usize..6),
        (1usize..4, 1usize..4, 1usize..4, 0usize..3),
        0u8..3,
        any::<u64>(),
    )
        .prop_map(
            |(precision, in_signed, relu, (c, h, w, cout), (kh, kw, stride, pad), kind, seed)| {
                Case {
                    precision,
                    in_signed,
                    relu,
                    c,
                    h,
                    w,
                    cout,
                    kh,
                    kw,
                    stride,
                    pad: pad.min(kh - 1).min(kw - 1),
                    kind,
                    seed,
                }
            },
        )
        .prop_filter("output >= 1", |k| {
            k.h + 2 * k.pad >= k.kh && k.w + 2 * k.pad >= k.kw
        })
}

/// A one-layer model at two widths (the narrow one uses a random prefix), an
/// input, and a residual tensor at the full output shape.
fn build(k: &Case) -> (Model, Tensor, Tensor) {
    let mut rng = ChaCha8Rng::seed_from_u64(k.seed);
    let n = k.precision;
    let (wlo, whi) = (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1);
    let relu = k.relu && k.kind != 0;
    let cin_narrow = rng.random_range(1..=k.c);
    let cout_narrow = rng.random_range(1..=k.cout);
    let weights = (0..k.cout * k.c * k.kh * k.kw)
        .map(|_| pick(&mut rng, wlo, whi))
        .collect();
    let fan = (k.c * k.kh * k.kw) as i64;
    let bmax = (1i64 << 46) - fan * (1i64 << (2 * n - 1));
    let bias = (0..2)
        .map(|_| {
            (0..k.cout)
                .map(|_| pick(&mut rng, -bmax, bmax) / 1024)
                .collect()
        })
        .collect();
    let mult = (0..2)
        .map(|_| {
            (0..k.cout)
                .map(|_| pick(&mut rng, 0, 65535) as u32)
                .collect()
        })
        .collect();
    let shift = (0..2).map(|_| pick(&mut rng, 0, 62) as u32).collect();
    let requant = match k.kind {
        0 => None,
        1 => Some(Requant {
            shift,
            residual: None,
        }),
        _ => Some(Requant {
            shift,
            residual: Some(Residual {
                // The residual tensor is handed to run_layer directly.
                source: INPUT.to_string(),
                mult: (0..2).map(|_| pick(&mut rng, 0, 65535) as u32).collect(),
            }),
        }),
    };
    let model = Model {
        preprocess: None,
        evaluation: None,
        path: Default::default(),
        name: "prop".into(),
        precision: n,
        widths: vec![0.5, 1.0],
        input: InputSpec {
            name: INPUT.into(),
            channels: k.c,
            height: k.h,
            width: k.w,
            signed: k.in_signed,
        },
        layers: vec![Layer {
            name: "l".into(),
            op: Op::Conv,
            input: INPUT.into(),
            cin: k.c,
            cout: k.cout,
            kh: k.kh,
            kw: k.kw,
            stride: k.stride,
            pad: k.pad,
            relu,
            cin_active: vec![cin_narrow, k.c],
            cout_active: vec![cout_narrow, k.cout],
            requant,
            weights,
            bias,
            mult,
        }],
    };
    let (alo, ahi) = out_range(n, !k.in_signed);
    let input = Tensor {
        c: k.c,
        h: k.h,
        w: k.w,
        data: (0..k.c * k.h * k.w)
            .map(|_| pick(&mut rng, alo, ahi))
            .collect(),
    };
    let (ho, wo) = model.out_hw(0);
    let res_signed = rng.random_bool(0.5);
    let (rlo, rhi) = out_range(n, !res_signed);
    let residual = Tensor {
        c: k.cout,
        h: ho,
        w: wo,
        data: (0..k.cout * ho * wo)
            .map(|_| pick(&mut rng, rlo, rhi))
            .collect(),
    };
    (model, input, residual)
}

/// DESIGN.md §1 written out: zero-padded input, acc, then one rounding
/// (floor division by 2^S of the value plus 2^(S-1)) and the clamp.
fn naive(m: &Model, width: usize, input: &Tensor, residual: &Tensor) -> Vec<i64> {
    let l = &m.layers[0];
    let (cin, cout) = (l.cin_active[width], l.cout_active[width]);
    let (h, w, p, s) = (input.h, input.w, l.pad, l.stride);
    let (ph, pw) = (h + 2 * p, w + 2 * p);
    let mut padded = vec![0i128; cin * ph * pw];
    for ci in 0..cin {
        for y in 0..h {
            for x in 0..w {
                padded[(ci * ph + y + p) * pw + x + p] =
                    input.data.get((ci * h + y) * w + x) as i128;
            }
        }
    }
    let ho = (h + 2 * p - l.kh) / s + 1;
    let wo = (w + 2 * p - l.kw) / s + 1;
    let n = m.precision;
    let (lo, hi) = if l.relu {
        (0i128, (1i128 << n) - 1)
    } else {
        (-(1i128 << (n - 1)), (1i128 << (n - 1)) - 1)
    };
    let mut out = Vec::new();
    for co in 0..cout {
        for y in 0..ho {
            for x in 0..wo {
                let mut acc = l.bias[width][co] as i128;
                for ci in 0..cin {
                    for ky in 0..l.kh {
                        for kx in 0..l.kw {
                            let a = padded[(ci * ph + y * s + ky) * pw + x * s + kx];
                            let wt = l.weights[((co * l.cin + ci) * l.kh + ky) * l.kw + kx];
                            acc += a * wt as i128;
                        }
                    }
                }
                let v = match &l.requant {
                    None => acc,
                    Some(rq) => {
                        let sh = rq.shift[width];
                        let (r, rr) = match &rq.residual {
                            Some(res) => (
                                residual.data.get((co * ho + y) * wo + x) as i128,
                                res.mult[width] as i128,
                            ),
                            None => (0, 0),
                        };
                        let round = if sh > 0 { 1i128 << (sh - 1) } else { 0 };
                        let num = acc * l.mult[width][co] as i128 + r * rr + round;
                        num.div_euclid(1i128 << sh).clamp(lo, hi)
                    }
                };
                out.push(v as i64);
            }
        }
    }
    out
}

/// A one-layer global-average-pool model at two widths (the narrow one uses
/// a random prefix of the channels) and an input.
fn build_gap(
    precision: u32,
    in_signed: bool,
    relu: bool,
    (c, h, w): (usize, usize, usize),
    seed: u64,
) -> (Model, Tensor) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = precision;
    let narrow = rng.random_range(1..=c);
    let bmax = (1i64 << 47) - 1 - (h * w) as i64 * (1i64 << n);
    let bias = (0..2)
        .map(|_| (0..c).map(|_| pick(&mut rng, -bmax, bmax)).collect())
        .collect();
    // One scalar M per width.
    let mult = (0..2)
        .map(|_| vec![pick(&mut rng, 0, 65535) as u32; c])
        .collect();
    let shift = (0..2).map(|_| pick(&mut rng, 0, 62) as u32).collect();
    let model = Model {
        preprocess: None,
        evaluation: None,
        path: Default::default(),
        name: "gap".into(),
        precision: n,
        widths: vec![0.5, 1.0],
        input: InputSpec {
            name: INPUT.into(),
            channels: c,
            height: h,
            width: w,
            signed: in_signed,
        },
        layers: vec![Layer {
            name: "g".into(),
            op: Op::Gap,
            input: INPUT.into(),
            cin: c,
            cout: c,
            kh: h,
            kw: w,
            stride: 1,
            pad: 0,
            relu,
            cin_active: vec![narrow, c],
            cout_active: vec![narrow, c],
            requant: Some(Requant {
                shift,
                residual: None,
            }),
            weights: Vec::new(),
            bias,
            mult,
        }],
    };
    let (alo, ahi) = out_range(n, !in_signed);
    let input = Tensor {
        c,
        h,
        w,
        data: (0..c * h * w).map(|_| pick(&mut rng, alo, ahi)).collect(),
    };
    (model, input)
}

/// DESIGN.md §1 for the global average pool, written out: the sum over the
/// map plus the bias, then one rounding with the scalar M and the clamp.
fn naive_gap(m: &Model, width: usize, input: &Tensor) -> Vec<i64> {
    let l = &m.layers[0];
    let rq = l.requant.as_ref().unwrap();
    let n = m.precision;
    let (lo, hi) = if l.relu {
        (0i128, (1i128 << n) - 1)
    } else {
        (-(1i128 << (n - 1)), (1i128 << (n - 1)) - 1)
    };
    let sh = rq.shift[width];
    (0..l.cout_active[width])
        .map(|c| {
            let mut acc = l.bias[width][c] as i128;
            for y in 0..input.h {
                for x in 0..input.w {
                    acc += input.at(c, y, x) as i128;
                }
            }
            let round = if sh > 0 { 1i128 << (sh - 1) } else { 0 };
            let num = acc * l.mult[width][0] as i128 + round;
            num.div_euclid(1i128 << sh).clamp(lo, hi) as i64
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn gap_matches_naive(
        precision in prop_oneof![Just(8u32), Just(16u32)],
        in_signed in any::<bool>(),
        relu in any::<bool>(),
        shape in (1usize..6, 1usize..9, 1usize..9),
        width in 0usize..2,
        seed in any::<u64>(),
    ) {
        let (m, input) = build_gap(precision, in_signed, relu, shape, seed);
        let l = &m.layers[0];
        let x = input.prefix(l.cin_active[width]);
        let got = run_layer(&m, 0, width, &x, None);
        prop_assert_eq!((got.c, got.h, got.w), (l.cout_active[width], 1, 1));
        prop_assert_eq!(m.out_hw(0), (1, 1));
        prop_assert_eq!(&got.data, &naive_gap(&m, width, &x));
        // The accumulators alone: bias + the plain sum of each channel.
        let acc = gap_acc(&m, 0, width, &x);
        prop_assert_eq!(&acc, &layer_acc(&m, 0, width, &x));
        for (c, &a) in acc.iter().enumerate() {
            let sum: i64 = (c * x.h * x.w..(c + 1) * x.h * x.w).map(|i| x.data.get(i)).sum();
            prop_assert_eq!(a, l.bias[width][c] + sum);
        }
    }

    #[test]
    fn run_layer_matches_naive(k in case(), width in 0usize..2) {
        let (m, input, residual) = build(&k);
        let l = &m.layers[0];
        let x = input.prefix(l.cin_active[width]);
        let r = residual.prefix(l.cout_active[width]);
        let res = l.requant.as_ref().and_then(|q| q.residual.as_ref()).map(|_| &r);
        let got = run_layer(&m, 0, width, &x, res);
        let (ho, wo) = m.out_hw(0);
        prop_assert_eq!((got.c, got.h, got.w), (l.cout_active[width], ho, wo));
        prop_assert_eq!(got.data, naive(&m, width, &x, &r));
    }

    #[test]
    fn conv_acc_is_dot_bitplane(k in case(), width in 0usize..2) {
        // Every accumulator equals bias + the §2 bit-plane dot product of the
        // receptive field (zero padding) with the weights.
        let (m, input, _) = build(&k);
        let l = &m.layers[0];
        let x = input.prefix(l.cin_active[width]);
        let acc = conv_acc(&m, 0, width, &x);
        let (ho, wo) = m.out_hw(0);
        let (cin, p, s) = (l.cin_active[width], l.pad as isize, l.stride);
        for co in 0..l.cout_active[width] {
            for y in 0..ho {
                for xx in 0..wo {
                    let (mut a, mut w) = (Vec::new(), Vec::new());
                    for ci in 0..cin {
                        for ky in 0..l.kh {
                            for kx in 0..l.kw {
                                let iy = (y * s + ky) as isize - p;
                                let ix = (xx * s + kx) as isize - p;
                                let inside = iy >= 0 && ix >= 0
                                    && (iy as usize) < x.h && (ix as usize) < x.w;
                                a.push(if inside { x.at(ci, iy as usize, ix as usize) } else { 0 });
                                w.push(l.weights[((co * l.cin + ci) * l.kh + ky) * l.kw + kx]);
                            }
                        }
                    }
                    let d = dot_bitplane(&a, &w, m.precision, m.input.signed);
                    prop_assert_eq!(acc[(co * ho + y) * wo + xx], l.bias[width][co] + d);
                }
            }
        }
    }

    #[test]
    fn dot_bitplane_is_sum_of_products(
        n in prop_oneof![Just(8u32), Just(16u32)],
        a_signed in any::<bool>(),
        len in 0usize..300,
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (alo, ahi) = out_range(n, !a_signed);
        let (wlo, whi) = out_range(n, false);
        let a: Vec<i64> = (0..len).map(|_| pick(&mut rng, alo, ahi)).collect();
        let w: Vec<i64> = (0..len).map(|_| pick(&mut rng, wlo, whi)).collect();
        let plain: i64 = a.iter().zip(&w).map(|(x, y)| x * y).sum();
        prop_assert_eq!(dot_bitplane(&a, &w, n, a_signed), plain);
    }

    #[test]
    fn requantize_matches_i128_formula(
        acc in -(1i64 << 47)..(1i64 << 47),
        m in 0u32..65536,
        r in -(1i64 << 16)..(1i64 << 16),
        rr in 0u32..65536,
        shift in 0u32..=62,
        n in prop_oneof![Just(8u32), Just(16u32)],
        relu in any::<bool>(),
    ) {
        let (lo, hi) = out_range(n, relu);
        let round = if shift == 0 { 0 } else { 1i128 << (shift - 1) };
        let num = acc as i128 * m as i128 + r as i128 * rr as i128 + round;
        let want = num.div_euclid(1i128 << shift).clamp(lo as i128, hi as i128) as i64;
        prop_assert_eq!(requantize(acc, m, r, rr, shift, lo, hi), want);
    }
}

#[test]
fn dot_bitplane_extremes() {
    for n in [8u32, 16] {
        let min = -(1i64 << (n - 1));
        let smax = (1i64 << (n - 1)) - 1;
        let umax = (1i64 << n) - 1;
        for len in [1usize, 63, 64, 65, 200] {
            let w = vec![min; len];
            assert_eq!(
                dot_bitplane(&vec![umax; len], &w, n, false),
                umax * min * len as i64
            );
            assert_eq!(
                dot_bitplane(&vec![min; len], &w, n, true),
                min * min * len as i64
            );
            assert_eq!(
                dot_bitplane(&vec![smax; len], &vec![smax; len], n, true),
                smax * smax * len as i64
            );
            assert_eq!(
                dot_bitplane(&vec![-1; len], &vec![-1; len], n, true),
                len as i64
            );
        }
    }
    assert_eq!(dot_bitplane(&[], &[], 8, true), 0);
}

#[test]
fn requantize_rounds_half_up_and_floors() {
    let (lo, hi) = out_range(8, false);
    // floor((-2 + 1) / 2) = -1 (truncation would give 0).
    assert_eq!(requantize(-2, 1, 0, 0, 1, lo, hi), -1);
    // (3 + 1) / 2 = 2; (-3 + 1) / 2 = -1: half up, not half away from zero.
    assert_eq!(requantize(3, 1, 0, 0, 1, lo, hi), 2);
    assert_eq!(requantize(-3, 1, 0, 0, 1, lo, hi), -1);
    // S = 0: no rounding term.
    assert_eq!(requantize(-7, 3, 2, 5, 0, lo, hi), -11);
    // Clamps.
    assert_eq!(requantize(1000, 1, 0, 0, 0, lo, hi), 127);
    assert_eq!(requantize(-1000, 1, 0, 0, 0, 0, 255), 0);
    // Residual term: (10*3 + 4*8 + 4) >> 3 = 66 >> 3 = 8.
    assert_eq!(requantize(10, 3, 4, 8, 3, lo, hi), 8);
    // Large values stay exact in i128.
    let big = (1i64 << 47) - 1;
    assert_eq!(
        requantize(big, 65535, 0, 0, 62, i64::MIN, i64::MAX),
        ((big as i128 * 65535 + (1i128 << 61)) >> 62) as i64
    );
    assert_eq!(out_range(16, true), (0, 65535));
    assert_eq!(out_range(16, false), (-32768, 32767));
}

#[test]
fn run_all_gives_every_tensor() {
    for p in [8, 16] {
        let m = capim::model::synth::synth("skeleton", p, 5).unwrap();
        let (lo, hi) = out_range(p, false);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let input = Tensor {
            c: 3,
            h: 8,
            w: 8,
            data: (0..192).map(|_| pick(&mut rng, lo, hi)).collect(),
        };
        for wi in 0..m.widths.len() {
            let all = run_all(&m, wi, &input);
            assert_eq!(all.len(), 5);
            assert_eq!(all[INPUT], input);
            for (li, l) in m.layers.iter().enumerate() {
                let t = &all[&l.name];
                let (ho, wo) = m.out_hw(li);
                assert_eq!((t.c, t.h, t.w), (l.cout_active[wi], ho, wo));
                // The layer alone, fed from the map, reproduces it.
                let src = all[&l.input].prefix(l.cin_active[wi]);
                let res = l
                    .requant
                    .as_ref()
                    .and_then(|r| r.residual.as_ref())
                    .map(|r| &all[&r.source]);
                assert_eq!(&run_layer(&m, li, wi, &src, res), t);
            }
        }
    }
}
