//! The adaptive width scheduler in co-simulation: a 200-inference random
//! workload trace (deadline, energy budget, sub-array cap per inference)
//! where the RTL's choices equal the Rust model's and every inference is
//! bit-exact at the chosen width, limits rewritten mid-run that leave the
//! running inference at its width, and planted faults in the cost table,
//! the comparison and the latching that the trace catches.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{capim, edit, text};

#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

/// `capim gen` of `model` on the small configuration into `dir/rtl`.
fn generate(dir: &Path, model: &str) -> PathBuf {
    let out = dir.join("rtl");
    let args = [
        "gen",
        "--config",
        "configs/small.toml",
        "--model",
        model,
        "--out",
        out.to_str().unwrap(),
    ];
    expect_code(&capim(&args), 0);
    out
}

/// `capim verify --from DIR` with one random image and an `n`-inference trace.
fn verify_trace(dir: &Path, n: usize) -> Output {
    let n = n.to_string();
    capim(&[
        "verify",
        "--from",
        dir.to_str().unwrap(),
        "--images",
        "1",
        "--schedule",
        &n,
    ])
}

#[test]
fn two_hundred_random_constraint_sets_choose_as_the_model_bit_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "models/tinynet-i8.json");
    let o = verify_trace(&dir, 200);
    expect_code(&o, 0);
    let t = text(&o);
    assert!(
        t.contains("adaptive width scheduler: 200 inferences"),
        "{t}"
    );
    assert!(
        t.contains("limits rewritten mid-run left the run at its width"),
        "{t}"
    );
    // every width was chosen, and some inferences met no point at all
    let line = t
        .lines()
        .find(|l| l.contains("adaptive width scheduler"))
        .unwrap();
    for w in ["0.25 x", "0.5 x", "0.75 x", "1 x"] {
        let n: usize = line
            .split(w)
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        assert!(n > 0, "width {w} never chosen: {line}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["scheduler"]["entries"].as_array().unwrap();
    let order: Vec<f64> = entries
        .iter()
        .map(|e| e["width"].as_f64().unwrap())
        .collect();
    assert_eq!(
        order,
        [1.0, 0.75, 0.5, 0.25],
        "widest first without accuracy"
    );
}

/// Flips bit `bit` of field `field` (0 width, 1 cycles, 2 energy, 3 arrays)
/// of cost-table entry `entry` in the image.
fn flip_table_bit(dir: &Path, entry: usize, field: usize, bit: u32) {
    let p = dir.join("capim_sched.memh");
    let img = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = img.lines().map(String::from).collect();
    let v = u128::from_str_radix(&lines[entry], 16).unwrap() ^ (1u128 << (32 * field as u32 + bit));
    lines[entry] = format!("{v:032x}");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
}

/// Generates skeleton-i8 on the small configuration, plants a fault with
/// `plant`, runs an `n`-inference trace: it must fail (exit 1) with a
/// message containing every one of `expect`.
fn caught(plant: impl Fn(&Path), n: usize, expect: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "models/skeleton-i8.json");
    plant(&dir);
    let o = verify_trace(&dir, n);
    expect_code(&o, 1);
    let t = text(&o);
    for e in expect {
        assert!(t.contains(e), "`{e}` not in {t}");
    }
}

#[test]
fn a_flipped_cost_table_bit_is_caught() {
    // the full width's energy (about 1.4 uJ = 0x15xxxx pJ) loses 2^20 pJ:
    // budgets between the two values now admit it in the RTL only
    caught(
        |dir| flip_table_bit(dir, 0, 2, 20),
        200,
        &["adaptive width scheduler: inference", "SCHED_STATUS reads"],
    );
}

#[test]
fn a_comparison_off_by_one_is_caught() {
    // a point whose cycles equal the deadline no longer meets it
    caught(
        |dir| {
            edit(
                dir,
                "capim_scheduler.v",
                "(cost[g][63:32] > deadline)",
                "(cost[g][63:32] >= deadline)",
            )
        },
        200,
        &["adaptive width scheduler: inference", "SCHED_STATUS reads"],
    );
}

#[test]
fn a_width_that_follows_the_registers_mid_run_is_caught() {
    // the engine takes the width from the live registers at every layer
    // instead of at the start: the mid-run rewrite changes the running
    // inference's width
    caught(
        |dir| {
            edit(
                dir,
                "capim_conv_engine.v",
                "desc_addr = {layer, width}",
                "desc_addr = {layer, busy ? width_idx : width}",
            )
        },
        1,
        &[
            "adaptive width scheduler: inference 0",
            "but the run is not bit-exact at it",
        ],
    );
}
