//! Deterministic synthetic quantized CA-DNNs (`capim model synth`).
//!
//! Weights are uniform over the full N-bit range and always contain
//! `-2^(N-1)` and `2^(N-1)-1`. Per width, bias, M, S and R are calibrated on
//! seeded random inputs so that every layer's outputs spread over its output
//! range (standard deviation about a quarter of the range; ReLU outputs
//! centred at a quarter of the range, signed ones at zero) instead of all
//! saturating or vanishing. Randomness comes only from ChaCha8 seeded with
//! the seed and is consumed in a fixed order, so the same arguments always
//! give byte-identical files.

use super::reference::{conv_acc, run_layer};
use super::{INPUT, InputSpec, Layer, MULT_LIMIT, Model, Op, Requant, Residual, Tensor};
use crate::error::{Error, Result};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Presets [`synth`] knows.
pub const PRESETS: &[&str] = &["skeleton"];
/// Name used for the command line in messages.
const ORIGIN: &str = "capim model synth";
/// Calibration inputs per model.
const CALIBRATION_SAMPLES: usize = 16;
/// Scale of a residual relative to the output (R / 2^S), when M allows it.
const RESIDUAL_SCALE: f64 = 0.5;

/// Shape of one layer of a preset.
struct Spec {
    name: &'static str,
    input: &'static str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    relu: bool,
    residual: Option<&'static str>,
}

/// Builds the synthetic model `preset` at `precision` bits from `seed`.
pub fn synth(preset: &str, precision: u32, seed: u64) -> Result<Model> {
    if precision != 8 && precision != 16 {
        return Err(Error::invalid(ORIGIN, "--precision", precision, "8 or 16"));
    }
    let (input, specs) = match preset {
        "skeleton" => skeleton(),
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
    let nw = widths.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (wlo, whi) = (-(1i64 << (precision - 1)), (1i64 << (precision - 1)) - 1);

    let mut model = Model {
        path: PathBuf::new(),
        name: format!("{preset}-i{precision}"),
        precision,
        widths: widths.clone(),
        input,
        layers: Vec::new(),
    };
    for s in &specs {
        let n = s.cout * s.cin * s.k * s.k;
        let mut weights: Vec<i64> = (0..n).map(|_| uniform(&mut rng, wlo, whi)).collect();
        // The most negative weight exercises the sign-plane path.
        let lo_at = uniform(&mut rng, 0, n as i64 - 1) as usize;
        let hi_at = (lo_at + 1 + uniform(&mut rng, 0, n as i64 - 2) as usize) % n;
        weights[lo_at] = wlo;
        weights[hi_at] = whi;
        let cout_active = active_counts(&widths, s.cout);
        let cin_active = if s.input == INPUT {
            vec![s.cin; nw]
        } else {
            active_counts(&widths, s.cin)
        };
        model.layers.push(Layer {
            name: s.name.to_string(),
            op: Op::Conv,
            input: s.input.to_string(),
            cin: s.cin,
            cout: s.cout,
            kh: s.k,
            kw: s.k,
            stride: s.stride,
            pad: s.pad,
            relu: s.relu,
            cin_active,
            cout_active,
            requant: Some(Requant {
                shift: vec![0; nw],
                residual: s.residual.map(|r| Residual {
                    source: r.to_string(),
                    mult: vec![0; nw],
                }),
            }),
            weights,
            bias: vec![vec![0; s.cout]; nw],
            mult: vec![vec![0; s.cout]; nw],
        });
    }

    // Calibration inputs, uniform over the input range.
    let (ilo, ihi) = if model.input.signed {
        (wlo, whi)
    } else {
        (0, 2 * whi + 1)
    };
    let (c, h, w) = (model.input.channels, model.input.height, model.input.width);
    let samples: Vec<Tensor> = (0..CALIBRATION_SAMPLES)
        .map(|_| Tensor {
            c,
            h,
            w,
            data: (0..c * h * w)
                .map(|_| uniform(&mut rng, ilo, ihi))
                .collect(),
        })
        .collect();

    for wi in 0..nw {
        let mut tensors: Vec<BTreeMap<String, Tensor>> = samples
            .iter()
            .map(|t| BTreeMap::from([(INPUT.to_string(), t.clone())]))
            .collect();
        for li in 0..model.layers.len() {
            calibrate(&mut model, li, wi, &tensors);
            let l = &model.layers[li];
            for t in tensors.iter_mut() {
                let src = t[&l.input].prefix(l.cin_active[wi]);
                let res = l
                    .requant
                    .as_ref()
                    .and_then(|r| r.residual.as_ref())
                    .map(|r| &t[&r.source]);
                let out = run_layer(&model, li, wi, &src, res);
                t.insert(l.name.clone(), out);
            }
        }
    }
    model.validate()?;
    Ok(model)
}

/// Sets bias, M, S (and R) of layer `li` at width `wi` from the accumulator
/// statistics over the calibration tensors (bias of the layer still 0).
fn calibrate(model: &mut Model, li: usize, wi: usize, tensors: &[BTreeMap<String, Tensor>]) {
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
    for t in tensors {
        let src = t[&l.input].prefix(l.cin_active[wi]);
        let acc = conv_acc(model, li, wi, &src);
        for (i, &a) in acc.iter().enumerate() {
            let co = i / per;
            s1[co] += a as f64;
            s2[co] += a as f64 * a as f64;
        }
        if let Some(r) = residual {
            for (i, &v) in t[&r.source].data[..cout * per].iter().enumerate() {
                r1[i / per] += v as f64;
            }
        }
    }
    let count = (tensors.len() * per) as f64;
    let range = (1u64 << n) as f64;
    let target_std = range / 4.0;
    let centre = if l.relu { range / 4.0 } else { 0.0 };
    let mean: Vec<f64> = s1.iter().map(|s| s / count).collect();
    let scale: Vec<f64> = (0..cout)
        .map(|co| {
            let var = (s2[co] / count - mean[co] * mean[co]).max(0.0);
            target_std / var.sqrt().max(1.0)
        })
        .collect();
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
    let worst = (l.cin * l.kh * l.kw) as i128 * (1i128 << (2 * n - 1));
    let bias_limit = ((1i128 << (super::ACC_BITS - 1)) - worst - 1).max(0) as f64;
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

/// The skeleton: four layers covering 3x3 and 1x1 kernels, stride 2, a
/// residual, a branch and a signed output.
fn skeleton() -> (InputSpec, Vec<Spec>) {
    let input = InputSpec {
        name: INPUT.to_string(),
        channels: 3,
        height: 8,
        width: 8,
        signed: true,
    };
    let conv = |name, input, cin, cout, k, stride, pad, relu, residual| Spec {
        name,
        input,
        cin,
        cout,
        k,
        stride,
        pad,
        relu,
        residual,
    };
    let specs = vec![
        conv("conv0", INPUT, 3, 8, 3, 1, 1, true, None),
        conv("conv1", "conv0", 8, 8, 3, 1, 1, true, Some("conv0")),
        conv("conv2", "conv1", 8, 16, 3, 2, 1, true, None),
        conv("conv3", "conv1", 8, 16, 1, 2, 0, false, None),
    ];
    (input, specs)
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
    fn unknown_preset_and_precision() {
        let e = synth("resnet99", 8, 1).unwrap_err();
        assert!(e.to_string().contains("--preset") && e.to_string().contains("resnet99"));
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
            let input = Tensor {
                c: 3,
                h: 8,
                w: 8,
                data: (0..192).map(|_| uniform(&mut rng, lo, hi)).collect(),
            };
            for wi in 0..m.widths.len() {
                let all = run_all(&m, wi, &input);
                for l in &m.layers {
                    let t = &all[&l.name];
                    let (olo, ohi) = crate::model::reference::out_range(p, l.relu);
                    let n = t.data.len() as f64;
                    let sat = t.data.iter().filter(|&&v| v == olo || v == ohi).count() as f64;
                    let mut distinct = t.data.clone();
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
