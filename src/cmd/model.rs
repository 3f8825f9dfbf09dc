//! `capim model synth`: write a deterministic synthetic CA-DNN.

use crate::{Result, cli::SynthArgs};

pub fn synth(a: SynthArgs) -> Result<()> {
    // Both files it writes are checked before anything is computed.
    use crate::fsio::{Target, check_target};
    check_target(&a.out, "--out", Target::File)?;
    check_target(
        &crate::model::Model::weights_path_for(&a.out)?,
        "--out",
        Target::File,
    )?;
    let model = crate::model::synth::synth(&a.preset, a.precision, a.seed)?;
    model.save(&a.out)?;
    println!(
        "wrote {} and {} ({}, {} layers, {}-bit, widths {:?}, seed {})",
        a.out.display(),
        a.out.with_extension("safetensors").display(),
        a.preset,
        model.layers.len(),
        model.precision,
        model.widths,
        a.seed
    );
    Ok(())
}
