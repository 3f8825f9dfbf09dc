//! `capim model synth` and `capim run` through the built binary.

use capim::model::npy::{self, NpyDtype};
use capim::model::reference::run_all;
use capim::model::{Model, Tensor, synth::synth};
use std::path::Path;
use std::process::{Command, Output};

fn capim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("capim runs")
}

#[track_caller]
fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "capim failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn synth_to(dir: &Path, out: &str, precision: &str) {
    let o = capim(
        dir,
        &[
            "model",
            "synth",
            "--preset",
            "skeleton",
            "--precision",
            precision,
            "--seed",
            "1",
            "--out",
            out,
        ],
    );
    ok(&o);
}

/// Deterministic input samples covering the full signed range.
fn samples(n: usize, precision: u32) -> Vec<i64> {
    let lo = -(1i64 << (precision - 1));
    let span = 1i64 << precision;
    (0..n as i64).map(|i| lo + (i * 7919 + 13) % span).collect()
}

#[test]
fn synth_twice_is_byte_identical() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("a")).unwrap();
    std::fs::create_dir(d.path().join("b")).unwrap();
    for p in ["8", "16"] {
        synth_to(d.path(), &format!("a/m{p}.json"), p);
        synth_to(d.path(), &format!("b/m{p}.json"), p);
        for ext in ["json", "safetensors"] {
            let a = std::fs::read(d.path().join(format!("a/m{p}.{ext}"))).unwrap();
            let b = std::fs::read(d.path().join(format!("b/m{p}.{ext}"))).unwrap();
            assert!(a == b, "m{p}.{ext} differs between runs");
        }
    }
    // The shipped models are this command's output.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/skeleton-i8.safetensors");
    synth_to(d.path(), "skeleton-i8.json", "8");
    assert_eq!(
        std::fs::read(d.path().join("skeleton-i8.safetensors")).unwrap(),
        std::fs::read(shipped).unwrap()
    );
}

#[test]
fn synth_bad_arguments_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let o = capim(
        d.path(),
        &["model", "synth", "--preset", "vgg", "--out", "m.json"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--preset") && err.contains("vgg") && err.contains("skeleton"),
        "{err}"
    );
    let o = capim(
        d.path(),
        &["model", "synth", "--precision", "12", "--out", "m.json"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.path().join("m.json").exists());
}

#[test]
fn run_round_trip() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("models")).unwrap();
    for p in [8u32, 16] {
        let model_rel = format!("models/m{p}.json");
        synth_to(d.path(), &model_rel, &p.to_string());
        let model = Model::load(&d.path().join(&model_rel)).unwrap();
        let in_dt = NpyDtype::activation(p, true);

        // Unbatched (C, H, W), default width and layer: conv3, signed.
        let x = samples(192, p);
        npy::write(&d.path().join("x.npy"), &[3, 8, 8], &x, in_dt).unwrap();
        let o = capim(
            d.path(),
            &[
                "run", "--model", &model_rel, "--input", "x.npy", "--output", "y.npy",
            ],
        );
        ok(&o);
        let y = npy::read(&d.path().join("y.npy")).unwrap();
        let t = Tensor {
            c: 3,
            h: 8,
            w: 8,
            data: x.clone().into(),
        };
        let want = &run_all(&model, 3, &t)["conv3"];
        assert_eq!(y.shape, vec![16, 4, 4]);
        assert_eq!(y.dtype, NpyDtype::activation(p, true));
        assert_eq!(&y.data, &want.data);

        // Batched (N, C, H, W) at width 0.5, stopping at conv2 (ReLU: unsigned).
        let xb = samples(2 * 192, p);
        npy::write(&d.path().join("xb.npy"), &[2, 3, 8, 8], &xb, NpyDtype::I64).unwrap();
        let o = capim(
            d.path(),
            &[
                "run", "--model", &model_rel, "--input", "xb.npy", "--width", "0.5", "--layer",
                "conv2", "--output", "yb.npy",
            ],
        );
        ok(&o);
        let y = npy::read(&d.path().join("yb.npy")).unwrap();
        assert_eq!(y.shape, vec![2, 8, 4, 4]);
        assert_eq!(y.dtype, NpyDtype::activation(p, false));
        for (i, chunk) in xb.chunks(192).enumerate() {
            let t = Tensor {
                c: 3,
                h: 8,
                w: 8,
                data: chunk.to_vec().into(),
            };
            let want = &run_all(&model, 1, &t)["conv2"];
            assert_eq!(
                &y.data.to_vec()[i * 128..(i + 1) * 128],
                &want.data.to_vec()[..],
                "sample {i}"
            );
        }
    }
}

#[test]
fn run_raw_logits_are_int64() {
    let d = tempfile::tempdir().unwrap();
    let mut m = synth("skeleton", 8, 2).unwrap();
    m.layers[3].requant = None;
    // Raw outputs are logits: every class at every width.
    m.layers[3].cout_active = vec![16; 4];
    m.save(&d.path().join("raw.json")).unwrap();
    npy::write(
        &d.path().join("x.npy"),
        &[3, 8, 8],
        samples(192, 8),
        NpyDtype::I8,
    )
    .unwrap();
    let o = capim(
        d.path(),
        &[
            "run", "--model", "raw.json", "--input", "x.npy", "--output", "y.npy", "--width",
            "0.25",
        ],
    );
    ok(&o);
    let y = npy::read(&d.path().join("y.npy")).unwrap();
    assert_eq!((y.dtype, y.shape), (NpyDtype::I64, vec![16, 4, 4]));
    assert!(
        y.data.iter().any(|v| !(-128..=127).contains(&v)),
        "raw accumulators expected"
    );
}

#[test]
fn run_bad_inputs_exit_2() {
    let d = tempfile::tempdir().unwrap();
    synth_to(d.path(), "m.json", "8");
    // float32 NPY.
    let mut f = Vec::new();
    {
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[3, 8, 8])
            .writer(&mut f)
            .begin_nd()
            .unwrap();
        w.extend(vec![0f32; 192]).unwrap();
        w.finish().unwrap();
    }
    std::fs::write(d.path().join("f.npy"), &f).unwrap();
    let run = |input: &str, extra: &[&str]| {
        let mut args = vec![
            "run", "--model", "m.json", "--input", input, "--output", "y.npy",
        ];
        args.extend_from_slice(extra);
        capim(d.path(), &args)
    };
    let o = run("f.npy", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("f.npy") && err.contains("`dtype`") && err.contains("float32"),
        "{err}"
    );
    assert!(!d.path().join("y.npy").exists(), "no output on error");

    // Wrong shape.
    npy::write(&d.path().join("s.npy"), &[3, 4, 4], [0; 48], NpyDtype::I8).unwrap();
    let o = run("s.npy", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("s.npy") && err.contains("`shape`") && err.contains("(3, 4, 4)"),
        "{err}"
    );

    // Missing file, unknown width, unknown layer.
    let o = run("missing.npy", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.npy"));
    npy::write(&d.path().join("x.npy"), &[3, 8, 8], [0; 192], NpyDtype::I8).unwrap();
    let o = run("x.npy", &["--width", "0.3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--width"));
    let o = run("x.npy", &["--layer", "fc9"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--layer") && err.contains("fc9") && err.contains("conv3"),
        "{err}"
    );
    assert!(!d.path().join("y.npy").exists());
}

/// The shipped ResNet-20 files are what the CLI generates.
#[test]
fn synth_resnet20_matches_shipped() {
    let d = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for p in ["8", "16"] {
        let o = capim(
            d.path(),
            &[
                "model",
                "synth",
                "--preset",
                "resnet20",
                "--precision",
                p,
                "--seed",
                "1",
                "--out",
                &format!("resnet20-i{p}.json"),
            ],
        );
        ok(&o);
        for ext in ["json", "safetensors"] {
            let name = format!("resnet20-i{p}.{ext}");
            assert!(
                std::fs::read(d.path().join(&name)).unwrap()
                    == std::fs::read(shipped.join(&name)).unwrap(),
                "models/{name} differs from `capim model synth --preset resnet20 --precision {p} --seed 1`"
            );
        }
    }
}

/// `capim run` through the whole shipped ResNet-20 (conv, residuals,
/// shortcuts, gap, fc with raw logits) at every width and both precisions,
/// equal to the library reference; and stopping at the gap.
#[test]
fn run_resnet20_every_width() {
    let d = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for p in [8u32, 16] {
        let json = models.join(format!("resnet20-i{p}.json"));
        let model = Model::load(&json).unwrap();
        let x = samples(2 * 3 * 32 * 32, p);
        npy::write(
            &d.path().join("x.npy"),
            &[2, 3, 32, 32],
            &x,
            NpyDtype::activation(p, true),
        )
        .unwrap();
        let inputs: Vec<Tensor> = x
            .chunks(3 * 32 * 32)
            .map(|c| Tensor {
                c: 3,
                h: 32,
                w: 32,
                data: c.to_vec().into(),
            })
            .collect();
        for (wi, width) in ["0.25", "0.5", "0.75", "1.0"].iter().enumerate() {
            let o = capim(
                d.path(),
                &[
                    "run",
                    "--model",
                    json.to_str().unwrap(),
                    "--input",
                    "x.npy",
                    "--width",
                    width,
                    "--output",
                    "logits.npy",
                ],
            );
            ok(&o);
            let y = npy::read(&d.path().join("logits.npy")).unwrap();
            assert_eq!((y.dtype, &y.shape), (NpyDtype::I64, &vec![2, 10, 1, 1]));
            let want: Vec<i64> = inputs
                .iter()
                .flat_map(|t| run_all(&model, wi, t)["fc"].data.to_vec())
                .collect();
            assert_eq!(y.data, want, "p{p} width {width}");
        }
        let o = capim(
            d.path(),
            &[
                "run",
                "--model",
                json.to_str().unwrap(),
                "--input",
                "x.npy",
                "--width",
                "0.5",
                "--layer",
                "gap",
                "--output",
                "gap.npy",
            ],
        );
        ok(&o);
        let y = npy::read(&d.path().join("gap.npy")).unwrap();
        assert_eq!(
            (y.dtype, &y.shape),
            (NpyDtype::activation(p, false), &vec![2, 32, 1, 1])
        );
        let want: Vec<i64> = inputs
            .iter()
            .flat_map(|t| run_all(&model, 1, t)["gap"].data.to_vec())
            .collect();
        assert_eq!(y.data, want, "p{p} gap");
    }
}
