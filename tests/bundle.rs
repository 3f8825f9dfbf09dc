//! `capim bundle`: the directory and its tarball are complete and
//! byte-reproducible, the manifest's hashes match, the C header compiles,
//! the FPGA top is clean under Verilator -Wall from the bundle alone, and
//! FuseSoC accepts the core and runs its lint target. Bad options: exit 2,
//! nothing written.

use std::path::Path;
use std::process::{Command, Output};

fn capim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .args(args)
        .output()
        .expect("capim runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SMALL: [&str; 4] = [
    "--config",
    "configs/small.toml",
    "--model",
    "models/skeleton-i8.json",
];

fn bundle(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["bundle", "--out", out.to_str().unwrap()];
    args.extend(SMALL);
    args.extend(extra);
    capim(&args)
}

#[test]
fn the_bundle_is_complete_reproducible_and_opens_in_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("capim-small");
    let o = bundle(&out, &["--part", "xc7a35tcpg236-1", "--clock-mhz", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in [
        "README.md",
        "capim.core",
        "filelist.f",
        "manifest.json",
        "constraints/capim.xdc",
        "scripts/vivado.tcl",
        "scripts/synth.ys",
        "formal/capim_axil_formal.v",
        "formal/formal.ys",
        "include/capim_regs.h",
        "report/cost.json",
        "rtl/capim_fpga_top.v",
        "rtl/capim_axil.v",
        "rtl/capim_top.v",
        "mem/capim_sched.memh",
        "mem/capim_sa_000.memh",
        "design/config.toml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let xdc = std::fs::read_to_string(out.join("constraints/capim.xdc")).unwrap();
    assert!(xdc.contains("-period 20.000"), "{xdc}");
    let tcl = std::fs::read_to_string(out.join("scripts/vivado.tcl")).unwrap();
    assert!(tcl.contains("set part xc7a35tcpg236-1"), "{tcl}");
    assert!(tcl.contains("synth_design -top capim_fpga_top"), "{tcl}");

    // every file's hash is in the manifest
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let sha = m["sha256"].as_object().unwrap();
    assert!(sha.len() > 30);
    for (path, want) in sha {
        let bytes = std::fs::read(out.join(path)).unwrap();
        let got = capim::hw::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(want.as_str().unwrap(), got, "{path}");
    }

    // same inputs: the same tarball, byte for byte
    let tgz = std::fs::read(tmp.path().join("capim-small.tar.gz")).unwrap();
    let o = bundle(&out, &["--part", "xc7a35tcpg236-1", "--clock-mhz", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(tmp.path().join("capim-small.tar.gz")).unwrap(),
        tgz
    );

    // the C header compiles
    let c = tmp.path().join("t.c");
    std::fs::write(
        &c,
        "#include \"capim_regs.h\"\nunsigned f(void) { return CAPIM_CTRL + CAPIM_ACT(3) + CAPIM_ROW(1, 2, 3) + CAPIM_SCHED_TABLE(1, 2); }\n",
    )
    .unwrap();
    let cc = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Werror", "-fsyntax-only", "-I"])
        .arg(out.join("include"))
        .arg(&c)
        .output()
        .unwrap();
    assert!(cc.status.success(), "{}", text(&cc));

    // Verilator -Wall on the FPGA top, from the bundle's files alone
    let files: Vec<String> = std::fs::read_to_string(out.join("filelist.f"))
        .unwrap()
        .lines()
        .map(|l| format!("../{l}"))
        .collect();
    let v = Command::new("verilator")
        .current_dir(out.join("mem"))
        .args(["--lint-only", "-Wall", "--top-module", "capim_fpga_top"])
        .args(&files)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));

    // FuseSoC accepts the core and runs its lint target
    let fs = fusesoc(&out, "lint");
    assert!(fs.status.success(), "{}", text(&fs));
}

/// Runs FuseSoC's `target` of the bundle's core in `dir`.
fn fusesoc(dir: &Path, target: &str) -> Output {
    Command::new("fusesoc")
        .current_dir(dir)
        .args(["--cores-root", ".", "run", "--target", target])
        .arg("capim:accel:skeleton_i8")
        .output()
        .expect("fusesoc (make tools installs it)")
}

/// Runs `sh tb/<script>` in the bundle `dir`.
fn run_tb(dir: &Path, script: &str) -> Output {
    Command::new("sh")
        .current_dir(dir)
        .arg(format!("tb/{script}"))
        .output()
        .unwrap()
}

/// Cuts the bus script after its first inference (a width-0.25 run, the
/// cheapest) and returns the entry index of that inference's first output
/// read.
fn first_inference_only(dir: &Path) -> usize {
    let p = dir.join("mem/capim_tb.memh");
    let lines: Vec<String> = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let cycles = format!("00000002{:08x}", capim::hw::regs::CYCLES.addr * 4);
    let end = lines.iter().position(|l| l.starts_with(&cycles)).unwrap();
    let wait = lines
        .iter()
        .position(|l| l.starts_with("00000003"))
        .unwrap();
    let first_read = (wait..end)
        .find(|&i| lines[i].starts_with("00000002"))
        .unwrap();
    let mut kept = lines[..=end].to_vec();
    kept.push(format!("{:024x}", 0));
    std::fs::write(&p, kept.join("\n") + "\n").unwrap();
    first_read
}

/// The bundled testbench: the whole bus script (every width) passes under
/// Verilator; its first inference passes under Icarus, directly and as
/// FuseSoC's `sim` target; one corrupted expected value fails both
/// simulators, naming the entry. (The whole script under Icarus takes
/// about 4 minutes on this design.)
#[test]
fn the_testbench_passes_under_two_simulators_and_catches_a_corrupted_vector() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let o = bundle(&out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_tb(&out, "run_verilator.sh");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("capim_tb: PASS"), "{}", text(&o));

    let first_read = first_inference_only(&out);
    let o = run_tb(&out, "run_icarus.sh");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("capim_tb: PASS"), "{}", text(&o));
    let fs = fusesoc(&out, "sim");
    assert!(fs.status.success(), "{}", text(&fs));
    assert!(text(&fs).contains("capim_tb: PASS"), "{}", text(&fs));

    // one expected output lane off by one
    let p = out.join("mem/capim_tb.memh");
    let mut lines: Vec<String> = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let v = u128::from_str_radix(&lines[first_read], 16).unwrap() ^ 1;
    lines[first_read] = format!("{v:024x}");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    for sim in ["run_icarus.sh", "run_verilator.sh"] {
        let o = run_tb(&out, sim);
        assert!(!o.status.success(), "{sim}: {}", text(&o));
        let want = format!("capim_tb: FAIL at entry {first_read}: read");
        assert!(text(&o).contains(&want), "{sim}: {}", text(&o));
    }
}

#[test]
fn bad_options_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    for (args, field) in [
        (vec!["--clock-mhz", "0"], "--clock-mhz"),
        (vec!["--clock-mhz", "NaN"], "--clock-mhz"),
        (vec!["--part", "xc7 a35"], "--part"),
    ] {
        let o = bundle(&out, &args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(field), "{}", text(&o));
        assert!(!out.exists() && !tmp.path().join("b.tar.gz").exists());
    }
}
