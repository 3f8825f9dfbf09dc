//! `capim gen`: configuration + model -> RTL, images, manifest.

use crate::cli::GenArgs;
use crate::emit::{self, OutDir};
use crate::error::Result;
use crate::hw::LANES;
use std::time::Instant;

pub fn run(a: GenArgs) -> Result<()> {
    let (cfg, model) = super::design::load(&a.design)?;
    let tech = super::design::tech(&a.tech)?;
    let t = Instant::now();
    let g = emit::generate_with(&cfg, &model, &tech)?;
    OutDir::write(&g, &a.out)?;
    let lay = &g.layout;
    println!(
        "capim gen: model `{}` ({}-bit, {} layers, widths {:?}) on {} sub-arrays of {}x{}",
        model.name,
        cfg.precision,
        model.layers.len(),
        model.widths,
        lay.count,
        lay.rows,
        lay.cols
    );
    println!(
        "  rows used {} of {} ({} scratch), activation memory {} lanes ({} words of {}), {} files in {} ({:.0} ms)",
        lay.rows_used,
        lay.rows,
        lay.scratch_rows,
        lay.act_depth,
        lay.act_depth / LANES,
        LANES,
        g.files.len(),
        a.out.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let all: Vec<usize> = (0..model.widths.len()).collect();
    print!("{}", crate::cost::table(lay, &model, &all));
    Ok(())
}
