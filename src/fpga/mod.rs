//! The FPGA side of capim: the AXI4-Lite slave that puts the host register
//! bus on a standard interconnect (`capim_axil.v`), its formal check
//! ([`formal`]), and the bundle for FPGA tools ([`bundle`]).

pub mod bundle;
pub mod formal;
pub mod prove;
pub mod tb;

/// The AXI4-Lite slave in front of `capim_top`'s host bus.
pub const AXIL_MODULE: &str = "capim_axil";
/// Its Verilog source.
pub const AXIL_V: &str = include_str!("../../templates/cells/capim_axil.v");

/// The FPGA top module: the AXI4-Lite slave in front of `capim_top`.
pub const FPGA_TOP: &str = "capim_fpga_top";
/// The bundle's clock constraint of the open-flow example (nextpnr-ecp5).
pub const LPF_FILE: &str = "constraints/capim_ecp5.lpf";
/// What the bundle's `scripts/synth.ys` writes: Yosys `stat` after `synth_xilinx`.
pub const XILINX_STAT: &str = "reports/yosys_stat.txt";
/// What the bundle's `scripts/synth_ecp5.ys` writes: the ECP5 netlist.
pub const ECP5_NETLIST: &str = "build/capim_ecp5.json";
