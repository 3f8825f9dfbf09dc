//! `capim lint DIR`: Verilator -Wall, Yosys synthesis and Icarus -g2012 on a
//! generated directory.

use crate::cli::LintArgs;
use crate::emit::FILELIST;
use crate::error::Result;
use crate::lint::Synth;
use std::path::PathBuf;

/// The filelist of a generated directory.
pub fn filelist(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let text = crate::cmd::generate::read_generated(dir, FILELIST)?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect())
}

pub fn run(a: LintArgs) -> Result<()> {
    let files = filelist(&a.dir)?;
    let synth = match a.synth.as_str() {
        "generic" => Synth::Generic,
        "xilinx" => Synth::Xilinx,
        // Generic synthesis maps every memory of a generated design (the
        // sub-array cells and the activation memory of 16-lane words) to
        // flip-flops: 324 s for 4 sub-arrays of 256x32 with the skeleton,
        // where synth_xilinx, which infers block RAM, takes ~65 s.
        _ => Synth::Xilinx,
    };
    let rep = crate::lint::lint_with(&a.dir, &files, "capim_top", synth)?;
    for t in &rep.tools {
        println!(
            "  {:<10} {} ({:.1} s): {}",
            t.tool,
            if t.ok { "clean" } else { "FAILED" },
            t.seconds,
            t.command
        );
    }
    println!(
        "capim lint: {} clean under Verilator -Wall, Yosys ({:?}) and Icarus -g2012",
        a.dir.display(),
        rep.synth
    );
    Ok(())
}
