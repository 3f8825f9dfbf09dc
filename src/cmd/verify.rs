//! `capim verify`: generate (or take `--from DIR` as it is), build with
//! Verilator, co-simulate every layer at every width, compare bit-exactly.

use crate::cli::VerifyArgs;
use crate::data::fashion_mnist::{self, Split};
use crate::emit::{self, OutDir};
use crate::error::Result;
use crate::verify::{self, Options};
use std::time::Instant;

/// Real test images per width for a trained model, unless `--test-images`.
const DEFAULT_TEST_IMAGES: usize = 20;

/// Real test images per width: `--test-images` (default
/// [`DEFAULT_TEST_IMAGES`]) for a model with a preprocessing table, 0 for
/// one without (asking for some is an error).
fn real_images(a: &VerifyArgs, model: &crate::model::Model) -> Result<usize> {
    match (a.test_images, model.preprocess.is_some()) {
        (Some(n), false) if n > 0 => Err(crate::Error::invalid(
            &model.path,
            "--test-images",
            n,
            "0 for this model: it carries no preprocessing table (not a trained model)",
        )),
        (n, true) => Ok(n.unwrap_or(DEFAULT_TEST_IMAGES)),
        _ => Ok(0),
    }
}

pub fn run(a: VerifyArgs) -> Result<()> {
    let t0 = Instant::now();
    // Bad arguments are found before anything is generated or simulated.
    if let Some(t) = &a.trace {
        crate::fsio::check_target(t, "--trace", crate::fsio::Target::File)?;
    }
    let out = match &a.from {
        Some(d) => OutDir::new(d),
        None => {
            let (cfg, model) = super::design::load(&a.design)?;
            let tech = super::design::tech(&a.tech)?;
            // Check the request and the tools before writing anything.
            crate::fsio::check_no_spaces(&a.out, "--out")?;
            crate::fsio::check_target(&a.out, "--out", crate::fsio::Target::Dir)?;
            for w in &a.widths {
                model.width_index_as(w, "--widths")?;
            }
            real_images(&a, &model)?;
            crate::tools::require_tool("verilator")?;
            let g = emit::generate_with(&cfg, &model, &tech)?;
            OutDir::write(&g, &a.out)?
        }
    };
    let design = out.load()?;
    let widths = a
        .widths
        .iter()
        .map(|w| design.model.width_index_as(w, "--widths"))
        .collect::<Result<Vec<_>>>()?;
    let dump_layer = match &a.dump_layer {
        Some(name) => Some(design.model.layer_index(name).ok_or_else(|| {
            crate::Error::invalid(
                &design.model.path,
                "--dump-layer",
                name,
                format!(
                    "one of the model's layers: {}",
                    design
                        .model
                        .layers
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?),
        None => None,
    };
    let n_real = real_images(&a, &design.model)?;
    let labelled = if n_real > 0 {
        let dir = super::train::data_dir(a.data.clone(), "capim verify")?;
        let ds = fashion_mnist::load(&dir, Split::Test)?;
        verify::dataset_stimuli(&design.model, &ds, "Fashion-MNIST test image", n_real)?
    } else {
        Vec::new()
    };
    let opts = Options {
        labelled,
        widths,
        seed: a.seed,
        images: a.images,
        trace: a.trace.clone(),
        dump_layer,
        jobs: a.jobs.map_or_else(verify::default_jobs, |j| j as usize),
        // the scheduler may choose any width: not when a subset is verified
        load: match &a.load {
            Some(p) => Some(crate::model::Model::load(p)?),
            None => None,
        },
        schedule: a.schedule.unwrap_or(if a.widths.is_empty() {
            verify::DEFAULT_SCHEDULE
        } else {
            0
        }),
    };
    println!(
        "capim verify: {} -- model `{}`, {}-bit, {} sub-arrays of {}x{}, seed {}",
        out.path().display(),
        design.model.name,
        design.cfg.precision,
        design.layout.count,
        design.layout.rows,
        design.layout.cols,
        a.seed
    );
    let rep = verify::verify(&design, &opts)?;
    println!(
        "  verilator build {:.1} s{}; simulation {:.2} s, {} cycles in {} simulation{} side by side",
        rep.build_seconds,
        if rep.build_cached { " (cached)" } else { "" },
        rep.sim_seconds,
        rep.cycles_simulated,
        rep.simulations,
        if rep.simulations == 1 { "" } else { "s" }
    );
    // One row per layer, one column per width: cycles [enabled sub-arrays].
    println!("  cycles per layer [enabled sub-arrays] (RTL counter = cycle model):");
    print!("  {:<10}", "layer");
    for w in &rep.widths {
        print!(" {:>16}", format!("w={}", w.width));
    }
    println!();
    for (li, l) in design.model.layers.iter().enumerate() {
        print!("  {:<10}", l.name);
        for w in &rep.widths {
            let r = &w.layers[li];
            print!(" {:>16}", format!("{} [{}]", r.cycles, r.arrays));
        }
        println!();
    }
    print!("  {:<10}", "total");
    for w in &rep.widths {
        print!(" {:>16}", w.layers.iter().map(|r| r.cycles).sum::<u64>());
    }
    println!();
    let wis: Vec<usize> = rep.widths.iter().map(|w| w.index).collect();
    print!(
        "{}",
        crate::cost::table(&design.layout, &design.model, &wis)
    );
    println!(
        "  width switching without weight reload: {} -- bit-exact, gated sub-arrays unchanged, resident weights intact",
        rep.switch_sequence
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(" -> ")
    );
    for c in &rep.classified {
        println!(
            "  width {}: {} real test images, RTL classes = reference classes, {} correct ({:.1} %)",
            c.width,
            c.images,
            c.correct,
            100.0 * c.correct as f64 / c.images.max(1) as f64
        );
    }
    if rep.schedule.is_none() {
        println!(
            "  adaptive width scheduler: not verified (--schedule 0{})",
            if a.widths.is_empty() {
                ""
            } else {
                ", or --widths without --schedule: the scheduler may choose any width"
            }
        );
    }
    if let Some(s) = &rep.schedule {
        let per: Vec<String> = s
            .chosen
            .iter()
            .enumerate()
            .map(|(wi, n)| format!("{} x{n}", design.model.widths[wi]))
            .collect();
        println!(
            "  adaptive width scheduler: {} inferences of a random deadline / budget / cap trace (every tenth manual) -- choices = model, bit-exact at the chosen width; chosen {}, {} with no point meeting every limit; limits rewritten mid-run left the run at its width",
            s.inferences,
            per.join(", "),
            s.violated
        );
    }
    if let Some(p) = &a.load {
        println!(
            "  model {} loaded over the host bus into the same RTL (rows, descriptors, requantization, cost table): {} runs bit-exact",
            p.display(),
            rep.loaded_runs
        );
    }
    for p in &rep.dumps {
        println!("  wrote {}", p.display());
    }
    if let Some(t) = &a.trace {
        println!("  waveform: {}", t.display());
    }
    println!(
        "capim verify: PASS -- {} outputs bit-exact over {} widths x {} images, cycle model and energy-model operation counts exact, gated sub-arrays idle ({:.1} s)",
        rep.outputs_compared,
        rep.widths.len(),
        rep.images,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
