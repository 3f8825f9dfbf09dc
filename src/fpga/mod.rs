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
