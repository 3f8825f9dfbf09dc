//! Float training of a channel-adaptive ResNet (`capim train`), on the CPU
//! with candle.
//!
//! **The step (sandwich rule with in-place distillation).** Every step
//! runs the same batch at the largest width against the labels
//! (cross-entropy), at the smallest width and at one middle width drawn
//! uniformly from the list (without its ends) against the largest width's
//! softmax, detached (soft cross-entropy); the three losses are summed, one
//! backward pass, one AdamW step ([`optim`]). `label_share` `s` mixes the
//! labels into a narrower width's loss, `(1 - s) * soft_ce + s * ce`, and
//! `narrow_weight` scales it (defaults 0 and 1: distillation only, each
//! width weighted as the full width). With `--all-widths` every
//! middle width is trained at every step (no draw). With two widths there is
//! no middle one; with one width (a `--baseline` model) only the labels.
//! The learning rate follows a cosine from `lr` at step 0 towards 0 at the
//! last step: `lr_t = lr * (1 + cos(pi * t / T)) / 2`, `T` the steps of all
//! epochs; an epoch is `floor(n / batch)` steps (the last incomplete batch
//! of each shuffled order is left out, so every batch has `batch` images).
//!
//! **Data.** Pixels become `(x/255 - mean_c) / std_c` with the per-channel
//! mean and (population) standard deviation of the training set
//! ([`Normalization`], recorded in the outputs). Augmentation: a random
//! crop of the image padded by 2 zero pixels (black, as torchvision's
//! `RandomCrop(padding=2)`) and a horizontal flip with probability 1/2.
//!
//! **Batch-norm statistics.** During training each width's running
//! statistics follow PyTorch's rule with momentum 0.1 (they are used by the
//! per-epoch test accuracy only). After the last epoch every width's
//! statistics are **recalibrated** ([`recalibrate`]): `calib_images`
//! training images (a seeded choice, no augmentation) in batches of
//! `batch`, forward passes in train mode where batch `t = 1, 2, ...` uses
//! momentum `1/t`, so the result is exactly the plain average of the
//! per-batch means and of the per-batch unbiased variances (PyTorch's
//! `momentum=None`).
//!
//! **Determinism and resume.** Three ChaCha8 streams of the seed: 0 weight
//! initialization, 1 data order, crops, flips and the middle width, 2 the
//! calibration images. At every epoch end `checkpoint.safetensors` (every
//! variable, every BN statistic, both AdamW moments of every variable) and
//! `checkpoint.json` (epoch, optimizer step, the data stream's position,
//! options, normalization, the log so far) are written; `--resume` restores
//! them and continues, and the final weights are bit-identical to those of
//! an uninterrupted run (a test checks it).
//!
//! **Outputs** (in the output directory): `float.safetensors` (the weights
//! `{layer}.weight`, `fc.bias`, and per width index `i` the BN parameters
//! `{layer}.bn{i}.weight|bias|running_mean|running_var`, f32),
//! `float.json` (architecture, widths and channels, normalization, final
//! accuracy per width), `train_log.jsonl` (one line per epoch: `loss` the
//! mean summed sandwich loss, `full_width_ce` its label part,
//! `train_accuracy` of the largest width, `test_accuracy` and
//! `eval_images_per_s` per width with the running statistics of that
//! moment, `train_images_per_s` of the whole step, `lr`), the checkpoint. `--baseline` trains one model per width, each in
//! `baseline-w{w}/` with the same files.

pub mod net;
pub mod optim;
pub mod quantize;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::fsio;
use candle_core::{D, DType, Device, Tensor};
use net::{Mode, Net, NetConfig};
use optim::AdamW;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Momentum of the running BN statistics during training.
pub const BN_MOMENTUM: f64 = 0.1;
/// Zero-pixel padding of the random crop.
pub const CROP_PAD: usize = 2;

/// What to train and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// `6n + 2`.
    pub depth: usize,
    /// Channels of the three stages at width 1.0.
    pub stage_widths: [usize; 3],
    /// Widths, strictly increasing, in `(0, 1]`.
    pub widths: Vec<f64>,
    pub epochs: usize,
    pub batch: usize,
    /// Peak learning rate of the cosine schedule.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub wd: f64,
    pub seed: u64,
    /// Random crop and flip.
    pub augment: bool,
    /// Training images used to recalibrate the BN statistics.
    pub calib_images: usize,
    /// One model per width, labels only (see the module documentation).
    pub baseline: bool,
    /// Every middle width at every step instead of one drawn at random.
    #[serde(default)]
    pub all_widths: bool,
    /// Weight of each narrower width's loss against the full width's
    /// cross-entropy (1: equal).
    #[serde(default = "one")]
    pub narrow_weight: f64,
    /// Share of the labels in a narrower width's target: its loss is
    /// `(1 - s) * soft_ce(full width) + s * ce(labels)` (0: distillation only).
    #[serde(default)]
    pub label_share: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Options {
    fn default() -> Self {
        Options {
            depth: 20,
            stage_widths: [16, 32, 64],
            widths: vec![0.25, 0.5, 0.75, 1.0],
            epochs: 30,
            batch: 128,
            lr: 2e-3,
            wd: 5e-4,
            seed: 1,
            augment: true,
            calib_images: 2048,
            baseline: false,
            all_widths: false,
            narrow_weight: 1.0,
            label_share: 0.0,
        }
    }
}

/// How a run behaves (not part of what is trained).
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// Print each epoch's log line on standard error.
    pub log_epochs: bool,
    /// Stop (checkpoint written) after this epoch, e.g. to split a long run.
    pub stop_after: Option<usize>,
}

/// Per-channel normalization constants of the training set (pixels /255).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Mean and population standard deviation per channel of `ds`.
    pub fn of(ds: &Dataset) -> Self {
        let hw = ds.height * ds.width;
        let mut mean = Vec::new();
        let mut std = Vec::new();
        for c in 0..ds.channels {
            let (mut s, mut s2) = (0u64, 0u64);
            for i in 0..ds.n {
                for &p in &ds.image(i)[c * hw..(c + 1) * hw] {
                    s += p as u64;
                    s2 += (p as u64) * (p as u64);
                }
            }
            let n = (ds.n * hw).max(1) as f64;
            let m = s as f64 / n / 255.0;
            let v = (s2 as f64 / n / (255.0 * 255.0) - m * m).max(0.0);
            mean.push(m as f32);
            std.push(v.sqrt().max(1e-6) as f32);
        }
        Normalization { mean, std }
    }

    /// Lookup table pixel -> normalized value for channel `c`.
    fn table(&self, c: usize) -> [f32; 256] {
        std::array::from_fn(|p| (p as f32 / 255.0 - self.mean[c]) / self.std[c])
    }
}

/// A candle error as a capim error (a failure inside the computation).
fn ce(e: candle_core::Error) -> Error {
    Error::ToolFailed {
        tool: "candle (training)".into(),
        msg: e.to_string(),
    }
}

/// Builds normalized batches, augmented or not.
struct Batcher<'a> {
    ds: &'a Dataset,
    tables: Vec<[f32; 256]>,
}

impl<'a> Batcher<'a> {
    fn new(ds: &'a Dataset, norm: &Normalization) -> Self {
        Batcher {
            ds,
            tables: (0..ds.channels).map(|c| norm.table(c)).collect(),
        }
    }

    /// Images `idx` as `[len, C, H, W]` and labels `[len]` (u32). With
    /// `rng`, each image gets a random crop (offsets drawn first, rows then
    /// columns, each `0..=2*CROP_PAD`) and a flip (drawn next).
    fn batch(&self, idx: &[usize], mut rng: Option<&mut ChaCha8Rng>) -> Result<(Tensor, Tensor)> {
        let ds = self.ds;
        let (c, h, w) = (ds.channels, ds.height, ds.width);
        let mut x = Vec::with_capacity(idx.len() * c * h * w);
        for &i in idx {
            let img = ds.image(i);
            let (dy, dx, flip) = match rng.as_deref_mut() {
                Some(r) => (
                    r.random_range(0..=2 * CROP_PAD) as isize - CROP_PAD as isize,
                    r.random_range(0..=2 * CROP_PAD) as isize - CROP_PAD as isize,
                    r.random_bool(0.5),
                ),
                None => (0, 0, false),
            };
            for (ch, t) in self.tables.iter().enumerate() {
                let plane = &img[ch * h * w..(ch + 1) * h * w];
                for y in 0..h {
                    let sy = y as isize + dy;
                    for xx in 0..w {
                        let cx = if flip { w - 1 - xx } else { xx };
                        let sx = cx as isize + dx;
                        let p = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                            plane[sy as usize * w + sx as usize]
                        } else {
                            0
                        };
                        x.push(t[p as usize]);
                    }
                }
            }
        }
        let labels: Vec<u32> = idx.iter().map(|&i| ds.labels[i] as u32).collect();
        let dev = Device::Cpu;
        Ok((
            Tensor::from_vec(x, (idx.len(), c, h, w), &dev).map_err(ce)?,
            Tensor::from_vec(labels, idx.len(), &dev).map_err(ce)?,
        ))
    }
}

/// Accuracy and loss of one width on a data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eval {
    pub width: f64,
    /// Fraction of correct top-1 predictions.
    pub accuracy: f64,
    /// Mean cross-entropy against the labels.
    pub loss: f64,
    /// Images per second of the evaluation (batch inference).
    pub images_per_s: f64,
}

/// Float accuracy of width index `wi` on `ds` (running BN statistics),
/// in batches of `batch`.
pub fn evaluate(
    net: &mut Net,
    ds: &Dataset,
    norm: &Normalization,
    wi: usize,
    batch: usize,
) -> Result<Eval> {
    check_shape(net, ds, "evaluation set")?;
    let b = Batcher::new(ds, norm);
    let t0 = Instant::now();
    let (mut correct, mut loss_sum) = (0usize, 0f64);
    let all: Vec<usize> = (0..ds.n).collect();
    for chunk in all.chunks(batch.max(1)) {
        let (x, y) = b.batch(chunk, None)?;
        let logits = net.forward(&x, wi, Mode::Eval).map_err(ce)?;
        correct += count_correct(&logits, &y)?;
        let l = net::cross_entropy(&logits, &y)
            .and_then(|l| l.to_scalar::<f32>())
            .map_err(ce)?;
        loss_sum += l as f64 * chunk.len() as f64;
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    let n = ds.n.max(1) as f64;
    Ok(Eval {
        width: net.config.widths[wi],
        accuracy: correct as f64 / n,
        loss: loss_sum / n,
        images_per_s: ds.n as f64 / secs,
    })
}

fn count_correct(logits: &Tensor, y: &Tensor) -> Result<usize> {
    let pred = logits.argmax(D::Minus1).map_err(ce)?;
    let eq = pred
        .eq(y)
        .and_then(|e| e.to_dtype(DType::U32))
        .and_then(|e| e.sum_all())
        .and_then(|e| e.to_scalar::<u32>())
        .map_err(ce)?;
    Ok(eq as usize)
}

fn check_shape(net: &Net, ds: &Dataset, what: &str) -> Result<()> {
    let want = net.config.input;
    if [ds.channels, ds.height, ds.width] != want || ds.classes != net.config.classes {
        return Err(Error::invalid(
            what,
            "shape",
            format!(
                "{}x{}x{} images of {} classes",
                ds.channels, ds.height, ds.width, ds.classes
            ),
            format!(
                "{}x{}x{} images of {} classes, as the training set",
                want[0], want[1], want[2], net.config.classes
            ),
        ));
    }
    if ds.n == 0 {
        return Err(Error::invalid(what, "images", 0, "at least one image"));
    }
    Ok(())
}

/// Recalibrates every width's running BN statistics on `count` images of
/// `ds` chosen by stream 2 of `seed` (see the module documentation for the
/// rule).
pub fn recalibrate(
    net: &mut Net,
    ds: &Dataset,
    norm: &Normalization,
    count: usize,
    batch: usize,
    seed: u64,
) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2);
    let mut order: Vec<usize> = (0..ds.n).collect();
    shuffle(&mut order, &mut rng);
    order.truncate(count.clamp(1, ds.n));
    let b = Batcher::new(ds, norm);
    for wi in 0..net.config.widths.len() {
        for (t, chunk) in order.chunks(batch.max(2)).enumerate() {
            if chunk.len() < 2 {
                break; // a batch of one has no variance
            }
            let (x, _) = b.batch(chunk, None)?;
            let momentum = 1.0 / (t + 1) as f64;
            net.forward(&x, wi, Mode::Train { momentum }).map_err(ce)?;
        }
    }
    Ok(())
}

/// Fisher-Yates with `rng`.
fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// The learning rate at step `t` of `total`.
pub fn cosine_lr(lr: f64, t: u64, total: u64) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * t as f64 / total.max(1) as f64).cos())
}

/// Checks the options (the field names are the command-line options).
pub fn check_options(o: &Options) -> Result<()> {
    let bad = |field: &str, value: String, expected: &str| {
        Err(Error::invalid("capim train", field, value, expected))
    };
    if o.depth < 8 || !(o.depth - 2).is_multiple_of(6) {
        return bad(
            "--depth",
            o.depth.to_string(),
            "6n+2 with n >= 1 (8, 14, 20, 32, ...)",
        );
    }
    if o.stage_widths.iter().any(|&c| c == 0 || c > 4096) {
        return bad(
            "--stage-widths",
            format!("{:?}", o.stage_widths),
            "three channel counts from 1 to 4096",
        );
    }
    let ok_widths = !o.widths.is_empty()
        && o.widths
            .iter()
            .all(|w| w.is_finite() && *w > 0.0 && *w <= 1.0)
        && o.widths.windows(2).all(|p| p[1] - p[0] > 1e-9);
    if !ok_widths {
        return bad(
            "--widths",
            format!("{:?}", o.widths),
            "strictly increasing widths in (0, 1], e.g. 0.25,0.5,0.75,1.0",
        );
    }
    if o.epochs == 0 || o.epochs > 10_000 {
        return bad("--epochs", o.epochs.to_string(), "1 to 10000 epochs");
    }
    if o.batch < 2 || o.batch > 65_536 {
        return bad(
            "--batch",
            o.batch.to_string(),
            "a batch of 2 to 65536 images",
        );
    }
    if !(o.lr.is_finite() && o.lr > 0.0 && o.lr <= 10.0) {
        return bad("--lr", o.lr.to_string(), "a learning rate in (0, 10]");
    }
    if !(o.wd.is_finite() && o.wd >= 0.0 && o.lr * o.wd < 1.0) {
        return bad(
            "--wd",
            o.wd.to_string(),
            "a weight decay >= 0 with lr * wd < 1",
        );
    }
    if !(o.narrow_weight.is_finite() && o.narrow_weight > 0.0 && o.narrow_weight <= 100.0) {
        return bad(
            "--narrow-weight",
            o.narrow_weight.to_string(),
            "a loss weight in (0, 100]",
        );
    }
    if !(o.label_share.is_finite() && (0.0..=1.0).contains(&o.label_share)) {
        return bad(
            "--label-share",
            o.label_share.to_string(),
            "a share of the labels in [0, 1]",
        );
    }
    Ok(())
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One per width trained (one per baseline model with `--baseline`).
    pub final_eval: Vec<Eval>,
    /// Mean full-width cross-entropy of the first step.
    pub first_step_loss: f64,
    /// Training images per second of the last epoch (the whole step; with
    /// `baseline`, of the last width's model).
    pub train_images_per_s: f64,
    /// Directories written (the output, or one per baseline model).
    pub dirs: Vec<PathBuf>,
}

/// Trains on `train`, evaluates on `test` after every epoch and at the end,
/// writes everything into `out` (created if missing; a directory holding a
/// checkpoint is continued only with `ctl.resume`).
pub fn train(
    opts: &Options,
    ctl: &RunControl,
    train: &Dataset,
    test: &Dataset,
    out: &Path,
) -> Result<Report> {
    check_options(opts)?;
    prepare_dir(out)?;
    if !opts.baseline {
        return train_one(opts, ctl, train, test, out);
    }
    let mut report = Report {
        final_eval: vec![],
        first_step_loss: f64::NAN,
        train_images_per_s: 0.0,
        dirs: vec![],
    };
    for &w in &opts.widths {
        let sub = Options {
            widths: vec![w],
            baseline: false,
            ..opts.clone()
        };
        let dir = out.join(format!("baseline-w{w}"));
        prepare_dir(&dir)?;
        let r = train_one(&sub, ctl, train, test, &dir)?;
        if report.first_step_loss.is_nan() {
            report.first_step_loss = r.first_step_loss;
        }
        report.train_images_per_s = r.train_images_per_s;
        report.final_eval.extend(r.final_eval);
        report.dirs.extend(r.dirs);
    }
    Ok(report)
}

fn prepare_dir(dir: &Path) -> Result<()> {
    fsio::check_target(dir, "--out", fsio::Target::Dir)?;
    if !dir.is_dir() {
        std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

const CKPT_TENSORS: &str = "checkpoint.safetensors";
const CKPT_JSON: &str = "checkpoint.json";
const CKPT_FORMAT: &str = "capim-train-checkpoint/1";

/// The training state written at every epoch end.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointMeta {
    format: String,
    /// Epochs completed.
    epoch: usize,
    /// Optimizer steps taken.
    step: u64,
    /// The data stream (ChaCha8, stream 1): seed (hex), word position (decimal).
    rng_seed: String,
    rng_word_pos: String,
    options: Options,
    net: NetConfig,
    normalization: Normalization,
    first_step_loss: f64,
    /// The lines of `train_log.jsonl` so far.
    log: Vec<serde_json::Value>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Tensors as safetensors bytes with `metadata`.
fn safetensors_bytes(
    tensors: Vec<(String, Tensor)>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(n, t)| Ok((n, t.contiguous().map_err(ce)?)))
        .collect::<Result<_>>()?;
    safetensors::serialize(tensors, Some(metadata)).map_err(|e| Error::ToolFailed {
        tool: "safetensors".into(),
        msg: e.to_string(),
    })
}

fn save_checkpoint(dir: &Path, net: &Net, opt: &AdamW, meta: &CheckpointMeta) -> Result<()> {
    let mut t: Vec<(String, Tensor)> = Vec::new();
    let vars = net.vars();
    for ((name, var), (_, m, v)) in vars.iter().zip(&opt.state) {
        t.push((name.clone(), var.as_tensor().clone()));
        t.push((format!("adamw.m.{name}"), m.clone()));
        t.push((format!("adamw.v.{name}"), v.clone()));
    }
    t.extend(net.buffers());
    let md = HashMap::from([("format".to_string(), CKPT_FORMAT.to_string())]);
    // tensors first: a checkpoint.json always describes the tensors beside it
    fsio::write_file(&dir.join(CKPT_TENSORS), &safetensors_bytes(t, md)?)?;
    let json = serde_json::to_vec_pretty(meta).expect("checkpoint serializes");
    fsio::write_file(&dir.join(CKPT_JSON), &json)
}

/// Tensor `name` of the safetensors file `path` (loaded into `t`), which
/// must have the dtype and shape of `like`.
fn take_tensor(
    t: &mut HashMap<String, Tensor>,
    path: &Path,
    name: &str,
    like: &Tensor,
) -> Result<Tensor> {
    match t.remove(name) {
        Some(x) if x.dims() == like.dims() && x.dtype() == like.dtype() => Ok(x),
        Some(x) => Err(Error::invalid(
            path,
            name,
            format!("{:?} {:?}", x.dtype(), x.dims()),
            format!("{:?} {:?}", like.dtype(), like.dims()),
        )),
        None => Err(Error::invalid(path, name, "missing", "a tensor")),
    }
}

fn load_checkpoint(dir: &Path, net: &mut Net, opt: &mut AdamW) -> Result<CheckpointMeta> {
    let jpath = dir.join(CKPT_JSON);
    let bytes = fsio::read_bounded(&jpath, fsio::MAX_MODEL_JSON_BYTES, "a training checkpoint")?;
    let meta: CheckpointMeta = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(&jpath, "(document)", e, "a capim training checkpoint"))?;
    if meta.format != CKPT_FORMAT {
        return Err(Error::invalid(&jpath, "format", &meta.format, CKPT_FORMAT));
    }
    let tpath = dir.join(CKPT_TENSORS);
    let bytes = fsio::read_bounded(&tpath, fsio::MAX_WEIGHTS_BYTES, "checkpoint tensors")?;
    let mut t = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::invalid(&tpath, "(file)", e, "a safetensors file"))?;
    let mut take = |name: &str, like: &Tensor| take_tensor(&mut t, &tpath, name, like);
    let vars = net.vars();
    for ((name, var), (_, m, v)) in vars.iter().zip(opt.state.iter_mut()) {
        var.set(&take(name, var.as_tensor())?).map_err(ce)?;
        *m = take(&format!("adamw.m.{name}"), m)?;
        *v = take(&format!("adamw.v.{name}"), v)?;
    }
    for (name, b) in net.buffers() {
        let x = take(&name, &b)?;
        net.set_buffer(&name, x);
    }
    opt.step = meta.step;
    Ok(meta)
}

fn train_one(
    opts: &Options,
    ctl: &RunControl,
    train: &Dataset,
    test: &Dataset,
    out: &Path,
) -> Result<Report> {
    if train.n < opts.batch {
        return Err(Error::invalid(
            "capim train",
            "--batch",
            opts.batch,
            format!("at most the {} training images", train.n),
        ));
    }
    let dev = Device::Cpu;
    let config = NetConfig {
        depth: opts.depth,
        stage_widths: opts.stage_widths,
        widths: opts.widths.clone(),
        input: [train.channels, train.height, train.width],
        classes: train.classes,
    };
    let mut init_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    init_rng.set_stream(0);
    let mut net = Net::new(config.clone(), &mut init_rng, &dev).map_err(ce)?;
    check_shape(&net, train, "training set")?;
    check_shape(&net, test, "test set")?;
    let var_list: Vec<_> = net.vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = AdamW::new(&var_list, opts.wd).map_err(ce)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    rng.set_stream(1);
    let mut norm = Normalization::of(train);
    let mut start_epoch = 0;
    let mut log: Vec<serde_json::Value> = vec![];
    let mut first_step_loss = f64::NAN;
    let has_ckpt = out.join(CKPT_JSON).exists();
    if has_ckpt && !ctl.resume {
        return Err(Error::invalid(
            "capim train",
            "--out",
            out.display(),
            "a directory without a training checkpoint (pass --resume to continue it)",
        ));
    }
    if has_ckpt {
        let meta = load_checkpoint(out, &mut net, &mut opt)?;
        let jpath = out.join(CKPT_JSON);
        if meta.options != *opts || meta.net != config {
            return Err(Error::invalid(
                &jpath,
                "options",
                serde_json::to_string(&meta.options).unwrap_or_default(),
                format!(
                    "the options of this run to resume it ({})",
                    serde_json::to_string(opts).unwrap_or_default()
                ),
            ));
        }
        let seed = unhex(&meta.rng_seed)
            .ok_or_else(|| Error::invalid(&jpath, "rng_seed", &meta.rng_seed, "64 hex digits"))?;
        let pos: u128 = meta.rng_word_pos.parse().map_err(|_| {
            Error::invalid(
                &jpath,
                "rng_word_pos",
                &meta.rng_word_pos,
                "a decimal number",
            )
        })?;
        rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(1);
        rng.set_word_pos(pos);
        norm = meta.normalization;
        start_epoch = meta.epoch;
        log = meta.log;
        first_step_loss = meta.first_step_loss;
    }

    let batcher = Batcher::new(train, &norm);
    let nw = opts.widths.len();
    let steps_per_epoch = (train.n / opts.batch) as u64;
    let total_steps = steps_per_epoch * opts.epochs as u64;
    let mut train_ips = 0.0;
    let last_epoch = ctl.stop_after.unwrap_or(opts.epochs).min(opts.epochs);
    for epoch in start_epoch..last_epoch {
        let bar = if ctl.progress {
            indicatif::ProgressBar::new(steps_per_epoch)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, opts.epochs));
        let mut order: Vec<usize> = (0..train.n).collect();
        shuffle(&mut order, &mut rng);
        let (mut loss_sum, mut ce_sum, mut correct, mut seen) = (0f64, 0f64, 0usize, 0usize);
        let t0 = Instant::now();
        for idx in order.chunks_exact(opts.batch) {
            let aug = if opts.augment { Some(&mut rng) } else { None };
            let (x, y) = batcher.batch(idx, aug)?;
            let mids: Vec<usize> = if opts.all_widths {
                (1..nw.saturating_sub(1)).collect()
            } else {
                (nw >= 3)
                    .then(|| rng.random_range(1..nw - 1))
                    .into_iter()
                    .collect()
            };
            let lr = cosine_lr(opts.lr, opt.step, total_steps);
            let (loss, full_ce, ok) = sandwich(&mut net, &x, &y, &mids, &Narrow::of(opts))?;
            let grads = loss.backward().map_err(ce)?;
            opt.step(&grads, lr).map_err(ce)?;
            let l = loss.to_scalar::<f32>().map_err(ce)? as f64;
            if first_step_loss.is_nan() {
                first_step_loss = full_ce;
            }
            loss_sum += l * idx.len() as f64;
            ce_sum += full_ce * idx.len() as f64;
            correct += ok;
            seen += idx.len();
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}%",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64
            ));
        }
        train_ips = seen as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        bar.finish_and_clear();
        let mut test_acc = serde_json::Map::new();
        let mut eval_ips = serde_json::Map::new();
        for wi in 0..nw {
            let e = evaluate(&mut net, test, &norm, wi, opts.batch)?;
            test_acc.insert(opts.widths[wi].to_string(), json!(e.accuracy));
            eval_ips.insert(opts.widths[wi].to_string(), json!(e.images_per_s));
        }
        let line = json!({
            "epoch": epoch + 1,
            "loss": loss_sum / seen.max(1) as f64,
            "full_width_ce": ce_sum / seen.max(1) as f64,
            "train_accuracy": correct as f64 / seen.max(1) as f64,
            "test_accuracy": test_acc,
            "train_images_per_s": train_ips,
            "eval_images_per_s": eval_ips,
            "lr": cosine_lr(opts.lr, opt.step, total_steps),
        });
        if ctl.log_epochs {
            eprintln!("{line}");
        }
        log.push(line);
        let meta = CheckpointMeta {
            format: CKPT_FORMAT.into(),
            epoch: epoch + 1,
            step: opt.step,
            rng_seed: hex(&rng.get_seed()),
            rng_word_pos: rng.get_word_pos().to_string(),
            options: opts.clone(),
            net: config.clone(),
            normalization: norm.clone(),
            first_step_loss,
            log: log.clone(),
        };
        save_checkpoint(out, &net, &opt, &meta)?;
        write_log(out, &log)?;
    }
    write_log(out, &log)?;
    if last_epoch < opts.epochs {
        return Ok(Report {
            final_eval: vec![],
            first_step_loss,
            train_images_per_s: train_ips,
            dirs: vec![out.to_path_buf()],
        });
    }
    recalibrate(
        &mut net,
        train,
        &norm,
        opts.calib_images,
        opts.batch,
        opts.seed,
    )?;
    let mut final_eval = vec![];
    for wi in 0..nw {
        final_eval.push(evaluate(&mut net, test, &norm, wi, opts.batch)?);
    }
    write_float(out, &net, opts, &norm, &final_eval)?;
    Ok(Report {
        final_eval,
        first_step_loss,
        train_images_per_s: train_ips,
        dirs: vec![out.to_path_buf()],
    })
}

/// candle asks `num_cpus` for its thread count (parsing /proc/cpuinfo) at
/// every matrix product unless `RAYON_NUM_THREADS` is set: a quarter of a
/// small network's training time. Set it to the available parallelism.
///
/// # Safety
///
/// It writes the process environment: call it before any other thread
/// (candle's pool included) exists, as `capim train`, `capim quantize` and
/// the training benchmark do first thing.
pub unsafe fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}

/// How the narrower widths' losses enter a sandwich step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Narrow {
    /// Weight of each narrower width's loss.
    pub weight: f64,
    /// Share of the labels in its target.
    pub label_share: f64,
}

impl Narrow {
    /// The in-place distillation of the paper's recipe: the full width's
    /// soft targets only, each width weighted as the full width.
    pub const DISTILL: Narrow = Narrow {
        weight: 1.0,
        label_share: 0.0,
    };

    pub fn of(o: &Options) -> Self {
        Narrow {
            weight: o.narrow_weight,
            label_share: o.label_share,
        }
    }
}

/// One sandwich step's forward passes: (summed loss, full-width
/// cross-entropy, correct full-width predictions). `mids`: the middle
/// widths trained besides the largest and the smallest.
pub fn sandwich(
    net: &mut Net,
    x: &Tensor,
    y: &Tensor,
    mids: &[usize],
    narrow: &Narrow,
) -> Result<(Tensor, f64, usize)> {
    let nw = net.config.widths.len();
    let train = Mode::Train {
        momentum: BN_MOMENTUM,
    };
    let full = net.forward(x, nw - 1, train).map_err(ce)?;
    let ce_full = net::cross_entropy(&full, y).map_err(ce)?;
    let ok = count_correct(&full, y)?;
    let full_ce = ce_full.to_scalar::<f32>().map_err(ce)? as f64;
    let mut loss = ce_full;
    if nw >= 2 {
        let teacher = candle_nn::ops::softmax_last_dim(&full.detach()).map_err(ce)?;
        for &wi in std::iter::once(&0).chain(mids) {
            let logits = net.forward(x, wi, train).map_err(ce)?;
            let mut kd = net::soft_cross_entropy(&logits, &teacher).map_err(ce)?;
            if narrow.label_share > 0.0 {
                let s = narrow.label_share;
                let hard = net::cross_entropy(&logits, y).map_err(ce)?;
                kd = ((kd * (1.0 - s)).map_err(ce)? + (hard * s).map_err(ce)?).map_err(ce)?;
            }
            if narrow.weight != 1.0 {
                kd = (kd * narrow.weight).map_err(ce)?;
            }
            loss = (loss + kd).map_err(ce)?;
        }
    }
    Ok((loss, full_ce, ok))
}

fn write_log(out: &Path, log: &[serde_json::Value]) -> Result<()> {
    let mut s = String::new();
    for l in log {
        s += &l.to_string();
        s.push('\n');
    }
    fsio::write_file(&out.join("train_log.jsonl"), s.as_bytes())
}

/// `float.safetensors` and `float.json`.
fn write_float(
    out: &Path,
    net: &Net,
    opts: &Options,
    norm: &Normalization,
    evals: &[Eval],
) -> Result<()> {
    let mut t: Vec<(String, Tensor)> = net
        .vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    t.extend(net.buffers());
    // one key: safetensors writes a map's keys in its (random) iteration order
    let md = HashMap::from([("format".to_string(), "capim-float/1".to_string())]);
    fsio::write_file(&out.join("float.safetensors"), &safetensors_bytes(t, md)?)?;
    let cfg = &net.config;
    let layers: Vec<_> = net
        .convs
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "op": "conv", "kernel": c.weight.dims()[2],
                "stride": c.stride, "padding": c.padding,
                "in_stage": c.in_stage, "out_stage": c.out_stage,
            })
        })
        .chain(std::iter::once(json!({"name": "fc", "op": "fc"})))
        .collect();
    let channels: Vec<_> = (0..cfg.widths.len())
        .map(|wi| cfg.stage_channels(wi))
        .collect();
    let doc = json!({
        "format": "capim-float/1",
        "depth": cfg.depth,
        "stage_widths": cfg.stage_widths,
        "widths": cfg.widths,
        "stage_channels_per_width": channels,
        "input": cfg.input,
        "classes": cfg.classes,
        "normalization": norm,
        "bn_eps": net::BN_EPS,
        "layers": layers,
        "test": evals,
        "options": opts,
    });
    fsio::write_file(
        &out.join("float.json"),
        &serde_json::to_vec_pretty(&doc).expect("float.json"),
    )
}

/// A trained float network read back from `float.json` and
/// `float.safetensors` in `dir` (as [`train`] writes them).
pub struct Float {
    pub net: Net,
    pub norm: Normalization,
    /// Final float accuracy per width, as recorded.
    pub test: Vec<Eval>,
}

#[derive(Deserialize)]
struct FloatDoc {
    format: String,
    depth: usize,
    stage_widths: [usize; 3],
    widths: Vec<f64>,
    input: [usize; 3],
    classes: usize,
    normalization: Normalization,
    test: Vec<EvalDoc>,
}

#[derive(Deserialize)]
struct EvalDoc {
    width: f64,
    accuracy: f64,
    loss: f64,
    images_per_s: f64,
}

/// Reads the float network of `dir` (see [`Float`]).
pub fn load_float(dir: &Path) -> Result<Float> {
    let jpath = dir.join("float.json");
    let bytes = fsio::read_bounded(&jpath, fsio::MAX_MODEL_JSON_BYTES, "a float network")?;
    let doc: FloatDoc = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            &jpath,
            "(document)",
            e,
            "the float.json that `capim train` writes",
        )
    })?;
    if doc.format != "capim-float/1" {
        return Err(Error::invalid(
            &jpath,
            "format",
            &doc.format,
            "capim-float/1",
        ));
    }
    let opts = Options {
        depth: doc.depth,
        stage_widths: doc.stage_widths,
        widths: doc.widths.clone(),
        ..Options::default()
    };
    check_options(&opts).map_err(|e| Error::invalid(&jpath, "(network)", e, "a valid network"))?;
    if doc.normalization.mean.len() != doc.input[0] || doc.normalization.std.len() != doc.input[0] {
        return Err(Error::invalid(
            &jpath,
            "normalization",
            format!("{} means", doc.normalization.mean.len()),
            format!("one per input channel ({})", doc.input[0]),
        ));
    }
    let config = NetConfig {
        depth: doc.depth,
        stage_widths: doc.stage_widths,
        widths: doc.widths,
        input: doc.input,
        classes: doc.classes,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut net = Net::new(config, &mut rng, &Device::Cpu).map_err(ce)?;
    let tpath = dir.join("float.safetensors");
    let bytes = fsio::read_bounded(&tpath, fsio::MAX_WEIGHTS_BYTES, "float weights")?;
    let mut t = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::invalid(&tpath, "(file)", e, "a safetensors file"))?;
    let mut take = |name: &str, like: &Tensor| take_tensor(&mut t, &tpath, name, like);
    for (name, var) in net.vars() {
        var.set(&take(&name, var.as_tensor())?).map_err(ce)?;
    }
    for (name, b) in net.buffers() {
        let x = take(&name, &b)?;
        net.set_buffer(&name, x);
    }
    let test = doc
        .test
        .into_iter()
        .map(|e| Eval {
            width: e.width,
            accuracy: e.accuracy,
            loss: e.loss,
            images_per_s: e.images_per_s,
        })
        .collect();
    Ok(Float {
        net,
        norm: doc.normalization,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use rand::SeedableRng;

    /// A depth-8 network of 4/8/8 channels on 8x8 images, 3 classes, and a
    /// batch of 4 random images.
    fn tiny_net(widths: Vec<f64>, seed: u64) -> (Net, Tensor) {
        let dev = Device::Cpu;
        let config = net::NetConfig {
            depth: 8,
            stage_widths: [4, 8, 8],
            widths,
            input: [1, 8, 8],
            classes: 3,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = Net::new(config, &mut rng, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (4, 1, 8, 8), &dev).unwrap();
        (net, x)
    }

    /// Every middle width named contributes its distillation loss: the
    /// step with both middle widths is the step with one plus the other's.
    #[test]
    fn every_middle_width_named_is_trained() {
        let (mut net, x) = tiny_net(vec![0.25, 0.5, 0.75, 1.0], 3);
        let dev = Device::Cpu;
        let y = Tensor::new(&[0u32, 1, 2, 1], &dev).unwrap();
        let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let (one, ..) = sandwich(&mut net, &x, &y, &[1], &Narrow::DISTILL).unwrap();
        let (both, ..) = sandwich(&mut net, &x, &y, &[1, 2], &Narrow::DISTILL).unwrap();
        let full = net
            .forward(
                &x,
                3,
                Mode::Train {
                    momentum: BN_MOMENTUM,
                },
            )
            .unwrap();
        let teacher = candle_nn::ops::softmax_last_dim(&full.detach()).unwrap();
        let w2 = net
            .forward(
                &x,
                2,
                Mode::Train {
                    momentum: BN_MOMENTUM,
                },
            )
            .unwrap();
        let kd2 = scalar(&net::soft_cross_entropy(&w2, &teacher).unwrap());
        assert!(kd2 > 0.0);
        let d = scalar(&both) - scalar(&one) - kd2;
        assert!(d.abs() < 1e-5, "{d}");
    }

    /// A narrower width's loss is `weight * ((1 - s) * soft_ce + s * ce)`,
    /// added to the full width's cross-entropy.
    #[test]
    fn narrow_losses_are_weighted_and_mixed_with_the_labels() {
        let (mut net, x) = tiny_net(vec![0.5, 1.0], 5);
        let dev = Device::Cpu;
        let y = Tensor::new(&[0u32, 1, 2, 2], &dev).unwrap();
        let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let train = Mode::Train {
            momentum: BN_MOMENTUM,
        };
        let full = net.forward(&x, 1, train).unwrap();
        let ce_full = scalar(&net::cross_entropy(&full, &y).unwrap());
        let teacher = candle_nn::ops::softmax_last_dim(&full.detach()).unwrap();
        let narrow = net.forward(&x, 0, train).unwrap();
        let kd = scalar(&net::soft_cross_entropy(&narrow, &teacher).unwrap());
        let hard = scalar(&net::cross_entropy(&narrow, &y).unwrap());
        assert!(
            (kd - hard).abs() > 1e-3,
            "labels and soft targets must differ"
        );
        for (weight, label_share) in [(1.0, 0.0), (2.0, 0.0), (1.0, 1.0), (0.5, 0.25)] {
            let n = Narrow {
                weight,
                label_share,
            };
            let (loss, full_ce, _) = sandwich(&mut net, &x, &y, &[], &n).unwrap();
            assert!((full_ce - ce_full).abs() < 1e-6);
            let want = ce_full + weight * ((1.0 - label_share) * kd + label_share * hard);
            let d = scalar(&loss) - want;
            assert!(d.abs() < 1e-5, "{n:?}: {d}");
        }
    }
}
