//! capim: a hardware compiler for channel-adaptive DNNs on SOT-MRAM
//! processing-in-memory sub-arrays.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod error;
pub mod model;

pub use error::{Error, Result};

/// Version string written into every generated file header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
