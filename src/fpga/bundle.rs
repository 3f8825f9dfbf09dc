//! `capim bundle`: one directory an FPGA engineer's tools open without
//! edits, and a byte-reproducible tarball of it.
//!
//! - `rtl/`: capim's Verilog (the design of `capim gen`), the AXI4-Lite
//!   slave and the FPGA top `capim_fpga_top`;
//! - `mem/`: the weight, descriptor, requantization and cost-table images
//!   (`$readmemh` by bare file name: simulators and Yosys run in `mem/`,
//!   Vivado reads them with `read_mem`, FuseSoC copies them to its work
//!   directory);
//! - `constraints/capim.xdc`: the clock;
//! - `scripts/`: Vivado non-project TCL (synthesis, placement, routing,
//!   utilization and timing reports) and a Yosys `synth_xilinx` script;
//! - `tb/`: a self-checking SystemVerilog testbench of the FPGA top over
//!   AXI4-Lite and its run scripts (Icarus, Verilator), its bus script in
//!   `mem/` ([`super::tb`]);
//! - `formal/`: the AXI4-Lite proof (harness and Yosys script);
//! - `include/capim_regs.h`: the register map and tensor regions for C;
//! - `capim.core` (FuseSoC CAPI2: `lint` with Verilator, `synth` with
//!   Yosys), `filelist.f`;
//! - `design/`: configuration, technology, model and the generator's
//!   manifest; `report/`: the cost per width;
//! - `manifest.json`: capim version, configuration and model hashes, the
//!   SHA-256 of every file; `README.md` for the FPGA engineer.

use crate::cost::tech::Tech;
use crate::cost::tradeoff::TradeOff;
use crate::emit::{Generated, RTL};
use crate::error::{Error, Result};
use crate::hw::regs::{self, RowWindow, Span};
use crate::hw::{ArrayConfig, TOP_MODULE, hex};
use crate::model::Model;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use super::{ECP5_NETLIST, FPGA_TOP, LPF_FILE, XILINX_STAT};
const FPGA_TOP_V: &str = include_str!("../../templates/cells/capim_fpga_top.v");
/// AXI4-Lite byte-address bits: the host map's word addresses are below
/// 2^28 ([`regs::MAP`]), so byte addresses fit 30 bits.
pub const AXI_ADDR_BITS: u32 = 30;
/// The bundle's own manifest.
pub const MANIFEST: &str = "manifest.json";
/// Random images of the testbench (besides the edge cases) and their seed.
const TB_IMAGES: usize = 1;
const TB_SEED: u64 = 1;

/// Target of the Vivado scripts and the clock constraint.
#[derive(Debug, Clone)]
pub struct Target {
    /// Xilinx part, e.g. `xc7z020clg400-1`.
    pub part: String,
    pub clock_mhz: f64,
}

impl Default for Target {
    /// A Zynq-7020 (PYNQ-Z2, Zybo Z7-20) at 100 MHz.
    fn default() -> Self {
        Target {
            part: "xc7z020clg400-1".into(),
            clock_mhz: 100.0,
        }
    }
}

/// Every file of the bundle but the manifest (path -> contents), from a
/// generated design; [`manifest`] adds it.
pub fn files(
    g: &Generated,
    cfg: &ArrayConfig,
    model: &Model,
    tech: &Tech,
    target: &Target,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut f: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let header = rtl_header(g)?;
    let mut rtl: Vec<String> = RTL.iter().map(|r| r.file()).collect();
    for r in &rtl {
        f.insert(format!("rtl/{r}"), gen_file(g, r)?.to_vec());
    }
    for (name, src) in [
        (format!("{}.v", super::AXIL_MODULE), super::AXIL_V),
        (format!("{FPGA_TOP}.v"), FPGA_TOP_V),
    ] {
        f.insert(
            format!("rtl/{name}"),
            format!("{header}\n{src}").into_bytes(),
        );
        rtl.push(name);
    }
    let mut mems: Vec<String> = g
        .files
        .keys()
        .filter(|k| k.ends_with(".memh"))
        .cloned()
        .collect();
    for m in &mems {
        f.insert(format!("mem/{m}"), g.files[m].clone());
    }
    // the testbench and its bus script
    let ops = super::tb::script(g, model, TB_SEED, TB_IMAGES);
    f.insert(
        format!("mem/{}", super::tb::SCRIPT),
        super::tb::memh(&ops).into_bytes(),
    );
    mems.push(super::tb::SCRIPT.to_string());
    let depth = ops.len() + 1;
    let tb = super::tb::TB_SV.replace(
        "localparam integer DEPTH = 1;",
        &format!("localparam integer DEPTH = {depth};"),
    );
    f.insert(
        format!("tb/{}.sv", super::tb::TB_TOP),
        format!("{header}\n{tb}").into_bytes(),
    );
    f.insert("tb/run_icarus.sh".into(), run_icarus().into_bytes());
    f.insert("tb/run_verilator.sh".into(), run_verilator().into_bytes());
    for (k, v) in &g.files {
        if !k.ends_with(".v") && !k.ends_with(".memh") && k != crate::emit::outdir::FILELIST {
            f.insert(format!("design/{k}"), v.clone());
        }
    }
    let filelist: String = rtl.iter().map(|r| format!("rtl/{r}\n")).collect();
    f.insert("filelist.f".into(), filelist.into_bytes());
    f.insert("constraints/capim.xdc".into(), xdc(target).into_bytes());
    f.insert(
        LPF_FILE.into(),
        super::prove::lpf(target.clock_mhz).into_bytes(),
    );
    f.insert(
        "scripts/vivado.tcl".into(),
        vivado_tcl(&rtl, &mems, target).into_bytes(),
    );
    f.insert("scripts/synth.ys".into(), yosys_script(&rtl).into_bytes());
    f.insert(
        "scripts/synth_ecp5.ys".into(),
        yosys_ecp5_script(&rtl).into_bytes(),
    );
    f.insert(
        "formal/capim_axil_formal.v".into(),
        super::formal::HARNESS_V.as_bytes().to_vec(),
    );
    f.insert(
        "formal/formal.ys".into(),
        super::formal::yosys_script(&format!("../rtl/{}.v", super::AXIL_MODULE)).into_bytes(),
    );
    f.insert(
        "include/capim_regs.h".into(),
        c_header(g, model).into_bytes(),
    );
    f.insert(
        "capim.core".into(),
        fusesoc_core(model, &rtl, &mems).into_bytes(),
    );
    let t = TradeOff::new(&g.layout, model, tech);
    f.insert("report/cost.json".into(), t.json_bytes());
    f.insert(
        "README.md".into(),
        readme(g, cfg, model, target).into_bytes(),
    );
    Ok(f)
}

/// Adds `manifest.json`: capim version, target, configuration and model
/// hashes, the SHA-256 of every other file and, for a proved bundle, the
/// tools that proved it (their figures are in [`super::prove::PROOF_FILE`]).
pub fn manifest(
    f: &mut BTreeMap<String, Vec<u8>>,
    g: &Generated,
    target: &Target,
    proof: Option<&super::prove::Proof>,
) -> Result<()> {
    let sha: BTreeMap<&String, String> = f
        .iter()
        .map(|(k, v)| (k, hex(&Sha256::digest(v))))
        .collect();
    let design: serde_json::Value = serde_json::from_slice(&g.files[crate::emit::outdir::MANIFEST])
        .map_err(|e| Error::io(crate::emit::outdir::MANIFEST, e))?;
    let proved = proof.map(|p| {
        serde_json::json!({"tools": p.tools, "figures": super::prove::PROOF_FILE,
                           "steps": p.steps.iter().map(|(k, _, _)| k.clone()).collect::<Vec<_>>()})
    });
    let manifest = serde_json::json!({
        "generator": format!("capim {}", crate::VERSION),
        "top": FPGA_TOP,
        "core_top": TOP_MODULE,
        "part": target.part,
        "clock_mhz": target.clock_mhz,
        "axi4_lite": {"address_bits": AXI_ADDR_BITS, "data_bits": 32,
                      "byte_address": "host word address << 2"},
        "config_sha256": design["config_sha256"],
        "model": design["model"],
        "proved_by": proved,
        "sha256": sha,
    });
    f.insert(MANIFEST.into(), crate::fsio::json_bytes(&manifest));
    Ok(())
}

/// The FuseSoC core's name (VLNV without the version) for `model`.
pub fn core_name(model: &Model) -> String {
    format!(
        "capim:accel:{}",
        model
            .name
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

fn gen_file<'a>(g: &'a Generated, name: &str) -> Result<&'a [u8]> {
    g.files
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| Error::io(name, "missing from the generated design"))
}

/// The generator's header comment (the first lines of the top), for the
/// cells the bundle adds.
fn rtl_header(g: &Generated) -> Result<String> {
    let top = String::from_utf8_lossy(gen_file(g, &format!("{TOP_MODULE}.v"))?).into_owned();
    Ok(top
        .lines()
        .take_while(|l| l.starts_with("// Generated") || l.starts_with("// Do not edit"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The testbench under Icarus, from the bundle's directory.
fn run_icarus() -> String {
    format!(
        "#!/bin/sh\n# capim: the self-checking testbench under Icarus Verilog (exit 0 = PASS).\n\
         set -e\ncd \"$(dirname \"$0\")/..\"\nmkdir -p build\n\
         iverilog -g2012 -s {tb} -o build/{tb}.vvp $(cat filelist.f) tb/{tb}.sv\n\
         cd mem && exec vvp -n ../build/{tb}.vvp\n",
        tb = super::tb::TB_TOP
    )
}

/// The testbench under Verilator, from the bundle's directory.
fn run_verilator() -> String {
    format!(
        "#!/bin/sh\n# capim: the self-checking testbench under Verilator (exit 0 = PASS).\n\
         set -e\ncd \"$(dirname \"$0\")/..\"\nmkdir -p build\n\
         verilator --binary --timing -Wall --top-module {tb} -Mdir build/verilator -o {tb} $(cat filelist.f) tb/{tb}.sv >build/verilator.log\n\
         cd mem && exec ../build/verilator/{tb}\n",
        tb = super::tb::TB_TOP
    )
}

fn xdc(t: &Target) -> String {
    format!(
        "# capim: the one clock of capim_fpga_top ({:.3} MHz). The AXI4-Lite port, irq and busy\n\
         # are internal to a block design; constrain their pins here when they leave the chip.\n\
         create_clock -name clk -period {:.3} [get_ports clk]\n",
        t.clock_mhz,
        1e3 / t.clock_mhz
    )
}

fn vivado_tcl(rtl: &[String], mems: &[String], t: &Target) -> String {
    let mut s = format!(
        "# capim: Vivado non-project flow for {FPGA_TOP}.\n\
         #   vivado -mode batch -source scripts/vivado.tcl [-tclargs PART]\n\
         # Run from the bundle's directory; writes build/ (checkpoint, bitstream-ready\n\
         # design) and reports/ (utilization, timing).\n\
         set part {}\n\
         if {{$argc > 0}} {{ set part [lindex $argv 0] }}\n\
         file mkdir build reports\n",
        t.part
    );
    for r in rtl {
        s += &format!("read_verilog rtl/{r}\n");
    }
    for m in mems {
        s += &format!("read_mem mem/{m}\n");
    }
    s += &format!(
        "read_xdc constraints/capim.xdc\n\
         synth_design -top {FPGA_TOP} -part $part\n\
         report_utilization -file reports/utilization_synth.rpt\n\
         opt_design\n\
         place_design\n\
         route_design\n\
         report_utilization -file reports/utilization.rpt\n\
         report_timing_summary -file reports/timing.rpt\n\
         write_checkpoint -force build/{FPGA_TOP}_routed.dcp\n"
    );
    s
}

/// Yosys `synth_xilinx` of the FPGA top: `stat` into `reports/`.
fn yosys_script(rtl: &[String]) -> String {
    let files: Vec<String> = rtl.iter().map(|r| format!("../rtl/{r}")).collect();
    format!(
        "# capim: Yosys synthesis for Xilinx 7-series of {FPGA_TOP} (resources in reports/).\n\
         # Run in mem/ (the images are read by bare name):\n\
         #   mkdir -p reports && cd mem && yosys -s ../scripts/synth.ys\n\
         read_verilog -sv {}\n\
         synth_xilinx -flatten -top {FPGA_TOP}\n\
         tee -o ../{XILINX_STAT} stat\n",
        files.join(" ")
    )
}

/// Yosys `synth_ecp5` of the FPGA top: the netlist for nextpnr-ecp5.
fn yosys_ecp5_script(rtl: &[String]) -> String {
    let files: Vec<String> = rtl.iter().map(|r| format!("../rtl/{r}")).collect();
    format!(
        "# capim: Yosys synthesis for Lattice ECP5 of {FPGA_TOP}, for nextpnr-ecp5.\n\
         # Run in mem/ (the images are read by bare name):\n\
         #   mkdir -p build && cd mem && yosys -s ../scripts/synth_ecp5.ys\n\
         read_verilog -sv {}\n\
         synth_ecp5 -top {FPGA_TOP} -json ../{ECP5_NETLIST}\n",
        files.join(" ")
    )
}

/// `CAPIM_` register offsets in bytes, windows as macros.
fn c_header(g: &Generated, model: &Model) -> String {
    let w = &g.layout.widths;
    let rw = RowWindow::new(
        &crate::hw::SubArray {
            rows: g.layout.rows as u32,
            cols: g.layout.cols as u32,
            count: g.layout.count as u32,
        },
        w,
    );
    let mut s = format!(
        "/* capim register map of {FPGA_TOP} (model `{}`): AXI4-Lite byte offsets.\n\
         * Generated by capim {}; the same table as the bundle's README. */\n\
         #ifndef CAPIM_REGS_H\n#define CAPIM_REGS_H\n\n",
        model.name,
        crate::VERSION
    );
    for r in regs::MAP {
        let byte = r.addr as u64 * 4;
        let doc = r.describe().replace("*/", "* /");
        match r.span {
            Span::One => {
                s += &format!("/* {doc} */\n#define CAPIM_{} 0x{byte:08X}u\n", r.name);
            }
            Span::Rows => {
                s += &format!(
                    "/* {doc} */\n#define CAPIM_{}(a, row, word) (0x{byte:08X}u + 4u * (((a) << {}) | ((row) << {}) | (word)))\n",
                    r.name, rw.sa_lo, rw.row_lo
                );
            }
            Span::Desc | Span::Quant => {
                s += &format!(
                    "/* {doc} */\n#define CAPIM_{}(i, k) (0x{byte:08X}u + 4u * (((i) << {}) | (k)))\n",
                    r.name,
                    if r.span == Span::Desc {
                        regs::desc_word_bits(w)
                    } else {
                        1
                    }
                );
            }
            Span::Table => {
                s += &format!(
                    "/* {doc} */\n#define CAPIM_{}(e, f) (0x{byte:08X}u + 4u * (((e) << 2) | (f)))\n",
                    r.name
                );
            }
            Span::SubArrays | Span::Lanes | Span::RowWords => {
                s += &format!(
                    "/* {doc} */\n#define CAPIM_{}(i) (0x{byte:08X}u + 4u * (i))\n",
                    r.name
                );
            }
        }
    }
    s += &format!(
        "\n#define CAPIM_ID_VALUE 0x{:08X}u\n#define CAPIM_SUBARRAYS {}u\n#define CAPIM_ROW_WORDS {}u\n#define CAPIM_LANES_PER_WORD {}u\n\n",
        regs::ID_VALUE,
        g.layout.count,
        rw.words,
        crate::hw::LANES
    );
    s += "/* Tensor regions in the ACT window: lane of value (c, y, x), part k:\n   base + (y * width + x) * pixel_stride + c * words + k. */\n";
    for t in &g.layout.tensors {
        let id = t
            .name
            .to_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        s += &format!(
            "#define CAPIM_T_{id}_BASE {}u /* {} x {} x {}, {} lanes per value, pixel stride {} */\n",
            t.base, t.channels, t.height, t.width, t.words, t.pixel_stride
        );
    }
    s += "\n#endif\n";
    s
}

fn fusesoc_core(model: &Model, rtl: &[String], mems: &[String]) -> String {
    let mut s = format!(
        "CAPI=2:\n# capim accelerator for `{}` (FuseSoC core)\nname: {}:{}\ndescription: capim SOT-MRAM PIM accelerator behind AXI4-Lite\n\nfilesets:\n  rtl:\n    file_type: verilogSource\n    files:\n",
        model.name,
        core_name(model),
        crate::VERSION
    );
    for r in rtl {
        s += &format!("      - rtl/{r}\n");
    }
    s += "  mem:\n    file_type: user\n    files:\n";
    for m in mems {
        s += &format!("      - mem/{m}: {{copyto: {m}}}\n");
    }
    s += &format!(
        "  tb:\n    file_type: systemVerilogSource\n    files:\n      - tb/{tb}.sv\n\
         \x20 constraints:\n    file_type: xdc\n    files:\n      - constraints/capim.xdc\n\n\
         targets:\n  default:\n    filesets: [rtl, mem]\n    toplevel: {FPGA_TOP}\n\
         \x20 sim:\n    default_tool: icarus\n    filesets: [rtl, mem, tb]\n    toplevel: {tb}\n    tools:\n      icarus:\n        iverilog_options: [-g2012]\n\
         \x20 lint:\n    default_tool: verilator\n    filesets: [rtl, mem]\n    toplevel: {FPGA_TOP}\n    tools:\n      verilator:\n        mode: lint-only\n        verilator_options: [-Wall]\n\
         \x20 synth:\n    default_tool: yosys\n    filesets: [rtl, mem]\n    toplevel: {FPGA_TOP}\n    tools:\n      yosys:\n        arch: xilinx\n",
        tb = super::tb::TB_TOP
    );
    s
}

fn readme(g: &Generated, cfg: &ArrayConfig, model: &Model, t: &Target) -> String {
    let lay = &g.layout;
    let mut s = format!(
        "# capim accelerator bundle: `{}` on {} sub-arrays of {} x {}, {}-bit\n\n\
         Generated by capim {}. Top module `{FPGA_TOP}` (AXI4-Lite slave, 32-bit data, {AXI_ADDR_BITS}-bit byte\n\
         address; `irq` high while a finished run's done bit is set and enabled; `busy`).\n\
         Target in the scripts: part `{}`, clock {} MHz.\n\n",
        model.name,
        lay.count,
        lay.rows,
        lay.cols,
        cfg.precision,
        crate::VERSION,
        t.part,
        t.clock_mhz
    );
    s += "## Files\n\n\
         | path | what |\n|---|---|\n\
         | `rtl/` | Verilog-2005 (+ SystemVerilog casts): the accelerator, the AXI4-Lite slave, the FPGA top |\n\
         | `mem/` | `$readmemh` images by bare file name: sub-array weights, layer descriptors, requantization, scheduler cost table |\n\
         | `constraints/capim.xdc` | the clock |\n\
         | `constraints/capim_ecp5.lpf` | the clock for nextpnr-ecp5 on an LFE5U-85F CABGA381 (e.g. ULX3S 85F); pins are left to the placer |\n\
         | `scripts/vivado.tcl` | Vivado non-project flow: `vivado -mode batch -source scripts/vivado.tcl [-tclargs PART]` (reports in `reports/`) |\n\
         | `scripts/synth.ys` | Yosys `synth_xilinx`: `mkdir -p reports && cd mem && yosys -s ../scripts/synth.ys` (resources in `reports/yosys_stat.txt`) |\n\
         | `scripts/synth_ecp5.ys` | Yosys `synth_ecp5`: `mkdir -p build && (cd mem && yosys -s ../scripts/synth_ecp5.ys)`, then `nextpnr-ecp5 --85k --package CABGA381 --json build/capim_ecp5.json --lpf constraints/capim_ecp5.lpf --lpf-allow-unconstrained` |\n\
         | `tb/capim_tb.sv` | self-checking testbench: runs the bus script `mem/capim_tb.memh` (whole inferences at every width, outputs and cycles from capim's reference) over AXI4-Lite, stops at the first difference, exits non-zero; `sh tb/run_verilator.sh` or `sh tb/run_icarus.sh` (or FuseSoC's `sim` target) |\n\
         | `formal/` | the AXI4-Lite handshake proof: `cd formal && yosys -s formal.ys && yosys-smtbmc -s yices -t 24 capim_axil_formal.smt2` |\n\
         | `include/capim_regs.h` | register offsets and tensor regions for C |\n\
         | `capim.core`, `filelist.f` | FuseSoC core (`fusesoc --cores-root . run --target sim` / `lint` / `synth`), compile order |\n\
         | `design/` | the configuration, technology and model the design was generated from, and its manifest (mapping, descriptor fields) |\n\
         | `report/cost.json` | cycles, energy, memory and area per width |\n\
         | `report/proof.json` | (when built with `capim bundle --prove`) what proved this bundle: testbench under Verilator and Icarus, lint, formal, Yosys `synth_xilinx` resources, nextpnr-ecp5 Fmax and utilization, tool versions |\n\
         | `manifest.json` | capim version, configuration and model hashes, SHA-256 of every file |\n\n";
    s += "## Register map\n\nAXI byte offset = host word address x 4.\n\n";
    s += &regs::markdown_table();
    s += "\n## Running an inference\n\n\
         1. Write the input tensor into the `ACT` window (while idle; one lane per 32-bit word, the value in the low bits).\n\
         2. Choose the width: `WIDTH` (manual) or `SCHED_MODE = 1` and the limits (automatic).\n\
         3. Write `LAYER_FIRST = 0`, `LAYER_LAST` = the last layer, then `CTRL = 1`.\n\
         4. Wait for `irq` (after `IRQ = 1`) or poll `CTRL` bit 0; clear with `IRQ = 3`.\n\
         5. Read the output tensor from the `ACT` window; `CYCLES` and the counters tell what it cost.\n\n";
    s += "## Tensor layout\n\nValue (c, y, x), part k (raw outputs take several lanes), sits in lane\n\
          `base + (y * width + x) * pixel_stride + c * words + k`:\n\n\
          | tensor | base | channels x height x width | lanes per value | pixel stride |\n|---|---|---|---|---|\n";
    for r in &lay.tensors {
        s += &format!(
            "| {} | {} | {} x {} x {} | {} | {} |\n",
            r.name, r.base, r.channels, r.height, r.width, r.words, r.pixel_stride
        );
    }
    s += "\n## Weights and a new model\n\nThe weights are resident from configuration (`mem/capim_sa_*.memh`, one line\n\
          per row, most significant column first); `ROW` reads any row back while idle.\n\
          A model with the same layer shapes and widths loads over the bus while idle, from the\n\
          images capim writes for it: per row, its words into `ROW_STAGE` and `{a, row}` into\n\
          `ROW_WRITE`; every descriptor word into `DESC`, every requantization word into `QUANT`,\n\
          the cost table into `SCHED_TABLE` (`capim verify --from DIR --load M.json` proves it\n\
          in simulation). Other shapes need a new bundle.\n";
    s
}

/// A gzip-compressed tar of `files` under `root/`, byte-reproducible:
/// entries in path order, mtime 0, owner 0, mode 0644 (0755 directories).
pub fn tarball(files: &BTreeMap<String, Vec<u8>>, root: &str) -> Result<Vec<u8>> {
    use flate2::{Compression, GzBuilder};
    let gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let io = |e: std::io::Error| Error::io(root, e);
    for (path, bytes) in files {
        // the directories above it, once, before it
        let mut acc = root.to_string();
        for part in path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            acc = format!("{acc}/{part}");
            if dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                h.set_uid(0);
                h.set_gid(0);
                h.set_cksum();
                tar.append_data(&mut h, format!("{acc}/"), std::io::empty())
                    .map_err(io)?;
            }
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, format!("{root}/{path}"), bytes.as_slice())
            .map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    gz.finish().map_err(io)
}
