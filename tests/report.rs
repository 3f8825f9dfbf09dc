//! `capim report`: the trade-off table, its JSON schema, reproducible files,
//! the plots, the technology file's errors (exit 2, nothing written) and
//! `--sweep`.

use std::path::Path;
use std::process::{Command, Output};

fn capim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

const DEFAULT_TECH: &str = include_str!("../configs/tech-sot-mram-45nm.toml");

/// The default design: the documented JSON keys per width, cycles equal to
/// the exact cycle model's (`capim plan`), energy equal to its breakdown's
/// sum and falling with the width, no accuracy for a synthetic model.
#[test]
fn default_report_has_the_documented_schema() {
    let r = json(&capim(&["report", "--format", "json"]));
    let plan = json(&capim(&["plan", "--format", "json"]));
    let widths = r["widths"].as_array().unwrap();
    assert_eq!(widths.len(), 4);
    for (i, w) in widths.iter().enumerate() {
        for k in [
            "width",
            "cycles",
            "latency_s",
            "energy_j",
            "energy_breakdown_j",
            "weight_bits",
            "activation_bits",
            "area_mm2",
            "accuracy",
        ] {
            assert!(w.get(k).is_some(), "widths[{i}] lacks {k}");
        }
        assert_eq!(w["cycles"], plan["widths"][i]["cycles"]);
        let parts: f64 = w["energy_breakdown_j"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        let e = w["energy_j"].as_f64().unwrap();
        assert!((parts - e).abs() <= 1e-12 * e, "{parts} vs {e}");
        assert!(w["accuracy"].is_null());
        let lat = w["latency_s"].as_f64().unwrap();
        assert!((lat - w["cycles"].as_f64().unwrap() / 500e6).abs() < 1e-15);
    }
    for p in widths.windows(2) {
        assert!(p[0]["energy_j"].as_f64() < p[1]["energy_j"].as_f64());
    }
    // the scheduler's table: widest first without accuracy, energy in pJ
    // (2^0) rounded up, the cheapest is the narrowest
    let s = &r["schedule"];
    assert_eq!(s["energy_shift"], 0);
    assert_eq!(s["cheapest"], 3);
    for (k, e) in s["entries"].as_array().unwrap().iter().enumerate() {
        let w = &widths[3 - k];
        assert_eq!(e["width"], 3 - k);
        assert_eq!(e["cycles"], w["cycles"]);
        let pj = w["energy_j"].as_f64().unwrap() * 1e12;
        assert_eq!(e["energy"].as_f64().unwrap(), pj.ceil());
    }
    let md = capim(&["report"]);
    assert!(md.status.success());
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| width | cycles | latency (us) | energy (uJ)"),
        "{md}"
    );
    assert!(md.contains("Separate models, one per width"), "{md}");
}

/// `--out` writes every form and the plots; the same inputs give the same
/// bytes; a trained model's accuracy is carried and plotted against energy.
#[test]
fn out_dir_is_complete_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let model = "models/fmnist-resnet14-i8.json";
    for out in [&a, &b] {
        let o = capim(&["report", "--model", model, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&a),
        [
            "accuracy_energy.svg",
            "energy_breakdown.svg",
            "energy_latency.svg",
            "layers.csv",
            "report.json",
            "report.md",
            "widths.csv"
        ]
    );
    for n in names(&a) {
        assert_eq!(
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(b.join(&n)).unwrap(),
            "{n} differs between two runs"
        );
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("report.json")).unwrap()).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(model).unwrap()).unwrap();
    for (i, w) in r["widths"].as_array().unwrap().iter().enumerate() {
        assert_eq!(w["accuracy"], m["evaluation"]["accuracy"][i]);
    }
    let svg = std::fs::read_to_string(a.join("accuracy_energy.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("w 0.25"), "{svg}");
    let csv = std::fs::read_to_string(a.join("layers.csv")).unwrap();
    let layers = m["layers"].as_array().unwrap().len();
    assert_eq!(
        csv.lines().count(),
        1 + 4 * layers,
        "header + 4 widths x {layers} layers"
    );
    // a second run may replace a report directory
    let o = capim(&["report", "--out", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!a.join("accuracy_energy.svg").exists());
}

/// A bad technology file or option: exit 2, a message naming the file, the
/// key and the value, and nothing written.
#[test]
fn bad_technology_file_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases = [
        (
            tech_with(
                "compute_per_column = { value = 0.15,",
                "compute_per_column = { value = -0.15,",
            ),
            "energy_pj.compute_per_column.value",
            "-0.15",
        ),
        (
            tech_with(
                "[area]",
                "[area]\nwire_um2 = { value = 1.0, estimate = \"made up here\" }",
            ),
            "area.wire_um2",
            "unknown key",
        ),
        (
            tech_with(
                "frequency_mhz = { value = 500.0,",
                "frequency_mhz = { value = inf,",
            ),
            "clock.frequency_mhz.value",
            "inf",
        ),
    ];
    for (k, (toml, key, value)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("tech{k}.toml"));
        std::fs::write(&f, toml).unwrap();
        let o = capim(&[
            "report",
            "--tech",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!("tech{k}.toml")) && t.contains(key) && t.contains(value),
            "{t}"
        );
        assert!(!out.exists());
    }
    // a directory capim did not write is not replaced
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    let o = capim(&["report", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "keep"
    );
    let o = capim(&["report", "--sweep", "512x256"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("ROWSxCOLSxCOUNT"));
}

fn tech_with(from: &str, to: &str) -> String {
    assert!(DEFAULT_TECH.contains(from), "{from}");
    DEFAULT_TECH.replacen(from, to, 1)
}

/// Values follow the technology: twice the clock halves every latency and
/// the leakage, and leaves the cycles and the compute energy alone.
#[test]
fn a_faster_clock_halves_latency() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("fast.toml");
    std::fs::write(
        &f,
        tech_with(
            "frequency_mhz = { value = 500.0,",
            "frequency_mhz = { value = 1000.0,",
        ),
    )
    .unwrap();
    let base = json(&capim(&["report", "--format", "json"]));
    let fast = json(&capim(&[
        "report",
        "--format",
        "json",
        "--tech",
        f.to_str().unwrap(),
    ]));
    for (a, b) in base["widths"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fast["widths"].as_array().unwrap())
    {
        assert_eq!(a["cycles"], b["cycles"]);
        let (la, lb) = (
            a["latency_s"].as_f64().unwrap(),
            b["latency_s"].as_f64().unwrap(),
        );
        assert!((la / 2.0 - lb).abs() < 1e-15, "{la} {lb}");
        assert_eq!(
            a["energy_breakdown_j"]["compute"],
            b["energy_breakdown_j"]["compute"]
        );
    }
    let md = String::from_utf8(capim(&["report", "--tech", f.to_str().unwrap()]).stdout).unwrap();
    assert!(md.contains("**Warning:** the clock (1000 MHz)"), "{md}");
}

/// `capim gen --tech` prices the scheduler's cost table in that file: a
/// compute twice as dear raises every entry's energy, the directory keeps
/// the file, and the report shows the same table; a bad file is exit 2.
#[test]
fn gen_prices_the_cost_table_in_the_technology_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dear.toml");
    let dear = tech_with(
        "compute_per_column = { value = 0.15,",
        "compute_per_column = { value = 0.30,",
    );
    std::fs::write(&f, &dear).unwrap();
    let entries = |out: &std::path::Path| -> Vec<serde_json::Value> {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        m["scheduler"]["entries"].as_array().unwrap().clone()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let small = [
        "--config",
        "configs/small.toml",
        "--model",
        "models/skeleton-i8.json",
    ];
    let generate = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["gen", "--out", out.to_str().unwrap()];
        args.extend(small);
        args.extend(extra);
        let o = capim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    generate(&a, &[]);
    generate(&b, &["--tech", f.to_str().unwrap()]);
    let (ea, eb) = (entries(&a), entries(&b));
    assert_eq!(ea.len(), 4);
    for (x, y) in ea.iter().zip(&eb) {
        assert_eq!(x["cycles"], y["cycles"]);
        let (ex, ey) = (x["energy"].as_u64().unwrap(), y["energy"].as_u64().unwrap());
        assert!(ey > ex && ey < 2 * ex, "{ex} -> {ey}");
    }
    assert_eq!(std::fs::read_to_string(b.join("tech.toml")).unwrap(), dear);
    assert_eq!(
        std::fs::read_to_string(a.join("tech.toml")).unwrap(),
        DEFAULT_TECH
    );
    let mut args = vec!["report", "--format", "json", "--tech", f.to_str().unwrap()];
    args.extend(small);
    let rep = json(&capim(&args));
    for (k, e) in rep["schedule"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(e["energy"], eb[k]["energy"]);
        assert_eq!(e["cycles"], eb[k]["cycles"]);
    }
    // a bad file: exit 2 naming it, nothing written
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, tech_with("value = 0.15,", "value = -0.15,")).unwrap();
    let c = dir.path().join("c");
    let mut args = vec![
        "gen",
        "--out",
        c.to_str().unwrap(),
        "--tech",
        bad.to_str().unwrap(),
    ];
    args.extend(small);
    let o = capim(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.toml"), "{}", text(&o));
    assert!(!c.exists());
}

/// `--sweep` over 12 array sizes: every one reported, some do not fit,
/// the front is marked, and the files are written.
#[test]
fn sweep_over_twelve_array_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sw");
    let o = capim(&[
        "report",
        "--sweep",
        "512,1024x128,256x16,32,64",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let v = json(&o);
    let c = v["configs"].as_array().unwrap();
    assert_eq!(c.len(), 12);
    assert!(c.iter().any(|p| !p["does_not_fit"].is_null()));
    assert!(c.iter().any(|p| p["pareto"] == true));
    for p in c.iter().filter(|p| p["does_not_fit"].is_null()) {
        assert_eq!(p["widths"].as_array().unwrap().len(), 4);
    }
    for n in ["sweep.md", "sweep.csv", "sweep.json", "sweep.svg"] {
        assert!(out.join(n).is_file(), "{n}");
    }
}

/// The reports in docs/report/ (shown in the README, written by
/// `make report`) are what capim writes today.
#[test]
fn shipped_reports_are_current() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("resnet20-i8", vec!["--precision", "8"]),
        ("resnet20-i16", vec!["--precision", "16"]),
        (
            "fmnist-resnet14-i8",
            vec!["--model", "models/fmnist-resnet14-i8.json"],
        ),
    ] {
        let out = dir.path().join(name);
        let mut a = vec!["report", "--out", out.to_str().unwrap()];
        a.extend(args);
        let o = capim(&a);
        assert!(o.status.success(), "{}", text(&o));
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/report")
            .join(name);
        for e in std::fs::read_dir(&out).unwrap() {
            let f = e.unwrap().file_name();
            let now = std::fs::read(out.join(&f)).unwrap();
            let was = std::fs::read(shipped.join(&f)).unwrap_or_default();
            assert!(
                now == was,
                "docs/report/{name}/{} is not current: run `make report`",
                f.to_string_lossy()
            );
        }
    }
}
