//! The on-disk model format: the JSON description ([`file`] holds its serde
//! structs, [`json`] reads and writes the text) and the safetensors weights
//! file ([`safetensors`]); here they are put together into a [`Model`] and
//! taken apart again.

mod file;
mod json;
mod safetensors;

use super::{FORMAT, INPUT, InputSpec, Layer, Model, Op, Requant, Residual, validate, write_temp};
use crate::error::{Error, Result};
use file::{ModelFile, RequantFile};
use std::path::{Path, PathBuf};

impl Model {
    /// Reads the JSON description and the weights file it names (relative to
    /// the JSON's directory), and validates both.
    pub fn load(json: &Path) -> Result<Model> {
        let text = std::fs::read(json).map_err(|e| Error::io(json, e))?;
        let file = json::parse_json(&text, json)?;
        let weights_path = weights_path(json, &file.weights);
        let st = std::fs::read(&weights_path).map_err(|e| {
            Error::io(
                &weights_path,
                format!(
                    "{e} (the weights file named by `weights` in {})",
                    json.display()
                ),
            )
        })?;
        build(file, &st, json, &weights_path)
    }

    /// Same as [`Model::load`], from memory; `origin` names the JSON in
    /// messages (the weights file is named relative to it).
    pub fn from_bytes(json: &[u8], safetensors: &[u8], origin: &Path) -> Result<Model> {
        let file = json::parse_json(json, origin)?;
        let weights_path = weights_path(origin, &file.weights);
        build(file, safetensors, origin, &weights_path)
    }

    /// Writes the JSON to `json` and the weights to `<stem>.safetensors`
    /// beside it. Both go to temporary files in the same directory first and
    /// are renamed into place, so nothing is ever half-written.
    pub fn save(&self, json: &Path) -> Result<()> {
        self.validate()?;
        let stem = json
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    json,
                    "path",
                    json.display(),
                    "a file name such as `model.json`",
                )
            })?;
        let weights_name = format!("{stem}.safetensors");
        let weights = json.with_file_name(&weights_name);
        if weights == json {
            return Err(Error::invalid(
                json,
                "path",
                json.display(),
                "a JSON file name that differs from its weights file `<stem>.safetensors`",
            ));
        }
        let json_bytes = json::json_bytes(self, &weights_name);
        let st_bytes = self.safetensors_bytes();
        let dir = match json.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp_st = write_temp(&dir, &st_bytes, &weights)?;
        let tmp_json = write_temp(&dir, &json_bytes, json)?;
        tmp_st
            .persist(&weights)
            .map_err(|e| Error::io(&weights, e.error))?;
        tmp_json
            .persist(json)
            .map_err(|e| Error::io(json, e.error))?;
        Ok(())
    }

    /// The model JSON, byte-identical for the same model. Its `weights` field
    /// names `<stem>.safetensors` for the stem of [`Model::path`] when that
    /// is a `.json` file, else `<name>.safetensors`.
    pub fn json_bytes(&self) -> Vec<u8> {
        let stem = Some(&self.path)
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .and_then(|p| p.file_stem())
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.name);
        json::json_bytes(self, &format!("{stem}.safetensors"))
    }

    /// The safetensors weights file, byte-identical for the same model.
    pub fn safetensors_bytes(&self) -> Vec<u8> {
        safetensors::safetensors_bytes(self)
    }
}

/// Path of the weights file named in the JSON, relative to the JSON's directory.
fn weights_path(json: &Path, weights: &str) -> PathBuf {
    match json.parent() {
        Some(dir) => dir.join(weights),
        None => PathBuf::from(weights),
    }
}

/// Builds and validates a model from the parsed JSON and the weights bytes.
fn build(file: ModelFile, st: &[u8], origin: &Path, weights_file: &Path) -> Result<Model> {
    let n_widths = file.widths.len();
    let mut model = Model {
        path: origin.to_path_buf(),
        name: file.name,
        precision: file.precision,
        widths: file.widths,
        input: InputSpec {
            name: INPUT.to_string(),
            channels: file.input.channels,
            height: file.input.height,
            width: file.input.width,
            signed: file.input.signed,
        },
        layers: Vec::with_capacity(file.layers.len()),
    };
    if file.format != FORMAT {
        return Err(Error::invalid(
            origin,
            "format",
            format!("\"{}\"", file.format),
            format!("\"{FORMAT}\""),
        ));
    }
    for (i, l) in file.layers.into_iter().enumerate() {
        let p = format!("layers[{i}]");
        let (kh, kw, stride, pad) = match l.op {
            Op::Conv => {
                let missing = |key: &str| {
                    Error::invalid(
                        origin,
                        format!("{p}.{key}"),
                        "(missing)",
                        "a value for this required key (of a conv layer)",
                    )
                };
                let [kh, kw] = l.kernel.ok_or_else(|| missing("kernel"))?;
                (
                    kh,
                    kw,
                    l.stride.ok_or_else(|| missing("stride"))?,
                    l.pad.ok_or_else(|| missing("pad"))?,
                )
            }
            Op::Gap => {
                let present = [
                    ("kernel", l.kernel.map(|[h, w]| format!("[{h}, {w}]"))),
                    ("stride", l.stride.map(|s| s.to_string())),
                    ("pad", l.pad.map(|s| s.to_string())),
                ];
                if let Some((key, Some(v))) = present.into_iter().find(|x| x.1.is_some()) {
                    return Err(Error::invalid(
                        origin,
                        format!("{p}.{key}"),
                        v,
                        format!(
                            "no `{key}` on a gap layer (it pools its whole input map: \
                             omit `kernel`, `stride` and `pad`)"
                        ),
                    ));
                }
                // The kernel is the input map; filled in below.
                (0, 0, 1, 0)
            }
        };
        model.layers.push(Layer {
            name: l.name,
            op: l.op,
            input: l.input,
            cin: l.cin,
            cout: l.cout,
            kh,
            kw,
            stride,
            pad,
            relu: l.relu,
            cin_active: l.cin_active,
            cout_active: l.cout_active,
            requant: match l.requant {
                RequantFile::None => None,
                RequantFile::Some(r) => Some(Requant {
                    shift: r.shift,
                    residual: r.residual.map(|r| Residual {
                        source: r.source,
                        mult: r.mult,
                    }),
                }),
            },
            weights: Vec::new(),
            bias: Vec::new(),
            mult: Vec::new(),
        });
        if l.op == Op::Gap {
            // (0, 0) for an unknown input: validation names that first.
            let (h, w) = model.in_hw(i);
            model.layers[i].kh = h;
            model.layers[i].kw = w;
        }
    }
    validate::structure(&model, origin)?;
    safetensors::read_weights(&mut model, st, weights_file, n_widths)?;
    validate::values(&model, weights_file)?;
    Ok(model)
}
