//! Hostile inputs and output targets (issue "Hardening"): every case ends
//! with exit code 2 and a message naming file, field and value, before
//! anything is written; an existing output (its build cache included) and
//! the user's files are never lost; nothing is left behind; no input makes
//! capim read without bound, allocate before validating, or hang.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn capim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("capim runs")
}

/// Runs capim in `dir`; kills it and fails if it has not ended after `secs`.
fn capim_within(dir: &Path, args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capim"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("capim runs");
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("capim {args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `capim ARGS` in `dir` under a 1 GiB address-space limit.
fn capim_in_1gib(dir: &Path, args: &str) -> Output {
    Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576; exec {} {args}",
            env!("CARGO_BIN_EXE_capim")
        ))
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2, no panic, and stderr names every one of `words`.
#[track_caller]
fn refused(o: &Output, words: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "want exit 2:\nstdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(err.contains(w), "stderr does not name `{w}`:\n{err}");
    }
    err
}

/// Names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[track_caller]
fn no_leftovers(dir: &Path) {
    let left: Vec<String> = entries(dir)
        .into_iter()
        .filter(|n| n.starts_with(".capim-") || n.starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

const SMALL: &str = "precision = 8\n[subarray]\nrows = 256\ncols = 64\ncount = 8\n";

/// `t` with `small.toml` and the 8-bit skeleton as `m.json`.
fn workspace() -> TempDir {
    let t = TempDir::new().unwrap();
    std::fs::write(t.path().join("small.toml"), SMALL).unwrap();
    let o = capim(
        t.path(),
        &["model", "synth", "--preset", "skeleton", "--out", "m.json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    t
}

fn gen_into(t: &TempDir, out: &str) -> Output {
    capim(
        t.path(),
        &[
            "gen",
            "--config",
            "small.toml",
            "--model",
            "m.json",
            "--out",
            out,
        ],
    )
}

fn edit_json(t: &TempDir, f: impl FnOnce(&mut serde_json::Value)) {
    let p = t.path().join("m.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

// ---- 1-3, 9, 10: output targets ---------------------------------------------

/// Case 1: An existing regular file as `--out` is refused and kept.
#[test]
fn gen_out_an_existing_file_is_refused_and_kept() {
    let t = workspace();
    std::fs::write(t.path().join("notes.v"), "my own RTL\n").unwrap();
    refused(&gen_into(&t, "notes.v"), &["notes.v", "--out", "file"]);
    assert_eq!(
        std::fs::read(t.path().join("notes.v")).unwrap(),
        b"my own RTL\n"
    );
    no_leftovers(t.path());
}

/// Case 2: A dangling symlink, a symlink to a directory and `newdir/.` are
/// refused before anything is written; links stay links.
#[test]
fn gen_out_symlinks_and_nameless_paths_are_refused() {
    let t = workspace();
    symlink("nowhere", t.path().join("dangling")).unwrap();
    refused(&gen_into(&t, "dangling"), &["dangling", "--out", "link"]);
    assert!(
        std::fs::symlink_metadata(t.path().join("dangling"))
            .unwrap()
            .is_symlink()
    );

    std::fs::create_dir(t.path().join("real")).unwrap();
    symlink("real", t.path().join("linked")).unwrap();
    refused(&gen_into(&t, "linked"), &["linked", "--out", "link"]);
    assert!(
        std::fs::symlink_metadata(t.path().join("linked"))
            .unwrap()
            .is_symlink()
    );
    assert!(entries(&t.path().join("real")).is_empty());

    refused(&gen_into(&t, "newdir/."), &["newdir/.", "--out"]);
    assert!(!t.path().join("newdir").exists());
    no_leftovers(t.path());
}

/// Case 3: A path that names no directory of its own (`real/model/..`) is
/// refused, and the existing output's build cache survives.
#[test]
fn gen_out_dotdot_keeps_the_existing_build_cache() {
    let t = workspace();
    assert!(gen_into(&t, "real").status.success());
    std::fs::create_dir(t.path().join("real/obj_dir")).unwrap();
    std::fs::write(t.path().join("real/obj_dir/cache"), "built").unwrap();
    let before = entries(&t.path().join("real"));
    refused(&gen_into(&t, "real/model/.."), &["real/model/..", "--out"]);
    assert_eq!(entries(&t.path().join("real")), before);
    assert_eq!(
        std::fs::read(t.path().join("real/obj_dir/cache")).unwrap(),
        b"built"
    );
    no_leftovers(t.path());
    no_leftovers(&t.path().join("real"));
}

/// `--out afile/sub`: the parent is a file; the message says so.
#[test]
fn gen_out_under_a_file_names_the_parent() {
    let t = workspace();
    std::fs::write(t.path().join("afile"), "x").unwrap();
    let err = refused(&gen_into(&t, "afile/sub"), &["afile/sub", "--out"]);
    assert!(err.contains("not a directory"), "{err}");
    assert!(!err.contains("File exists"), "{err}");
    no_leftovers(t.path());
}

/// Case 9: `verify --out` with a space is refused before generating: a new
/// directory is not created, an existing one is not replaced.
#[test]
fn verify_out_with_spaces_writes_nothing() {
    let t = workspace();
    let args = [
        "verify",
        "--config",
        "small.toml",
        "--model",
        "m.json",
        "--out",
        "o ut",
    ];
    refused(&capim(t.path(), &args), &["o ut", "without spaces"]);
    assert!(!t.path().join("o ut").exists());
    assert!(gen_into(&t, "o ut").status.success());
    std::fs::write(t.path().join("o ut/marker"), "mine").unwrap();
    refused(&capim(t.path(), &args), &["o ut", "without spaces"]);
    assert!(t.path().join("o ut/marker").exists());
    no_leftovers(t.path());
}

/// Case 10: `model synth --out m.json` where `m.json` is a directory: nothing
/// is written, not even the weights beside it.
#[test]
fn model_synth_onto_a_directory_writes_nothing() {
    let t = TempDir::new().unwrap();
    std::fs::create_dir(t.path().join("m.json")).unwrap();
    let o = capim(t.path(), &["model", "synth", "--out", "m.json"]);
    refused(&o, &["m.json", "--out", "directory"]);
    assert_eq!(entries(t.path()), ["m.json"]);
}

/// `run --output` onto a directory is refused before computing.
#[test]
fn run_output_onto_a_directory_is_refused() {
    let t = workspace();
    std::fs::create_dir(t.path().join("y.npy")).unwrap();
    let x = capim(
        t.path(),
        &[
            "run", "--model", "m.json", "--input", "nope.npy", "--output", "y.npy",
        ],
    );
    refused(&x, &["y.npy", "--output", "directory"]);
}

/// Case 8: A `--trace` file that cannot be written is a bad argument (exit 2),
/// found before generating or simulating.
#[test]
fn verify_trace_into_a_missing_directory_is_exit_2() {
    let t = workspace();
    let o = capim(
        t.path(),
        &[
            "verify",
            "--config",
            "small.toml",
            "--model",
            "m.json",
            "--out",
            "out",
            "--trace",
            "nodir/x.fst",
        ],
    );
    refused(&o, &["nodir/x.fst", "--trace"]);
    assert!(!t.path().join("out").exists());
}

// ---- 4, 5: names and widths --------------------------------------------------

/// Case 4: A model name that would break the generated header (newline, comment
/// end) or is absurdly long is refused; the echo is escaped and short.
#[test]
fn model_names_are_restricted_and_echoed_safely() {
    for name in [
        "evil\nmodule x; endmodule".to_string(),
        "a */ b".to_string(),
        "n".repeat(10_000),
        "nul\0byte".to_string(),
    ] {
        let t = workspace();
        edit_json(&t, |v| v["name"] = serde_json::json!(name));
        let err = refused(&gen_into(&t, "out"), &["m.json", "`name`"]);
        assert!(!err.contains("module x;\n") && !err.contains('\0'), "{err}");
        assert!(err.len() < 1000, "message of {} bytes", err.len());
        assert!(!t.path().join("out").exists());
    }
}

/// Case 5: Widths closer than the match tolerance are refused.
#[test]
fn widths_closer_than_the_tolerance_are_refused() {
    let t = workspace();
    edit_json(&t, |v| {
        v["widths"] = serde_json::json!([0.25, 0.5, 0.9999999999, 1.0]);
    });
    refused(&gen_into(&t, "out"), &["m.json", "widths[3]"]);
}

// ---- 6, 7, 11: bounded reads -------------------------------------------------

fn npy_v(version: u8, header: &str, len_field: Option<u32>, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    let len = len_field.unwrap_or(header.len() as u32);
    if version == 1 {
        b.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&len.to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn run_input(t: &TempDir, npy: &[u8]) -> Output {
    std::fs::write(t.path().join("x.npy"), npy).unwrap();
    let o = capim(
        t.path(),
        &[
            "run", "--model", "m.json", "--input", "x.npy", "--output", "y.npy",
        ],
    );
    assert!(!t.path().join("y.npy").exists());
    o
}

/// Case 6: Double-quoted keys do not bypass the shape check.
#[test]
fn npy_double_quoted_huge_shape_is_refused() {
    let t = workspace();
    let h = "{\"descr\": \"|i1\", \"fortran_order\": False, \"shape\": (288230376151711744, 3, 8, 8), }\n";
    refused(&run_input(&t, &npy_v(1, h, None, &[])), &["x.npy", "shape"]);
}

/// Case 7: A header length beyond the file is refused before allocating it
/// (run under a 1 GiB address-space limit).
#[test]
fn npy_header_length_beyond_the_file_is_refused() {
    let t = workspace();
    let mut npy = npy_v(2, "{'descr': '|i1', ", Some(0xFFFF_FFFF), &[]);
    npy.resize(320, b' ');
    std::fs::write(t.path().join("x.npy"), &npy).unwrap();
    let o = capim_in_1gib(t.path(), "run --model m.json --input x.npy --output y.npy");
    refused(&o, &["x.npy", "header"]);
}

/// Case 11: Devices and FIFOs are not read: exit 2 at once, naming the file.
#[test]
fn special_files_are_refused_without_reading() {
    let t = workspace();
    // The weights file named by the model.
    edit_json(&t, |v| v["weights"] = serde_json::json!("/dev/zero"));
    let o = capim_within(t.path(), &["gen", "--model", "m.json", "--out", "out"], 20);
    refused(&o, &["/dev/zero", "regular file"]);
    // A FIFO as the weights file must not hang.
    let fifo = t.path().join("w.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    edit_json(&t, |v| v["weights"] = serde_json::json!("w.fifo"));
    let o = capim_within(t.path(), &["gen", "--model", "m.json", "--out", "out"], 20);
    refused(&o, &["w.fifo", "regular file"]);
    // The configuration and an input tensor.
    let o = capim_within(
        t.path(),
        &["gen", "--config", "/dev/zero", "--out", "out"],
        20,
    );
    refused(&o, &["/dev/zero", "regular file"]);
    let w = workspace();
    let o = capim_within(
        w.path(),
        &[
            "run",
            "--model",
            "m.json",
            "--input",
            "/dev/zero",
            "--output",
            "y.npy",
        ],
        20,
    );
    refused(&o, &["/dev/zero", "regular file"]);
}

/// An input file over its size limit is refused before it is read.
#[test]
fn oversized_configuration_is_refused() {
    let t = workspace();
    let mut big = String::from(SMALL);
    big.push_str(&"# padding\n".repeat(200_000));
    std::fs::write(t.path().join("big.toml"), big).unwrap();
    let o = capim(t.path(), &["gen", "--config", "big.toml", "--out", "out"]);
    refused(&o, &["big.toml", "size", "at most"]);
}

// ---- corrupt images under verify --from ----------------------------------------

/// Garbage in the requantization image is a clear exit 2, like a corrupt
/// weight image (not a harness abort).
#[test]
fn corrupt_quant_image_is_exit_2() {
    let t = workspace();
    assert!(gen_into(&t, "out").status.success());
    let q = t.path().join("out/capim_quant.memh");
    let text = std::fs::read_to_string(&q).unwrap();
    let rest = text.split_once('\n').unwrap().1;
    std::fs::write(&q, format!("zz not hex here!\n{rest}")).unwrap();
    let o = capim(t.path(), &["verify", "--from", "out", "--images", "0"]);
    refused(&o, &["capim_quant.memh", "line 1", "zz not hex here!"]);
    // A short image is refused too, with the count it needs.
    std::fs::write(&q, rest).unwrap();
    let o = capim(t.path(), &["verify", "--from", "out", "--images", "0"]);
    refused(&o, &["capim_quant.memh", "lines"]);
}

// ---- 13: layout and reference linear in the layer count ----------------------

/// tinynet with `extra` more global-average-pool layers chained after its
/// pooling layer (each a 1x1 map in, the same out).
fn long_model(extra: usize) -> capim::model::Model {
    let mut m = capim::model::synth::synth("tinynet", 8, 1).unwrap();
    let gi = m.layer_index("gap").unwrap();
    let gap = m.layers[gi].clone();
    let fc = m.layers.pop().unwrap();
    let mut prev = gap.name.clone();
    for k in 0..extra {
        let mut l = gap.clone();
        l.name = format!("g{k}");
        l.input = prev.clone();
        (l.kh, l.kw) = (1, 1); // pools a 1x1 map
        prev = l.name.clone();
        m.layers.push(l);
    }
    let mut fc = fc;
    fc.input = prev;
    m.layers.push(fc);
    m
}

/// Case 13: A 2,000-layer model generates in well under the time a quadratic
/// (or worse) layout would take. The figure is in `make bench`; this bound
/// is only a guard against a regression by orders of magnitude.
#[test]
fn two_thousand_layers_generate_quickly() {
    let m = long_model(2000);
    m.validate().unwrap();
    let cfg = capim::hw::ArrayConfig::new(
        8,
        capim::hw::SubArray {
            rows: 4096,
            cols: 64,
            count: 8,
        },
    )
    .unwrap();
    let t = Instant::now();
    let g = capim::emit::generate(&cfg, &m).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(g.files.contains_key("capim_desc.memh"));
    assert!(secs < 5.0, "2,000-layer gen took {secs:.1} s");
}

/// A duplicate JSON key is named as such (not "expected duplicate field").
#[test]
fn duplicate_json_key_is_named() {
    let t = workspace();
    let p = t.path().join("m.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let dup = text.replacen(
        "\"precision\": 8,",
        "\"precision\": 8,\n  \"precision\": 8,",
        1,
    );
    assert_ne!(dup, text);
    std::fs::write(&p, dup).unwrap();
    let err = refused(
        &gen_into(&t, "out"),
        &["m.json", "`precision`", "each key once"],
    );
    assert!(!err.contains("expected duplicate field"), "{err}");
}

/// Case 14: the small configuration does not hold tinynet-i16; capim says
/// how many rows it needs, and the README says the same.
#[test]
fn small_configuration_claims_match_what_fits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = TempDir::new().unwrap();
    let o = capim(
        t.path(),
        &[
            "gen",
            "--config",
            root.join("configs/small.toml").to_str().unwrap(),
            "--precision",
            "16",
            "--model",
            root.join("models/tinynet-i16.json").to_str().unwrap(),
            "--out",
            "out",
        ],
    );
    refused(&o, &["subarray.rows", "336"]);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("`tinynet-i16` needs 336 rows"), "README");
    let small = std::fs::read_to_string(root.join("configs/small.toml")).unwrap();
    assert!(
        small.contains("tinynet-i16 needs 336 rows"),
        "configs/small.toml"
    );
}

// ---- 12: memory ----------------------------------------------------------------

/// A one-layer model: a 1x1 conv from 3 channels to `cout` on 64x64, 8-bit.
fn wide_model(cout: usize) -> capim::model::Model {
    use capim::model::{InputSpec, Layer, Model, Op, Requant};
    Model {
        path: Default::default(),
        preprocess: None,
        evaluation: None,
        name: "wide".into(),
        precision: 8,
        widths: vec![1.0],
        input: InputSpec {
            name: "input".into(),
            channels: 3,
            height: 64,
            width: 64,
            signed: true,
        },
        layers: vec![Layer {
            name: "wide".into(),
            op: Op::Conv,
            input: "input".into(),
            cin: 3,
            cout,
            kh: 1,
            kw: 1,
            stride: 1,
            pad: 0,
            relu: true,
            cin_active: vec![3],
            cout_active: vec![cout],
            requant: Some(Requant {
                shift: vec![6],
                residual: None,
            }),
            weights: (0..cout * 3).map(|k| (k % 255) as i64 - 127).collect(),
            bias: vec![vec![0; cout]],
            mult: vec![vec![1; cout]],
        }],
    }
}

/// Case 12: `capim run` holds activations in their narrowest type and never
/// all accumulators at once: a layer of 2^27 outputs (128 Mi values) runs
/// within a 1 GiB address space, where 8-byte activations and accumulators
/// need more than 2 GiB.
#[test]
fn run_stays_within_its_memory_budget() {
    let t = TempDir::new().unwrap();
    wide_model(32768).save(&t.path().join("wide.json")).unwrap();
    let x: Vec<i64> = (0..3 * 64 * 64).map(|k| (k % 200) as i64 - 100).collect();
    capim::model::npy::write(
        &t.path().join("x.npy"),
        &[3, 64, 64],
        &x,
        capim::model::npy::NpyDtype::I8,
    )
    .unwrap();
    let o = capim_in_1gib(
        t.path(),
        "run --model wide.json --input x.npy --output y.npy",
    );
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(&o)
    );
    let y = capim::model::npy::read(&t.path().join("y.npy")).unwrap();
    assert_eq!(y.shape, [32768, 64, 64]);
}

/// A configuration that is not UTF-8 is named with the position of the
/// first bad byte.
#[test]
fn non_utf8_configuration_names_the_position() {
    let t = workspace();
    std::fs::write(
        t.path().join("bad.toml"),
        b"precision = 8\n[subarray]\nrows = \xff\xfe\n",
    )
    .unwrap();
    let o = capim(t.path(), &["gen", "--config", "bad.toml", "--out", "out"]);
    refused(&o, &["bad.toml", "encoding", "line 3", "UTF-8"]);
}
