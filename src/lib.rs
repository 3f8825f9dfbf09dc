//! capim: a hardware compiler for channel-adaptive DNNs on SOT-MRAM
//! processing-in-memory sub-arrays.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod cosim;
pub mod cost;
pub mod emit;
pub mod error;
pub mod hw;
pub mod layout;
pub mod lint;
pub mod model;
pub mod tools;
pub mod verify;

pub use error::{Error, Result};

/// Version string written into every generated file header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
