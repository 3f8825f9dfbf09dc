//! End-to-end co-simulation: `capim verify` on generated RTL, and proof that
//! the verification catches planted faults (DESIGN.md section 6).

use capim::emit;
use capim::hw::ArrayConfig;
use capim::layout::decode::{decode_weights, parse_subarray};
use capim::model::{Model, builtin_model};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{capim, edit, text};

#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

/// The small configuration of the fault tests and the skeleton model.
const SMALL: &str = "configs/small.toml";

fn skeleton(p: u32) -> String {
    format!("models/skeleton-i{p}.json")
}

/// The small design at precision `p`, as `capim gen` builds it.
fn small_design(p: u32) -> (ArrayConfig, Model) {
    let mut cfg = ArrayConfig::load(Path::new(SMALL)).unwrap();
    cfg.precision = p;
    (cfg, builtin_model(&format!("skeleton-i{p}")).unwrap())
}

/// `capim gen` of the skeleton on the small configuration at precision `p`.
fn gen_into(dir: &Path, p: u32) -> PathBuf {
    let out = dir.join("rtl");
    let (ps, model) = (p.to_string(), skeleton(p));
    let args = [
        "gen",
        "--config",
        SMALL,
        "--model",
        &model,
        "--precision",
        &ps,
        "--out",
        out.to_str().unwrap(),
    ];
    expect_code(&capim(&args), 0);
    out
}

fn verify_from(dir: &Path) -> Output {
    capim(&["verify", "--from", dir.to_str().unwrap(), "--images", "1"])
}

#[test]
fn skeleton_is_bit_exact_in_8_and_16_bit() {
    let tmp = tempfile::tempdir().unwrap();
    for p in ["8", "16"] {
        let out = tmp.path().join(format!("rtl{p}"));
        let model = skeleton(p.parse().unwrap());
        let o = capim(&[
            "verify",
            "--config",
            SMALL,
            "--model",
            &model,
            "--precision",
            p,
            "--out",
            out.to_str().unwrap(),
        ]);
        expect_code(&o, 0);
        let t = text(&o);
        assert!(t.contains("PASS"), "{t}");
        assert!(t.contains(&format!("{p}-bit")), "{t}");
    }
}

/// The built-in default: ResNet-20 (8-bit) on 32 sub-arrays of 1024 x 256,
/// every width and the switching sequence, edge-case images only.
#[test]
fn default_resnet20_is_bit_exact_at_every_width() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rtl");
    let o = capim(&["verify", "--images", "0", "--out", out.to_str().unwrap()]);
    expect_code(&o, 0);
    let t = text(&o);
    assert!(t.contains("PASS") && t.contains("resnet20-i8"), "{t}");
    assert!(t.contains("1 -> 0.25 -> 0.75 -> 0.5 -> 1"), "{t}");
}

#[test]
fn verify_from_rechecks_a_directory_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    let o = verify_from(&dir);
    expect_code(&o, 0);
    assert!(text(&o).contains("PASS"));
}

#[test]
fn flipped_weight_bit_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // conv0, output channel 0 lives in sub-array 0, slot 0; its bit-plane 0
    // of input channel 0, tap (0,0) is column 0 of the layer's first row.
    let (cfg, model) = small_design(8);
    let g = emit::generate(&cfg, &model).unwrap();
    let row = g.layout.layers[0].wrow_base;
    let p = dir.join(emit::outdir::subarray_file(0));
    let img = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = img.lines().map(String::from).collect();
    let last = lines[row].pop().unwrap();
    let flipped = char::from_digit(last.to_digit(16).unwrap() ^ 1, 16).unwrap();
    lines[row].push(flipped);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();

    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("mismatch at width"), "{t}");
    assert!(t.contains("layer `conv0`, channel 0"), "{t}");
    assert!(t.contains("expected") && t.contains("got"), "{t}");
    assert!(t.contains("waveform:") && t.contains("failure.fst"), "{t}");
    assert!(dir.join("waves/failure.fst").is_file());
}

#[test]
fn and_changed_to_or_in_the_subarray_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    edit(
        &dir,
        "capim_subarray.v",
        "default: count_q <= CNT_W'($countones(sense_a & sense_b));",
        "default: count_q <= CNT_W'($countones(sense_a | sense_b));",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    assert!(text(&o).contains("mismatch at width"), "{}", text(&o));
}

#[test]
fn broken_channel_gating_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Every array enabled: outputs stay right, but gated arrays do work.
    edit(
        &dir,
        "capim_gating.v",
        "assign en[g] = running && (IDX < n_active);",
        "assign en[g] = running || (IDX < n_active);",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("gated-off sub-array"), "{t}");
}

#[test]
fn a_hanging_design_fails_at_the_cycle_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // After the last gather read the engine gathers again instead of
    // writing the bit-planes: it never finishes a position.
    edit(
        &dir,
        "capim_conv_engine.v",
        "state <= S_WRITE;",
        "state <= S_GATHER;",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("did not finish within the cycle bound"), "{t}");
}

#[test]
fn flipped_descriptor_bit_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Bits 0.. of every descriptor are `in_base`, a lane address; the gather
    // reads whole words of 16 lanes, so bit 4 (bit 0 of the second-last hex
    // digit) moves layer conv1's input one word (one pixel) off.
    let p = dir.join("capim_desc.memh");
    let img = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = img.lines().map(String::from).collect();
    let entry = 1 << 2; // layer 1, width 0 (two width bits)
    let mut digits: Vec<char> = lines[entry].chars().collect();
    let k = digits.len() - 2;
    digits[k] = char::from_digit(digits[k].to_digit(16).unwrap() ^ 1, 16).unwrap();
    lines[entry] = digits.into_iter().collect();
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let o = verify_from(&dir);
    expect_code(&o, 1);
    assert!(text(&o).contains("layer `conv1`"), "{}", text(&o));
}

#[test]
fn generating_twice_gives_byte_identical_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for p in [8, 16] {
        let da = gen_into(a.path(), p);
        let db = gen_into(b.path(), p);
        let files = |d: &Path| {
            let mut v: Vec<PathBuf> = walk(d);
            v.sort();
            v
        };
        let fa = files(&da);
        let fb = files(&db);
        assert_eq!(
            fa.iter()
                .map(|f| f.strip_prefix(&da).unwrap())
                .collect::<Vec<_>>(),
            fb.iter()
                .map(|f| f.strip_prefix(&db).unwrap())
                .collect::<Vec<_>>()
        );
        assert!(fa.len() > 15);
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
        // No timestamps or absolute paths.
        let top = std::fs::read_to_string(da.join("capim_top.v")).unwrap();
        assert!(!top.contains(a.path().to_str().unwrap()));
        assert!(top.contains("Generated by capim"));
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn weight_image_decodes_back_to_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    for p in [8u32, 16] {
        let dir = gen_into(tmp.path(), p);
        let (cfg, model) = small_design(p);
        let g = emit::generate(&cfg, &model).unwrap();
        let lay = &g.layout;
        let mut images: Vec<_> = (0..lay.count)
            .map(|a| {
                let f = dir.join(emit::outdir::subarray_file(a));
                parse_subarray(
                    &std::fs::read_to_string(&f).unwrap(),
                    lay.rows,
                    lay.cols,
                    &f,
                )
                .unwrap()
            })
            .collect();
        let decoded = decode_weights(lay, &model, &images);
        for (l, w) in model.layers.iter().zip(&decoded) {
            assert_eq!(&l.weights, w, "layer {}", l.name);
        }
        assert!(
            model
                .layers
                .iter()
                .any(|l| l.weights.contains(&-(1i64 << (p - 1))))
        );
        // The decoder sees a flipped bit.
        let row = lay.layers[1].wrow_base + 3;
        let b = images[0][row].get(5);
        images[0][row].set(5, 1, (!b) as u64);
        let decoded = decode_weights(lay, &model, &images);
        assert_ne!(model.layers[1].weights, decoded[1]);
    }
}

/// Other accepted sizes generate and co-simulate too.
#[test]
fn other_array_sizes_cosimulate() {
    let cases = [
        // precision, rows, cols, count
        (8, 512, 32, 3),
        (8, 256, 16, 16),
        (16, 256, 256, 16),
        (16, 1024, 128, 1),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (k, (p, rows, cols, count)) in cases.iter().enumerate() {
        let cfg = tmp.path().join(format!("c{k}.toml"));
        std::fs::write(
            &cfg,
            format!("precision = {p}\n[subarray]\nrows = {rows}\ncols = {cols}\ncount = {count}\n"),
        )
        .unwrap();
        let out = tmp.path().join(format!("rtl{k}"));
        let model = skeleton(*p);
        let o = capim(&[
            "verify",
            "--model",
            &model,
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--images",
            "1",
        ]);
        expect_code(&o, 0);
    }
}

#[test]
fn a_gated_sub_array_that_still_takes_writes_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Row writes ignore the enable: outputs and activity counters stay
    // right, but gated sub-arrays' cells change during an inference.
    edit(
        &dir,
        "capim_subarray.v",
        "        if (en) begin\n            if (op == OP_WRITE) cells[row_a] <= wdata;",
        "        if (op == OP_WRITE) cells[row_a] <= wdata;\n        if (en) begin",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("was gated off for the whole inference"), "{t}");
}

#[test]
fn a_stray_write_into_resident_rows_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Every activation row write is mirrored into an unused resident row
    // (rows 128.. of the default 256-row arrays): results stay right.
    edit(
        &dir,
        "capim_subarray.v",
        "if (op == OP_WRITE) cells[row_a] <= wdata;",
        "if (op == OP_WRITE) begin cells[row_a] <= wdata; cells[row_a | 8'h80] <= wdata; end",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("a resident weight was overwritten"), "{t}");
}
