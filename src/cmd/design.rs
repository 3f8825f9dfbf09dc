//! The configuration and model named by `--config`, `--model` and
//! `--precision` (shared by `gen` and `verify`).

use crate::cli::DesignArgs;
use crate::cost::tech::Tech;
use crate::error::Result;
use crate::hw::ArrayConfig;
use crate::model::Model;
use std::path::PathBuf;

/// The technology file named by `--tech`, or the built-in one.
pub fn tech(path: &Option<PathBuf>) -> Result<Tech> {
    match path {
        Some(p) => Tech::load(p),
        None => Ok(Tech::builtin()),
    }
}

/// Loads the configuration (the built-in default without `--config`),
/// applies `--precision`, and loads the model (the shipped ResNet-20 of
/// that precision without `--model`).
pub fn load(a: &DesignArgs) -> Result<(ArrayConfig, Model)> {
    let mut cfg = match &a.config {
        Some(p) => ArrayConfig::load(p)?,
        None => ArrayConfig::builtin(),
    };
    if let Some(p) = a.precision {
        // An unsupported value is reported against the option.
        ArrayConfig {
            precision: p,
            origin: "--precision".into(),
            ..cfg.clone()
        }
        .validate()?;
        cfg.precision = p;
    }
    let model = match &a.model {
        Some(p) => Model::load(p)?,
        None => crate::model::default_model(cfg.precision)?,
    };
    Ok((cfg, model))
}
