//! `capim lint DIR`: Verilator -Wall, Yosys synthesis and Icarus -g2012 on a
//! generated directory.

use crate::cli::LintArgs;
use crate::emit::OutDir;
use crate::error::Result;
use crate::lint::Synth;

pub fn run(a: LintArgs) -> Result<()> {
    let files = OutDir::new(&a.dir).filelist()?;
    let synth = match a.synth.as_str() {
        "generic" => Synth::Generic,
        "xilinx" => Synth::Xilinx,
        // Generic synthesis maps every memory of a generated design (the
        // sub-array cells and the activation memory of 16-lane words) to
        // flip-flops: 324 s for 4 sub-arrays of 256x32 with the skeleton,
        // where synth_xilinx, which infers block RAM, takes ~65 s.
        _ => Synth::Xilinx,
    };
    let rep = crate::lint::lint_with(&a.dir, &files, crate::hw::TOP_MODULE, synth)?;
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
