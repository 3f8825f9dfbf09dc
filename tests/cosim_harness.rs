//! The Verilator co-simulation harness and the RTL lint, on a small
//! hand-written `capim_top` (tests/fixtures/harness_top). These tests need
//! verilator, yosys, iverilog and a C++ compiler; they fail (not skip) when
//! one is missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use capim::Error;
use capim::cosim::{self, RunResult, Sim};
use capim::lint::{self, Synth};

const START: u32 = 0x200;
const BUSY_CYCLES: u32 = 0x201;
const ROM: u32 = 0x100;
const UNMAPPED: u32 = 0xDEAD_BEEF;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/harness_top")
}

fn filelist() -> Vec<PathBuf> {
    vec![PathBuf::from("capim_top.v")]
}

/// The fixture's harness, built once per test process into the target
/// directory (reused across runs through the build stamp).
fn harness() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let build_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cosim_harness_top");
        let built = cosim::build(&fixture_dir(), &filelist(), &build_dir)
            .unwrap_or_else(|e| panic!("building the fixture harness: {e}"));
        eprintln!(
            "fixture harness: {:.2} s (cached: {})",
            built.seconds, built.cached
        );
        built.exe
    })
}

fn spawn() -> Sim {
    Sim::spawn(harness(), &fixture_dir(), None).unwrap_or_else(|e| panic!("spawn: {e}"))
}

fn rom_words() -> Vec<u32> {
    std::fs::read_to_string(fixture_dir().join("rom.hex"))
        .expect("rom.hex")
        .split_whitespace()
        .map(|w| u32::from_str_radix(w, 16).expect("hex word"))
        .collect()
}

/// A copy of the fixture in a temporary directory, with `edit` applied to
/// the Verilog source.
fn fixture_copy(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::fs::read_to_string(fixture_dir().join("capim_top.v")).expect("fixture");
    std::fs::write(dir.path().join("capim_top.v"), edit(&src)).expect("write copy");
    std::fs::copy(fixture_dir().join("rom.hex"), dir.path().join("rom.hex")).expect("copy rom");
    dir
}

/// Adds a declared, driven, never-read signal: `-Wall` reports UNUSEDSIGNAL.
/// (Not named `*unused*`: Verilator's default `--unused-regexp` exempts
/// such names.)
fn plant_unused_signal(src: &str) -> String {
    let anchor = "  assign busy       = count != 32'd0;";
    assert!(src.contains(anchor), "fixture changed; update the plant");
    src.replace(
        anchor,
        &format!("  wire planted_dangling = host_wdata[0];\n{anchor}"),
    )
}

#[test]
fn write_read_round_trip() {
    let mut sim = spawn();
    sim.reset(3).unwrap();
    let data: Vec<u32> = (0..16u32)
        .map(|i| i.wrapping_mul(0x0101_0101) ^ 0xA5A5_0000)
        .collect();
    sim.write(0, &data).unwrap();
    assert_eq!(sim.read(0, 16).unwrap(), data);
    // A partial, offset read and a single-word rewrite.
    sim.write(5, &[0xFFFF_FFFF]).unwrap();
    let got = sim.read(4, 3).unwrap();
    assert_eq!(got, vec![data[4], 0xFFFF_FFFF, data[6]]);
    // The ROM was loaded by $readmemh relative to the simulation's cwd.
    assert_eq!(sim.read(ROM, 16).unwrap(), rom_words());
    assert_eq!(sim.read(0x1234_5678, 1).unwrap(), vec![UNMAPPED]);
    assert_eq!(sim.read(0, 0).unwrap(), Vec::<u32>::new());
    assert_eq!(sim.harness_cycles().unwrap(), sim.cycles());
    assert_eq!(sim.cycles(), 3 + 16 + 16 + 1 + 3 + 16 + 1);
    sim.quit().unwrap();
}

#[test]
fn big_read_is_one_frame_and_fast() {
    let mut sim = spawn();
    sim.reset(1).unwrap();
    let data: Vec<u32> = (0..16u32).map(|i| 1000 + i).collect();
    sim.write(0, &data).unwrap();
    let t = Instant::now();
    let words = sim.read(0, 10_000).unwrap();
    let dt = t.elapsed();
    assert_eq!(words.len(), 10_000);
    assert_eq!(&words[..16], &data[..]);
    assert_eq!(&words[0x100..0x110], &rom_words()[..]);
    assert_eq!(words[0x200], 0, "START reads the remaining count");
    assert_eq!(words[0x300], UNMAPPED);
    eprintln!("read of 10000 words: {:.2} ms", dt.as_secs_f64() * 1e3);
    assert!(dt.as_secs_f64() < 1.0, "10k-word read took {dt:?}");
    sim.quit().unwrap();
}

#[test]
fn run_to_completion_counts_cycles() {
    let mut sim = spawn();
    sim.reset(2).unwrap();
    sim.write(START, &[1000]).unwrap();
    let r = sim.run(10_000).unwrap();
    assert_eq!(
        r,
        RunResult {
            finished: true,
            cycles: 1000
        }
    );
    assert_eq!(sim.read(BUSY_CYCLES, 1).unwrap(), vec![1000]);
    // Not busy: finishes after the one clock it always takes.
    assert_eq!(
        sim.run(50).unwrap(),
        RunResult {
            finished: true,
            cycles: 1
        }
    );
    // A bound above u32::MAX travels in one frame.
    sim.write(START, &[7]).unwrap();
    assert_eq!(
        sim.run(1 << 40).unwrap(),
        RunResult {
            finished: true,
            cycles: 7
        }
    );
    assert_eq!(sim.harness_cycles().unwrap(), sim.cycles());
    sim.quit().unwrap();
}

#[test]
fn run_past_max_cycles_is_not_finished() {
    let mut sim = spawn();
    sim.reset(1).unwrap();
    sim.write(START, &[1000]).unwrap();
    let r = sim.run(300).unwrap();
    assert_eq!(
        r,
        RunResult {
            finished: false,
            cycles: 300
        }
    );
    assert_eq!(
        sim.run(0).unwrap(),
        RunResult {
            finished: false,
            cycles: 0
        }
    );
    // The accelerator kept its state: the rest of the work finishes.
    // The read samples the count at the edge where it steps from 700 to 699.
    assert_eq!(sim.read(START, 1).unwrap(), vec![700]);
    let r = sim.run(10_000).unwrap();
    assert_eq!(
        r,
        RunResult {
            finished: true,
            cycles: 699
        }
    );
    sim.quit().unwrap();
}

#[test]
fn run_loop_throughput() {
    let mut sim = spawn();
    sim.reset(1).unwrap();
    sim.write(START, &[u32::MAX]).unwrap();
    let n = 5_000_000;
    let t = Instant::now();
    let r = sim.run(n).unwrap();
    let dt = t.elapsed().as_secs_f64();
    assert!(!r.finished);
    assert_eq!(r.cycles, n);
    let rate = n as f64 / dt;
    eprintln!(
        "RUN loop: {n} cycles in {dt:.3} s = {:.2} M cycles/s",
        rate / 1e6
    );
    assert!(rate > 200_000.0, "RUN loop only {rate:.0} cycles/s");
    sim.quit().unwrap();
}

#[test]
fn trace_is_written_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let fst = dir.path().join("wave.fst");
    let mut sim = Sim::spawn(harness(), &fixture_dir(), Some(&fst)).unwrap();
    sim.reset(2).unwrap();
    sim.write(START, &[20]).unwrap();
    assert!(sim.run(100).unwrap().finished);
    sim.quit().unwrap();
    let len = std::fs::metadata(&fst).expect("trace file").len();
    assert!(len > 0, "empty trace");
    // No trace unless asked.
    let mut sim = spawn();
    sim.reset(1).unwrap();
    sim.quit().unwrap();
    assert!(!fixture_dir().join("wave.fst").exists());
}

#[test]
fn missing_image_fails_spawn_with_stderr() {
    let dir = tempfile::tempdir().unwrap(); // no rom.hex here
    let err = Sim::spawn(harness(), dir.path(), None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Verification(_)), "{err:?}");
    assert_eq!(err.exit_code(), 1);
    assert!(msg.contains("rom.hex"), "{msg}");
}

#[test]
fn dead_harness_is_a_verification_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Sim::spawn(&dir.path().join("no-such-harness"), &fixture_dir(), None).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    // A process that exits at once: the first reply is missing.
    let err = Sim::spawn(Path::new("/bin/false"), &fixture_dir(), None).unwrap_err();
    assert!(matches!(err, Error::Verification(_)), "{err:?}");
    assert!(err.to_string().contains("exited with"), "{err}");
    // Dropping a live simulation kills it rather than hanging.
    let mut sim = spawn();
    sim.reset(1).unwrap();
    drop(sim);
}

#[test]
fn harness_dying_mid_run_is_a_verification_error_with_its_stderr() {
    // Writing to 0x300 ends the simulation with $finish, in the middle of a
    // WRITE frame.
    let rtl = fixture_copy(|s| {
        let anchor = "  assign busy       = count != 32'd0;";
        assert!(s.contains(anchor), "fixture changed; update the edit");
        s.replace(
            anchor,
            &format!(
                "  always @(posedge clk) if (host_we && host_addr == 32'h300) \
                 begin $display(\"planted stop\"); $finish; end\n{anchor}"
            ),
        )
    });
    let build_dir = tempfile::tempdir().unwrap();
    let built = cosim::build(rtl.path(), &filelist(), build_dir.path()).unwrap();
    let mut sim = Sim::spawn(&built.exe, rtl.path(), None).unwrap();
    sim.reset(1).unwrap();
    let err = sim.write(0x2FE, &[1, 2, 3, 4]).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, Error::Verification(_)), "{err:?}");
    assert!(msg.contains("planted stop"), "{msg}");
    assert!(msg.contains("$finish"), "{msg}");
    // Later calls keep failing the same way rather than hanging.
    assert!(matches!(sim.read(0, 1), Err(Error::Verification(_))));
}

#[test]
fn second_build_is_cached_and_an_edit_rebuilds() {
    let rtl = fixture_copy(|s| s.to_string());
    let build_dir = tempfile::tempdir().unwrap();
    let cold = cosim::build(rtl.path(), &filelist(), build_dir.path()).unwrap();
    assert!(!cold.cached);
    let warm = cosim::build(rtl.path(), &filelist(), build_dir.path()).unwrap();
    assert!(warm.cached);
    assert_eq!(warm.exe, cold.exe);
    assert!(
        warm.seconds < 0.5,
        "cached build took {:.3} s",
        warm.seconds
    );
    eprintln!(
        "fixture build: cold {:.2} s, cached {:.4} s",
        cold.seconds, warm.seconds
    );
    // A changed input byte means a new build; the new harness works.
    std::fs::write(
        rtl.path().join("capim_top.v"),
        std::fs::read_to_string(rtl.path().join("capim_top.v")).unwrap() + "// edited\n",
    )
    .unwrap();
    let edited = cosim::build(rtl.path(), &filelist(), build_dir.path()).unwrap();
    assert!(!edited.cached);
    eprintln!("fixture rebuild after an edit: {:.2} s", edited.seconds);
    let mut sim = Sim::spawn(&edited.exe, rtl.path(), None).unwrap();
    sim.reset(1).unwrap();
    sim.write(START, &[3]).unwrap();
    assert_eq!(sim.run(10).unwrap().cycles, 3);
    sim.quit().unwrap();
}

#[test]
fn build_rejects_a_wall_warning() {
    let rtl = fixture_copy(plant_unused_signal);
    let build_dir = tempfile::tempdir().unwrap();
    let err = cosim::build(rtl.path(), &filelist(), build_dir.path()).unwrap_err();
    match &err {
        Error::ToolFailed { tool, msg } => {
            assert_eq!(tool, "verilator");
            assert!(msg.contains("UNUSEDSIGNAL"), "{msg}");
            assert!(msg.contains("planted_dangling"), "{msg}");
        }
        other => panic!("expected ToolFailed, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
    // A missing source is an I/O error naming it.
    let err = cosim::build(rtl.path(), &[PathBuf::from("nope.v")], build_dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.v"), "{err}");
}

#[test]
fn lint_passes_on_the_fixture() {
    let report = lint::lint(&fixture_dir(), &filelist(), "capim_top").unwrap();
    assert_eq!(report.synth, Synth::Generic);
    assert_eq!(report.image_bits, 16 * 32);
    let tools: Vec<&str> = report.tools.iter().map(|t| t.tool).collect();
    assert_eq!(tools, ["verilator", "yosys", "iverilog"]);
    for t in &report.tools {
        assert!(t.ok, "{}: {}", t.tool, t.output);
        eprintln!("lint {}: {:.2} s", t.tool, t.seconds);
    }
}

#[test]
fn lint_passes_with_synth_xilinx() {
    let report = lint::lint_with(&fixture_dir(), &filelist(), "capim_top", Synth::Xilinx).unwrap();
    assert_eq!(report.synth, Synth::Xilinx);
    assert!(report.tools.iter().all(|t| t.ok));
}

#[test]
fn lint_fails_on_a_planted_wall_warning() {
    let rtl = fixture_copy(plant_unused_signal);
    let err = lint::lint(rtl.path(), &filelist(), "capim_top").unwrap_err();
    match &err {
        Error::ToolFailed { tool, msg } => {
            // Only verilator -Wall objects to an unused signal.
            assert_eq!(tool, "verilator");
            assert!(msg.contains("UNUSEDSIGNAL"), "{msg}");
            assert!(msg.contains("planted_dangling"), "{msg}");
        }
        other => panic!("expected ToolFailed, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
}

/// A syntax error: the first tools to reject it are named as failed, the
/// others as stopped early (the lint fails fast), so every tool is named.
#[test]
fn lint_fails_on_a_syntax_error_and_names_every_tool() {
    let rtl = fixture_copy(|s| s.replace("assign busy       =", "assign busy       = = "));
    let err = lint::lint(rtl.path(), &filelist(), "capim_top").unwrap_err();
    match &err {
        Error::ToolFailed { tool, msg } => {
            let failed: Vec<&str> = tool.split(", ").collect();
            assert!(!failed.is_empty(), "{err}");
            let stopped = msg
                .lines()
                .last()
                .filter(|l| l.contains("stopped early"))
                .unwrap_or("");
            for t in ["verilator", "yosys", "iverilog"] {
                assert!(
                    failed.contains(&t) != stopped.contains(t),
                    "{t} neither failed nor stopped (or both): {err}"
                );
            }
        }
        other => panic!("expected ToolFailed, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn lint_rejects_bad_input_without_running() {
    let err = lint::lint(&fixture_dir(), &[PathBuf::from("missing.v")], "capim_top").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let err = lint::lint(&fixture_dir(), &filelist(), "capim top; exit").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(
        capim::tools::require_tool("capim-no-such-tool-on-path"),
        Err(Error::MissingTool { .. })
    ));
}
