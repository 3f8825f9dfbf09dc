//! Deterministic synthetic quantized CA-DNNs (`capim model synth`).
//!
//! Presets: `skeleton` (four layers, 3x8x8 input) and `resnet20` (ResNet-20
//! for 3x32x32 inputs: stem, 3 stages x 3 basic blocks at 16/32/64
//! channels, global average pool, fully connected layer to 10 raw logits).
//!
//! Weights are uniform over the full N-bit range and always contain
//! `-2^(N-1)` and `2^(N-1)-1`. Per width, bias, M, S and R are calibrated on
//! seeded random inputs so that every layer's outputs spread over its output
//! range (standard deviation about a quarter of the range; ReLU outputs
//! centred at a quarter of the range, signed ones at zero) instead of all
//! saturating or vanishing. Randomness comes only from ChaCha8 seeded with
//! the seed and is consumed in a fixed order, so the same arguments always
//! give byte-identical files.

use super::reference::{finish_layer, layer_acc};
use super::{INPUT, InputSpec, Layer, MULT_LIMIT, Model, Op, Requant, Residual, Tensor};
use crate::error::{Error, Result};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Presets [`synth`] knows.
pub const PRESETS: &[&str] = &["skeleton", "tinynet", "resnet20"];
/// Name used for the command line in messages.
const ORIGIN: &str = "capim model synth";
/// Scale of a residual relative to the output (R / 2^S), when M allows it.
const RESIDUAL_SCALE: f64 = 0.5;

/// Shape of a preset network.
struct Preset {
    input: InputSpec,
    layers: Vec<Spec>,
    /// Calibration inputs (each calibrates every width).
    samples: usize,
}

/// Shape of one layer of a preset.
struct Spec {
    name: String,
    input: String,
    op: SpecOp,
    cin: usize,
    cout: usize,
    relu: bool,
    residual: Option<String>,
    /// `requant: "none"`: raw accumulators (logits), every channel at every
    /// width.
    raw: bool,
}

enum SpecOp {
    Conv { k: usize, stride: usize, pad: usize },
    Gap,
}

impl Spec {
    /// A square-kernel convolution, requantized, without residual.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        name: impl Into<String>,
        input: impl Into<String>,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        relu: bool,
    ) -> Spec {
        Spec {
            name: name.into(),
            input: input.into(),
            op: SpecOp::Conv { k, stride, pad },
            cin,
            cout,
            relu,
            residual: None,
            raw: false,
        }
    }

    /// Global average pooling of the `c` channels of `input` (ReLU range).
    fn gap(name: impl Into<String>, input: impl Into<String>, c: usize) -> Spec {
        Spec {
            name: name.into(),
            input: input.into(),
            op: SpecOp::Gap,
            cin: c,
            cout: c,
            relu: true,
            residual: None,
            raw: false,
        }
    }

    /// Adds a residual from tensor `source`.
    fn residual(mut self, source: impl Into<String>) -> Spec {
        self.residual = Some(source.into());
        self
    }

    /// Makes the output the raw accumulator (`requant: "none"`, no ReLU).
    fn raw(mut self) -> Spec {
        self.raw = true;
        self.relu = false;
        self
    }
}

/// Builds the synthetic model `preset` at `precision` bits from `seed`.
pub fn synth(preset: &str, precision: u32, seed: u64) -> Result<Model> {
    if precision != 8 && precision != 16 {
        return Err(Error::invalid(ORIGIN, "--precision", precision, "8 or 16"));
    }
    let shape = match preset {
        "skeleton" => skeleton(),
        "resnet20" => resnet20(),
        "tinynet" => tinynet(),
        _ => {
            return Err(Error::invalid(
                ORIGIN,
                "--preset",
                preset,
                format!("one of: {}", PRESETS.join(", ")),
            ));
        }
    };
    let widths = vec![0.25, 0.5, 0.75, 1.0];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut model = Model {
        path: PathBuf::new(),
        name: format!("{preset}-i{precision}"),
        precision,
        widths,
        input: shape.input,
        layers: Vec::new(),
        preprocess: None,
        evaluation: None,
    };
    for s in &shape.layers {
        let layer = layer(&model, s, &mut rng);
        model.layers.push(layer);
    }
    calibrate_all(&mut model, shape.samples, &mut rng);
    model.validate()?;
    Ok(model)
}

/// The layer of `s` with random weights (conv), zero bias and M, zero
/// shifts and residual multipliers; active input channels follow the tensor
/// it reads (the network input never shrinks).
fn layer(model: &Model, s: &Spec, rng: &mut ChaCha8Rng) -> Layer {
    let widths = &model.widths;
    let nw = widths.len();
    let n = model.precision;
    let (wlo, whi) = (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1);
    let cin_active = (0..nw)
        .map(|w| model.tensor_active(&s.input, w).unwrap_or(s.cin))
        .collect::<Vec<_>>();
    let (kh, kw, stride, pad, weights, cout_active) = match s.op {
        SpecOp::Conv { k, stride, pad } => {
            let count = s.cout * s.cin * k * k;
            let mut weights: Vec<i64> = (0..count).map(|_| uniform(rng, wlo, whi)).collect();
            // The most negative weight exercises the sign-plane path.
            let lo_at = uniform(rng, 0, count as i64 - 1) as usize;
            let hi_at = (lo_at + 1 + uniform(rng, 0, count as i64 - 2) as usize) % count;
            weights[lo_at] = wlo;
            weights[hi_at] = whi;
            let cout_active = if s.raw {
                vec![s.cout; nw]
            } else {
                active_counts(widths, s.cout)
            };
            (k, k, stride, pad, weights, cout_active)
        }
        SpecOp::Gap => {
            let (h, w) = model
                .tensor_shape(&s.input)
                .map_or((0, 0), |(_, h, w)| (h, w));
            (h, w, 1, 0, Vec::new(), cin_active.clone())
        }
    };
    Layer {
        name: s.name.clone(),
        op: match s.op {
            SpecOp::Conv { .. } => Op::Conv,
            SpecOp::Gap => Op::Gap,
        },
        input: s.input.clone(),
        cin: s.cin,
        cout: s.cout,
        kh,
        kw,
        stride,
        pad,
        relu: s.relu,
        cin_active,
        cout_active,
        requant: (!s.raw).then(|| Requant {
            shift: vec![0; nw],
            residual: s.residual.as_ref().map(|r| Residual {
                source: r.clone(),
                mult: vec![0; nw],
            }),
        }),
        weights,
        bias: vec![vec![0; s.cout]; nw],
        mult: vec![vec![0; s.cout]; nw],
    }
}

/// Calibrates every layer at every width, each width separately on its own
/// active channels, on `samples` random inputs uniform over the input range.
fn calibrate_all(model: &mut Model, samples: usize, rng: &mut ChaCha8Rng) {
    let n = model.precision;
    let (ilo, ihi) = if model.input.signed {
        (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1)
    } else {
        (0, (1i64 << n) - 1)
    };
    let (c, h, w) = (model.input.channels, model.input.height, model.input.width);
    let inputs: Vec<Tensor> = (0..samples)
        .map(|_| {
            let data = (0..c * h * w).map(|_| uniform(rng, ilo, ihi)).collect();
            Tensor::new(c, h, w, data)
        })
        .collect();
    for wi in 0..model.widths.len() {
        let mut tensors: Vec<BTreeMap<String, Tensor>> = inputs
            .iter()
            .map(|t| BTreeMap::from([(INPUT.to_string(), t.clone())]))
            .collect();
        for li in 0..model.layers.len() {
            // Accumulators without bias (the layer's bias at `wi` is still 0).
            let l = &model.layers[li];
            let accs: Vec<Vec<i64>> = tensors
                .iter()
                .map(|t| layer_acc(model, li, wi, &t[&l.input].prefix(l.cin_active[wi])))
                .collect();
            calibrate(model, li, wi, &accs, &tensors);
            let l = &model.layers[li];
            let out_hw = model.out_hw(li);
            let per = out_hw.0 * out_hw.1;
            for (t, mut acc) in tensors.iter_mut().zip(accs) {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += l.bias[wi][i / per];
                }
                let res = l
                    .requant
                    .as_ref()
                    .and_then(|r| r.residual.as_ref())
                    .map(|r| &t[&r.source]);
                let out = finish_layer(model, li, wi, acc, out_hw, res);
                t.insert(l.name.clone(), out);
            }
        }
    }
}

/// Sets bias, M, S (and R) of layer `li` at width `wi` from the statistics
/// of its accumulators without bias (`accs`, one per calibration input) and
/// of its residual in `tensors`. A gap layer gets one M for all channels
/// (from the channels' pooled variance); a `requant: "none"` layer gets the
/// bias that centres each output at zero, and M = 1 (unused).
fn calibrate(
    model: &mut Model,
    li: usize,
    wi: usize,
    accs: &[Vec<i64>],
    tensors: &[BTreeMap<String, Tensor>],
) {
    let n = model.precision;
    let l = &model.layers[li];
    let cout = l.cout_active[wi];
    let per = {
        let (ho, wo) = model.out_hw(li);
        ho * wo
    };
    let residual = l.requant.as_ref().and_then(|r| r.residual.as_ref());
    // Per channel: sum, sum of squares of the accumulator; sum of the residual.
    let mut s1 = vec![0f64; cout];
    let mut s2 = vec![0f64; cout];
    let mut r1 = vec![0f64; cout];
    for (t, acc) in tensors.iter().zip(accs) {
        for (i, &a) in acc.iter().enumerate() {
            let co = i / per;
            s1[co] += a as f64;
            s2[co] += a as f64 * a as f64;
        }
        if let Some(r) = residual {
            for (i, v) in t[&r.source].data.iter().take(cout * per).enumerate() {
                r1[i / per] += v as f64;
            }
        }
    }
    let count = (accs.len() * per) as f64;
    let worst = l.sum_bound(n);
    let bias_limit = ((1i128 << (super::ACC_BITS - 1)) - worst - 1).max(0) as f64;
    let mean: Vec<f64> = s1.iter().map(|s| s / count).collect();
    if l.requant.is_none() {
        let mut bias = vec![0i64; l.cout];
        for co in 0..cout {
            bias[co] = (-mean[co]).round().clamp(-bias_limit, bias_limit) as i64;
        }
        let layer = &mut model.layers[li];
        layer.bias[wi] = bias;
        layer.mult[wi] = vec![1; layer.cout];
        return;
    }
    let range = (1u64 << n) as f64;
    let target_std = range / 4.0;
    let centre = if l.relu { range / 4.0 } else { 0.0 };
    let var: Vec<f64> = (0..cout)
        .map(|co| (s2[co] / count - mean[co] * mean[co]).max(0.0))
        .collect();
    let scale: Vec<f64> = match l.op {
        Op::Conv => var.iter().map(|v| target_std / v.sqrt().max(1.0)).collect(),
        Op::Gap => {
            let pooled = var.iter().sum::<f64>() / cout.max(1) as f64;
            vec![target_std / pooled.sqrt().max(1.0); cout]
        }
    };
    let a_max = scale.iter().cloned().fold(0.0, f64::max);
    let m_max = (MULT_LIMIT - 1) as f64;
    let pow2 = |s: u32| (1u128 << s) as f64;
    // Largest S that keeps every M below 2^16.
    let s_max = (0..=super::MAX_SHIFT)
        .rev()
        .find(|&s| (a_max * pow2(s)).round() <= m_max)
        .unwrap_or(0);
    let shift = if residual.is_some() {
        // Room for R = 0.5 * 2^S, unless M would be left with under 8 bits.
        let s_r = (0..=s_max)
            .rev()
            .find(|&s| (RESIDUAL_SCALE * pow2(s)).round() <= m_max)
            .unwrap_or(0);
        let s_m = (0..=s_max)
            .find(|&s| a_max * pow2(s) >= 256.0)
            .unwrap_or(s_max);
        s_r.max(s_m).min(s_max)
    } else {
        s_max
    };
    let rr = if residual.is_some() {
        (RESIDUAL_SCALE * pow2(shift)).round().min(m_max) as u32
    } else {
        0
    };
    let alpha = rr as f64 / pow2(shift);
    let mut bias = vec![0i64; l.cout];
    let mut mult = vec![0u32; l.cout];
    for co in 0..cout {
        let m = (scale[co] * pow2(shift)).round().clamp(1.0, m_max);
        let a = m / pow2(shift);
        let r_mean = r1[co] / count;
        let b = (centre - alpha * r_mean) / a - mean[co];
        bias[co] = b.round().clamp(-bias_limit, bias_limit) as i64;
        mult[co] = m as u32;
    }
    if l.op == Op::Gap {
        // One scalar M: the inactive channels share it too.
        let m = mult.first().copied().unwrap_or(1);
        mult.fill(m);
    }
    let layer = &mut model.layers[li];
    layer.bias[wi] = bias;
    layer.mult[wi] = mult;
    if let Some(rq) = layer.requant.as_mut() {
        rq.shift[wi] = shift;
        if let Some(r) = rq.residual.as_mut() {
            r.mult[wi] = rr;
        }
    }
}

/// `ceil(width * full)`, at least 1, at most `full` (fixed here, at
/// generation time; nothing recomputes it later).
fn active_counts(widths: &[f64], full: usize) -> Vec<usize> {
    widths
        .iter()
        .map(|w| ((w * full as f64 - 1e-9).ceil() as usize).clamp(1, full))
        .collect()
}

/// Uniform integer in `lo ..= hi` from the raw ChaCha8 stream (a fixed
/// multiply-shift mapping, so it never changes with the rand version).
fn uniform(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    let span = (hi - lo + 1) as u128;
    lo + ((rng.next_u64() as u128 * span) >> 64) as i64
}

/// A signed 3-channel `side x side` network input.
fn rgb_input(side: usize) -> InputSpec {
    InputSpec {
        name: INPUT.to_string(),
        channels: 3,
        height: side,
        width: side,
        signed: true,
    }
}

/// The skeleton: four layers covering 3x3 and 1x1 kernels, stride 2, a
/// residual, a branch and a signed output.
fn skeleton() -> Preset {
    let input = rgb_input(8);
    let layers = vec![
        Spec::conv("conv0", INPUT, 3, 8, 3, 1, 1, true),
        Spec::conv("conv1", "conv0", 8, 8, 3, 1, 1, true).residual("conv0"),
        Spec::conv("conv2", "conv1", 8, 16, 3, 2, 1, true),
        Spec::conv("conv3", "conv1", 8, 16, 1, 2, 0, false),
    ];
    Preset {
        input,
        layers,
        samples: 16,
    }
}

/// A whole network at skeleton scale, for fast end-to-end checks: stem, an
/// identity residual block, a downsampling block with a 1x1 shortcut
/// (signed residual), global average pool and raw logits.
fn tinynet() -> Preset {
    let input = rgb_input(8);
    let layers = vec![
        Spec::conv("stem", INPUT, 3, 8, 3, 1, 1, true),
        Spec::conv("b1c1", "stem", 8, 8, 3, 1, 1, true),
        Spec::conv("b1c2", "b1c1", 8, 8, 3, 1, 1, true).residual("stem"),
        Spec::conv("b2c1", "b1c2", 8, 16, 3, 2, 1, true),
        Spec::conv("b2sc", "b1c2", 8, 16, 1, 2, 0, false),
        Spec::conv("b2c2", "b2c1", 16, 16, 3, 1, 1, true).residual("b2sc"),
        Spec::gap("gap", "b2c2", 16),
        Spec::conv("fc", "gap", 16, 10, 1, 1, 0, false).raw(),
    ];
    Preset {
        input,
        layers,
        samples: 16,
    }
}

/// ResNet-20 for 3x32x32 inputs: a 3x3 stem 3->16, three stages of three
/// basic blocks at 16, 32 and 64 channels, global average pool and a fully
/// connected layer to 10 raw logits. Block `s{S}b{B}`: `c1` 3x3 (stride 2 in
/// the first block of stages 2 and 3) with ReLU, then `c2` 3x3 with ReLU and
/// a residual: the block input, or in a downsampling block the 1x1 stride-2
/// shortcut `sc` (signed, listed before `c2`).
fn resnet20() -> Preset {
    let input = rgb_input(32);
    let mut layers = vec![Spec::conv("stem", INPUT, 3, 16, 3, 1, 1, true)];
    let mut prev = "stem".to_string();
    let mut cin = 16;
    for stage in 1..=3 {
        let c = 16 << (stage - 1);
        for block in 1..=3 {
            let p = format!("s{stage}b{block}");
            let down = cin != c;
            let stride = if down { 2 } else { 1 };
            layers.push(Spec::conv(
                format!("{p}c1"),
                &prev,
                cin,
                c,
                3,
                stride,
                1,
                true,
            ));
            let shortcut = if down {
                layers.push(Spec::conv(
                    format!("{p}sc"),
                    &prev,
                    cin,
                    c,
                    1,
                    stride,
                    0,
                    false,
                ));
                format!("{p}sc")
            } else {
                prev.clone()
            };
            layers.push(
                Spec::conv(format!("{p}c2"), format!("{p}c1"), c, c, 3, 1, 1, true)
                    .residual(shortcut),
            );
            prev = format!("{p}c2");
            cin = c;
        }
    }
    layers.push(Spec::gap("gap", prev, 64));
    layers.push(Spec::conv("fc", "gap", 64, 10, 1, 1, 0, false).raw());
    Preset {
        input,
        layers,
        samples: 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::run_all;

    #[test]
    fn active_counts_round_up() {
        let w = [0.25, 0.5, 0.75, 1.0];
        assert_eq!(active_counts(&w, 8), vec![2, 4, 6, 8]);
        assert_eq!(active_counts(&w, 16), vec![4, 8, 12, 16]);
        assert_eq!(active_counts(&w, 3), vec![1, 2, 3, 3]);
    }

    #[test]
    fn same_seed_same_bytes() {
        for p in [8, 16] {
            let a = synth("skeleton", p, 7).unwrap();
            let b = synth("skeleton", p, 7).unwrap();
            assert_eq!(a.json_bytes(), b.json_bytes());
            assert_eq!(a.safetensors_bytes(), b.safetensors_bytes());
            let c = synth("skeleton", p, 8).unwrap();
            assert_ne!(a.safetensors_bytes(), c.safetensors_bytes());
        }
    }

    #[test]
    fn resnet20_same_seed_same_bytes() {
        let a = synth("resnet20", 8, 3).unwrap();
        let b = synth("resnet20", 8, 3).unwrap();
        assert_eq!(a.json_bytes(), b.json_bytes());
        assert_eq!(a.safetensors_bytes(), b.safetensors_bytes());
        let c = synth("resnet20", 8, 4).unwrap();
        assert_ne!(a.safetensors_bytes(), c.safetensors_bytes());
        // Conv weights carry both extremes; the gap has none.
        for l in &a.layers {
            match l.op {
                Op::Conv => assert!(l.weights.contains(&-128) && l.weights.contains(&127)),
                Op::Gap => assert!(l.weights.is_empty()),
            }
        }
    }

    #[test]
    fn unknown_preset_and_precision() {
        let e = synth("resnet99", 8, 1).unwrap_err();
        assert!(e.to_string().contains("--preset") && e.to_string().contains("resnet99"));
        assert!(e.to_string().contains("skeleton, tinynet, resnet20"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = synth("skeleton", 4, 1).unwrap_err();
        assert!(e.to_string().contains("--precision"), "{e}");
    }

    #[test]
    fn weights_include_extremes() {
        for p in [8u32, 16] {
            let m = synth("skeleton", p, 1).unwrap();
            for l in &m.layers {
                assert!(
                    l.weights.contains(&-(1i64 << (p - 1))),
                    "{} lacks min",
                    l.name
                );
                assert!(
                    l.weights.contains(&((1i64 << (p - 1)) - 1)),
                    "{} lacks max",
                    l.name
                );
            }
        }
    }

    /// Outputs of every layer at every width spread over the range: not
    /// mostly saturated, not mostly zero, many distinct values.
    #[test]
    fn outputs_are_spread() {
        for p in [8u32, 16] {
            let m = synth("skeleton", p, 1).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(99);
            let (lo, hi) = (-(1i64 << (p - 1)), (1i64 << (p - 1)) - 1);
            let input = Tensor::new(
                3,
                8,
                8,
                (0..192).map(|_| uniform(&mut rng, lo, hi)).collect(),
            );
            for wi in 0..m.widths.len() {
                let all = run_all(&m, wi, &input);
                for l in &m.layers {
                    let t = &all[&l.name];
                    let (olo, ohi) = crate::model::reference::out_range(p, l.relu);
                    let n = t.data.len() as f64;
                    let sat = t.data.iter().filter(|&v| v == olo || v == ohi).count() as f64;
                    let mut distinct = t.data.to_vec();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert!(
                        sat / n < 0.5,
                        "p{p} w{wi} {}: {sat} of {n} saturated",
                        l.name
                    );
                    assert!(
                        distinct.len() as f64 > n / 4.0,
                        "p{p} w{wi} {}: only {} distinct values",
                        l.name,
                        distinct.len()
                    );
                }
            }
        }
    }
}
