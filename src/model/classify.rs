//! Classification through the integer reference: a trained model's
//! preprocessing table, every layer exactly as DESIGN.md §1, the class of
//! the largest raw logit.

use super::{Model, Preprocess, Tensor, reference};
use crate::data::Dataset;
use crate::error::{Error, Result};
use rayon::prelude::*;

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
}

/// The class predicted from raw logits: the largest, the lowest index on a
/// tie.
pub fn argmax(logits: &[i64]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// The model's preprocessing, checked against the images of `ds` (`what`
/// names them in messages): a trained model whose raw input is their size.
pub fn preprocess_for<'m>(model: &'m Model, ds: &Dataset, what: &str) -> Result<&'m Preprocess> {
    let pre = model.preprocess.as_ref().ok_or_else(|| {
        Error::invalid(
            &model.path,
            "preprocess",
            "(missing)",
            "a trained model with its input preprocessing table, to run real images",
        )
    })?;
    if [ds.channels, ds.height, ds.width] != pre.raw {
        return Err(Error::invalid(
            what,
            "shape",
            format!("{}x{}x{} images", ds.channels, ds.height, ds.width),
            format!("{:?}, the model's raw input (preprocess.raw)", pre.raw),
        ));
    }
    Ok(pre)
}

/// Predicted class of every image of `ds` at the width indices `widths`
/// of `model` (`[widths entry][image]`), through the reference; `tick` is called once per
/// image done (from worker threads).
pub fn predict(
    model: &Model,
    ds: &Dataset,
    widths: &[usize],
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<usize>>> {
    let pre = preprocess_for(model, ds, "images")?;
    let last = model.layers.len() - 1;
    let out: Vec<Vec<usize>> = (0..ds.n)
        .into_par_iter()
        .map(|i| {
            let x: Tensor = pre.apply(ds.image(i));
            let r = widths
                .iter()
                .map(|&wi| {
                    let t = reference::run_all(model, wi, &x);
                    argmax(&t[&model.layers[last].name].data.to_vec())
                })
                .collect();
            tick();
            r
        })
        .collect();
    // transpose to [width][image]
    Ok((0..widths.len())
        .map(|k| out.iter().map(|r| r[k]).collect())
        .collect())
}

/// How many of `pred` equal the labels of `ds`.
pub fn correct(pred: &[usize], ds: &Dataset) -> usize {
    pred.iter()
        .zip(&ds.labels)
        .filter(|(p, l)| **p == **l as usize)
        .count()
}

/// Fraction of `pred` equal to the labels of `ds`.
pub fn accuracy(pred: &[usize], ds: &Dataset) -> f64 {
    correct(pred, ds) as f64 / pred.len().max(1) as f64
}
