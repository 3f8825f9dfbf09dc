//! `capim bundle`: the directory and its tarball are complete and
//! byte-reproducible, the manifest's hashes match, the C header compiles;
//! `--prove` passes on the smallest configuration (Verilator -Wall, the
//! testbench under Verilator and FuseSoC/Icarus, FuseSoC lint, the formal
//! check, Yosys synth_xilinx, nextpnr-ecp5) and records figures and tool
//! versions; a corrupted vector fails both simulators and the proof. Bad
//! options and missing tools: exit 2, nothing written.

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

/// The smallest array that holds the skeleton model: one sub-array of
/// 1024 x 32 (written into `dir`).
fn tiny_config(dir: &Path) -> String {
    let p = dir.join("tiny.toml");
    std::fs::write(
        &p,
        "precision = 8\n[subarray]\nrows = 1024\ncols = 32\ncount = 1\n",
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

/// `capim bundle` of the skeleton model on the tiny configuration.
fn bundle(out: &Path, extra: &[&str]) -> Output {
    let cfg = tiny_config(out.parent().unwrap());
    let mut args = vec!["bundle", "--out", out.to_str().unwrap()];
    args.extend(["--config", &cfg, "--model", "models/skeleton-i8.json"]);
    args.extend(extra);
    capim(&args)
}

/// Every file under `dir` (relative path -> contents).
fn read_tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The proved bundle: complete, hashes right, every proof step passed with
/// figures, the tools' versions recorded; without `--prove` the same files
/// but the proof and the manifest, and a byte-reproducible tarball.
#[test]
fn a_proved_bundle_is_complete_reproducible_and_opens_in_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("capim-tiny");
    let o = bundle(
        &out,
        &[
            "--part",
            "xc7a35tcpg236-1",
            "--clock-mhz",
            "50",
            "--prove",
            "--quick-pnr",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("capim bundle: proved ("), "{}", text(&o));
    for f in [
        "README.md",
        "capim.core",
        "filelist.f",
        "manifest.json",
        "constraints/capim.xdc",
        "constraints/capim_ecp5.lpf",
        "scripts/vivado.tcl",
        "scripts/synth.ys",
        "formal/capim_axil_formal.v",
        "formal/formal.ys",
        "include/capim_regs.h",
        "report/cost.json",
        "report/proof.json",
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
    let lpf = std::fs::read_to_string(out.join("constraints/capim_ecp5.lpf")).unwrap();
    assert!(lpf.contains("FREQUENCY PORT \"clk\" 50 MHZ;"), "{lpf}");
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

    // the proof: every step passed, with its figures
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report/proof.json")).unwrap()).unwrap();
    let steps = &p["steps"];
    for s in ["lint", "sim_verilator", "fusesoc", "formal"] {
        assert_eq!(steps[s]["passed"], true, "{s}: {p}");
    }
    // the whole bus script ran, under both simulators
    let entries = steps["sim_verilator"]["script_entries"].as_u64().unwrap();
    assert!(
        steps["sim_verilator"]["reads_checked"].as_u64().unwrap() > 100,
        "{p}"
    );
    assert_eq!(steps["fusesoc"]["script_entries"].as_u64(), Some(entries));
    assert_eq!(steps["formal"]["depth"], 24);
    let x = &steps["synth_xilinx"];
    for k in ["lut", "ff", "dsp"] {
        assert!(x[k].as_u64().unwrap() > 0, "{k}: {p}");
    }
    // the sub-array (1024 x 32 bits) in block RAM
    assert!(x["bram36"].as_f64().unwrap() >= 1.0, "{p}");
    let e = &steps["pnr_ecp5"];
    let fmax = e["fmax_mhz"].as_f64().unwrap();
    assert!(fmax > 1.0 && fmax < 1000.0, "{p}");
    assert_eq!(e["target_mhz"], 50.0);
    assert_eq!(e["timing_driven"], false);
    let comb = &e["utilization"]["TRELLIS_COMB"];
    assert!(comb["used"].as_u64().unwrap() > 0, "{p}");
    assert!(comb["used"].as_u64() <= comb["available"].as_u64(), "{p}");
    // the tools that proved it, with their versions
    let tools = m["proved_by"]["tools"].as_object().unwrap();
    for t in [
        "verilator",
        "iverilog",
        "yosys",
        "fusesoc",
        "yices",
        "nextpnr-ecp5",
    ] {
        assert!(!tools[t].as_str().unwrap().is_empty(), "{t}: {m}");
    }
    let v = Command::new("verilator").arg("--version").output().unwrap();
    assert_eq!(
        tools["verilator"].as_str().unwrap(),
        String::from_utf8_lossy(&v.stdout)
            .lines()
            .next()
            .unwrap()
            .trim()
    );
    assert_eq!(m["proved_by"]["figures"], "report/proof.json");

    // without --prove: the same files but the proof and the manifest
    let plain = tmp.path().join("plain");
    let o = bundle(&plain, &["--part", "xc7a35tcpg236-1", "--clock-mhz", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (mut a, mut b) = (read_tree(&out), read_tree(&plain));
    assert!(a.remove("report/proof.json").is_some());
    assert!(b.remove("report/proof.json").is_none());
    let (ma, mb) = (a.remove("manifest.json"), b.remove("manifest.json"));
    assert_ne!(ma, mb);
    assert_eq!(a, b);
    let pm: serde_json::Value = serde_json::from_slice(&mb.unwrap()).unwrap();
    assert!(pm["proved_by"].is_null());

    // same inputs: the same tarball, byte for byte
    let tgz = std::fs::read(tmp.path().join("plain.tar.gz")).unwrap();
    let o = bundle(&plain, &["--part", "xc7a35tcpg236-1", "--clock-mhz", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(tmp.path().join("plain.tar.gz")).unwrap(), tgz);

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

/// The bundled testbench's own scripts: the first inference passes under
/// Icarus (`tb/run_icarus.sh`; the whole script under both simulators is
/// proved by `--prove` above); one corrupted expected value fails both
/// simulators, naming the entry, and fails the proof at its simulation step.
#[test]
fn the_testbench_catches_a_corrupted_vector_in_both_simulators_and_the_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let o = bundle(&out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let first_read = first_inference_only(&out);
    let o = run_tb(&out, "run_icarus.sh");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("capim_tb: PASS"), "{}", text(&o));

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
    let want = format!("capim_tb: FAIL at entry {first_read}: read");
    for sim in ["run_icarus.sh", "run_verilator.sh"] {
        let o = run_tb(&out, sim);
        assert!(!o.status.success(), "{sim}: {}", text(&o));
        assert!(text(&o).contains(&want), "{sim}: {}", text(&o));
    }
    let e = capim::fpga::prove::prove(
        &out,
        "capim:accel:skeleton_i8",
        50.0,
        capim::fpga::prove::Pnr::Quick,
    )
    .expect_err("the proof of a corrupted bundle fails");
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(msg.contains("step `sim_verilator`"), "{msg}");
    assert!(msg.contains(&want), "{msg}");
}

/// A missing proof tool (here the PyPI ones: FuseSoC, nextpnr-ecp5, with
/// `PATH` cut to the system directories): exit 2 naming the tool and its
/// install command, nothing written.
#[test]
fn prove_without_its_tools_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let cfg = tiny_config(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_capim"))
        .env("PATH", "/usr/bin:/bin")
        .args(["bundle", "--prove", "--config", &cfg, "--out"])
        .arg(&out)
        .args(["--model", "models/skeleton-i8.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("was not found on PATH"), "{}", text(&o));
    assert!(text(&o).contains("pip install"), "{}", text(&o));
    assert!(!out.exists() && !tmp.path().join("b.tar.gz").exists());
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
