//! The AXI4-Lite slave: `capim formal` proves its handshake properties for
//! 24 cycles with every cover reached; planted faults (a write response
//! dropped while BREADY is low, read data that changes while RREADY is low)
//! fail the proof with a counterexample; the slave is clean under
//! Verilator -Wall, Yosys and Icarus.

use capim::fpga::{AXIL_MODULE, AXIL_V, formal};
use std::path::{Path, PathBuf};

mod common;
use common::{capim, edit, text};

#[test]
fn the_handshake_properties_hold_for_24_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("formal");
    let o = capim(&["formal", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("PASS") && t.contains("24 cycles"), "{t}");
    assert!(t.contains("all 3 covers reached"), "{t}");
    for f in [
        "capim_axil.v",
        "capim_axil_formal.v",
        "formal.ys",
        "prove.log",
        "cover.log",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // a bound below 20 is refused
    let o = capim(&["formal", "--depth", "8"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `AXIL_V` with `from` (occurring once) replaced by `to`, as written
/// into `dir`.
fn planted(dir: &Path, from: &str, to: &str) -> String {
    let f = format!("{AXIL_MODULE}.v");
    std::fs::write(dir.join(&f), AXIL_V).unwrap();
    edit(dir, &f, from, to);
    std::fs::read_to_string(dir.join(&f)).unwrap()
}

#[test]
fn a_write_response_dropped_under_backpressure_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = planted(
        tmp.path(),
        "if (s_axil_bvalid && s_axil_bready) s_axil_bvalid <= 1'b0;",
        "if (s_axil_bvalid) s_axil_bvalid <= 1'b0;",
    );
    let e = formal::check(&bad, tmp.path(), 24).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(m.contains("Assert failed") && m.contains("fail.vcd"), "{m}");
    assert!(tmp.path().join("fail.vcd").is_file());
}

#[test]
fn read_data_changing_under_backpressure_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = planted(
        tmp.path(),
        "            if (rd_wait) begin",
        "            if (s_axil_rvalid) s_axil_rdata <= host_rdata;\n            if (rd_wait) begin",
    );
    let e = formal::check(&bad, tmp.path(), 24).unwrap_err();
    assert!(e.to_string().contains("Assert failed"), "{e}");
}

#[test]
fn the_slave_is_lint_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let f = format!("{AXIL_MODULE}.v");
    std::fs::write(tmp.path().join(&f), AXIL_V).unwrap();
    let rep = capim::lint::lint(tmp.path(), &[PathBuf::from(&f)], AXIL_MODULE).unwrap();
    assert!(rep.tools.iter().all(|t| t.ok), "{rep:?}");
}
