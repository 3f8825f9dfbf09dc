//! `capim formal`: the bounded proof of the AXI4-Lite slave's handshake.

use crate::cli::FormalArgs;
use crate::error::{Error, Result};
use crate::fpga::{AXIL_V, formal};

pub fn run(a: FormalArgs) -> Result<()> {
    if let Some(d) = &a.out {
        crate::fsio::check_target(d, "--out", crate::fsio::Target::Dir)?;
    }
    let tmp = tempfile::tempdir().map_err(|e| Error::io("temporary directory", e))?;
    let dir = a.out.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let rep = match formal::check(AXIL_V, &dir, a.depth) {
        Ok(r) => r,
        // without --out, the counterexample stays where the message says
        Err(Error::Verification(msg)) if a.out.is_none() => {
            let _ = tmp.keep();
            return Err(Error::Verification(msg));
        }
        Err(e) => return Err(e),
    };
    println!(
        "capim formal: {} PASS -- AXI4-Lite handshake properties hold for {} cycles, all {} covers reached (yosys-smtbmc with {}, {:.1} s)",
        crate::fpga::AXIL_MODULE,
        rep.depth,
        rep.covers,
        formal::SOLVER,
        rep.seconds
    );
    if a.out.is_some() {
        println!("  files: {}", rep.dir.display());
    }
    Ok(())
}
