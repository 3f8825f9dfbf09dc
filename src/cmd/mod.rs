//! The subcommands, one file each, and their dispatch. Library modules never
//! import from here; `cli` holds only the clap types.

mod bundle;
mod classify;
mod design;
mod formal;
mod generate;
mod lint;
mod model;
mod plan;
mod quantize;
mod report;
mod run;
mod train;
mod verify;

use crate::Result;
use crate::cli::{Cli, Command, ModelCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Gen(a) => generate::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Formal(a) => formal::run(a),
        Command::Bundle(a) => bundle::run(a),
        Command::Run(a) => run::run(a),
        Command::Model(ModelCommand::Synth(a)) => model::synth(a),
        Command::Model(ModelCommand::Accuracy(a)) => model::accuracy(a),
        Command::Train(a) => train::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::Report(a) => report::run(a),
        Command::Classify(a) => classify::run(a),
    }
}
