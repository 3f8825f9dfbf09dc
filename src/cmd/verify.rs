use crate::{Result, cli::VerifyArgs};
pub fn run(_a: VerifyArgs) -> Result<()> {
    todo!()
}
