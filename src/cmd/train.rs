//! `capim train`: float training of the channel-adaptive ResNet on
//! Fashion-MNIST (see [`crate::train`] for the recipe and the outputs).

use crate::cli::TrainArgs;
use crate::data::Dataset;
use crate::data::fashion_mnist::{self, Split};
use crate::error::{Error, Result};
use crate::train::{self, Options, RunControl};
use std::io::IsTerminal;
use std::path::PathBuf;

/// `--quick`: training images, test images, epochs, batch.
const QUICK: (usize, usize, usize, usize) = (384, 300, 1, 32);

fn bad(field: &str, value: &str, expected: &str) -> Error {
    Error::invalid("capim train", field, value, expected)
}

fn parse_list<T: std::str::FromStr>(field: &str, s: &str, expected: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(|p| p.trim().parse::<T>().map_err(|_| bad(field, s, expected)))
        .collect()
}

/// The Fashion-MNIST directory: `--data`, else the default
/// ([`fashion_mnist::default_dir`]); it must exist.
pub(crate) fn data_dir(data: Option<PathBuf>, cmd: &str) -> Result<PathBuf> {
    let bad = |value: &str, expected: &str| Error::invalid(cmd, "--data", value, expected);
    let dir: PathBuf = match data {
        Some(d) => d,
        None => fashion_mnist::default_dir().ok_or_else(|| {
            bad(
                fashion_mnist::DEBIAN_DIR,
                &format!(
                    "a directory holding the Fashion-MNIST IDX files; install them with \
                     `apt-get install -y dataset-fashion-mnist`, set {} or pass --data DIR",
                    fashion_mnist::ENV_DIR
                ),
            )
        })?,
    };
    if !dir.is_dir() {
        return Err(bad(
            &dir.display().to_string(),
            "an existing directory holding the Fashion-MNIST IDX files (`apt-get install -y \
             dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist)",
        ));
    }
    Ok(dir)
}

/// The first `n` images of `ds`.
pub(crate) fn head(ds: Dataset, n: usize) -> Dataset {
    if n >= ds.n {
        return ds;
    }
    let l = ds.image_len();
    Dataset {
        n,
        images: ds.images[..n * l].to_vec(),
        labels: ds.labels[..n].to_vec(),
        ..ds
    }
}

pub fn run(a: TrainArgs) -> Result<()> {
    // SAFETY: the command's first step, on the main thread, before any other thread.
    unsafe { crate::train::pin_thread_count() };
    let sw: Vec<usize> = parse_list(
        "--stage-widths",
        &a.stage_widths,
        "three channel counts, e.g. 16,32,64",
    )?;
    let stage_widths: [usize; 3] = sw.try_into().map_err(|_| {
        bad(
            "--stage-widths",
            &a.stage_widths,
            "three channel counts, e.g. 16,32,64",
        )
    })?;
    let widths: Vec<f64> = parse_list(
        "--widths",
        &a.widths,
        "comma-separated widths in (0, 1], e.g. 0.25,0.5,0.75,1.0",
    )?;
    let (qtrain, qtest, qepochs, qbatch) = QUICK;
    let opts = Options {
        depth: a.depth,
        stage_widths,
        widths,
        epochs: a.epochs.unwrap_or(if a.quick { qepochs } else { 30 }),
        batch: a.batch.unwrap_or(if a.quick { qbatch } else { 128 }),
        lr: a.lr,
        wd: a.wd,
        seed: a.seed,
        augment: !a.no_augment,
        calib_images: if a.quick { qtrain } else { 2048 },
        baseline: a.baseline,
        all_widths: a.all_widths,
        narrow_weight: a.narrow_weight,
        label_share: a.label_share,
    };
    train::check_options(&opts)?;
    if let Some(s) = a.stop_after
        && s == 0
    {
        return Err(bad("--stop-after", "0", "an epoch number of at least 1"));
    }
    if let Some(s) = a.subset
        && s < opts.batch
    {
        return Err(bad(
            "--subset",
            &s.to_string(),
            &format!("at least one batch ({} images)", opts.batch),
        ));
    }
    crate::fsio::check_target(&a.out, "--out", crate::fsio::Target::Dir)?;

    let dir = data_dir(a.data, "capim train")?;
    let mut train_set = fashion_mnist::load(&dir, Split::Train)?;
    let mut test_set = fashion_mnist::load(&dir, Split::Test)?;
    if a.quick {
        train_set = head(train_set, qtrain);
        test_set = head(test_set, qtest);
    }
    if let Some(s) = a.subset {
        train_set = head(train_set, s);
        test_set = head(test_set, (s / 6).max(100));
    }
    let ctl = RunControl {
        resume: a.resume,
        progress: std::io::stderr().is_terminal(),
        log_epochs: true,
        stop_after: a.stop_after,
    };
    eprintln!(
        "capim train: depth {}, stages {:?}, widths {:?}{}, {} epoch{} of {} training images (batch {}), {} test images",
        opts.depth,
        opts.stage_widths,
        opts.widths,
        if opts.baseline {
            " (one baseline model each)"
        } else if opts.all_widths {
            " (every width at every step)"
        } else {
            ""
        },
        opts.epochs,
        if opts.epochs == 1 { "" } else { "s" },
        train_set.n,
        opts.batch,
        test_set.n
    );
    let report = train::train(&opts, &ctl, &train_set, &test_set, &a.out)?;
    if report.final_eval.is_empty() {
        println!(
            "stopped after epoch {}; continue with --resume (output {})",
            a.stop_after.unwrap_or(0),
            a.out.display()
        );
        return Ok(());
    }
    let step = if opts.baseline {
        format!(
            "width {}'s separate model",
            opts.widths.last().copied().unwrap_or(1.0)
        )
    } else if opts.all_widths {
        "every width at every step".to_string()
    } else {
        "sandwich step".to_string()
    };
    println!(
        "training: {:.1} images/s ({step}, last epoch)",
        report.train_images_per_s
    );
    for e in &report.final_eval {
        println!(
            "width {}: test accuracy {:.2}% (loss {:.4}), {:.0} images/s",
            e.width,
            100.0 * e.accuracy,
            e.loss,
            e.images_per_s
        );
    }
    for d in &report.dirs {
        println!("wrote {}", d.display());
    }
    Ok(())
}
