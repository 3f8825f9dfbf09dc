//! `capim train` (float training): a quick run on a small synthetic set
//! learns and writes its files, a resumed run ends bit-identical to an
//! uninterrupted one, the same seed gives the same weights; the command's
//! option errors; the real `--quick` run when Fashion-MNIST is installed.

use capim::data::Dataset;
use capim::train::net::{Mode, Net, NetConfig};
use capim::train::{self, Normalization, Options, RunControl};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::process::Command;

/// `n` 1x12x12 images of 4 classes: a bright 5x5 square in quadrant
/// `label` on a noisy dark background (deterministic).
fn synthetic(n: usize, salt: u64) -> Dataset {
    let (h, w) = (12, 12);
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let mut images = Vec::with_capacity(n * h * w);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 4) as u8;
        let (oy, ox) = (
            (label as usize / 2) * 6 + (next() % 2) as usize,
            (label as usize % 2) * 6 + (next() % 2) as usize,
        );
        for y in 0..h {
            for x in 0..w {
                let inside = (oy..oy + 5).contains(&y) && (ox..ox + 5).contains(&x);
                let base = if inside { 170 } else { 20 };
                images.push(base + (next() % 60) as u8);
            }
        }
        labels.push(label);
    }
    Dataset {
        n,
        channels: 1,
        height: h,
        width: w,
        classes: 4,
        images,
        labels,
    }
}

fn opts(epochs: usize) -> Options {
    Options {
        depth: 8,
        stage_widths: [8, 16, 16],
        widths: vec![0.25, 0.5, 1.0],
        epochs,
        batch: 32,
        lr: 5e-3,
        wd: 5e-4,
        seed: 7,
        augment: true,
        calib_images: 256,
        baseline: false,
        all_widths: false,
        narrow_weight: 1.0,
        label_share: 0.0,
    }
}

fn quiet() -> RunControl {
    RunControl::default()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn quick_run_learns_and_writes_its_files() {
    let (tr, te) = (synthetic(512, 1), synthetic(128, 2));
    let o = opts(1);
    // loss of the untrained network (BN statistics calibrated the same way)
    let config = NetConfig {
        depth: o.depth,
        stage_widths: o.stage_widths,
        widths: o.widths.clone(),
        input: [1, 12, 12],
        classes: 4,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut net = Net::new(config, &mut rng, &candle_core::Device::Cpu).unwrap();
    let norm = Normalization::of(&tr);
    train::recalibrate(&mut net, &tr, &norm, 256, 32, o.seed).unwrap();
    let initial = train::evaluate(&mut net, &te, &norm, 2, 32).unwrap();
    // a Train-mode pass leaves the output shape alone
    let x = candle_core::Tensor::zeros(
        (2, 1, 12, 12),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(
        net.forward(&x, 0, Mode::Train { momentum: 0.1 })
            .unwrap()
            .dims(),
        &[2, 4]
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let r = train::train(&o, &quiet(), &tr, &te, &out).unwrap();
    assert_eq!(r.final_eval.len(), 3);
    let full = r.final_eval[2];
    assert!(
        full.loss < initial.loss && full.loss < r.first_step_loss,
        "loss after the epoch {} is not below the initial {} (first step {})",
        full.loss,
        initial.loss,
        r.first_step_loss
    );
    assert!(full.accuracy > 0.5, "full-width accuracy {}", full.accuracy);
    for f in [
        "float.safetensors",
        "float.json",
        "train_log.jsonl",
        "checkpoint.safetensors",
        "checkpoint.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let log = String::from_utf8(read(&out.join("train_log.jsonl"))).unwrap();
    assert_eq!(log.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for k in [
        "loss",
        "train_accuracy",
        "test_accuracy",
        "eval_images_per_s",
    ] {
        assert!(line.get(k).is_some(), "{k} missing in {line}");
    }
    assert_eq!(line["test_accuracy"].as_object().unwrap().len(), 3);
    let doc: serde_json::Value = serde_json::from_slice(&read(&out.join("float.json"))).unwrap();
    assert_eq!(doc["normalization"]["mean"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["stage_channels_per_width"][0],
        serde_json::json!([2, 4, 4])
    );
    let names = [
        "stem", "s1b1c1", "s1b1c2", "s2b1c1", "s2b1sc", "s2b1c2", "s3b1c1", "s3b1sc", "s3b1c2",
        "fc",
    ];
    let got: Vec<_> = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, names);
    let st =
        candle_core::safetensors::load(out.join("float.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    assert_eq!(st["s2b1c1.weight"].dims(), &[16, 8, 3, 3]);
    assert_eq!(st["s2b1c1.bn0.running_var"].dims(), &[4]);
    assert_eq!(st["fc.weight"].dims(), &[4, 16]);

    // an existing checkpoint is not overwritten without --resume
    let e = train::train(&o, &quiet(), &tr, &te, &out).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--resume"), "{e}");
}

#[test]
fn resume_is_bit_identical_and_seeds_are_deterministic() {
    let (tr, te) = (synthetic(192, 3), synthetic(64, 4));
    let o = opts(2);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    train::train(&o, &quiet(), &tr, &te, &a).unwrap();
    train::train(&o, &quiet(), &tr, &te, &b).unwrap();
    assert!(
        read(&a.join("float.safetensors")) == read(&b.join("float.safetensors")),
        "same seed, different weights"
    );
    // stopped after epoch 1, then resumed
    let stop = RunControl {
        stop_after: Some(1),
        ..quiet()
    };
    let r = train::train(&o, &stop, &tr, &te, &c).unwrap();
    assert!(r.final_eval.is_empty());
    assert!(!c.join("float.safetensors").exists());
    let resume = RunControl {
        resume: true,
        ..quiet()
    };
    train::train(&o, &resume, &tr, &te, &c).unwrap();
    assert!(
        read(&a.join("float.safetensors")) == read(&c.join("float.safetensors")),
        "resumed weights differ from the uninterrupted run's"
    );
    assert!(read(&a.join("checkpoint.safetensors")) == read(&c.join("checkpoint.safetensors")));
    let losses = |d: &Path| -> Vec<f64> {
        String::from_utf8(read(&d.join("train_log.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(losses(&a), losses(&c));
    assert_eq!(losses(&a).len(), 2);
    // resuming with other options is refused
    let other = Options {
        lr: 1e-3,
        ..o.clone()
    };
    let e = train::train(&other, &resume, &tr, &te, &c).unwrap_err();
    assert!(e.to_string().contains("options"), "{e}");
    // another seed, other weights
    let d = dir.path().join("d");
    train::train(&Options { seed: 8, ..o }, &quiet(), &tr, &te, &d).unwrap();
    assert!(read(&a.join("float.safetensors")) != read(&d.join("float.safetensors")));
}

#[test]
fn baseline_trains_one_model_per_width() {
    let (tr, te) = (synthetic(96, 5), synthetic(32, 6));
    let o = Options {
        widths: vec![0.5, 1.0],
        baseline: true,
        ..opts(1)
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("base");
    let r = train::train(&o, &quiet(), &tr, &te, &out).unwrap();
    assert_eq!(r.final_eval.len(), 2);
    let st = candle_core::safetensors::load(
        out.join("baseline-w0.5/float.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    // width 0.5 of 8,16,16 is the baseline's full width: 4,8,8 channels
    assert_eq!(st["s3b1c2.weight"].dims(), &[8, 8, 3, 3]);
    assert!(st.contains_key("s3b1c2.bn0.weight") && !st.contains_key("s3b1c2.bn1.weight"));
    assert!(out.join("baseline-w1/float.json").is_file());
}

fn capim(args: &[&str]) -> (i32, String) {
    capim_env(&[], args)
}

/// `capim args` with the environment variables `env` set.
fn capim_env(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_capim"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn bad_options_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let m = missing.to_str().unwrap();
    let (code, msg) = capim(&["train", "--data", m]);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("--data") && msg.contains(m) && msg.contains("dataset-fashion-mnist"),
        "{msg}"
    );
    for (args, needle) in [
        (vec!["--depth", "7"], "--depth"),
        (vec!["--widths", "0.5,x"], "--widths"),
        (vec!["--widths", "1.0,0.5"], "--widths"),
        (vec!["--widths", "0,1"], "--widths"),
        (vec!["--stage-widths", "16,32"], "--stage-widths"),
        (vec!["--lr", "-1"], "--lr"),
        (vec!["--batch", "1"], "--batch"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--narrow-weight", "0"], "--narrow-weight"),
        (vec!["--label-share", "1.5"], "--label-share"),
    ] {
        let mut a = vec!["train", "--data", m];
        a.extend(args.iter().copied());
        let (code, msg) = capim(&a);
        assert_eq!(code, 2, "{args:?}: {msg}");
        assert!(
            msg.contains(needle) && msg.contains("expected"),
            "{args:?}: {msg}"
        );
    }
}

/// The real `capim train --quick` on Fashion-MNIST (depth 8 to keep the
/// suite short), when it is installed.
#[test]
fn quick_on_fashion_mnist() {
    let Some(data) = capim::data::fashion_mnist::default_dir() else {
        eprintln!("Fashion-MNIST not installed; skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let quick = |out: &Path, threads: &str| {
        let (code, msg) = capim_env(
            &[("RAYON_NUM_THREADS", threads)],
            &[
                "train",
                "--quick",
                "--depth",
                "8",
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{msg}");
        msg
    };
    let out = dir.path().join("q");
    let t0 = std::time::Instant::now();
    let msg = quick(&out, "2");
    assert!(msg.contains("width 0.25: test accuracy"), "{msg}");
    assert!(out.join("float.safetensors").is_file());
    eprintln!(
        "capim train --quick: {:.1} s\n{msg}",
        t0.elapsed().as_secs_f64()
    );
    // The thread count does not change the weights: `make train` trains the
    // CA-DNN and the baselines side by side on half the cores each and must
    // give what one training on every core gives.
    let single = dir.path().join("q1");
    quick(&single, "1");
    assert!(
        read(&out.join("float.safetensors")) == read(&single.join("float.safetensors")),
        "1 and 2 threads trained different weights"
    );

    // quantized, its integer accuracy measured and recorded
    let model = dir.path().join("quick-i8.json");
    let (code, msg) = capim(&[
        "quantize",
        "--float",
        out.to_str().unwrap(),
        "--precision",
        "8",
        "--data",
        data.to_str().unwrap(),
        "--calib-images",
        "128",
        "--test-images",
        "100",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{msg}");
    assert!(msg.contains("| width | float | int8 |"), "{msg}");
    let m = capim::model::Model::load(&model).unwrap();
    let ev = m.evaluation.clone().unwrap();
    assert_eq!((ev.images, ev.accuracy.len()), (100, 4));
    // classify reproduces the recorded accuracy from the IDX files alone
    let (images, labels) = capim::data::fashion_mnist::Split::Test.file_names();
    let find = |name: &str| {
        let p = data.join(name);
        if p.is_file() {
            p
        } else {
            data.join(format!("{name}.gz"))
        }
    };
    let (code, msg) = capim(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--images",
        find(images).to_str().unwrap(),
        "--labels",
        find(labels).to_str().unwrap(),
        "--limit",
        "100",
        "--summary",
    ]);
    assert_eq!(code, 0, "{msg}");
    for (w, a) in m.widths.iter().zip(&ev.accuracy) {
        let line = format!("width {w}: accuracy {:.2} %", 100.0 * a);
        assert!(msg.contains(&line), "{line} not in {msg}");
    }
    // bad input exits 2 naming what is wrong
    for (args, needle) in [
        (vec!["--precision", "12"], "--precision"),
        (
            vec!["--precision", "8", "--calib-images", "0"],
            "--calib-images",
        ),
    ] {
        let mut a = vec!["quantize", "--float", out.to_str().unwrap(), "--out"];
        let o = dir.path().join("x.json");
        a.push(o.to_str().unwrap());
        a.extend(args.iter().copied());
        let (code, msg) = capim(&a);
        assert_eq!(code, 2, "{args:?}: {msg}");
        assert!(msg.contains(needle), "{args:?}: {msg}");
        assert!(!o.exists(), "{args:?} left {}", o.display());
    }
    let (code, msg) = capim(&[
        "quantize",
        "--float",
        dir.path().to_str().unwrap(),
        "--precision",
        "8",
        "--out",
        dir.path().join("y.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("float.json"), "{msg}");
}

/// Float top-1 predictions of `net` at width index `wi` on `ds`.
fn float_predictions(net: &mut Net, norm: &Normalization, ds: &Dataset, wi: usize) -> Vec<usize> {
    let l = ds.image_len();
    let x: Vec<f32> = ds
        .images
        .iter()
        .map(|&p| (p as f32 / 255.0 - norm.mean[0]) / norm.std[0])
        .collect();
    let x = candle_core::Tensor::from_vec(
        x,
        (ds.n, ds.channels, ds.height, ds.width),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(l, ds.channels * ds.height * ds.width);
    let logits = net.forward(&x, wi, Mode::Eval).unwrap();
    let v: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    v.iter()
        .map(|r| {
            let mut b = 0;
            for (i, &x) in r.iter().enumerate() {
                if x > r[b] {
                    b = i;
                }
            }
            b
        })
        .collect()
}

/// Quantization into the integer contract: the integer model (run by
/// capim's reference) predicts what the float network predicts, at every
/// width, in 8 and 16 bits; a planted fault in the folding (a residual
/// multiplier lost) breaks that agreement.
#[test]
fn quantized_model_agrees_with_the_float_network() {
    use capim::model::classify;
    use capim::train::quantize::{QuantOptions, quantize};
    let (tr, te) = (synthetic(512, 1), synthetic(200, 3));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train::train(&opts(2), &quiet(), &tr, &te, &out).unwrap();
    let mut fl = train::load_float(&out).unwrap();
    let nw = fl.net.config.widths.len();
    let float: Vec<Vec<usize>> = (0..nw)
        .map(|wi| float_predictions(&mut fl.net, &fl.norm, &te, wi))
        .collect();
    let all: Vec<usize> = (0..nw).collect();
    let agreement = |m: &capim::model::Model| -> Vec<f64> {
        let p = classify::predict(m, &te, &all, &|| {}).unwrap();
        (0..nw)
            .map(|wi| {
                let same = p[wi].iter().zip(&float[wi]).filter(|(a, b)| a == b).count();
                same as f64 / te.n as f64
            })
            .collect()
    };
    for (precision, floor) in [(8u32, 0.95), (16, 0.97)] {
        let q = QuantOptions {
            precision,
            calib_images: 256,
            clip_quantile: if precision == 8 { 0.9999 } else { 1.0 },
            seed: 1,
            name: format!("syn-i{precision}"),
        };
        let (model, summary) = quantize(&mut fl.net, &fl.norm, &tr, &q).unwrap();
        assert_eq!(model.widths, vec![0.25, 0.5, 1.0]);
        let pre = model.preprocess.as_ref().unwrap();
        assert_eq!(pre.table[0].len(), 256);
        let qmax = (1i64 << (precision - 1)) - 1;
        assert_eq!(pre.table[0].iter().map(|v| v.abs()).max(), Some(qmax));
        let a = agreement(&model);
        eprintln!("{precision}-bit: agreement with float per width {a:?}, {summary:?}");
        assert!(a.iter().all(|&x| x >= floor), "{precision}-bit: {a:?}");
        // it round-trips through the file
        let p = dir.path().join(format!("syn-i{precision}.json"));
        model.save(&p).unwrap();
        let back = capim::model::Model::load(&p).unwrap();
        assert_eq!(back.preprocess, model.preprocess);
        assert_eq!(back.layers, model.layers);
        // planted fault: the first block's residual multiplier lost
        let mut bad = model.clone();
        let l = bad.layers.iter_mut().find(|l| l.name == "s1b1c2").unwrap();
        for r in l
            .requant
            .as_mut()
            .unwrap()
            .residual
            .as_mut()
            .unwrap()
            .mult
            .iter_mut()
        {
            *r = 0;
        }
        let a = agreement(&bad);
        assert!(
            a.iter().any(|&x| x < floor),
            "{precision}-bit: a lost residual still agrees {a:?}"
        );
    }
}
