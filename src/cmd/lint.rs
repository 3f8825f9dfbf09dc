//! `capim lint DIR`: Verilator -Wall, Yosys synthesis and Icarus -g2012 on a
//! generated directory.

use crate::cli::LintArgs;
use crate::config::ArrayConfig;
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
        _ => {
            // Generic synthesis maps the cell arrays to flip-flops, which takes
            // minutes beyond a few sub-arrays (DESIGN.md section 7).
            let cfg = ArrayConfig::load(&a.dir.join(crate::emit::CONFIG_FILE))?;
            let sa = &cfg.subarray;
            let bits = sa.count as u64 * sa.rows as u64 * sa.cols as u64;
            if bits > crate::lint::XILINX_ABOVE_BITS {
                Synth::Xilinx
            } else {
                Synth::Generic
            }
        }
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
