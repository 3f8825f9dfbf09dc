//! A generated directory: what `capim gen` writes, how it is written (a
//! temporary directory renamed into place) and how `capim verify --from`,
//! `capim lint` and the library open it again.

use crate::cost::tech::Tech;
use crate::error::{Error, Result};
use crate::fsio;
use crate::hw::{ArrayConfig, Bits};
use crate::layout::Layout;
use crate::model::Model;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest: mapping, registers, descriptor layout, SHA-256 of every image.
pub const MANIFEST: &str = "manifest.json";
/// Verilog sources in compile order.
pub const FILELIST: &str = "filelist.f";
/// The copy of the model the design was generated from.
pub const MODEL_DIR: &str = "model";
pub const MODEL_JSON: &str = "model/model.json";
pub const MODEL_WEIGHTS: &str = "model/model.safetensors";
/// The copy of the array configuration.
pub const CONFIG_FILE: &str = "config.toml";
/// The copy of the technology file the scheduler's cost table was priced in.
pub const TECH_FILE: &str = "tech.toml";
/// Layer descriptors, one word per (layer, width).
pub const DESC_FILE: &str = "capim_desc.memh";
/// The cost model per width and layer, machine-readable.
pub const COST_FILE: &str = "cost.json";
/// Requantization parameters `{bias, M}` per (layer, width, channel).
pub const QUANT_FILE: &str = "capim_quant.memh";
/// Directory (inside the output directory) where Verilator builds; kept
/// across regenerations.
pub const BUILD_DIR: &str = "obj_dir";

/// Name of the weight image of sub-array `a`.
pub fn subarray_file(a: usize) -> String {
    format!("capim_sa_{a:03}.memh")
}

/// Everything `capim gen` writes, in memory: file name -> contents.
pub struct Generated {
    pub files: BTreeMap<String, Vec<u8>>,
    pub layout: Layout,
}

/// A directory written by `capim gen` (or one that claims to be).
#[derive(Debug, Clone)]
pub struct OutDir {
    path: PathBuf,
}

impl OutDir {
    /// A handle on `path`; nothing is checked until a file is read.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        OutDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Where Verilator builds the harness for this directory.
    pub fn build_dir(&self) -> PathBuf {
        self.path.join(BUILD_DIR)
    }

    /// The weight image of sub-array `a`.
    pub fn subarray_image(&self, a: usize) -> PathBuf {
        self.path.join(subarray_file(a))
    }

    /// Reads one of its files, naming it on failure.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let p = self.path.join(name);
        std::fs::read(&p).map_err(|e| {
            Error::invalid(
                &p,
                "file",
                format!("unreadable ({e})"),
                "a directory written by `capim gen`",
            )
        })
    }

    /// The Verilog sources it lists, in compile order.
    pub fn filelist(&self) -> Result<Vec<PathBuf>> {
        let text = self.read(FILELIST)?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect())
    }

    /// Loads the configuration and model stored in the directory and maps
    /// them again, for `capim verify --from`.
    pub fn load(&self) -> Result<Design> {
        if !self.path.join(MANIFEST).is_file() {
            return Err(Error::invalid(
                &self.path,
                "--from",
                self.path.display(),
                "a directory written by `capim gen` (manifest.json is missing)",
            ));
        }
        let cfg = ArrayConfig::load(&self.path.join(CONFIG_FILE))?;
        let model = Model::load(&self.path.join(MODEL_JSON))?;
        let layout = Layout::new(&cfg, &model)?;
        let tech = Tech::load(&self.path.join(TECH_FILE))?;
        let images = read_images(self, &layout, model.widths.len())?;
        Ok(Design {
            out: self.clone(),
            cfg,
            model,
            layout,
            tech,
            images,
        })
    }

    /// Writes `g` into `out` atomically ([`write_dir`]); an existing
    /// directory is replaced only if `capim gen` wrote it (it has a
    /// manifest) or it is empty, and its Verilator build directory is
    /// carried over.
    pub fn write(g: &Generated, out: &Path) -> Result<OutDir> {
        write_dir(&g.files, out, MANIFEST, "capim gen")?;
        Ok(OutDir::new(out))
    }
}

/// Writes `files` (relative path -> contents) under `dir`, creating the
/// directories they need; not atomic ([`write_dir`] is).
pub fn write_files(files: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Result<()> {
    for (name, data) in files {
        let p = dir.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        std::fs::write(&p, data).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// Writes `files` (name -> contents) into the directory `out` atomically:
/// every file into a temporary directory beside `out`, then swapped into
/// place. `out` is checked first ([`fsio::check_target`]); an existing
/// directory is replaced only if it is empty or has the file `marker` that
/// `command` always writes, and its Verilator build directory is carried
/// over. On any failure the temporary directory is removed and an existing
/// `out`, build cache included, is left as it was.
pub fn write_dir(
    files: &BTreeMap<String, Vec<u8>>,
    out: &Path,
    marker: &str,
    command: &str,
) -> Result<()> {
    fsio::check_target(out, "--out", fsio::Target::Dir)?;
    let exists = out.is_dir();
    if exists
        && !out.join(marker).exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(Error::invalid(
            out,
            "--out",
            out.display(),
            format!(
                "an empty directory or one written by `{command}` (it has no {marker}; refusing to replace it)"
            ),
        ));
    }
    let parent = fsio::parent_dir(out);
    let tmp = tempfile::Builder::new()
        .prefix(".capim-out-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    write_files(files, tmp.path())?;
    if exists {
        swap(tmp.path(), out, &parent)?;
    } else {
        std::fs::rename(tmp.path(), out).map_err(|e| Error::io(out, e))?;
    }
    // The temporary directory is `out` now: nothing left to remove.
    let _ = tmp.keep();
    Ok(())
}

/// Replaces the existing directory `out` by `new` (both in `parent`),
/// moving `out`'s build directory into `new` first. If a step fails, what
/// was done is undone: `out` and its build directory stay as they were.
fn swap(new: &Path, out: &Path, parent: &Path) -> Result<()> {
    let old_build = out.join(BUILD_DIR);
    let new_build = new.join(BUILD_DIR);
    let moved_build = old_build.is_dir() && std::fs::rename(&old_build, &new_build).is_ok();
    let restore_build = || {
        if moved_build {
            let _ = std::fs::rename(&new_build, &old_build);
        }
    };
    let trash = tempfile::Builder::new()
        .prefix(".capim-old-")
        .tempdir_in(parent)
        .map_err(|e| {
            restore_build();
            Error::io(parent, e)
        })?;
    // `out` replaces the empty directory `trash` (rename onto an empty
    // directory is allowed), then `new` takes the name `out`.
    if let Err(e) = std::fs::rename(out, trash.path()) {
        restore_build();
        return Err(Error::io(out, e));
    }
    if let Err(e) = std::fs::rename(new, out) {
        let _ = std::fs::rename(trash.path(), out);
        restore_build();
        return Err(Error::io(out, e));
    }
    // Dropping `trash` removes the old directory.
    Ok(())
}

/// A generated directory loaded again: its configuration, model, layout
/// and weight images.
pub struct Design {
    pub out: OutDir,
    pub cfg: ArrayConfig,
    pub model: Model,
    pub layout: Layout,
    /// The technology the scheduler's cost table was priced in.
    pub tech: Tech,
    /// The weight image of every sub-array as read from the directory
    /// (`rows` words of `cols` bits each); the verifier compares the RTL's
    /// resident rows with them.
    pub images: Vec<Vec<Bits>>,
}

/// Checks that the descriptor, requantization, cost-table and weight images of `out`
/// have the depth and word width `layout` says, and returns the weight
/// images: a corrupt image is bad input (exit 2), found before simulating.
fn read_images(out: &OutDir, layout: &Layout, n_widths: usize) -> Result<Vec<Vec<Bits>>> {
    use crate::layout::decode::{parse_memh, parse_subarray};
    let w = &layout.widths;
    let read = |name: &str| -> Result<String> {
        let p = out.join(name);
        std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
    };
    let line = |i: usize| format!("line {}", i + 1);
    let desc_bits = crate::hw::desc::width(&crate::hw::desc::layout(w)) as usize;
    parse_memh(
        &read(DESC_FILE)?,
        1 << (w.lw + w.ww),
        desc_bits,
        &out.join(DESC_FILE),
        "lines",
        line,
    )?;
    parse_memh(
        &read(QUANT_FILE)?,
        1 << w.qaw,
        64,
        &out.join(QUANT_FILE),
        "lines",
        line,
    )?;
    let sched = crate::hw::scheduler::IMAGE_FILE;
    parse_memh(
        &read(sched)?,
        n_widths,
        128,
        &out.join(sched),
        "lines",
        line,
    )?;
    (0..layout.count)
        .map(|a| {
            let f = subarray_file(a);
            parse_subarray(&read(&f)?, layout.rows, layout.cols, &out.join(&f))
        })
        .collect()
}
