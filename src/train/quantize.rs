//! From a trained float network to capim's integer model (DESIGN.md §1),
//! and the accuracy of that integer model through capim's reference.
//!
//! **Scales.** Every tensor `t` has one scale `s_t` per width (a value is
//! `q * s_t`), zero point 0:
//! - the input: one scale for all widths and channels (the host writes one
//!   tensor), the largest `|(p/255 - mean_c)/std_c|` over channels and the
//!   256 pixel values divided by `2^(N-1) - 1`; the input integer of pixel
//!   `p` is `clamp(round((p/255 - mean_c)/std_c / s))` (round half away
//!   from zero), tabulated in the model ([`Preprocess`]);
//! - a ReLU output: `clip / (2^N - 1)` (unsigned N-bit; a block's first
//!   conv may use fewer bits, below); the projection
//!   shortcut (no ReLU): `clip / (2^(N-1) - 1)` (signed). `clip` is the
//!   `clip_quantile` of `|value|` over the calibration images at that
//!   width (a subsample of at most [`SAMPLES`] values per tensor and
//!   width), with the float network in inference mode;
//! - the pool: the scale of its input (its `M / 2^S` is `1 / (H*W)`).
//!
//! **Weights** are shared by all widths: per output channel `co`,
//! `s_w[co] = sign[co] * max|w[co]| / w_max`, `w_max = 2^(N-1) - 1` (or
//! fewer bits, below), `w_int = round(w / s_w)`. `sign[co]` is the sign of the channel's batch-norm scale
//! `a = gamma / sqrt(var + eps)` at most of its widths (+1 on a tie), so
//! that the multiplier `M >= 0`. The classifier has one scale for all
//! outputs (its logits are compared with each other raw).
//!
//! **Folding** (per width): a conv with batch-norm `y = a*x + b` and
//! optional residual `r` (scale `s_r`) becomes
//! `m[co] = a[co] * s_in * s_w[co] / s_out`, `R = s_r / s_out`; `S` is the
//! largest shift (`<= 62`) with every `round(m * 2^S)` and `round(R * 2^S)`
//! below `2^16`; `M = round(m * 2^S)`, and the bias is chosen against the
//! rounded `M`: `bias = round(b * 2^S / (s_out * M))`. A channel whose `a`
//! has the minority sign at a width (or rounds to `M = 0`) cannot output
//! its constant `b / s_out` through the bias: such channels are counted as
//! degenerate ([`Summary::degenerate`]).
//!
//! **Where a residual shares the shift.** `M / R = a * s_in * s_w / s_r`:
//! with N-bit weights and activations at their whole range the
//! accumulator's unit is about `2^-(N-1)` of the residual's, so with
//! `R < 2^16` the multiplier `M` keeps only `16 - (N-1)` bits or fewer (one
//! or two at 16 bits). So for a block's second conv the weight range (4 to
//! N-1 magnitude bits) and the first conv's output range (8 to N bits: that
//! tensor is read by the second conv only) are chosen to minimize the
//! estimated relative error `0.5 / out_max + 0.5 / w_max + mean(0.5 / M)`
//! ([`Summary::ranges`]); every other layer keeps the whole N-bit ranges.
//! At 16 bits this chose 9-10-bit first-conv outputs and 10-11-bit weights
//! on a test network, and its accuracy moved from 0.23 points off the
//! float network's to 0.03.

use super::net::{Block, ConvBn, Net, NetConfig};
use super::{Batcher, Normalization, ce};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{
    ACC_BITS, INPUT, InputSpec, Layer, MAX_SHIFT, MULT_LIMIT, Model, Op, Requant, Residual,
};
use crate::model::{Evaluation, Preprocess};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Values sampled per tensor and width for the clip quantile.
pub const SAMPLES: usize = 1 << 20;

/// How to quantize.
#[derive(Debug, Clone)]
pub struct QuantOptions {
    /// Operand bits, 8 or 16.
    pub precision: u32,
    /// Training images the activation ranges are measured on.
    pub calib_images: usize,
    /// Quantile of `|value|` taken as a tensor's range, in `(0, 1]`.
    pub clip_quantile: f64,
    /// Seed of the choice of calibration images.
    pub seed: u64,
    /// The model's name.
    pub name: String,
}

/// What quantization did, beside the model.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `(layer, width, channel)` whose batch-norm sign or multiplier could
    /// not be represented (see the module documentation).
    pub degenerate: Vec<(String, f64, usize)>,
    /// Biases clamped to the accumulator's range.
    pub clamped_bias: usize,
    /// Per conv layer: `(name, output bits, weight magnitude bits,
    /// narrowed)`, the ranges chosen; `narrowed` when either is below the
    /// layer's whole N-bit range.
    pub ranges: Vec<(String, u32, u32, bool)>,
}

/// Round half away from zero (`f64::round`), as an `i64`.
fn rnd(x: f64) -> i64 {
    x.round() as i64
}

/// The preprocessing of `norm` at `precision` (signed input): one scale
/// for every channel (the stem reads one tensor), the largest
/// `|(p/255 - mean_c)/std_c|` over channels and pixel values mapped to
/// `2^(N-1) - 1`.
pub fn preprocess(norm: &Normalization, raw: [usize; 3], precision: u32) -> Preprocess {
    let q = (1i64 << (precision - 1)) - 1;
    let c = raw[0];
    let value =
        |ch: usize, p: usize| (p as f64 / 255.0 - norm.mean[ch] as f64) / norm.std[ch] as f64;
    let scale = (0..c)
        .flat_map(|ch| (0..256).map(move |p| value(ch, p).abs()))
        .fold(0.0, f64::max)
        .max(1e-12)
        / q as f64;
    let table = (0..c)
        .map(|ch| {
            (0..256)
                .map(|p| rnd(value(ch, p) / scale).clamp(-q, q))
                .collect()
        })
        .collect();
    Preprocess {
        raw,
        pad: [0; 4],
        pad_value: 0,
        formula: format!(
            "q = clamp(round_half_away_from_zero((p / 255 - mean[c]) / std[c] / scale), -{q}, {q}) \
             in f64, scale = max over channels c and pixel values p of |(p / 255 - mean[c]) / std[c]| / {q}"
        ),
        mean: norm.mean.iter().map(|&m| m as f64).collect(),
        std: norm.std.iter().map(|&s| s as f64).collect(),
        scale: vec![scale; c],
        table,
    }
}

/// `q`-quantile of `|v|` (nearest rank), 0 for no values.
fn quantile(mut v: Vec<f32>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f32::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] as f64
}

/// Range (`clip`) of every tensor of `net` at every width on `images` of
/// `ds`: `[width][tensor name]`.
fn calibrate(
    net: &mut Net,
    ds: &Dataset,
    norm: &Normalization,
    images: &[usize],
    q: f64,
) -> Result<Vec<BTreeMap<String, f64>>> {
    let b = Batcher::new(ds, norm);
    let mut out = Vec::new();
    for wi in 0..net.config.widths.len() {
        let mut samples: BTreeMap<String, (Vec<f32>, usize, usize)> = BTreeMap::new();
        for chunk in images.chunks(64) {
            let (x, _) = b.batch(chunk, None)?;
            for (name, t) in net.tensors(&x, wi).map_err(ce)? {
                let v = flat(&t)?;
                let per_image = v.len() / chunk.len().max(1);
                let total = per_image * images.len();
                let stride = total.div_ceil(SAMPLES).max(1);
                let e = samples.entry(name).or_insert((Vec::new(), 0, stride));
                for x in v {
                    if e.1.is_multiple_of(e.2) {
                        e.0.push(x.abs());
                    }
                    e.1 += 1;
                }
            }
        }
        out.push(
            samples
                .into_iter()
                .map(|(k, (v, _, _))| (k, quantile(v, q)))
                .collect(),
        );
    }
    Ok(out)
}

/// What quantization needs of one trained conv and its batch-norms.
struct Facts {
    /// `[cout][cin][k][k]`.
    w: Vec<f32>,
    cout: usize,
    cin: usize,
    k: usize,
    /// `cin * k * k`.
    per: usize,
    /// Batch-norm scale and shift `[width][channel]` (0 where inactive).
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    /// +1 or -1 per output channel (see the module documentation).
    sign: Vec<f64>,
    /// `max |w|` per output channel.
    wabs: Vec<f64>,
    active_in: Vec<usize>,
    active_out: Vec<usize>,
}

fn facts(c: &ConvBn, cfg: &NetConfig) -> Result<Facts> {
    let nw = cfg.widths.len();
    let w = flat(c.weight.as_tensor())?;
    let dims = c.weight.dims().to_vec();
    let (cout, cin, k) = (dims[0], dims[1], dims[2]);
    let per = cin * k * k;
    let active_in: Vec<usize> = (0..nw)
        .map(|wi| {
            if c.in_stage == 0 {
                cfg.input[0]
            } else {
                cfg.stage_channels(wi)[c.in_stage - 1]
            }
        })
        .collect();
    let active_out: Vec<usize> = (0..nw)
        .map(|wi| cfg.stage_channels(wi)[c.out_stage - 1])
        .collect();
    let mut a = vec![vec![0f64; cout]; nw];
    let mut b = vec![vec![0f64; cout]; nw];
    for wi in 0..nw {
        let bn = &c.bn[wi];
        let g = flat(bn.gamma.as_tensor())?;
        let be = flat(bn.beta.as_tensor())?;
        let mu = flat(&bn.running_mean)?;
        let var = flat(&bn.running_var)?;
        for co in 0..active_out[wi] {
            let s = g[co] as f64 / (var[co] as f64 + super::net::BN_EPS).sqrt();
            a[wi][co] = s;
            b[wi][co] = be[co] as f64 - s * mu[co] as f64;
        }
    }
    let sign = (0..cout)
        .map(|co| {
            let (pos, neg) =
                (0..nw)
                    .filter(|&wi| co < active_out[wi])
                    .fold((0, 0), |(p, q), wi| {
                        if a[wi][co] < 0.0 {
                            (p, q + 1)
                        } else {
                            (p + 1, q)
                        }
                    });
            if neg > pos { -1.0 } else { 1.0 }
        })
        .collect();
    let wabs = (0..cout)
        .map(|co| {
            w[co * per..(co + 1) * per]
                .iter()
                .fold(0f64, |m, &x| m.max((x as f64).abs()))
                .max(1e-12)
        })
        .collect();
    Ok(Facts {
        w,
        cout,
        cin,
        k,
        per,
        a,
        b,
        sign,
        wabs,
        active_in,
        active_out,
    })
}

/// The weight range (4 to N-1 magnitude bits) with the smallest estimated
/// relative error `0.5 / w_max + mean(0.5 / M)`: `(error, w_max, weight
/// scales, the folded requantization)`.
fn best_range(
    f: &Facts,
    n: u32,
    s_in: &[f64],
    s_out: &[f64],
    s_res: Option<&[f64]>,
) -> (f64, f64, Vec<f64>, Folded) {
    (4..n)
        .rev()
        .map(|bits| {
            let qw = ((1i64 << bits) - 1) as f64;
            let sw: Vec<f64> = (0..f.cout).map(|co| f.sign[co] * f.wabs[co] / qw).collect();
            let folded = fold(&Fold {
                a: &f.a,
                b: &f.b,
                sw: &sw,
                s_in,
                s_out,
                s_res,
                active: &f.active_out,
            });
            (0.5 / qw + folded.mean_m_error, qw, sw, folded)
        })
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .expect("one candidate")
}

/// What [`fold`] needs of one conv layer: per width and output channel
/// the batch-norm scale `a` and shift `b`, the (signed) weight scales, the
/// input, output and residual scales per width, the active outputs.
struct Fold<'a> {
    a: &'a [Vec<f64>],
    b: &'a [Vec<f64>],
    sw: &'a [f64],
    s_in: &'a [f64],
    s_out: &'a [f64],
    s_res: Option<&'a [f64]>,
    active: &'a [usize],
}

/// The requantization of one conv layer at every width.
struct Folded {
    shift: Vec<u32>,
    res_mult: Vec<u32>,
    mult: Vec<Vec<u32>>,
    bias: Vec<Vec<i64>>,
    /// Mean over widths and channels of `0.5 / M` (the relative rounding
    /// error of the multiplier).
    mean_m_error: f64,
    /// `(width index, channel)` with `M = 0`.
    degenerate: Vec<(usize, usize)>,
    clamped: usize,
}

/// `M`, `R`, `S` and the bias of every width (see the module documentation).
fn fold(f: &Fold) -> Folded {
    let cout = f.sw.len();
    let limit = (1i64 << (ACC_BITS - 2)) as f64;
    let mut out = Folded {
        shift: vec![],
        res_mult: vec![],
        mult: vec![],
        bias: vec![],
        mean_m_error: 0.0,
        degenerate: vec![],
        clamped: 0,
    };
    let mut terms = 0usize;
    for wi in 0..f.active.len() {
        let m: Vec<f64> = (0..cout)
            .map(|co| {
                if co < f.active[wi] {
                    (f.a[wi][co] * f.s_in[wi] * f.sw[co] / f.s_out[wi]).max(0.0)
                } else {
                    0.0
                }
            })
            .collect();
        let r = f.s_res.map(|s| s[wi] / f.s_out[wi]);
        let top = m.iter().cloned().chain(r).fold(0.0, f64::max);
        let s = (0..=MAX_SHIFT)
            .rev()
            .find(|&s| rnd(top * 2f64.powi(s as i32)) < MULT_LIMIT as i64)
            .unwrap_or(0);
        let p = 2f64.powi(s as i32);
        let mi: Vec<u32> = m.iter().map(|&x| rnd(x * p) as u32).collect();
        let bi: Vec<i64> = (0..cout)
            .map(|co| {
                if co >= f.active[wi] {
                    return 0;
                }
                terms += 1;
                if mi[co] == 0 {
                    out.degenerate.push((wi, co));
                    out.mean_m_error += 1.0;
                    return 0;
                }
                out.mean_m_error += 0.5 / mi[co] as f64;
                let v = f.b[wi][co] * p / (f.s_out[wi] * mi[co] as f64);
                if v.abs() >= limit {
                    out.clamped += 1;
                }
                rnd(v.clamp(-limit, limit))
            })
            .collect();
        out.shift.push(s);
        out.res_mult.push(r.map(|r| rnd(r * p) as u32).unwrap_or(0));
        out.mult.push(mi);
        out.bias.push(bi);
    }
    out.mean_m_error /= terms.max(1) as f64;
    out
}

/// One f32 tensor as a flat vector.
fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(ce)
}

/// Quantizes `net` (its running statistics as trained / recalibrated) with
/// activation ranges measured on `calib` (a seeded choice of images).
pub fn quantize(
    net: &mut Net,
    norm: &Normalization,
    calib: &Dataset,
    o: &QuantOptions,
) -> Result<(Model, Summary)> {
    let n = o.precision;
    if n != 8 && n != 16 {
        return Err(Error::invalid(
            "capim quantize",
            "--precision",
            n,
            "8 or 16",
        ));
    }
    if !(o.clip_quantile > 0.0 && o.clip_quantile <= 1.0) {
        return Err(Error::invalid(
            "capim quantize",
            "--clip-quantile",
            o.clip_quantile,
            "a quantile in (0, 1]",
        ));
    }
    let cfg = net.config.clone();
    let nw = cfg.widths.len();
    let wmax = ((1i64 << (n - 1)) - 1) as f64;
    let umax = ((1i64 << n) - 1) as f64;

    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    rng.set_stream(3);
    let mut order: Vec<usize> = (0..calib.n).collect();
    super::shuffle(&mut order, &mut rng);
    order.truncate(o.calib_images.clamp(1, calib.n.max(1)));
    let clip = calibrate(net, calib, norm, &order, o.clip_quantile)?;

    let pre = preprocess(norm, cfg.input, n);
    let s_in = pre.scale[0];
    // scales[tensor][width]
    let mut scales: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    scales.insert(INPUT.to_string(), vec![s_in; nw]);

    let mut summary = Summary::default();
    let mut layers = Vec::new();
    let block_of: BTreeMap<usize, Block> = net
        .blocks
        .iter()
        .flat_map(|b| {
            [(b.c1, *b), (b.c2, *b)]
                .into_iter()
                .chain(b.shortcut.map(|s| (s, *b)))
        })
        .collect();
    // The input tensor of each conv (capim names).
    let mut block_input = INPUT.to_string();
    let mut prev = INPUT.to_string();
    let chans = |wi: usize| cfg.stage_channels(wi);
    for (ci, c) in net.convs.iter().enumerate() {
        let name = c.name.clone();
        let (input, residual) = match block_of.get(&ci) {
            None => (INPUT.to_string(), None), // the stem
            Some(b) if b.c1 == ci => {
                block_input = prev.clone();
                (block_input.clone(), None)
            }
            Some(b) if Some(ci) == b.shortcut => (block_input.clone(), None),
            Some(b) => {
                let src = match b.shortcut {
                    Some(sc) => net.convs[sc].name.clone(),
                    None => block_input.clone(),
                };
                (net.convs[b.c1].name.clone(), Some(src))
            }
        };
        let relu = block_of.get(&ci).is_none_or(|b| Some(ci) != b.shortcut);
        let clip_scale = |name: &str, max: f64| -> Vec<f64> {
            (0..nw)
                .map(|wi| clip[wi].get(name).copied().unwrap_or(0.0).max(1e-12) / max)
                .collect()
        };
        let f = facts(c, &cfg)?;
        let (cout, cin, k) = (f.cout, f.cin, f.k);
        // The output range: the full N bits, except for the first conv of
        // a block, whose output only the second conv reads: there the bits
        // that minimize the second conv's estimated error (see the module
        // documentation).
        let out_bits = match block_of.get(&ci) {
            Some(b) if b.c1 == ci => {
                let c2 = facts(&net.convs[b.c2], &cfg)?;
                let s_res = match b.shortcut {
                    Some(sc) => clip_scale(&net.convs[sc].name, wmax),
                    None => scales[&input].clone(),
                };
                let s_out2 = clip_scale(&net.convs[b.c2].name, umax);
                (8..=n)
                    .rev()
                    .map(|bits| {
                        let q = ((1i64 << bits) - 1) as f64;
                        let s_mid = clip_scale(&name, q);
                        let e = 0.5 / q + best_range(&c2, n, &s_mid, &s_out2, Some(&s_res)).0;
                        (e, bits)
                    })
                    .min_by(|x, y| x.0.total_cmp(&y.0))
                    .expect("one candidate")
                    .1
            }
            _ if relu => n,
            _ => n - 1,
        };
        let out_max = ((1i64 << out_bits) - 1) as f64;
        let s_out = clip_scale(&name, out_max);
        let s_inp = &scales[&input];
        let s_res = residual.as_ref().map(|r| &scales[r]);
        let (_, qw, sw, f2) = best_range(&f, n, s_inp, &s_out, s_res.map(|v| v.as_slice()));
        let w_bits = (qw + 1.0).log2().round() as u32;
        let full_out = if relu { n } else { n - 1 };
        summary.ranges.push((
            name.clone(),
            out_bits,
            w_bits,
            out_bits < full_out || w_bits < n - 1,
        ));
        let (w, per) = (&f.w, f.per);
        let weights: Vec<i64> = w
            .iter()
            .enumerate()
            .map(|(i, &x)| rnd(x as f64 / sw[i / per]).clamp(-(qw as i64), qw as i64))
            .collect();
        for (wi, co) in f2.degenerate {
            summary.degenerate.push((name.clone(), cfg.widths[wi], co));
        }
        summary.clamped_bias += f2.clamped;
        let (shift, res_mult, mult, bias) = (f2.shift, f2.res_mult, f2.mult, f2.bias);
        scales.insert(name.clone(), s_out);
        layers.push(Layer {
            name: name.clone(),
            op: Op::Conv,
            input,
            cin,
            cout,
            kh: k,
            kw: k,
            stride: c.stride,
            pad: c.padding,
            relu,
            cin_active: f.active_in.clone(),
            cout_active: f.active_out.clone(),
            requant: Some(Requant {
                shift,
                residual: residual.map(|source| Residual {
                    source,
                    mult: res_mult,
                }),
            }),
            weights,
            bias,
            mult,
        });
        prev = name;
    }
    // global average pool: same scale as its input, M / 2^S = 1 / (H*W)
    let last = layers.last().expect("a stem").clone();
    let c3: Vec<usize> = (0..nw).map(|wi| chans(wi)[2]).collect();
    let (h, w) = final_map(&cfg.input, &layers);
    let hw = (h * w) as f64;
    let gs = (0..=MAX_SHIFT)
        .rev()
        .find(|&s| rnd(2f64.powi(s as i32) / hw) < MULT_LIMIT as i64)
        .unwrap_or(0);
    let gm = rnd(2f64.powi(gs as i32) / hw) as u32;
    layers.push(Layer {
        name: "gap".into(),
        op: Op::Gap,
        input: last.name.clone(),
        cin: last.cout,
        cout: last.cout,
        kh: h,
        kw: w,
        stride: 1,
        pad: 0,
        relu: true,
        cin_active: c3.clone(),
        cout_active: c3.clone(),
        requant: Some(Requant {
            shift: vec![gs; nw],
            residual: None,
        }),
        weights: vec![],
        bias: vec![vec![0; last.cout]; nw],
        mult: vec![vec![gm; last.cout]; nw],
    });
    let s_gap = scales[&last.name].clone();
    // classifier: one weight scale, raw logits
    let fw = flat(net.fc_weight.as_tensor())?;
    let fb = flat(net.fc_bias.as_tensor())?;
    let classes = cfg.classes;
    let sf = fw
        .iter()
        .fold(0f64, |m, &x| m.max((x as f64).abs()))
        .max(1e-12)
        / wmax;
    layers.push(Layer {
        name: "fc".into(),
        op: Op::Conv,
        input: "gap".into(),
        cin: last.cout,
        cout: classes,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
        relu: false,
        cin_active: c3,
        cout_active: vec![classes; nw],
        requant: None,
        weights: fw.iter().map(|&x| rnd(x as f64 / sf)).collect(),
        bias: (0..nw)
            .map(|wi| {
                fb.iter()
                    .map(|&b| rnd(b as f64 / (s_gap[wi] * sf)))
                    .collect()
            })
            .collect(),
        mult: vec![vec![0; classes]; nw],
    });
    // a baseline (one width) is its own full-width model
    let widths = if nw == 1 {
        vec![1.0]
    } else {
        cfg.widths.clone()
    };
    let model = Model {
        path: PathBuf::new(),
        name: o.name.clone(),
        precision: n,
        widths,
        input: InputSpec {
            name: INPUT.to_string(),
            channels: cfg.input[0],
            height: cfg.input[1],
            width: cfg.input[2],
            signed: true,
        },
        layers,
        preprocess: Some(pre),
        evaluation: None,
    };
    model.validate()?;
    Ok((model, summary))
}

/// The output map of the last conv of `layers` for an input `[c, h, w]`.
fn final_map(input: &[usize; 3], layers: &[Layer]) -> (usize, usize) {
    let mut maps: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    maps.insert(INPUT, (input[1], input[2]));
    for l in layers {
        let hw = l.out_size(maps[l.input.as_str()]);
        maps.insert(&l.name, hw);
    }
    maps[layers.last().expect("a layer").name.as_str()]
}

/// Records `evaluation` in the model after checking it.
pub fn with_evaluation(mut model: Model, e: Evaluation) -> Result<Model> {
    model.evaluation = Some(e);
    model.validate()?;
    Ok(model)
}
