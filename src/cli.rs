//! Command-line interface: clap derive, one function per subcommand.

use crate::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "capim", version, about = "Hardware compiler for channel-adaptive DNNs on SOT-MRAM PIM sub-arrays")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reference inference on your own tensors (NPY in, NPY out).
    Run(RunArgs),
    /// Model utilities (synthetic CA-DNN generator, inspection).
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model description (JSON; its weights file sits beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Input tensor, NPY, shape (C,H,W) or (N,C,H,W).
    #[arg(long)]
    pub input: PathBuf,
    /// Channel width to run at (one of the model's widths, e.g. 0.5); default the full width.
    #[arg(long)]
    pub width: Option<String>,
    /// Stop after this layer and write its output (default: the last layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// Output tensor, NPY.
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Write a deterministic synthetic quantized CA-DNN.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Network shape preset.
    #[arg(long, default_value = "skeleton")]
    pub preset: String,
    /// Precision in bits: 8 or 16.
    #[arg(long, default_value_t = 8)]
    pub precision: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output model JSON path; the safetensors file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => crate::cmd::run::run(a),
        Command::Model(ModelCommand::Synth(a)) => crate::cmd::model::synth(a),
    }
}
