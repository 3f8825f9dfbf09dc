//! The quantized channel-adaptive DNN (CA-DNN): file format, validation,
//! reference arithmetic (DESIGN.md §1–2), synthetic generator and NPY I/O.
//!
//! A model is a JSON description (format tag `capim-cadnn/1`) plus a
//! safetensors file beside it holding, per layer, `{layer}.weight`
//! (I8/I16, `[cout, cin, kh, kw]`; conv layers only), `{layer}.bias` (I64,
//! `[n_widths, cout]`) and `{layer}.mult` (I32, `[n_widths, cout]`). Per-width
//! shifts and residual multipliers live in the JSON.
//!
//! Two operators (`"op"`):
//!
//! - `"conv"`: convolution, groups = 1, zero padding; the JSON gives
//!   `kernel: [kh, kw]`, `stride` and `pad`. A fully connected layer is a conv
//!   with `kernel: [1, 1]` reading a `C x 1 x 1` tensor (DESIGN.md §1).
//! - `"gap"`: global average pool, `acc[c] = bias[c] + sum_{y,x} a[c,y,x]`,
//!   then the conv requantization with one scalar `M` per width (every entry
//!   of a width's row of `{layer}.mult` equal); output `C x 1 x 1`. The JSON
//!   omits `kernel`, `stride` and `pad` (in memory a gap [`Layer`] has
//!   `kh x kw` = its input's `H x W`, stride 1, pad 0, so the shape formulas
//!   are the conv ones); the weights file has no `{layer}.weight`. A gap
//!   layer keeps the channels of its input: `cin == cout` = the input's
//!   channel count and `cin_active == cout_active` = the input's active
//!   counts at every width. It is always requantized and takes no residual.
//!
//! `"requant": "none"` makes a layer output the raw accumulator (i64), e.g.
//! the logits. Such a tensor is not N-bit, so no layer may read it (as input
//! or residual), and its class count never shrinks: `cout_active == cout` at
//! every width.

pub mod classify;
mod format;
pub mod npy;
pub mod reference;
pub mod synth;
mod validate;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Format tag written into (and required in) every model JSON.
pub const FORMAT: &str = "capim-cadnn/1";
/// Name of the network input tensor (reserved: no layer may use it).
pub const INPUT: &str = "input";
/// Exclusive upper bound of the multipliers `M` and `R`.
pub const MULT_LIMIT: u32 = 1 << 16;
/// Tolerance within which a width given as text (`--width 0.5`) matches one
/// of the model's widths; the model's widths must differ by more.
pub const WIDTH_TOL: f64 = 1e-9;
/// Largest requantization shift `S`.
pub const MAX_SHIFT: u32 = 62;
/// Bits of the hardware accumulator (signed).
pub const ACC_BITS: u32 = crate::hw::ACC_W;
/// Largest channel count, spatial size, kernel size or stride accepted.
pub const MAX_DIM: usize = 1 << 16;
/// Largest number of elements in one tensor (activation or weights).
pub const MAX_ELEMS: usize = 1 << 28;

/// A quantized channel-adaptive DNN.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The JSON path it was loaded from (for messages); empty when synthesized.
    pub path: PathBuf,
    pub name: String,
    /// Operand bits `N`: 8 or 16.
    pub precision: u32,
    /// Channel widths: strictly increasing, in (0, 1], the last is 1.0.
    pub widths: Vec<f64>,
    pub input: InputSpec,
    pub layers: Vec<Layer>,
    /// How a raw image becomes the input tensor (trained models only).
    pub preprocess: Option<Preprocess>,
    /// Accuracy measured with the integer reference (trained models only).
    pub evaluation: Option<Evaluation>,
}

/// From raw 8-bit pixels to the input tensor, exactly: for channel `c` and
/// pixel value `p` (0..=255) the input integer is `table[c][p]`; the raw
/// `raw[1] x raw[2]` image is then framed by `pad` (`[top, bottom, left,
/// right]`) rows and columns of `pad_value`. `formula`, `mean`, `std` and
/// `scale` record how the table was made; the table alone is normative.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// The raw image: channels, height, width (pixels `u8`, `C x H x W`
    /// row-major, as in the IDX and CIFAR-10 files).
    pub raw: [usize; 3],
    /// Rows and columns added around the raw image: top, bottom, left, right.
    pub pad: [usize; 4],
    /// The input integer of a padding position.
    pub pad_value: i64,
    /// How `table` was computed, in words.
    pub formula: String,
    /// Per channel: the normalization mean (of `p / 255`).
    pub mean: Vec<f64>,
    /// Per channel: the normalization standard deviation (of `p / 255`).
    pub std: Vec<f64>,
    /// Per channel: the value of one input step (normalized units).
    pub scale: Vec<f64>,
    /// Per channel, 256 entries: pixel value to input integer.
    pub table: Vec<Vec<i64>>,
}

/// Accuracy of the integer model on a labelled set, measured by capim's
/// reference (DESIGN.md §1), per width, beside the float network's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// The labelled set, e.g. the Fashion-MNIST test files.
    pub dataset: String,
    /// Images evaluated (all of the set).
    pub images: usize,
    /// Integer model (this file), per width: fraction of correct top-1
    /// predictions (the lowest class index wins a tie of logits).
    pub accuracy: Vec<f64>,
    /// The float network it was quantized from, per width, same images.
    pub float_accuracy: Vec<f64>,
}

/// The network input tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// Always [`INPUT`].
    pub name: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub signed: bool,
}

/// Layer operator. Serialized lower-case (`"conv"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Op {
    /// Convolution, groups = 1, zero padding.
    Conv,
    /// Global average pool (a sum over `H x W`, scaled by the requantization
    /// with one `M` per width): `C x H x W` to `C x 1 x 1`.
    Gap,
}

/// One layer; it produces the tensor named after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Also the name of the tensor it produces.
    pub name: String,
    pub op: Op,
    /// The tensor it reads: [`INPUT`] or an earlier layer.
    pub input: String,
    pub cin: usize,
    /// Equals `cin` for [`Op::Gap`].
    pub cout: usize,
    /// Kernel height; for [`Op::Gap`] the input height (the whole map).
    pub kh: usize,
    /// Kernel width; for [`Op::Gap`] the input width.
    pub kw: usize,
    /// 1 for [`Op::Gap`].
    pub stride: usize,
    /// 0 for [`Op::Gap`].
    pub pad: usize,
    /// Output clamp `0 ..= 2^N-1` if true, else `-2^(N-1) ..= 2^(N-1)-1`.
    pub relu: bool,
    /// Active input channels, per width.
    pub cin_active: Vec<usize>,
    /// Active output channels, per width.
    pub cout_active: Vec<usize>,
    /// `None`: raw accumulator output (`"requant": "none"`, e.g. logits).
    pub requant: Option<Requant>,
    /// `[cout][cin][kh][kw]` row-major, shared by all widths; empty for
    /// [`Op::Gap`].
    pub weights: Vec<i64>,
    /// `[width][cout]`.
    pub bias: Vec<Vec<i64>>,
    /// `[width][cout]`, each `0 <= M < 2^16`; for [`Op::Gap`] all entries of
    /// a width are equal (a scalar `M`). Unused with `requant: "none"`.
    pub mult: Vec<Vec<u32>>,
}

impl Layer {
    /// Output (H, W) of this layer for an input map of `(h, w)`:
    /// `(x + 2*pad - k) / stride + 1` per axis (0 for an empty input).
    pub fn out_size(&self, (h, w): (usize, usize)) -> (usize, usize) {
        let out = |x: usize, k: usize| {
            if x == 0 {
                0
            } else {
                x.saturating_add(self.pad.saturating_mul(2))
                    .saturating_sub(k)
                    / self.stride.max(1)
                    + 1
            }
        };
        (out(h, self.kh), out(w, self.kw))
    }

    /// Bound on `|sum|` of the accumulator without the bias, for N-bit
    /// operands: `cin*kh*kw*2^(2N-1)` for a conv (one product is at most
    /// `(2^N-1)*2^(N-1)` in magnitude), `kh*kw*2^N` for a gap (one activation
    /// is below `2^N` in magnitude). `|bias|` plus this must stay below
    /// `2^(ACC_BITS-1)`.
    pub fn sum_bound(&self, precision: u32) -> i128 {
        let taps = self.kh as i128 * self.kw as i128;
        match self.op {
            Op::Conv => {
                self.cin as i128 * taps * (1i128 << (2 * precision).saturating_sub(1).min(64))
            }
            Op::Gap => taps * (1i128 << precision.min(64)),
        }
    }
}

/// Requantization parameters that are not per output channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requant {
    /// `S` per width, `0 ..= 62`.
    pub shift: Vec<u32>,
    pub residual: Option<Residual>,
}

/// A residual input added inside requantization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residual {
    /// Name of the tensor added (same shape as the output at every width).
    pub source: String,
    /// `R` per width, `0 <= R < 2^16`.
    pub mult: Vec<u32>,
}

/// The values of a tensor, held in the narrowest integer type that holds
/// them: `i16` for 8-bit activations (signed or unsigned), `i32` for 16-bit
/// ones, `i64` for raw accumulator outputs (`requant = none`, ACC_W bits).
/// An 8-bit activation thus costs 2 bytes of memory, not 8.
#[derive(Debug, Clone)]
pub enum Values {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Values {
    /// Empty storage, the narrowest that holds every value in `lo ..= hi`,
    /// with room for `cap` values.
    pub fn with_range(lo: i64, hi: i64, cap: usize) -> Values {
        if lo >= i16::MIN as i64 && hi <= i16::MAX as i64 {
            Values::I16(Vec::with_capacity(cap))
        } else if lo >= i32::MIN as i64 && hi <= i32::MAX as i64 {
            Values::I32(Vec::with_capacity(cap))
        } else {
            Values::I64(Vec::with_capacity(cap))
        }
    }

    /// Appends `v`, which must lie in the range the storage was made for.
    pub fn push(&mut self, v: i64) {
        match self {
            Values::I16(d) => d.push(v as i16),
            Values::I32(d) => d.push(v as i32),
            Values::I64(d) => d.push(v),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::I16(d) => d.len(),
            Values::I32(d) => d.len(),
            Values::I64(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`.
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Values::I16(d) => d[i] as i64,
            Values::I32(d) => d[i] as i64,
            Values::I64(d) => d[i],
        }
    }

    /// Every value, widened.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Every value as an `i64` vector.
    pub fn to_vec(&self) -> Vec<i64> {
        self.iter().collect()
    }

    /// Values `range`, in the same storage type.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Values {
        match self {
            Values::I16(d) => Values::I16(d[range].to_vec()),
            Values::I32(d) => Values::I32(d[range].to_vec()),
            Values::I64(d) => Values::I64(d[range].to_vec()),
        }
    }
}

impl From<Vec<i64>> for Values {
    /// The narrowest storage for these values.
    fn from(v: Vec<i64>) -> Values {
        let lo = v.iter().copied().min().unwrap_or(0);
        let hi = v.iter().copied().max().unwrap_or(0);
        let mut out = Values::with_range(lo, hi, v.len());
        if let Values::I64(d) = &mut out {
            *d = v;
        } else {
            for x in v {
                out.push(x);
            }
        }
        out
    }
}

impl FromIterator<i64> for Values {
    /// The narrowest storage for the collected values.
    fn from_iter<I: IntoIterator<Item = i64>>(it: I) -> Values {
        Values::from(it.into_iter().collect::<Vec<i64>>())
    }
}

impl PartialEq<Vec<i64>> for Values {
    fn eq(&self, o: &Vec<i64>) -> bool {
        self.len() == o.len() && self.iter().eq(o.iter().copied())
    }
}

/// Equal when they hold the same values, whatever the storage.
impl PartialEq for Values {
    fn eq(&self, o: &Values) -> bool {
        self.len() == o.len() && self.iter().eq(o.iter())
    }
}
impl Eq for Values {}

/// An activation tensor, `CHW` row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Values,
}

impl Tensor {
    /// A tensor of `c x h x w` values, stored as narrowly as they allow.
    pub fn new(c: usize, h: usize, w: usize, data: Vec<i64>) -> Tensor {
        Tensor {
            c,
            h,
            w,
            data: Values::from(data),
        }
    }

    /// An all-zero tensor.
    pub fn zeros(c: usize, h: usize, w: usize) -> Tensor {
        Tensor::new(c, h, w, vec![0; c * h * w])
    }

    /// Element `(c, y, x)`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> i64 {
        self.data.get((c * self.h + y) * self.w + x)
    }

    /// The first `c` channels (prefix slicing).
    pub fn prefix(&self, c: usize) -> Tensor {
        let c = c.min(self.c);
        Tensor {
            c,
            h: self.h,
            w: self.w,
            data: self.data.slice(0..c * self.h * self.w),
        }
    }
}

impl Model {
    /// Index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }

    /// Parses a width such as `"0.5"`; it must equal one of [`Model::widths`].
    /// Errors name the flag `--width`.
    pub fn width_index(&self, w: &str) -> Result<usize> {
        self.width_index_as(w, "--width")
    }

    /// Same as [`Model::width_index`]; errors name `field`, the command-line
    /// flag the width came from (e.g. `--widths`).
    pub fn width_index_as(&self, w: &str, field: &str) -> Result<usize> {
        let expected = || {
            let list: Vec<String> = self.widths.iter().map(|w| w.to_string()).collect();
            format!("one of the model's widths: {}", list.join(", "))
        };
        let v: f64 = w
            .trim()
            .parse()
            .map_err(|_| Error::invalid(self.origin(), field, w, expected()))?;
        self.widths
            .iter()
            .position(|&x| (x - v).abs() <= WIDTH_TOL)
            .ok_or_else(|| Error::invalid(self.origin(), field, w, expected()))
    }

    /// Output height and width of `layer`.
    pub fn out_hw(&self, layer: usize) -> (usize, usize) {
        self.out_hws().get(layer).copied().unwrap_or((0, 0))
    }

    /// Input height and width of `layer` (those of the tensor it reads).
    pub fn in_hw(&self, layer: usize) -> (usize, usize) {
        self.in_hws(&self.out_hws())
            .get(layer)
            .copied()
            .unwrap_or((0, 0))
    }

    /// Whether `tensor` holds signed values: `input.signed` for the input,
    /// else `!relu` of the producing layer (false for unknown names).
    pub fn tensor_signed(&self, tensor: &str) -> bool {
        if tensor == INPUT {
            return self.input.signed;
        }
        self.layer_index(tensor)
            .map(|i| !self.layers[i].relu)
            .unwrap_or(false)
    }

    /// Full shape `(C, H, W)` of a tensor (the input or a layer's output).
    pub fn tensor_shape(&self, tensor: &str) -> Option<(usize, usize, usize)> {
        if tensor == INPUT {
            return Some((self.input.channels, self.input.height, self.input.width));
        }
        let i = self.layer_index(tensor)?;
        let (h, w) = self.out_hw(i);
        Some((self.layers[i].cout, h, w))
    }

    /// Active channel count of a tensor at a width index (the input never
    /// shrinks).
    pub fn tensor_active(&self, tensor: &str, width: usize) -> Option<usize> {
        if tensor == INPUT {
            return Some(self.input.channels);
        }
        let i = self.layer_index(tensor)?;
        self.layers[i].cout_active.get(width).copied()
    }

    /// The name used for the JSON in messages.
    pub(crate) fn origin(&self) -> PathBuf {
        if self.path.as_os_str().is_empty() {
            PathBuf::from(format!("<model {}>", self.name))
        } else {
            self.path.clone()
        }
    }

    /// The name used for the weights file in messages.
    pub(crate) fn weights_origin(&self) -> PathBuf {
        if self.path.as_os_str().is_empty() {
            PathBuf::from(format!("<model {}>.safetensors", self.name))
        } else {
            self.path.with_extension("safetensors")
        }
    }

    /// Output (H, W) of every layer, in order; a layer whose input is not an
    /// earlier tensor gets (0, 0). Never panics, even on invalid models.
    /// Linear in the layer count: loops over layers take this once rather
    /// than calling [`Model::out_hw`] per layer.
    pub fn out_hws(&self) -> Vec<(usize, usize)> {
        let mut by_name: std::collections::HashMap<&str, (usize, usize)> =
            std::collections::HashMap::with_capacity(self.layers.len() + 1);
        by_name.insert(INPUT, (self.input.height, self.input.width));
        let mut table = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let hw = l.out_size(by_name.get(l.input.as_str()).copied().unwrap_or((0, 0)));
            table.push(hw);
            // The first layer of a name wins, as a lookup by position would.
            by_name.entry(l.name.as_str()).or_insert(hw);
        }
        table
    }

    /// Input (H, W) of every layer given [`Model::out_hws`].
    pub fn in_hws(&self, out: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut by_name: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(self.layers.len());
        let mut table = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let hw = if l.input == INPUT {
                (self.input.height, self.input.width)
            } else {
                by_name.get(l.input.as_str()).map_or((0, 0), |&j| out[j])
            };
            table.push(hw);
            by_name.entry(l.name.as_str()).or_insert(i);
        }
        table
    }
}

/// The shipped models (`models/NAME.json` + `.safetensors`), embedded so
/// that capim works from any directory: `(name, json, safetensors)`.
const BUILTIN: [(&str, &[u8], &[u8]); 4] = [
    (
        "skeleton-i8",
        include_bytes!("../../models/skeleton-i8.json"),
        include_bytes!("../../models/skeleton-i8.safetensors"),
    ),
    (
        "skeleton-i16",
        include_bytes!("../../models/skeleton-i16.json"),
        include_bytes!("../../models/skeleton-i16.safetensors"),
    ),
    (
        "resnet20-i8",
        include_bytes!("../../models/resnet20-i8.json"),
        include_bytes!("../../models/resnet20-i8.safetensors"),
    ),
    (
        "resnet20-i16",
        include_bytes!("../../models/resnet20-i16.json"),
        include_bytes!("../../models/resnet20-i16.safetensors"),
    ),
];

/// Names accepted by [`builtin_model`].
pub const BUILTIN_MODELS: [&str; 4] =
    ["skeleton-i8", "skeleton-i16", "resnet20-i8", "resnet20-i16"];

/// A shipped model by name: `skeleton-i8`, `skeleton-i16`, `resnet20-i8` or
/// `resnet20-i16`, each `capim model synth --preset P --precision N --seed 1`
/// (a test checks the files equal the generator's output). Its path reads
/// `<built-in NAME>` in messages.
pub fn builtin_model(name: &str) -> Result<Model> {
    let (name, json, st) = BUILTIN.iter().find(|b| b.0 == name).ok_or_else(|| {
        Error::invalid(
            "<built-in models>",
            "name",
            format!("\"{name}\""),
            format!("one of: {}", BUILTIN_MODELS.join(", ")),
        )
    })?;
    Model::from_bytes(json, st, Path::new(&format!("<built-in {name}>")))
}

/// The built-in default model at `precision` (8 or 16): the shipped
/// ResNet-20, generated by `capim model synth --preset resnet20 --seed 1`.
/// Its path reads `<built-in resnet20-i8>` in messages.
pub fn default_model(precision: u32) -> Result<Model> {
    match precision {
        8 | 16 => builtin_model(&format!("resnet20-i{precision}")),
        _ => Err(Error::invalid(
            "<built-in models>",
            "precision",
            precision,
            "8 or 16",
        )),
    }
}
