//! Co-simulation of the generated RTL with Verilator, driven from Rust.
//!
//! The crates `verilated` and `marlin` do not work with Verilator 5.006, so
//! capim builds a small C++ harness (`testbenches/harness.cpp`, embedded in
//! the binary) together with the RTL into an executable, spawns it as a child
//! process and talks to it over pipes with little-endian u32 frames.
//!
//! - [`verilator::build`] verilates and compiles the harness (cached by a
//!   SHA-256 stamp of its inputs);
//! - [`sim::Sim`] runs it and offers reset / write / read / run.
//!
//! # The port contract of `capim_top`
//!
//! ```verilog
//! module capim_top (
//!   input  wire        clk,
//!   input  wire        rst_n,      // synchronous, active low
//!   input  wire        host_we,    // write host_wdata to host_addr this cycle
//!   input  wire        host_re,    // read host_addr; data on host_rdata from the next cycle on
//!   input  wire [31:0] host_addr,
//!   input  wire [31:0] host_wdata,
//!   output wire [31:0] host_rdata,
//!   output wire        busy        // 1 while the accelerator runs
//! );
//! ```
//!
//! Memories are initialised with `$readmemh` from files named relative to the
//! simulation's current directory, so [`sim::Sim::spawn`] takes the directory
//! the harness runs in.

pub mod sim;
pub mod verilator;

pub use sim::{RunResult, Sim};
pub use verilator::{Built, HARNESS_CPP, build};
