//! A generated directory: what `capim gen` writes, how it is written (a
//! temporary directory renamed into place) and how `capim verify --from`,
//! `capim lint` and the library open it again.

use crate::error::{Error, Result};
use crate::hw::ArrayConfig;
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
/// Layer descriptors, one word per (layer, width).
pub const DESC_FILE: &str = "capim_desc.memh";
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
        Ok(Design {
            out: self.clone(),
            cfg,
            model,
            layout,
        })
    }

    /// Writes `g` into `out` atomically: a temporary directory beside it,
    /// renamed into place. An existing Verilator build directory inside
    /// `out` is carried over; a non-empty `out` that `capim gen` did not
    /// write is refused.
    pub fn write(g: &Generated, out: &Path) -> Result<OutDir> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".capim-gen-")
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        for (name, data) in &g.files {
            let p = tmp.path().join(name);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            std::fs::write(&p, data).map_err(|e| Error::io(&p, e))?;
        }
        if out.exists() {
            if !out.join(MANIFEST).exists()
                && std::fs::read_dir(out)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
            {
                return Err(Error::invalid(
                    out,
                    "--out",
                    out.display(),
                    "an empty directory or one written by `capim gen` (it has no manifest.json; refusing to replace it)",
                ));
            }
            let old_build = out.join(BUILD_DIR);
            if old_build.is_dir() {
                let _ = std::fs::rename(&old_build, tmp.path().join(BUILD_DIR));
            }
            let trash = parent.join(format!(".capim-old-{}", std::process::id()));
            std::fs::rename(out, &trash).map_err(|e| Error::io(out, e))?;
            let kept = tmp.keep();
            std::fs::rename(&kept, out).map_err(|e| Error::io(out, e))?;
            let _ = std::fs::remove_dir_all(&trash);
        } else {
            let kept = tmp.keep();
            std::fs::rename(&kept, out).map_err(|e| Error::io(out, e))?;
        }
        Ok(OutDir::new(out))
    }
}

/// A generated directory loaded again: its configuration, model and layout.
pub struct Design {
    pub out: OutDir,
    pub cfg: ArrayConfig,
    pub model: Model,
    pub layout: Layout,
}
