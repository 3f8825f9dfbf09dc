//! `capim gen`: configuration + model -> RTL, images, manifest.

use crate::cli::{DesignArgs, GenArgs};
use crate::config::{ArrayConfig, DEFAULT_NAME};
use crate::emit;
use crate::error::{Error, Result};
use crate::model::Model;
use std::path::Path;
use std::time::Instant;

/// A configuration and model as chosen on the command line.
pub struct Design {
    pub cfg: ArrayConfig,
    pub cfg_name: String,
    pub model: Model,
}

/// Loads the configuration and model named by `--config`, `--model`, `--precision`.
pub fn load_design(a: &DesignArgs) -> Result<Design> {
    let (mut cfg, cfg_name) = match &a.config {
        Some(p) => (ArrayConfig::load(p)?, p.display().to_string()),
        None => (ArrayConfig::builtin(), DEFAULT_NAME.to_string()),
    };
    if let Some(p) = a.precision {
        cfg.precision = p;
        cfg.validate(Path::new("--precision"))?;
    }
    let model = match &a.model {
        Some(p) => Model::load(p)?,
        None => crate::model::default_model(cfg.precision)?,
    };
    Ok(Design {
        cfg,
        cfg_name,
        model,
    })
}

pub fn run(a: GenArgs) -> Result<()> {
    let d = load_design(&a.design)?;
    let t = Instant::now();
    let g = emit::generate(&d.cfg, &d.model, &d.cfg_name)?;
    emit::write_dir(&g, &a.out)?;
    let lay = &g.layout;
    println!(
        "capim gen: model `{}` ({}-bit, {} layers, widths {:?}) on {} sub-arrays of {}x{}",
        d.model.name,
        d.cfg.precision,
        d.model.layers.len(),
        d.model.widths,
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
        lay.act_depth / crate::layout::LANES,
        crate::layout::LANES,
        g.files.len(),
        a.out.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let all: Vec<usize> = (0..d.model.widths.len()).collect();
    print!("{}", crate::cost::table(lay, &d.model, &all));
    Ok(())
}

/// Reads a file of a generated directory, naming it on failure.
pub fn read_generated(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let p = dir.join(name);
    std::fs::read(&p).map_err(|e| {
        Error::invalid(
            &p,
            "file",
            format!("unreadable ({e})"),
            "a directory written by `capim gen`",
        )
    })
}
