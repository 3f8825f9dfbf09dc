//! `capim bundle`: the FPGA bundle directory and its tarball.

use crate::cli::BundleArgs;
use crate::emit;
use crate::error::{Error, Result};
use crate::fpga::bundle::{self, Target};
use crate::fpga::prove;
use crate::fsio::{self, Target as Kind};
use std::time::Instant;

pub fn run(a: BundleArgs) -> Result<()> {
    let t0 = Instant::now();
    fsio::check_target(&a.out, "--out", Kind::Dir)?;
    let root = a
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::invalid(
                "command line",
                "--out",
                a.out.display(),
                "a path that ends in a name",
            )
        })?;
    let tar_path = a.out.with_file_name(format!("{root}.tar.gz"));
    fsio::check_target(&tar_path, "--out (its tarball)", Kind::File)?;
    if !(a.clock_mhz.is_finite() && a.clock_mhz > 0.0 && a.clock_mhz <= 2000.0) {
        return Err(Error::invalid(
            "command line",
            "--clock-mhz",
            a.clock_mhz,
            "a clock in MHz, > 0 and <= 2000",
        ));
    }
    if a.part.is_empty()
        || !a
            .part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::invalid(
            "command line",
            "--part",
            &a.part,
            "a Xilinx part name (letters, digits and '-', e.g. xc7z020clg400-1)",
        ));
    }
    let (cfg, model) = super::design::load(&a.design)?;
    let tech = super::design::tech(&a.tech)?;
    let g = emit::generate_with(&cfg, &model, &tech)?;
    let target = Target {
        part: a.part.clone(),
        clock_mhz: a.clock_mhz,
    };
    let mut files = bundle::files(&g, &cfg, &model, &tech, &target)?;
    let proof = if a.prove {
        let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        emit::outdir::write_files(&files, scratch.path())?;
        let pnr = if a.quick_pnr {
            prove::Pnr::Quick
        } else {
            prove::Pnr::TimingDriven
        };
        let proof = prove::prove(scratch.path(), &bundle::core_name(&model), a.clock_mhz, pnr)?;
        files.insert(prove::PROOF_FILE.into(), fsio::json_bytes(&proof.json()));
        Some(proof)
    } else {
        None
    };
    bundle::manifest(&mut files, &g, &target, proof.as_ref())?;
    let tgz = bundle::tarball(&files, &root)?;
    emit::outdir::write_dir(&files, &a.out, bundle::MANIFEST, "capim bundle")?;
    let tmp = fsio::temp_file(&tar_path, &tgz)?;
    fsio::persist(tmp, &tar_path)?;
    println!(
        "capim bundle: {} ({} files) and {} ({} bytes): `{}` on {} sub-arrays of {}x{}, top {}, part {}, {} MHz ({:.1} s)",
        a.out.display(),
        files.len(),
        tar_path.display(),
        tgz.len(),
        model.name,
        g.layout.count,
        g.layout.rows,
        g.layout.cols,
        bundle::FPGA_TOP,
        target.part,
        target.clock_mhz,
        t0.elapsed().as_secs_f64()
    );
    if let Some(p) = &proof {
        let secs: Vec<String> = p
            .steps
            .iter()
            .map(|(k, _, s)| format!("{k} {s:.1} s"))
            .collect();
        println!(
            "capim bundle: proved ({}); figures in {}",
            secs.join(", "),
            a.out.join(prove::PROOF_FILE).display()
        );
    }
    Ok(())
}
