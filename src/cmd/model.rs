use crate::{Result, cli::SynthArgs};
pub fn synth(_a: SynthArgs) -> Result<()> {
    todo!("capim model synth")
}
