//! Bad input through the built binary. The standard (src/error.rs): bad
//! configuration, model, tensors or a missing tool end with exit code 2 and
//! one message that names the file, the field, the offending value and what
//! was expected; nothing half-written is left behind.
//!
//! Every test runs `capim` in its own temporary directory and passes paths
//! relative to it, so the messages name the files as the user typed them.

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

/// Runs the built binary in `dir`.
fn capim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("capim runs")
}

/// Runs the built binary in `dir` with `PATH` set to `path` only.
fn capim_with_path(dir: &Path, path: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .current_dir(dir)
        .env("PATH", path)
        .args(args)
        .output()
        .expect("capim runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: &Output) {
    let (out, err) = text(o);
    assert!(o.status.success(), "capim failed:\n{out}\n{err}");
}

/// Whether `needle` occurs in `hay` as a whole token: where it starts or
/// ends with a word character, it is not glued there to another word
/// character or to `.` + word character (so `0` does not match inside `1024`
/// or `0.25`, `m.json` not inside `m.json.bak`, `--width` not inside
/// `--widths`).
fn has_token(hay: &str, needle: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    hay.match_indices(needle).any(|(i, _)| {
        let mut before = hay[..i].chars().rev();
        let (b1, b2) = (before.next(), before.next());
        let mut after = hay[i + needle.len()..].chars();
        let (a1, a2) = (after.next(), after.next());
        let glued = |c1: Option<char>, c2: Option<char>| {
            c1.is_some_and(word) || (c1 == Some('.') && c2.is_some_and(word))
        };
        let head = needle.starts_with(word) && glued(b1, b2);
        let tail = needle.ends_with(word) && glued(a1, a2);
        !head && !tail
    })
}

/// What a bad-input error must say.
struct Expect<'a> {
    /// The file (a path or file name); for a bad command-line value, the
    /// file or directory it refers to.
    file: &'a str,
    /// The field: a key, a JSON path, a tensor element or a flag.
    field: &'a str,
    /// The offending value as written.
    value: &'a str,
    /// Words from the description of what was expected.
    expected: &'a [&'a str],
}

/// Asserts exit code 2, no panic, and a message naming the file, field and
/// value (each as a whole token) and what was expected. Returns stderr.
#[track_caller]
fn bad(o: &Output, e: Expect) -> String {
    let (out, err) = text(o);
    let show = format!("exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status.code());
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "capim panicked:\n{show}"
    );
    assert_eq!(o.status.code(), Some(2), "want exit code 2:\n{show}");
    assert!(err.contains("error:"), "no `error:` line:\n{show}");
    assert!(
        has_token(&err, e.file),
        "stderr does not name the file `{}`:\n{show}",
        e.file
    );
    assert!(
        has_token(&err, e.field),
        "stderr does not name the field `{}`:\n{show}",
        e.field
    );
    assert!(
        has_token(&err, e.value),
        "stderr does not name the value `{}`:\n{show}",
        e.value
    );
    for x in e.expected {
        assert!(
            err.contains(x),
            "stderr does not say what was expected (`{x}`):\n{show}"
        );
    }
    err
}

/// Entries of `dir` (names), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts that no temporary directory of `capim gen` (`.capim-out-*`,
/// `.capim-old-*`) is left in `dir`.
#[track_caller]
fn no_leftovers(dir: &Path) {
    let left: Vec<String> = entries(dir)
        .into_iter()
        .filter(|n| n.starts_with(".capim-"))
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

const GOOD_CONFIG: &str = "precision = 8\n[subarray]\nrows = 256\ncols = 64\ncount = 8\n";

/// Writes `toml` as `bad.toml` in a new temp dir and runs `capim gen` on it
/// into `out` (which must not appear).
fn gen_config(toml: &str) -> (TempDir, Output) {
    let t = TempDir::new().unwrap();
    std::fs::write(t.path().join("bad.toml"), toml).unwrap();
    let o = capim(t.path(), &["gen", "--config", "bad.toml", "--out", "out"]);
    (t, o)
}

#[track_caller]
fn nothing_written(t: &TempDir, out: &str) {
    assert!(
        !t.path().join(out).exists(),
        "`{out}` was created by a failing command"
    );
    no_leftovers(t.path());
}

/// A temp dir holding `m.json` + `m.safetensors` (the 8-bit skeleton).
fn synth_model() -> TempDir {
    let t = TempDir::new().unwrap();
    let o = capim(
        t.path(),
        &[
            "model", "synth", "--preset", "skeleton", "--seed", "1", "--out", "m.json",
        ],
    );
    ok(&o);
    t
}

/// Edits `m.json` in `t` as a JSON value.
fn edit_json(t: &TempDir, f: impl FnOnce(&mut serde_json::Value)) {
    let p = t.path().join("m.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// `capim gen --model m.json --out out` in `t`.
fn gen_model(t: &TempDir) -> Output {
    capim(t.path(), &["gen", "--model", "m.json", "--out", "out"])
}

/// NPY bytes: version 1.0 header with `descr` and `shape`, then `data`.
fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// `capim run` on `x.npy` in `t`; the output `y.npy` must not appear.
fn run_npy(t: &TempDir, npy: &[u8]) -> Output {
    std::fs::write(t.path().join("x.npy"), npy).unwrap();
    let o = capim(
        t.path(),
        &[
            "run", "--model", "m.json", "--input", "x.npy", "--output", "y.npy",
        ],
    );
    assert!(
        !t.path().join("y.npy").exists(),
        "a failing run wrote its output"
    );
    o
}

// ---- 1-4: configuration -------------------------------------------------

#[test]
fn config_zero_rows() {
    let (t, o) = gen_config("precision = 8\n[subarray]\nrows = 0\ncols = 64\ncount = 8\n");
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.rows",
            value: "0",
            expected: &["16", "4096"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_cols_not_power_of_two() {
    let (t, o) = gen_config("precision = 8\n[subarray]\nrows = 256\ncols = 100\ncount = 8\n");
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.cols",
            value: "100",
            expected: &["power of two", "1024"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_unknown_key() {
    let (t, o) =
        gen_config("precision = 8\n[subarray]\nrows = 256\ncolz = 64\ncols = 64\ncount = 8\n");
    let err = bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.colz",
            value: "colz",
            expected: &["cols"],
        },
    );
    // The known keys are listed.
    assert!(err.contains("rows") && err.contains("count"), "{err}");
    nothing_written(&t, "out");
}

#[test]
fn config_unknown_top_level_key() {
    let (t, o) = gen_config(&format!("colz = 64\n{GOOD_CONFIG}"));
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "colz",
            value: "colz",
            expected: &["precision", "subarray"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_precision_12() {
    let (t, o) = gen_config(&GOOD_CONFIG.replace("precision = 8", "precision = 12"));
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "precision",
            value: "12",
            expected: &["8 or 16"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_wrong_type() {
    let (t, o) = gen_config(&GOOD_CONFIG.replace("rows = 256", "rows = \"many\""));
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.rows",
            value: "\"many\"",
            expected: &["integer"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_negative_count() {
    let (t, o) = gen_config(&GOOD_CONFIG.replace("count = 8", "count = -3"));
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.count",
            value: "-3",
            expected: &["256"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_missing_key() {
    let (t, o) = gen_config(&GOOD_CONFIG.replace("count = 8\n", ""));
    bad(
        &o,
        Expect {
            file: "bad.toml",
            field: "subarray.count",
            value: "(missing)",
            expected: &["256"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn config_file_missing() {
    let t = TempDir::new().unwrap();
    let o = capim(t.path(), &["gen", "--config", "nope.toml", "--out", "out"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(has_token(&err, "nope.toml"), "{err}");
    nothing_written(&t, "out");
}

// ---- 5-8: model -----------------------------------------------------------

#[test]
fn model_widths_not_increasing() {
    let t = synth_model();
    edit_json(&t, |v| {
        v["widths"] = serde_json::json!([0.5, 0.25, 0.75, 1.0])
    });
    bad(
        &gen_model(&t),
        Expect {
            file: "m.json",
            field: "widths[1]",
            value: "0.25",
            expected: &["increasing"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_cout_active_not_prefix_monotone() {
    let t = synth_model();
    edit_json(&t, |v| {
        v["layers"][0]["cout_active"] = serde_json::json!([4, 2, 6, 8]);
    });
    bad(
        &gen_model(&t),
        Expect {
            file: "m.json",
            field: "layers[0].cout_active[1]",
            value: "2",
            expected: &["cout_active[0]", "4"],
        },
    );
    nothing_written(&t, "out");
}

/// Rewrites `m.safetensors` in `t`, setting element `index` of the I32
/// tensor `name` to `value`.
fn poke_i32(t: &TempDir, name: &str, index: usize, value: i32) {
    let p = t.path().join("m.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let (_, dtype, _, data) = owned
        .iter_mut()
        .find(|(n, ..)| n == name)
        .unwrap_or_else(|| panic!("no tensor {name}"));
    assert_eq!(*dtype, Dtype::I32);
    data[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn model_mult_out_of_range_in_weights() {
    let t = synth_model();
    // conv1.mult is [4 widths, 8 cout]: element 3 is [0][3].
    poke_i32(&t, "conv1.mult", 3, 70000);
    bad(
        &gen_model(&t),
        Expect {
            file: "m.safetensors",
            field: "conv1.mult[0][3]",
            value: "70000",
            expected: &["65535"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_negative_mult_in_weights() {
    let t = synth_model();
    // [1][2] of an [4, 8] tensor.
    poke_i32(&t, "conv2.mult", 16 + 2, -5);
    bad(
        &gen_model(&t),
        Expect {
            file: "m.safetensors",
            field: "conv2.mult[1][2]",
            value: "-5",
            expected: &["65535"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_residual_mult_out_of_range_in_json() {
    let t = synth_model();
    edit_json(&t, |v| {
        v["layers"][1]["requant"]["residual"]["mult"][2] = serde_json::json!(70000);
    });
    bad(
        &gen_model(&t),
        Expect {
            file: "m.json",
            field: "layers[1].requant.residual.mult[2]",
            value: "70000",
            expected: &["65535"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_truncated_weights() {
    let t = synth_model();
    let p = t.path().join("m.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    let half = bytes.len() / 2;
    std::fs::write(&p, &bytes[..half]).unwrap();
    bad(
        &gen_model(&t),
        Expect {
            file: "m.safetensors",
            field: "safetensors",
            value: &half.to_string(),
            expected: &["complete"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_weights_file_missing() {
    let t = synth_model();
    std::fs::remove_file(t.path().join("m.safetensors")).unwrap();
    let o = gen_model(&t);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        has_token(&err, "m.safetensors") && err.contains("m.json"),
        "{err}"
    );
    nothing_written(&t, "out");
}

#[test]
fn model_unknown_json_key() {
    let t = synth_model();
    edit_json(&t, |v| v["layers"][2]["strid"] = serde_json::json!(2));
    bad(
        &gen_model(&t),
        Expect {
            file: "m.json",
            field: "layers[2].strid",
            value: "\"strid\"",
            expected: &["stride"],
        },
    );
    nothing_written(&t, "out");
}

#[test]
fn model_precision_does_not_match_config() {
    let t = TempDir::new().unwrap();
    ok(&capim(
        t.path(),
        &["model", "synth", "--precision", "16", "--out", "m.json"],
    ));
    bad(
        &gen_model(&t),
        Expect {
            file: "m.json",
            field: "precision",
            value: "16",
            expected: &["8"],
        },
    );
    nothing_written(&t, "out");
}

// ---- 9-10: tensors --------------------------------------------------------

#[test]
fn run_input_wrong_dtype() {
    let t = synth_model();
    let data: Vec<u8> = (0..3 * 8 * 8)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let o = run_npy(&t, &npy_bytes("<f4", &[3, 8, 8], &data));
    bad(
        &o,
        Expect {
            file: "x.npy",
            field: "dtype",
            value: "float32",
            expected: &["int8"],
        },
    );
}

#[test]
fn run_input_wrong_channel_count() {
    let t = synth_model();
    let o = run_npy(&t, &npy_bytes("|i1", &[4, 8, 8], &[1u8; 4 * 8 * 8]));
    bad(
        &o,
        Expect {
            file: "x.npy",
            field: "shape",
            value: "(4, 8, 8)",
            expected: &["(3, 8, 8)"],
        },
    );
}

#[test]
fn run_input_truncated() {
    let t = synth_model();
    let o = run_npy(&t, &npy_bytes("|i1", &[3, 8, 8], &[1u8; 100]));
    bad(
        &o,
        Expect {
            file: "x.npy",
            field: "data",
            value: "100 bytes",
            expected: &["192"],
        },
    );
}

#[test]
fn run_unknown_width() {
    let t = synth_model();
    std::fs::write(
        t.path().join("x.npy"),
        npy_bytes("|i1", &[3, 8, 8], &[1u8; 3 * 8 * 8]),
    )
    .unwrap();
    let o = capim(
        t.path(),
        &[
            "run", "--model", "m.json", "--input", "x.npy", "--width", "0.3", "--output", "y.npy",
        ],
    );
    bad(
        &o,
        Expect {
            file: "m.json",
            field: "--width",
            value: "0.3",
            expected: &["0.25", "0.5"],
        },
    );
    assert!(!t.path().join("y.npy").exists());
}

// ---- 11: model does not fit -----------------------------------------------

const SMALL_CONFIG: &str = "precision = 8\n[subarray]\nrows = 32\ncols = 64\ncount = 1\n";

#[test]
fn model_too_large_for_array() {
    let t = TempDir::new().unwrap();
    std::fs::write(t.path().join("small.toml"), SMALL_CONFIG).unwrap();
    let o = capim(t.path(), &["gen", "--config", "small.toml", "--out", "out"]);
    let err = bad(
        &o,
        Expect {
            file: "small.toml",
            field: "subarray.rows",
            value: "32",
            expected: &["at least", "resnet20-i8"],
        },
    );
    // It says how many rows it needs: at least N with N > 32.
    let need = err
        .split("expected at least ")
        .nth(1)
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or_else(|| panic!("no `at least N` in:\n{err}"));
    assert!(need > 32, "{err}");
    nothing_written(&t, "out");
}

#[test]
fn model_too_large_says_how_many_sub_arrays() {
    let t = synth_model();
    std::fs::write(
        t.path().join("small.toml"),
        SMALL_CONFIG.replace("rows = 32", "rows = 64"),
    )
    .unwrap();
    let o = capim(
        t.path(),
        &[
            "gen",
            "--config",
            "small.toml",
            "--model",
            "m.json",
            "--out",
            "out",
        ],
    );
    let err = bad(
        &o,
        Expect {
            file: "small.toml",
            field: "subarray.rows",
            value: "64",
            expected: &["`subarray.count` >= "],
        },
    );
    let count = err
        .split("`subarray.count` >= ")
        .nth(1)
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or_else(|| panic!("no `subarray.count` >= N in:\n{err}"));
    assert!((2..=256).contains(&count), "{err}");
    nothing_written(&t, "out");
}

// ---- 12-14: verify ----------------------------------------------------------

#[test]
fn verify_without_verilator() {
    let t = TempDir::new().unwrap();
    let empty = TempDir::new().unwrap();
    let o = capim_with_path(t.path(), empty.path(), &["verify", "--out", "out"]);
    let (out, err) = text(&o);
    let show = format!("exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status.code());
    assert!(!err.contains("panicked"), "{show}");
    assert_eq!(o.status.code(), Some(2), "{show}");
    assert!(has_token(&err, "verilator"), "{show}");
    assert!(err.contains("apt-get install -y verilator"), "{show}");
    // Whatever was generated is complete, never half-written.
    if t.path().join("out").exists() {
        assert!(t.path().join("out/manifest.json").is_file(), "{show}");
    }
    no_leftovers(t.path());
}

#[test]
fn verify_from_a_directory_not_generated() {
    let t = TempDir::new().unwrap();
    std::fs::create_dir(t.path().join("notgen")).unwrap();
    std::fs::write(t.path().join("notgen/capim_top.v"), "module m; endmodule\n").unwrap();
    let o = capim(t.path(), &["verify", "--from", "notgen"]);
    bad(
        &o,
        Expect {
            file: "notgen",
            field: "--from",
            value: "notgen",
            expected: &["manifest.json"],
        },
    );
    assert_eq!(entries(&t.path().join("notgen")), ["capim_top.v"]);
}

#[test]
fn verify_unknown_width() {
    let t = TempDir::new().unwrap();
    // The width is checked before Verilator is looked for; an empty PATH
    // keeps the test independent of the tools installed.
    let empty = TempDir::new().unwrap();
    let o = capim_with_path(
        t.path(),
        empty.path(),
        &["verify", "--out", "out", "--widths", "0.3"],
    );
    bad(
        &o,
        Expect {
            file: "resnet20-i8",
            field: "--widths",
            value: "0.3",
            expected: &["0.25", "0.5", "0.75"],
        },
    );
    no_leftovers(t.path());
}

// ---- nothing half-written ---------------------------------------------------

#[test]
fn failing_gen_leaves_no_output_directory() {
    let t = TempDir::new().unwrap();
    std::fs::write(t.path().join("small.toml"), SMALL_CONFIG).unwrap();
    std::fs::create_dir(t.path().join("parent")).unwrap();
    for out in ["parent/out", "new/deeper/out"] {
        let o = capim(t.path(), &["gen", "--config", "small.toml", "--out", out]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(!t.path().join(out).exists(), "{out} exists after a failure");
    }
    assert_eq!(entries(&t.path().join("parent")), Vec::<String>::new());
    assert!(
        !t.path().join("new").exists(),
        "a failing gen created the parent directories of --out"
    );
    assert_eq!(entries(t.path()), ["parent", "small.toml"]);
}

#[test]
fn gen_refuses_a_foreign_directory() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("mine");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me\n").unwrap();
    std::fs::write(dir.join("sub/data.bin"), [1u8, 2, 3]).unwrap();
    let o = capim(t.path(), &["gen", "--out", "mine"]);
    bad(
        &o,
        Expect {
            file: "mine",
            field: "--out",
            value: "mine",
            expected: &["manifest.json"],
        },
    );
    assert_eq!(entries(&dir), ["notes.txt", "sub"]);
    assert_eq!(entries(&dir.join("sub")), ["data.bin"]);
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"keep me\n");
    assert_eq!(std::fs::read(dir.join("sub/data.bin")).unwrap(), [1, 2, 3]);
    assert_eq!(entries(t.path()), ["mine"]);
}

#[test]
fn gen_replaces_its_own_directory() {
    // The counterpart of the refusal: a directory written by capim is
    // replaced, with no temporary directories left over.
    let t = TempDir::new().unwrap();
    ok(&capim(t.path(), &["gen", "--out", "out"]));
    ok(&capim(t.path(), &["gen", "--out", "out"]));
    assert!(t.path().join("out/manifest.json").is_file());
    assert_eq!(entries(t.path()), ["out"]);
}

#[test]
fn failing_gen_keeps_the_previous_output() {
    let t = TempDir::new().unwrap();
    ok(&capim(t.path(), &["gen", "--out", "out"]));
    let manifest = std::fs::read(t.path().join("out/manifest.json")).unwrap();
    let before = entries(&t.path().join("out"));
    std::fs::write(t.path().join("small.toml"), SMALL_CONFIG).unwrap();
    let o = capim(t.path(), &["gen", "--config", "small.toml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert_eq!(entries(&t.path().join("out")), before);
    assert_eq!(
        std::fs::read(t.path().join("out/manifest.json")).unwrap(),
        manifest
    );
    no_leftovers(t.path());
}

/// `has_token` itself.
#[test]
fn token_matching() {
    assert!(has_token("`subarray.rows` = 0: expected", "0"));
    assert!(!has_token("1024 ..= 4096", "0"));
    assert!(!has_token("0.25, 0.5", "0"));
    assert!(!has_token("`--width` = 0.3", "--widths"));
    assert!(!has_token("`--widths` = 0.3", "--width"));
    assert!(has_token("error: m.json: `widths[1]` = 0.25:", "widths[1]"));
    assert!(has_token("error: d/m.json: x", "m.json"));
    assert!(!has_token("d/m.json.bak", "m.json"));
}

#[test]
fn verify_in_a_directory_with_spaces_is_refused() {
    let t = TempDir::new().unwrap();
    let o = capim(
        t.path(),
        &["verify", "--out", "with space/rtl", "--images", "0"],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("with space") && err.contains("without spaces"),
        "{err}"
    );
}
