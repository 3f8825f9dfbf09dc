//! `capim quantize`: a trained float network to an 8- or 16-bit capim
//! model, with its integer accuracy on the test set recorded in the file
//! (see [`crate::train::quantize`]).

use super::train::{data_dir, head};
use crate::cli::QuantizeArgs;
use crate::data::fashion_mnist::{self, Split};
use crate::error::{Error, Result};
use crate::model::Evaluation;
use crate::model::classify;
use crate::train::{self, quantize};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub fn run(a: QuantizeArgs) -> Result<()> {
    // SAFETY: the command's first step, on the main thread, before any other thread.
    unsafe { crate::train::pin_thread_count() };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string(),
    };
    // the output paths are checked before any work
    let weights = crate::model::Model::weights_path_for(&a.out)?;
    crate::fsio::check_target(&a.out, "--out", crate::fsio::Target::File)?;
    crate::fsio::check_target(&weights, "--out", crate::fsio::Target::File)?;
    if a.precision != 8 && a.precision != 16 {
        return Err(Error::invalid(
            "capim quantize",
            "--precision",
            a.precision,
            "8 or 16",
        ));
    }
    if a.calib_images == 0 {
        return Err(Error::invalid(
            "capim quantize",
            "--calib-images",
            0,
            "at least one calibration image",
        ));
    }
    if a.test_images == Some(0) {
        return Err(Error::invalid(
            "capim quantize",
            "--test-images",
            0,
            "at least one test image",
        ));
    }
    let dir = data_dir(a.data.clone(), "capim quantize")?;
    let mut fl = train::load_float(&a.float)?;
    let train_set = fashion_mnist::load(&dir, Split::Train)?;
    let mut test_set = fashion_mnist::load(&dir, Split::Test)?;
    if let Some(n) = a.test_images {
        test_set = head(test_set, n);
    }
    let clip = a
        .clip_quantile
        .unwrap_or(if a.precision == 8 { 0.9999 } else { 1.0 });
    let opts = quantize::QuantOptions {
        precision: a.precision,
        calib_images: a.calib_images,
        clip_quantile: clip,
        seed: a.seed,
        name,
    };
    let (model, summary) = quantize::quantize(&mut fl.net, &fl.norm, &train_set, &opts)?;
    if !summary.degenerate.is_empty() || summary.clamped_bias > 0 {
        eprintln!(
            "capim quantize: {} channel(s) whose batch-norm sign or scale has no non-negative \
             multiplier (output lost), {} bias(es) clamped",
            summary.degenerate.len(),
            summary.clamped_bias
        );
        for (l, w, c) in summary.degenerate.iter().take(10) {
            eprintln!("  {l} width {w} channel {c}");
        }
    }
    let narrowed: Vec<String> = summary
        .ranges
        .iter()
        .filter(|r| r.3)
        .map(|(l, o, w, _)| format!("{l} (output {o} bits, weights {} bits)", w + 1))
        .collect();
    if !narrowed.is_empty() {
        eprintln!(
            "capim quantize: ranges narrowed where a residual shares the shift: {}",
            narrowed.join(", ")
        );
    }
    // float accuracy on the same images
    let nw = fl.net.config.widths.len();
    let mut float_acc = Vec::new();
    for wi in 0..nw {
        float_acc.push(train::evaluate(&mut fl.net, &test_set, &fl.norm, wi, 256)?.accuracy);
    }
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::new(test_set.n as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "integer reference {bar:30} {pos}/{len} images, {per_sec}, eta {eta}",
        )
        .expect("template"),
    );
    let all: Vec<usize> = (0..nw).collect();
    let pred = classify::predict(&model, &test_set, &all, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let acc: Vec<f64> = pred
        .iter()
        .map(|p| classify::accuracy(p, &test_set))
        .collect();
    let (images_name, labels_name) = Split::Test.file_names();
    let model = quantize::with_evaluation(
        model,
        Evaluation {
            dataset: format!("Fashion-MNIST test set ({images_name}, {labels_name})"),
            images: test_set.n,
            accuracy: acc.clone(),
            float_accuracy: float_acc.clone(),
        },
    )?;
    model.save(&a.out)?;
    println!(
        "{} ({}-bit, clip quantile {clip}), {} test images",
        a.out.display(),
        a.precision,
        test_set.n
    );
    println!("| width | float | int{} | difference |", a.precision);
    println!("|---|---|---|---|");
    for wi in 0..nw {
        println!(
            "| {} | {:.2} % | {:.2} % | {:+.2} |",
            fl.net.config.widths[wi],
            100.0 * float_acc[wi],
            100.0 * acc[wi],
            100.0 * (acc[wi] - float_acc[wi])
        );
    }
    Ok(())
}
