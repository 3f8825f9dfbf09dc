//! End-to-end co-simulation: `capim verify` on generated RTL, and proof that
//! the verification catches planted faults (DESIGN.md section 6).

use capim::emit;
use capim::hw::ArrayConfig;
use capim::layout::decode::{decode_plan, decode_weights, parse_subarray};
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

/// `capim gen` of skeleton-i8 on 8 sub-arrays of 1024 x 64 with at most 4
/// enabled at once: sub-arrays 4..7 stay gated off at every width, and the
/// rows above the layout (it uses about 800) stay unused.
fn gen_gated(dir: &Path) -> PathBuf {
    let cfg = dir.join("gated.toml");
    std::fs::write(
        &cfg,
        "precision = 8\n[subarray]\nrows = 1024\ncols = 64\ncount = 8\n[mapping]\nmax_active = 4\n",
    )
    .unwrap();
    let out = dir.join("rtl-gated");
    let args = [
        "gen",
        "--config",
        cfg.to_str().unwrap(),
        "--model",
        "models/skeleton-i8.json",
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
    // one scheduler inference, with its mid-run rewrite (tinynet runs 200
    // in tests/cosim_scheduler.rs; each ResNet-20 inference costs seconds)
    let o = capim(&[
        "verify",
        "--images",
        "0",
        "--schedule",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
    let t = text(&o);
    assert!(t.contains("PASS") && t.contains("resnet20-i8"), "{t}");
    assert!(t.contains("adaptive width scheduler: 1 inferences"), "{t}");
    assert!(t.contains("1 -> 0.25 -> 0.75 -> 0.5 -> 1"), "{t}");
}

/// The shipped trained CA-DNN (8-bit): real Fashion-MNIST test images
/// through the RTL at every width, classes equal to the reference's.
#[test]
fn trained_cadnn_classifies_real_images_as_the_reference() {
    if capim::data::fashion_mnist::default_dir().is_none() {
        eprintln!("Fashion-MNIST not installed; skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rtl");
    let o = capim(&[
        "verify",
        "--model",
        "models/fmnist-resnet14-i8.json",
        "--images",
        "0",
        "--test-images",
        "3",
        "--schedule",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
    let t = text(&o);
    for w in ["0.25", "0.5", "0.75", "1"] {
        let line = format!("width {w}: 3 real test images, RTL classes = reference classes");
        assert!(t.contains(&line), "{line} not in {t}");
    }
}

#[test]
fn verify_from_rechecks_a_directory_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    let o = verify_from(&dir);
    expect_code(&o, 0);
    assert!(text(&o).contains("PASS"));
}

/// Flips the stored bit of cell `(array, row, col)` in the image of `dir`.
fn flip_cell(dir: &Path, (arr, row, col): (usize, usize, usize)) {
    let p = dir.join(emit::outdir::subarray_file(arr));
    let img = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = img.lines().map(String::from).collect();
    let mut digits: Vec<char> = lines[row].chars().collect();
    let k = digits.len() - 1 - col / 4;
    let d = digits[k].to_digit(16).unwrap() ^ (1 << (col % 4));
    digits[k] = char::from_digit(d, 16).unwrap();
    lines[row] = digits.into_iter().collect();
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
}

#[test]
fn flipped_weight_bit_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // conv0, output channel 0, input channel 0, tap 0, bit-plane 0, in the
    // first copy of the full width's rows.
    let (cfg, model) = small_design(8);
    let g = emit::generate(&cfg, &model).unwrap();
    let lm = &g.layout.layers[0];
    let cell = lm.weight_cells(&g.layout, lm.full_width(), (0, 0, 0), 0)[0];
    flip_cell(&dir, cell);

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
fn flipped_bit_in_a_replica_row_is_caught_at_its_width_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // A narrow width's own replica rows: only that width reads them, so the
    // verification must run every width's plan to see the flip.
    let (cfg, model) = small_design(8);
    let g = emit::generate(&cfg, &model).unwrap();
    let lay = &g.layout;
    let (li, wi) = (0..lay.layers.len())
        .flat_map(|li| (0..model.widths.len() - 1).map(move |wi| (li, wi)))
        .find(|&(li, wi)| {
            lay.layers[li].widths[wi]
                .plan
                .as_ref()
                .is_some_and(|p| p.rows == capim::layout::Rows::Own)
        })
        .expect("the small design has replica rows");
    let lm = &lay.layers[li];
    let cell = lm.weight_cells(lay, wi, (0, 0, 4.min(lm.ksize - 1)), 2)[0];
    flip_cell(&dir, cell);
    let w = model.widths[wi].to_string();
    // the widths that do not read the replica pass
    let others: Vec<String> = model
        .widths
        .iter()
        .filter(|&&x| x != model.widths[wi])
        .map(|x| x.to_string())
        .collect();
    let o = capim(&[
        "verify",
        "--from",
        dir.to_str().unwrap(),
        "--images",
        "1",
        "--widths",
        &others.join(","),
    ]);
    expect_code(&o, 0);
    let o = capim(&[
        "verify",
        "--from",
        dir.to_str().unwrap(),
        "--images",
        "1",
        "--widths",
        &w,
    ]);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains(&format!("mismatch at width {w}")), "{t}");
    assert!(t.contains(&format!("layer `{}`", lm.name)), "{t}");
}

#[test]
fn and_changed_to_or_in_the_subarray_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    edit(
        &dir,
        "capim_subarray.v",
        "default: logic_q = sense_a & sense_b;",
        "default: logic_q = sense_a | sense_b;",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    assert!(text(&o).contains("mismatch at width"), "{}", text(&o));
}

#[test]
fn a_segment_boundary_off_by_one_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Every segment counts the columns one to the right of its own.
    edit(
        &dir,
        "capim_subarray.v",
        "CNT_W'($countones(logic_q[sg*SEG +: SEG]))",
        "CNT_W'($countones(rot_q[sg*SEG +: SEG]))",
    );
    edit(
        &dir,
        "capim_subarray.v",
        "    always @(posedge clk) sensed_v <= en && (op == OP_COMPUTE);",
        "    always @(posedge clk) sensed_v <= en && (op == OP_COMPUTE);\n    wire [COLS-1:0] rot_q = {logic_q[0], logic_q[COLS-1:1]};",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    assert!(text(&o).contains("mismatch at width"), "{}", text(&o));
}

#[test]
fn a_count_routed_to_the_wrong_accumulator_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Accumulator k adds the routed count of accumulator k + 1.
    edit(
        &dir,
        "capim_accumulate.v",
        "g_xs[LA].v[ga*NSEG + gk]",
        "g_xs[LA].v[ga*NSEG + (gk + 1) % NSEG]",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    assert!(text(&o).contains("mismatch at width"), "{}", text(&o));
}

#[test]
fn broken_channel_gating_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_gated(tmp.path());
    // One array too many enabled: outputs stay right (its counts are not
    // routed anywhere), but a gated array does work.
    edit(
        &dir,
        "capim_gating.v",
        "(IDX < n_active)",
        "(IDX < n_active + SW'(1))",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("gated-off sub-array"), "{t}");
}

#[test]
fn arrays_enabled_in_the_descriptor_cycle_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // The gating also enables a layer's arrays while its descriptor is
    // fetched: outputs, cycles, computes and writes stay right, but the
    // enabled cycles (leakage energy) are more than the model's.
    edit(
        &dir,
        "capim_conv_engine.v",
        "assign running = busy && (state != S_DESC);",
        "assign running = busy;",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("enabled cycles, expected"), "{t}");
}

#[test]
fn accumulator_updates_miscounted_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // The accumulator-update counter counts one update per array instead of
    // one per channel it accumulates: the energy computed from the RTL's
    // counts would fall short of the model's.
    edit(&dir, "capim_top.v", "32'(n_lead) * 32'(cpr)", "32'(n_lead)");
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(
        t.contains("operation counts differ from the energy model"),
        "{t}"
    );
}

#[test]
fn a_done_interrupt_on_the_wrong_edge_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // done is set while the run is busy instead of when it ends: after the
    // run it reads right, half-way through the run it must not be set
    edit(
        &dir,
        "capim_top.v",
        "if (busy_q && !busy) irq_done <= 1'b1;",
        "if (busy_q && busy) irq_done <= 1'b1;",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("done is set while busy"), "{t}");
}

/// Another skeleton-i8 (seed 5: other weights, descriptors and
/// requantization, the same shapes) written into `dir`.
fn other_skeleton(dir: &Path) -> PathBuf {
    let m = dir.join("sk5.json");
    let args = ["model", "synth", "--preset", "skeleton", "--precision", "8"];
    let mut args = args.to_vec();
    args.extend(["--seed", "5", "--out", m.to_str().unwrap()]);
    expect_code(&capim(&args), 0);
    m
}

fn verify_load(dir: &Path, model: &Path) -> Output {
    capim(&[
        "verify",
        "--from",
        dir.to_str().unwrap(),
        "--images",
        "1",
        "--schedule",
        "0",
        "--load",
        model.to_str().unwrap(),
    ])
}

/// A new model over the host bus into the same RTL: bit-exact at every
/// width; a model of other shapes is refused (exit 2); a requantization
/// write that never lands, or a row write that lands in the wrong row, is
/// caught.
#[test]
fn a_new_model_loaded_over_the_bus_is_bit_exact_and_broken_loads_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    let m = other_skeleton(tmp.path());
    let o = verify_load(&dir, &m);
    expect_code(&o, 0);
    assert!(text(&o).contains("16 runs bit-exact"), "{}", text(&o));
    let o = verify_load(&dir, Path::new("models/tinynet-i8.json"));
    expect_code(&o, 2);
    assert!(text(&o).contains("same layer shapes"), "{}", text(&o));

    for (file, from, to) in [
        (
            "capim_top.v",
            "wire q_we = host_we && !busy &&",
            "wire q_we = host_we && busy &&",
        ),
        (
            "capim_top.v",
            "wire [RW-1:0] wr_row = host_wdata[0 +: RW];",
            "wire [RW-1:0] wr_row = host_wdata[0 +: RW] ^ RW'(1);",
        ),
    ] {
        let t2 = tempfile::tempdir().unwrap();
        let d2 = gen_into(t2.path(), 8);
        edit(&d2, file, from, to);
        let o = verify_load(&d2, &m);
        expect_code(&o, 1);
        assert!(
            text(&o).contains("loaded over the bus: mismatch"),
            "{to}: {}",
            text(&o)
        );
    }
}

#[test]
fn a_hanging_design_fails_at_the_cycle_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // Once the gather is done the engine keeps waiting for it instead of
    // writing the bit-planes: it never finishes a round.
    edit(
        &dir,
        "capim_conv_engine.v",
        "state <= S_WRITE;",
        "state <= S_WAITG;",
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
        // Every replica holds the active weights of its width, zero elsewhere.
        for wi in 0..model.widths.len() - 1 {
            let rep = decode_plan(lay, &model, &images, Some(wi));
            for ((l, lm), w) in model.layers.iter().zip(&lay.layers).zip(&rep) {
                let own = lm
                    .widths
                    .get(wi)
                    .and_then(|m| m.plan.as_ref())
                    .is_some_and(|p| p.rows == capim::layout::Rows::Own);
                if !own {
                    continue;
                }
                let k = l.kh * l.kw;
                for (i, (&a, &b)) in l.weights.iter().zip(w).enumerate() {
                    let (co, ci) = (i / (l.cin * k), (i / k) % l.cin);
                    let active = co < l.cout_active[wi] && ci < l.cin_active[wi];
                    assert_eq!(
                        b,
                        if active { a } else { 0 },
                        "layer {} width {wi} weight {i}",
                        l.name
                    );
                }
            }
        }
        // The decoder sees a flipped bit.
        let lm = &lay.layers[1];
        let (a, r, c) = lm.weight_cells(lay, lm.full_width(), (0, 0, 0), 0)[0];
        let b = images[a][r].get(c);
        images[a][r].set(c, 1, (!b) as u64);
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
    let dir = gen_gated(tmp.path());
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
    let dir = gen_gated(tmp.path());
    // Every activation row write is mirrored into an unused row (rows
    // 960.. of the 1024-row arrays, above the layout): results stay right.
    edit(
        &dir,
        "capim_subarray.v",
        "if (op == OP_WRITE) cells[row_a] <= wdata;",
        "if (op == OP_WRITE) begin cells[row_a] <= wdata; cells[row_a | 10'h3c0] <= wdata; end",
    );
    let o = verify_from(&dir);
    expect_code(&o, 1);
    let t = text(&o);
    assert!(t.contains("a resident weight was overwritten"), "{t}");
}
