//! The generated RTL is clean under Verilator -Wall, Yosys synthesis and
//! Icarus -g2012 (DESIGN.md section 5), and the lint catches a planted warning.

use std::path::Path;

mod common;
use common::{capim, edit, text};

fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec!["gen", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = capim(&args);
    assert!(o.status.success(), "{}", text(&o));
}

/// A small 16-bit design (the skeleton on one sub-array of 2048x32) is
/// clean under all three tools (multi-array RTL: Verilator -Wall in every
/// co-simulation, e.g. 8 sub-arrays in tests/cosim_verify.rs; all three
/// tools in `make lint`). The templates are the same for every size;
/// Yosys takes about a minute here and minutes on larger designs. The 8-bit
/// RTL is checked by `capim bundle --prove` in tests/bundle.rs (Verilator
/// -Wall, Yosys, Icarus through FuseSoC), so only 16 bits runs here (CI
/// time). The default ResNet-20 design is built with Verilator -Wall by
/// every `capim verify` of it, the test
/// `default_resnet20_is_bit_exact_at_every_width` included; `make lint`
/// runs all three tools on it.
#[test]
fn rtl_is_lint_clean_in_16_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rtl");
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "precision = 16\n[subarray]\nrows = 2048\ncols = 32\ncount = 1\n",
    )
    .unwrap();
    generate(
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--model",
            "models/skeleton-i16.json",
        ],
    );
    let o = capim(&["lint", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("clean under Verilator -Wall"));
}

/// A -Wall warning planted in generated RTL fails `capim lint` (exit 1)
/// and names Verilator. (Clean generated RTL: the test above.)
#[test]
fn a_planted_warning_in_generated_rtl_fails_the_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("small.toml");
    let dir = tmp.path().join("rtl");
    std::fs::write(
        &cfg,
        "precision = 8\n[subarray]\nrows = 1024\ncols = 32\ncount = 1\n",
    )
    .unwrap();
    generate(
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--model",
            "models/skeleton-i8.json",
        ],
    );
    // An unused signal is a -Wall warning: the lint must fail and name Verilator.
    edit(
        &dir,
        "capim_top.v",
        "    assign host_rdata = rdata;",
        "    wire planted_dangling = host_we;\n    assign host_rdata = rdata;",
    );
    let o = capim(&["lint", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("verilator"), "{}", text(&o));
    // and stops Yosys, which would take a minute more
    assert!(text(&o).contains("stopped early"), "{}", text(&o));
}
