//! What a trained model carries beside its arithmetic: how a raw image
//! becomes its input tensor ([`Preprocess`]) and the accuracy measured with
//! capim's integer reference ([`Evaluation`]). Both are optional in the
//! model file (synthetic models have neither) and are validated on load.

use super::{Model, Tensor};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// From raw 8-bit pixels to the input tensor, exactly: for channel `c` and
/// pixel value `p` (0..=255) the input integer is `table[c][p]`; the raw
/// `raw[1] x raw[2]` image is then framed by `pad` (`[top, bottom, left,
/// right]`) rows and columns of `pad_value`. `formula`, `mean`, `std` and
/// `scale` record how the table was made; the table alone is normative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl Preprocess {
    /// The input tensor of one raw image (`raw` pixels, `C x H x W`).
    /// `image.len()` must equal the product of `raw` (checked by callers
    /// against the dataset's shape first).
    pub fn apply(&self, image: &[u8]) -> Tensor {
        let [c, h, w] = self.raw;
        let [t, b, l, r] = self.pad;
        let (ho, wo) = (h + t + b, w + l + r);
        assert_eq!(image.len(), c * h * w, "raw image of {c}x{h}x{w} pixels");
        let mut data = vec![self.pad_value; c * ho * wo];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let p = image[(ch * h + y) * w + x];
                    data[(ch * ho + y + t) * wo + x + l] = self.table[ch][p as usize];
                }
            }
        }
        Tensor::new(c, ho, wo, data)
    }

    /// The consistency rules: one 256-entry table per input channel, every
    /// entry and the padding value inside the input's range, raw size plus
    /// padding equal to the input size, the recorded constants per channel.
    pub(super) fn validate(&self, m: &Model, origin: &Path) -> Result<()> {
        let c = m.input.channels;
        let [rc, rh, rw] = self.raw;
        let [t, b, l, r] = self.pad;
        let padded = [rc, rh + t + b, rw + l + r];
        let want = [c, m.input.height, m.input.width];
        if padded != want {
            return Err(Error::invalid(
                origin,
                "preprocess.raw",
                format!("{rc}x{rh}x{rw} padded by {:?} = {padded:?}", self.pad),
                format!("raw size plus padding equal to the input, {want:?}"),
            ));
        }
        let (lo, hi) = if m.input.signed {
            (
                -(1i64 << (m.precision - 1)),
                (1i64 << (m.precision - 1)) - 1,
            )
        } else {
            (0, (1i64 << m.precision) - 1)
        };
        let range = format!(
            "an input integer in {lo}..={hi} (precision {})",
            m.precision
        );
        if !(lo..=hi).contains(&self.pad_value) {
            return Err(Error::invalid(
                origin,
                "preprocess.pad_value",
                self.pad_value,
                range,
            ));
        }
        for (key, n) in [
            ("mean", self.mean.len()),
            ("std", self.std.len()),
            ("scale", self.scale.len()),
            ("table", self.table.len()),
        ] {
            if n != c {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.{key}"),
                    format!("{n} entries"),
                    format!("one per input channel ({c})"),
                ));
            }
        }
        for (ch, row) in self.table.iter().enumerate() {
            if row.len() != 256 {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.table[{ch}]"),
                    format!("{} entries", row.len()),
                    "256 entries, one per pixel value 0..=255",
                ));
            }
            if let Some((p, v)) = row
                .iter()
                .enumerate()
                .find(|(_, v)| !(lo..=hi).contains(*v))
            {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.table[{ch}][{p}]"),
                    v,
                    range,
                ));
            }
        }
        Ok(())
    }
}

impl Evaluation {
    /// One accuracy per width, each in `0..=1`, on at least one image.
    pub(super) fn validate(&self, m: &Model, origin: &Path) -> Result<()> {
        if self.images == 0 {
            return Err(Error::invalid(
                origin,
                "evaluation.images",
                0,
                "the number of images evaluated, at least 1",
            ));
        }
        for (key, v) in [
            ("accuracy", &self.accuracy),
            ("float_accuracy", &self.float_accuracy),
        ] {
            if v.len() != m.widths.len() {
                return Err(Error::invalid(
                    origin,
                    format!("evaluation.{key}"),
                    format!("{} entries", v.len()),
                    format!("one per width ({})", m.widths.len()),
                ));
            }
            if let Some((i, a)) = v
                .iter()
                .enumerate()
                .find(|(_, a)| !(0.0..=1.0).contains(*a))
            {
                return Err(Error::invalid(
                    origin,
                    format!("evaluation.{key}[{i}]"),
                    a,
                    "a fraction of correct predictions in 0..=1",
                ));
            }
        }
        Ok(())
    }
}
