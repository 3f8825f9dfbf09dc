//! capim: a hardware compiler for channel-adaptive DNNs on SOT-MRAM
//! processing-in-memory sub-arrays.
//!
//! The pipeline, one module a step:
//!
//! 1. [`hw`]: the accelerator, described as typed values ([`hw::ArrayConfig`],
//!    [`hw::SubArray`], ...) and the hardware contract (register map,
//!    descriptor word, widths); [`config`] parses a TOML file into it;
//! 2. [`model`]: the quantized CA-DNN (load, validate, reference arithmetic);
//! 3. [`layout`]: where every weight bit, scratch row and tensor sits;
//!    [`cost`] says what it costs (the exact cycle model);
//! 4. [`emit`]: Verilog, images and manifest ([`emit::generate`]), written
//!    and reopened as an [`emit::OutDir`];
//! 5. [`cosim`] and [`verify`]: Verilator co-simulation, bit-exact against
//!    the reference at every width.
//!
//! ```no_run
//! use capim::hw::{ArrayConfig, SubArray};
//!
//! let acc = ArrayConfig::new(8, SubArray { rows: 256, cols: 64, count: 8 })?;
//! let model = capim::model::synth::synth("tinynet", 8, 1)?;
//! let out = capim::emit::OutDir::write(&capim::emit::generate(&acc, &model)?, "rtl-out".as_ref())?;
//! let report = capim::verify::verify(&out.load()?, &capim::verify::Options::default())?;
//! println!("{} outputs bit-exact", report.outputs_compared);
//! # Ok::<(), capim::Error>(())
//! ```
//!
//! `examples/custom_array.rs` is the same flow as a program.

pub mod alloc;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod cosim;
pub mod cost;
pub mod data;
pub mod emit;
pub mod error;
pub mod fpga;
pub mod fsio;
pub mod hw;
pub mod layout;
pub mod lint;
pub mod model;
pub mod plot;
pub mod tools;
pub mod train;
pub mod verify;

pub use error::{Error, Result};

/// Version string written into every generated file header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
