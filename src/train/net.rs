//! The slimmable CIFAR-style ResNet that `capim train` trains (float, candle).
//!
//! Shape (depth `6n+2`, stage widths `C1, C2, C3`, default 16/32/64):
//! `stem` conv3x3 (no bias) + BN + ReLU; three stages of `n` basic blocks
//! (`s{s}b{b}c1` conv3x3-BN-ReLU, `s{s}b{b}c2` conv3x3-BN, plus the
//! shortcut, then ReLU); the first block of stages 2 and 3 has stride 2 and
//! a 1x1 conv (no bias) + BN shortcut `s{s}b1sc`, every other shortcut is
//! the identity; global average pool; `fc` (with bias) to the classes. The
//! names are those of capim's model layers (stages and blocks count from 1).
//!
//! **Channel adaptivity.** At width `w` every stage has
//! `c(w) = max(1, round(C*w))` channels ([`channels`]). The weights are
//! allocated once, at the largest width of the list, and shared: width `w`
//! uses the first-k prefix `weight[..cout, ..cin]` (DESIGN.md section 1),
//! and `fc` the first `c3(w)` input columns. The network's input channels
//! and classes never shrink.
//!
//! **Layout.** The network takes and gives batch-major tensors (`[B, C, H,
//! W]` in, `[B, classes]` out, taps batch-major), but inside, activations
//! are channel-major (`[C, B, H, W]`): the convolution's matrix product
//! yields that layout directly, and a channel's batch-norm elements are
//! contiguous. Convolution and batch-norm (with its ReLU) are capim's own
//! operations ([`conv2d`], and `BnTrain` below).
//!
//! **Switchable batch-norm.** Every BN has one set of `gamma`, `beta`,
//! running mean and running variance per width (sized to that width's
//! channels); a forward pass at width index `i` uses set `i` only.

use candle_core::{D, DType, Device, Result, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// BN epsilon (as PyTorch's default).
pub const BN_EPS: f64 = 1e-5;

/// Channels of a stage of `c` channels at width `w`: `max(1, round(c*w))`
/// (round half away from zero).
pub fn channels(c: usize, w: f64) -> usize {
    ((c as f64 * w).round() as usize).max(1)
}

/// What the network looks like.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetConfig {
    /// `6n + 2`, `n >= 1` (8, 14, 20, 32, ...).
    pub depth: usize,
    /// Channels of the three stages at width 1.0.
    pub stage_widths: [usize; 3],
    /// Widths, strictly increasing, in `(0, 1]`; weights are allocated at the last.
    pub widths: Vec<f64>,
    /// Input channels, height, width.
    pub input: [usize; 3],
    pub classes: usize,
}

impl NetConfig {
    /// Basic blocks per stage.
    pub fn blocks(&self) -> usize {
        (self.depth - 2) / 6
    }

    /// Channels of the three stages at width index `wi`.
    pub fn stage_channels(&self, wi: usize) -> [usize; 3] {
        self.stage_widths.map(|c| channels(c, self.widths[wi]))
    }

    /// The allocated (largest) channels of the three stages.
    pub fn max_channels(&self) -> [usize; 3] {
        self.stage_channels(self.widths.len() - 1)
    }
}

/// One set of batch-norm parameters and statistics.
#[derive(Debug)]
pub struct Bn {
    pub gamma: Var,
    pub beta: Var,
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

/// A convolution (weights shared by all widths) and its BN per width.
#[derive(Debug)]
pub struct ConvBn {
    pub name: String,
    /// `[cout, cin, k, k]` at the allocated width.
    pub weight: Var,
    pub stride: usize,
    pub padding: usize,
    /// Stage (1..=3) of the output channels; 0 for none (never).
    pub out_stage: usize,
    /// Stage of the input channels; 0 for the network input.
    pub in_stage: usize,
    /// One per width.
    pub bn: Vec<Bn>,
}

/// How a forward pass treats batch-norm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Running statistics (inference).
    Eval,
    /// Batch statistics; each BN's running statistics of the width become
    /// `(1 - m) * running + m * batch` (unbiased batch variance), `m` the
    /// momentum (PyTorch's convention).
    Train { momentum: f64 },
}

/// One basic block: indices into [`Net::convs`].
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub c1: usize,
    pub c2: usize,
    /// The projection shortcut (first block of stages 2 and 3), else identity.
    pub shortcut: Option<usize>,
}

/// The network: layers in order (`stem`, blocks, ...) and `fc`.
#[derive(Debug)]
pub struct Net {
    pub config: NetConfig,
    /// Convolutions with their BNs, in capim's layer order (`c1`, `sc`, `c2`).
    pub convs: Vec<ConvBn>,
    pub blocks: Vec<Block>,
    /// `[classes, C3max]`.
    pub fc_weight: Var,
    /// `[classes]`.
    pub fc_bias: Var,
}

/// One standard normal sample (Box-Muller) from `rng`.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

impl Net {
    /// A freshly initialized network: conv weights Kaiming-normal
    /// (`std = sqrt(2 / fan_in)`, fan-in at the allocated width), BN
    /// `gamma = 1`, `beta = 0`, running mean 0 and variance 1, `fc` weight
    /// and bias uniform in `±1/sqrt(C3max)` (PyTorch's defaults); every
    /// number drawn from `rng` in layer order.
    pub fn new(config: NetConfig, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let cmax = config.max_channels();
        let nw = config.widths.len();
        let mut convs = Vec::new();
        let mut conv = |name: String,
                        in_stage: usize,
                        out_stage: usize,
                        k: usize,
                        stride: usize,
                        rng: &mut ChaCha8Rng|
         -> Result<usize> {
            let cin = if in_stage == 0 {
                config.input[0]
            } else {
                cmax[in_stage - 1]
            };
            let cout = cmax[out_stage - 1];
            let std = (2.0 / (cin * k * k) as f64).sqrt() as f32;
            let w: Vec<f32> = (0..cout * cin * k * k).map(|_| normal(rng) * std).collect();
            let weight = Var::from_tensor(&Tensor::from_vec(w, (cout, cin, k, k), dev)?)?;
            let mut bn = Vec::with_capacity(nw);
            for wi in 0..nw {
                let c = config.stage_channels(wi)[out_stage - 1];
                bn.push(Bn {
                    gamma: Var::ones(c, DType::F32, dev)?,
                    beta: Var::zeros(c, DType::F32, dev)?,
                    running_mean: Tensor::zeros(c, DType::F32, dev)?,
                    running_var: Tensor::ones(c, DType::F32, dev)?,
                });
            }
            convs.push(ConvBn {
                name,
                weight,
                stride,
                padding: k / 2,
                out_stage,
                in_stage,
                bn,
            });
            Ok(convs.len() - 1)
        };
        conv("stem".into(), 0, 1, 3, 1, rng)?;
        let mut blocks = Vec::new();
        for s in 1..=3 {
            for b in 1..=config.blocks() {
                let down = s > 1 && b == 1;
                let stride = if down { 2 } else { 1 };
                let in_stage = if down { s - 1 } else { s };
                // capim's layer order: c1, the shortcut, c2
                let c1 = conv(format!("s{s}b{b}c1"), in_stage, s, 3, stride, rng)?;
                let shortcut = if down {
                    Some(conv(format!("s{s}b{b}sc"), in_stage, s, 1, 2, rng)?)
                } else {
                    None
                };
                let c2 = conv(format!("s{s}b{b}c2"), s, s, 3, 1, rng)?;
                blocks.push(Block { c1, c2, shortcut });
            }
        }
        let c3 = cmax[2];
        let bound = 1.0 / (c3 as f64).sqrt();
        let mut uni = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let fc_weight = Var::from_tensor(&Tensor::from_vec(
            uni(config.classes * c3),
            (config.classes, c3),
            dev,
        )?)?;
        let fc_bias =
            Var::from_tensor(&Tensor::from_vec(uni(config.classes), config.classes, dev)?)?;
        Ok(Net {
            config,
            convs,
            blocks,
            fc_weight,
            fc_bias,
        })
    }

    /// Every trainable variable with its name, in a fixed order:
    /// `{layer}.weight`, `{layer}.bn{i}.weight`, `{layer}.bn{i}.bias` (BN of
    /// width index `i`), `fc.weight`, `fc.bias`.
    pub fn vars(&self) -> Vec<(String, Var)> {
        let mut v = Vec::new();
        for c in &self.convs {
            v.push((format!("{}.weight", c.name), c.weight.clone()));
            for (i, bn) in c.bn.iter().enumerate() {
                v.push((format!("{}.bn{i}.weight", c.name), bn.gamma.clone()));
                v.push((format!("{}.bn{i}.bias", c.name), bn.beta.clone()));
            }
        }
        v.push(("fc.weight".into(), self.fc_weight.clone()));
        v.push(("fc.bias".into(), self.fc_bias.clone()));
        v
    }

    /// Running statistics: `{layer}.bn{i}.running_mean` / `.running_var`.
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for c in &self.convs {
            for (i, bn) in c.bn.iter().enumerate() {
                v.push((
                    format!("{}.bn{i}.running_mean", c.name),
                    bn.running_mean.clone(),
                ));
                v.push((
                    format!("{}.bn{i}.running_var", c.name),
                    bn.running_var.clone(),
                ));
            }
        }
        v
    }

    /// Sets a running statistic by its [`Net::buffers`] name.
    pub fn set_buffer(&mut self, name: &str, t: Tensor) -> bool {
        for c in &mut self.convs {
            for (i, bn) in c.bn.iter_mut().enumerate() {
                if name == format!("{}.bn{i}.running_mean", c.name) {
                    bn.running_mean = t;
                    return true;
                }
                if name == format!("{}.bn{i}.running_var", c.name) {
                    bn.running_var = t;
                    return true;
                }
            }
        }
        false
    }

    /// Convolution `ci` at width index `wi`, then its BN, then a ReLU if
    /// `relu`; `x` (channel-major) has the width's input channels.
    fn conv_bn(
        &mut self,
        ci: usize,
        x: &Tensor,
        wi: usize,
        mode: Mode,
        relu: bool,
    ) -> Result<Tensor> {
        let ch = self.config.stage_channels(wi);
        let c = &mut self.convs[ci];
        let cout = ch[c.out_stage - 1];
        let cin = if c.in_stage == 0 {
            self.config.input[0]
        } else {
            ch[c.in_stage - 1]
        };
        let w = c.weight.as_tensor().narrow(0, 0, cout)?.narrow(1, 0, cin)?;
        let y = conv2d(x, &w, c.padding, c.stride)?;
        batch_norm(&y, &mut c.bn[wi], mode, relu)
    }

    /// Logits `[batch, classes]` of `x` (`[batch, C, H, W]`, normalized) at
    /// width index `wi`.
    pub fn forward(&mut self, x: &Tensor, wi: usize, mode: Mode) -> Result<Tensor> {
        self.run(x, wi, mode, None)
    }

    /// Every tensor capim's integer model has, in its layer order, at width
    /// index `wi` with the running BN statistics: `stem`, per block `c1`,
    /// the shortcut `sc` (BN output, no ReLU), `c2` (after the residual add
    /// and ReLU), then `gap` (`[batch, C3]`, the mean) and `fc` (logits).
    pub fn tensors(&mut self, x: &Tensor, wi: usize) -> Result<Vec<(String, Tensor)>> {
        let mut taps = Vec::new();
        self.run(x, wi, Mode::Eval, Some(&mut taps))?;
        Ok(taps)
    }

    fn run(
        &mut self,
        x: &Tensor,
        wi: usize,
        mode: Mode,
        mut taps: Option<&mut Vec<(String, Tensor)>>,
    ) -> Result<Tensor> {
        // taps are given batch-major, as the caller's input
        let mut tap = |name: &str, t: &Tensor| -> Result<()> {
            if let Some(v) = taps.as_deref_mut() {
                let t = if t.rank() == 4 {
                    t.transpose(0, 1)?.contiguous()?
                } else {
                    t.clone()
                };
                v.push((name.to_string(), t));
            }
            Ok(())
        };
        let x = x.transpose(0, 1)?.contiguous()?; // [C, B, H, W]
        let mut h = self.conv_bn(0, &x, wi, mode, true)?;
        tap(&self.convs[0].name, &h)?;
        for b in 0..self.blocks.len() {
            let Block { c1, c2, shortcut } = self.blocks[b];
            let y = self.conv_bn(c1, &h, wi, mode, true)?;
            tap(&self.convs[c1].name, &y)?;
            let s = match shortcut {
                Some(sc) => {
                    let s = self.conv_bn(sc, &h, wi, mode, false)?;
                    tap(&self.convs[sc].name, &s)?;
                    s
                }
                None => h.clone(),
            };
            let y = self.conv_bn(c2, &y, wi, mode, false)?;
            h = (y + s)?.relu()?;
            tap(&self.convs[c2].name, &h)?;
        }
        let c3 = self.config.stage_channels(wi)[2];
        let pooled = h.mean((2, 3))?.t()?.contiguous()?; // [batch, c3]
        tap("gap", &pooled)?;
        let w = self.fc_weight.as_tensor().narrow(1, 0, c3)?;
        let logits = pooled
            .matmul(&w.t()?)?
            .broadcast_add(self.fc_bias.as_tensor())?;
        tap("fc", &logits)?;
        Ok(logits)
    }
}

/// A convolution (no dilation, one group) on **channel-major** activations:
/// `x` is `[cin, batch, h, w]`, the result `[cout, batch, ho, wo]`, the
/// same numbers as `x.transpose(0, 1).conv2d(w, padding, stride)` transposed
/// back. It is one operation with its own backward pass (`Conv` below):
/// im2col and one matrix product `y = w[cout, cin*k*k] @ col`, which is
/// already channel-major, so neither direction transposes an activation.
/// candle's own `conv2d` spent most of a training step in its per-element
/// im2col and in the direct `conv_transpose2d` loop of its backward pass.
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    let (cin, b, h, wd) = x.dims4()?;
    let (_, wcin, k, k2) = w.dims4()?;
    if wcin != cin || k != k2 || h + 2 * padding < k || wd + 2 * padding < k {
        return Err(candle_core::Error::Msg(format!(
            "conv2d: input {:?} (channel-major), kernel {:?}",
            x.dims(),
            w.dims()
        )));
    }
    let geo = Geometry {
        b,
        c: cin,
        h,
        w: wd,
        k,
        p: padding,
        s: stride,
    };
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        Conv {
            geo,
            col: Default::default(),
        },
    )
}

/// Shape of one convolution's input and kernel.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    p: usize,
    s: usize,
}

impl Geometry {
    fn ho(&self) -> usize {
        (self.h + 2 * self.p - self.k) / self.s + 1
    }
    fn wo(&self) -> usize {
        (self.w + 2 * self.p - self.k) / self.s + 1
    }
    /// For output column `ox` and kernel column `kx`: the input column, if inside.
    fn src(&self, o: usize, kk: usize, len: usize) -> Option<usize> {
        let i = (o * self.s + kk) as isize - self.p as isize;
        (i >= 0 && (i as usize) < len).then_some(i as usize)
    }
    /// The output columns `ox` whose input column `ox*s + kx - p` is inside.
    fn cols(&self, kx: usize) -> std::ops::Range<usize> {
        let wo = self.wo();
        let lo = (self.p.saturating_sub(kx)).div_ceil(self.s);
        // largest ox with ox*s + kx - p <= w - 1
        let top = self.w - 1 + self.p;
        let hi = if top < kx {
            0
        } else {
            ((top - kx) / self.s + 1).min(wo)
        };
        lo.min(hi)..hi
    }
}

/// `[c, b, h, w]` -> `[c*k*k, b*ho*wo]`, row `(c, ky, kx)`, column
/// `(b, oy, ox)` = `x[c, b, oy*s + ky - p, ox*s + kx - p]` (0 outside);
/// one row per task, built by contiguous copies.
fn im2col(g: Geometry, x: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    let (ho, wo, kk) = (g.ho(), g.wo(), g.k * g.k);
    let n = g.b * ho * wo;
    let mut col = vec![0f32; g.c * kk * n];
    col.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        let (c, ky, kx) = (r / kk, (r % kk) / g.k, r % g.k);
        let xs = g.cols(kx);
        for b in 0..g.b {
            let plane = &x[(c * g.b + b) * g.h * g.w..][..g.h * g.w];
            for oy in 0..ho {
                let Some(iy) = g.src(oy, ky, g.h) else {
                    continue;
                };
                let src = &plane[iy * g.w..][..g.w];
                let dst = &mut row[(b * ho + oy) * wo..][..wo];
                if g.s == 1 {
                    let off = xs.start + kx - g.p;
                    dst[xs.clone()].copy_from_slice(&src[off..off + xs.len()]);
                } else {
                    for ox in xs.clone() {
                        dst[ox] = src[ox * g.s + kx - g.p];
                    }
                }
            }
        }
    });
    col
}

/// The adjoint of [`im2col`]: `[c*k*k, b*ho*wo]` -> `[c, b, h, w]`, every
/// column entry added to the input element it was copied from; one input
/// channel per task, so the sums' order does not depend on the threads.
fn col2im(g: Geometry, dcol: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    let (ho, wo, kk) = (g.ho(), g.wo(), g.k * g.k);
    let n = g.b * ho * wo;
    let plane = g.h * g.w;
    let mut dx = vec![0f32; g.c * g.b * plane];
    dx.par_chunks_mut(g.b * plane)
        .enumerate()
        .for_each(|(c, dxc)| {
            for t in 0..kk {
                let (ky, kx) = (t / g.k, t % g.k);
                let xs = g.cols(kx);
                let row = &dcol[(c * kk + t) * n..][..n];
                for b in 0..g.b {
                    let dplane = &mut dxc[b * plane..][..plane];
                    for oy in 0..ho {
                        let Some(iy) = g.src(oy, ky, g.h) else {
                            continue;
                        };
                        let src = &row[(b * ho + oy) * wo..][..wo];
                        let dst = &mut dplane[iy * g.w..][..g.w];
                        for ox in xs.clone() {
                            dst[ox * g.s + kx - g.p] += src[ox];
                        }
                    }
                }
            }
        });
    dx
}

/// The convolution as one autograd operation on `(x, w)`: the forward pass
/// keeps its `col` (freed with the graph, as candle's own nodes are) for
/// the backward pass, which is
/// `dw = dy @ col^T` and `dx = col2im(w^T @ dy)` (`dy` as `[cout, b*ho*wo]`).
/// The matrix products are candle's (gemm). Being one node, its im2col
/// matrix (k*k times an activation) never enters candle's gradient store,
/// which would zero and add a gradient of that size for it.
struct Conv {
    geo: Geometry,
    col: std::sync::Mutex<Option<Tensor>>,
}

impl candle_core::CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "capim-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let g = self.geo;
        let cout = l2.shape().dims4()?.0;
        let (ckk, n) = (g.c * g.k * g.k, g.b * g.ho() * g.wo());
        let dev = Device::Cpu;
        let col = Tensor::from_vec(im2col(g, f32_slice(s1, l1)?), (ckk, n), &dev)?;
        let w2 = Tensor::from_slice(f32_slice(s2, l2)?, (cout, ckk), &dev)?;
        let y = w2.matmul(&col)?;
        *self.col.lock().expect("conv col") = Some(col);
        let y = with_f32(&y, |v| Ok(v.to_vec()))?;
        let shape = candle_core::Shape::from((cout, g.b, g.ho(), g.wo()));
        Ok((candle_core::CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.geo;
        let (cout, cin, k, _) = w.dims4()?;
        let n = g.b * g.ho() * g.wo();
        // kept (not taken): a graph may be differentiated more than once
        let col =
            self.col.lock().expect("conv col").clone().ok_or_else(|| {
                candle_core::Error::Msg("conv2d: backward without forward".into())
            })?;
        let dy = grad.contiguous()?.reshape((cout, n))?;
        let w2 = w.reshape((cout, cin * k * k))?;
        let dw = dy.matmul(&col.t()?)?.reshape((cout, cin, k, k))?;
        let dcol = w2.t()?.matmul(&dy)?;
        let dx = with_f32(&dcol, |d| Ok(col2im(g, d)))?;
        let dx = Tensor::from_vec(dx, (g.c, g.b, g.h, g.w), grad.device())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Batch-norm of the channel-major `x` (`[C, B, H, W]`) with one width's
/// parameters, then a ReLU if `relu`.
fn batch_norm(x: &Tensor, bn: &mut Bn, mode: Mode, relu: bool) -> Result<Tensor> {
    let c = x.dim(0)?;
    let shape = (c, 1, 1, 1);
    match mode {
        Mode::Eval => {
            // folded: x * gamma / sqrt(var + eps) + (beta - mean * scale)
            let scale = (bn.gamma.as_tensor() / (&bn.running_var + BN_EPS)?.sqrt()?)?;
            let shift = (bn.beta.as_tensor() - (&bn.running_mean * &scale)?)?;
            let y = x
                .broadcast_mul(&scale.reshape(shape)?)?
                .broadcast_add(&shift.reshape(shape)?)?;
            if relu { y.relu() } else { Ok(y) }
        }
        Mode::Train { momentum } => {
            let n = x.elem_count() / c;
            let op = BnTrain {
                relu,
                stats: Default::default(),
            };
            let stats = op.stats.clone();
            let y = x
                .contiguous()?
                .apply_op3(bn.gamma.as_tensor(), bn.beta.as_tensor(), op)?;
            let st = stats.lock().expect("BN statistics");
            let st = st.as_ref().expect("forward ran");
            let dev = x.device();
            let bm = Tensor::from_slice(&st.mean, c, dev)?;
            let unbiased = n as f32 / (n.max(2) - 1) as f32;
            let bv: Vec<f32> = st.var.iter().map(|v| v * unbiased).collect();
            let bv = Tensor::from_vec(bv, c, dev)?;
            let m = momentum;
            bn.running_mean = ((&bn.running_mean * (1.0 - m))? + (bm * m)?)?;
            bn.running_var = ((&bn.running_var * (1.0 - m))? + (bv * m)?)?;
            Ok(y)
        }
    }
}

/// Per-channel statistics of one training-mode BN forward pass.
#[derive(Debug)]
struct BnStats {
    mean: Vec<f32>,
    /// Biased (population) variance of the batch.
    var: Vec<f32>,
    /// `1 / sqrt(var + eps)`.
    inv: Vec<f32>,
}

/// Training-mode batch-norm of a channel-major `[C, B, H, W]` tensor as one
/// operation with its own backward pass (candle's generic reductions are
/// slow on the CPU): `y = (x - mean) / sqrt(var + eps) * gamma + beta` with
/// the batch's biased variance. One channel per task (its elements are
/// contiguous); sums in f64, in a fixed order within the channel, so the
/// result does not depend on the number of threads.
///
/// With `relu` the output is `max(y, 0)` and the backward pass masks the
/// incoming gradient with `y >= 0` (`y` recomputed from `x`), exactly as
/// candle's own ReLU node would, without that node: its forward pass, its
/// mask, and the gradient it would add into candle's gradient store are
/// each a pass over an activation.
#[derive(Debug)]
struct BnTrain {
    relu: bool,
    stats: std::sync::Arc<std::sync::Mutex<Option<BnStats>>>,
}

/// The f32 elements of a contiguous CPU tensor.
fn f32_slice<'a>(s: &'a candle_core::CpuStorage, l: &candle_core::Layout) -> Result<&'a [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("capim training: non-contiguous tensor".into()))?;
    Ok(&s.as_slice::<f32>()?[a..b])
}

/// Calls `f` with the f32 elements of `t` (made contiguous), without a copy.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (st, lay) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cs) = &*st else {
        return Err(candle_core::Error::Msg("capim training: CPU only".into()));
    };
    f(f32_slice(cs, lay)?)
}

impl candle_core::CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "capim-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CpuStorage,
        l3: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let c = l1.shape().dims4()?.0;
        let x = f32_slice(s1, l1)?;
        let gamma = f32_slice(s2, l2)?;
        let beta = f32_slice(s3, l3)?;
        let n = x.len() / c.max(1);
        let mut y = vec![0f32; x.len()];
        let stats: Vec<(f32, f32, f32)> = y
            .par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .enumerate()
            .map(|(ch, (yc, xc))| {
                let nf = n as f64;
                let m = xc.iter().map(|&v| v as f64).sum::<f64>() / nf;
                let v = xc
                    .iter()
                    .map(|&v| (v as f64 - m) * (v as f64 - m))
                    .sum::<f64>()
                    / nf;
                let (mean, inv) = (m as f32, (1.0 / (v + BN_EPS).sqrt()) as f32);
                let scale = inv * gamma[ch];
                let shift = beta[ch] - mean * scale;
                for (o, &e) in yc.iter_mut().zip(xc) {
                    *o = e * scale + shift;
                }
                if self.relu {
                    for o in yc.iter_mut() {
                        *o = o.max(0.0);
                    }
                }
                (mean, v as f32, inv)
            })
            .collect();
        *self.stats.lock().expect("BN statistics") = Some(BnStats {
            mean: stats.iter().map(|s| s.0).collect(),
            var: stats.iter().map(|s| s.1).collect(),
            inv: stats.iter().map(|s| s.2).collect(),
        });
        Ok((candle_core::CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        use rayon::prelude::*;
        let (c, b, h, w) = x.dims4()?;
        let hw = h * w;
        let n = b * hw;
        let st = self.stats.lock().expect("BN statistics");
        let st = st
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("batch-norm: backward before forward".into()))?;
        let gam = gamma.to_vec1::<f32>()?;
        let bet = beta.to_vec1::<f32>()?;
        let relu = self.relu;
        let mut dx = vec![0f32; c * n];
        let sums: Vec<(f32, f32)> = with_f32(x, |xv| {
            with_f32(grad, |gv| {
                Ok(dx
                    .par_chunks_mut(n)
                    .zip(xv.par_chunks(n).zip(gv.par_chunks(n)))
                    .enumerate()
                    .map(|(ch, (dc, (xc, gc)))| {
                        let (m, iv) = (st.mean[ch], st.inv[ch]);
                        // the ReLU's gradient, as candle computes it: the
                        // store's zero plus the gradient times the mask
                        let masked: Vec<f32>;
                        let gc = if relu {
                            let scale = iv * gam[ch];
                            let shift = bet[ch] - m * scale;
                            masked = xc
                                .iter()
                                .zip(gc)
                                .map(|(&xx, &g)| {
                                    let on = if xx * scale + shift >= 0.0 { 1.0 } else { 0.0 };
                                    0.0 + g * on
                                })
                                .collect();
                            &masked[..]
                        } else {
                            gc
                        };
                        // dbeta = sum dy, dgamma = sum dy * xhat (f64, per
                        // plane of one image, then over the images)
                        let (mut db, mut dg) = (0f64, 0f64);
                        for (xp, gp) in xc.chunks(hw).zip(gc.chunks(hw)) {
                            let (mut sb, mut sg) = (0f64, 0f64);
                            for (&xx, &g) in xp.iter().zip(gp) {
                                sb += g as f64;
                                sg += (g * (xx - m) * iv) as f64;
                            }
                            db += sb;
                            dg += sg;
                        }
                        // dx = gamma * inv / N * (N dy - dbeta - xhat dgamma)
                        let k = gam[ch] * iv / n as f32;
                        let (db, dg) = (db as f32, dg as f32);
                        for ((o, &xx), &g) in dc.iter_mut().zip(xc).zip(gc) {
                            *o = k * (n as f32 * g - db - (xx - m) * iv * dg);
                        }
                        (dg, db)
                    })
                    .collect())
            })
        })?;
        let dev = x.device();
        let dx = Tensor::from_vec(dx, (c, b, h, w), dev)?;
        let dgamma = Tensor::from_vec(sums.iter().map(|s| s.0).collect::<Vec<_>>(), c, dev)?;
        let dbeta = Tensor::from_vec(sums.iter().map(|s| s.1).collect::<Vec<_>>(), c, dev)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// Mean cross-entropy of `logits` against `labels` (u32).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, labels)
}

/// Mean soft cross-entropy `-sum_c p_c log softmax(logits)_c` against the
/// probabilities `p` (detached teacher).
pub fn soft_cross_entropy(logits: &Tensor, p: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    (p * logp)?.sum(D::Minus1)?.mean_all()?.neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cfg(widths: Vec<f64>) -> NetConfig {
        NetConfig {
            depth: 8,
            stage_widths: [4, 8, 16],
            widths,
            input: [1, 8, 8],
            classes: 3,
        }
    }

    #[test]
    fn channel_rule() {
        assert_eq!(channels(16, 0.25), 4);
        assert_eq!(channels(16, 0.01), 1);
        assert_eq!(channels(10, 0.25), 3); // 2.5 rounds away from zero
        assert_eq!(channels(64, 0.75), 48);
    }

    #[test]
    fn names_and_shapes() {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Net::new(cfg(vec![0.25, 0.5, 1.0]), &mut rng, &dev).unwrap();
        let names: Vec<_> = net.convs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stem", "s1b1c1", "s1b1c2", "s2b1c1", "s2b1sc", "s2b1c2", "s3b1c1", "s3b1sc",
                "s3b1c2"
            ]
        );
        assert_eq!(net.convs[4].weight.dims(), &[8, 4, 1, 1]);
        assert_eq!(net.convs[0].bn[0].gamma.dims(), &[1]);
        let x = Tensor::zeros((2, 1, 8, 8), DType::F32, &dev).unwrap();
        for wi in 0..3 {
            let y = net.forward(&x, wi, Mode::Eval).unwrap();
            assert_eq!(y.dims(), &[2, 3]);
        }
    }

    /// The batch-norm operation's forward and backward agree with candle's
    /// own tensor arithmetic.
    #[test]
    fn batch_norm_op_matches_reference() {
        for relu in [false, true] {
            batch_norm_matches_reference(relu);
        }
    }

    /// The BN operation (and its fused ReLU) against candle's own ops:
    /// output, the three gradients, the running statistics.
    fn batch_norm_matches_reference(relu: bool) {
        let dev = Device::Cpu;
        let xs: Vec<f32> = (0..2 * 3 * 4 * 5)
            .map(|i| ((i * 7919 % 97) as f32) / 31.0 - 1.0)
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(xs, (2, 3, 4, 5), &dev).unwrap()).unwrap();
        let mut bn = Bn {
            gamma: Var::from_tensor(&Tensor::new(&[0.5f32, 1.5, -1.0], &dev).unwrap()).unwrap(),
            beta: Var::from_tensor(&Tensor::new(&[0.1f32, -0.2, 0.3], &dev).unwrap()).unwrap(),
            running_mean: Tensor::zeros(3, DType::F32, &dev).unwrap(),
            running_var: Tensor::ones(3, DType::F32, &dev).unwrap(),
        };
        let wts = Tensor::from_vec(
            (0..120).map(|i| (i % 11) as f32 - 5.0).collect::<Vec<_>>(),
            (2, 3, 4, 5),
            &dev,
        )
        .unwrap();
        // batch_norm works on channel-major tensors
        let x_cm = x.as_tensor().transpose(0, 1).unwrap().contiguous().unwrap();
        let y = batch_norm(&x_cm, &mut bn, Mode::Train { momentum: 1.0 }, relu)
            .unwrap()
            .transpose(0, 1)
            .unwrap();
        let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
        // reference with candle's ops
        let xt = x.as_tensor();
        let mean = xt.mean_keepdim((0, 2, 3)).unwrap();
        let cen = xt.broadcast_sub(&mean).unwrap();
        let var = cen.sqr().unwrap().mean_keepdim((0, 2, 3)).unwrap();
        let mut yr = cen
            .broadcast_div(&(var.clone() + BN_EPS).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&bn.gamma.as_tensor().reshape((1, 3, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&bn.beta.as_tensor().reshape((1, 3, 1, 1)).unwrap())
            .unwrap();
        if relu {
            yr = yr.relu().unwrap();
            // the ReLU cuts something off, so the mask is exercised
            let zeros = yr.eq(0f32).unwrap().to_dtype(DType::F32).unwrap();
            assert!(zeros.sum_all().unwrap().to_scalar::<f32>().unwrap() > 10.0);
        }
        let gr = (&yr * &wts).unwrap().sum_all().unwrap().backward().unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let d = max_diff(a, b);
            assert!(d < 1e-4, "relu {relu}: difference {d}");
        };
        close(&y, &yr);
        for t in [x.as_tensor(), bn.gamma.as_tensor(), bn.beta.as_tensor()] {
            close(g.get(t).unwrap(), gr.get(t).unwrap());
        }
        // momentum 1: the running statistics are the batch's (unbiased variance)
        close(&bn.running_mean, &mean.flatten_all().unwrap());
        close(
            &bn.running_var,
            &(var.flatten_all().unwrap() * (40.0 / 39.0)).unwrap(),
        );
    }

    /// `max |a - b|`.
    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The convolution's gradients equal candle's own.
    #[test]
    fn conv_op_matches_candle() {
        let dev = Device::Cpu;
        for (h, k, p, st) in [
            (8, 3, 1, 1),
            (8, 3, 1, 2),
            (7, 3, 1, 2),
            (8, 1, 0, 2),
            (7, 1, 0, 2),
        ] {
            let x = Var::from_tensor(
                &Tensor::from_vec(
                    (0..2 * 3 * h * h)
                        .map(|i| ((i * 31 % 23) as f32) / 7.0 - 1.5)
                        .collect::<Vec<_>>(),
                    (2, 3, h, h),
                    &dev,
                )
                .unwrap(),
            )
            .unwrap();
            let w = Var::from_tensor(
                &Tensor::from_vec(
                    (0..4 * 3 * k * k)
                        .map(|i| ((i * 17 % 13) as f32) / 5.0 - 1.0)
                        .collect::<Vec<_>>(),
                    (4, 3, k, k),
                    &dev,
                )
                .unwrap(),
            )
            .unwrap();
            // conv2d works on channel-major tensors
            let x_cm = x.as_tensor().transpose(0, 1).unwrap().contiguous().unwrap();
            let y = conv2d(&x_cm, w.as_tensor(), p, st)
                .unwrap()
                .transpose(0, 1)
                .unwrap();
            let yr = x.as_tensor().conv2d(w.as_tensor(), p, st, 1, 1).unwrap();
            let wts = y.ones_like().unwrap().cumsum(3).unwrap();
            let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            // the same graph differentiated again gives the same gradients
            let again = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            for t in [x.as_tensor(), w.as_tensor()] {
                assert_eq!(max_diff(g.get(t).unwrap(), again.get(t).unwrap()), 0.0);
            }
            let gr = (&yr * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            let close = |a: &Tensor, b: &Tensor| {
                let d = max_diff(a, b);
                assert!(d < 1e-3, "h {h} k {k} stride {st}: difference {d}");
            };
            close(&y, &yr);
            close(
                g.get(x.as_tensor()).unwrap(),
                gr.get(x.as_tensor()).unwrap(),
            );
            close(
                g.get(w.as_tensor()).unwrap(),
                gr.get(w.as_tensor()).unwrap(),
            );
        }
    }

    /// A width uses only its prefix: changing weights outside the prefix of
    /// width 0.25 leaves its output unchanged.
    #[test]
    fn narrow_width_uses_only_its_prefix() {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut net = Net::new(cfg(vec![0.25, 1.0]), &mut rng, &dev).unwrap();
        let x = Tensor::from_vec(
            (0..128)
                .map(|i| ((i * 37 % 17) as f32) / 17.0)
                .collect::<Vec<_>>(),
            (2, 1, 8, 8),
            &dev,
        )
        .unwrap();
        let before = net
            .forward(&x, 0, Mode::Eval)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let full_before = net
            .forward(&x, 1, Mode::Eval)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let w = net.convs[1].weight.as_tensor();
        let (co, ci, k, _) = w.dims4().unwrap();
        let mut v = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // last output channel, last input channel: outside the 0.25 prefix (1 of 4)
        for e in &mut v[((co - 1) * ci + ci - 1) * k * k..] {
            *e += 1.0;
        }
        net.convs[1]
            .weight
            .set(&Tensor::from_vec(v, (co, ci, k, k), &dev).unwrap())
            .unwrap();
        let after = net
            .forward(&x, 0, Mode::Eval)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let full_after = net
            .forward(&x, 1, Mode::Eval)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(before, after);
        assert_ne!(full_before, full_after);
    }
}
