//! An accelerator described in Rust code instead of a TOML file, generated
//! and verified bit-exactly against the reference at every width.
//!
//! ```sh
//! cargo run --release --example custom_array [-- OUT_DIR]   # default OUT_DIR: target/custom-array
//! ```
//!
//! Needs Verilator on `PATH` (as `capim verify` does).

use capim::emit::{self, OutDir};
use capim::hw::{ArrayConfig, SubArray};
use capim::verify::{self, Options};
use std::path::PathBuf;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn run() -> capim::Result<()> {
    // The hardware: 16 SOT-MRAM computational sub-arrays of 512 x 128 cells
    // and a 16-bit datapath. Sizes are checked like a configuration file's.
    let acc = ArrayConfig::new(
        16,
        SubArray {
            rows: 512,
            cols: 128,
            count: 16,
        },
    )?;
    let engine = acc.engine();
    println!(
        "accelerator: {} sub-arrays of {}x{}, gating controller over {}, {}-bit engine ({} lanes per activation word, {}-bit accumulators)",
        acc.subarray.count,
        acc.subarray.rows,
        acc.subarray.cols,
        acc.gating().count,
        engine.precision,
        engine.lanes,
        engine.accumulator_bits
    );

    // The network: a small whole CA-DNN (stem, residual blocks, pooling,
    // classifier) at widths 0.25 .. 1.0, synthesized deterministically.
    let model = capim::model::synth::synth("tinynet", acc.precision, 7)?;

    // Generate RTL, weight images and manifest, and write them atomically.
    let generated = emit::generate(&acc, &model)?;
    let lay = &generated.layout;
    println!(
        "layout: {} of {} rows used per sub-array, activation memory {} lanes",
        lay.rows_used, lay.rows, lay.act_depth
    );
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/custom-array"));
    let dir = OutDir::write(&generated, &out)?;

    // Co-simulate it with Verilator against the Rust reference.
    let design = dir.load()?;
    let report = verify::verify(&design, &Options::default())?;
    for w in &report.widths {
        let cycles: u64 = w.layers.iter().map(|l| l.cycles).sum();
        println!("  width {:<5} {cycles:>8} cycles", w.width);
    }
    println!(
        "PASS: {} outputs bit-exact in {}, switching {:?} without weight reload",
        report.outputs_compared,
        out.display(),
        report.switch_sequence
    );
    Ok(())
}
