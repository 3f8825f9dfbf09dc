use crate::{Result, cli::RunArgs};
pub fn run(_a: RunArgs) -> Result<()> {
    todo!("capim run")
}
