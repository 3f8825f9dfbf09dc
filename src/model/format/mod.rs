//! The on-disk model format: the JSON description ([`file`] holds its serde
//! structs, [`json`] reads and writes the text) and the safetensors weights
//! file ([`safetensors`]); here they are put together into a [`Model`] and
//! taken apart again.

mod file;
mod json;
mod safetensors;

use super::{FORMAT, INPUT, InputSpec, Layer, Model, Op, Requant, Residual, validate};
use crate::error::{Error, Result};
use crate::fsio;
use file::{ModelFile, RequantFile};
use std::path::{Path, PathBuf};

impl Model {
    /// Reads the JSON description and the weights file it names (relative to
    /// the JSON's directory), and validates both.
    pub fn load(json: &Path) -> Result<Model> {
        let text = fsio::read_bounded(json, fsio::MAX_MODEL_JSON_BYTES, "a model description")?;
        let file = json::parse_json(&text, json)?;
        let weights_path = weights_path(json, &file.weights);
        let st = fsio::read_bounded(&weights_path, fsio::MAX_WEIGHTS_BYTES, "model weights")
            .map_err(|e| match e {
                Error::Io { path, msg } => Error::Io {
                    path,
                    msg: format!(
                        "{msg} (the weights file named by `weights` in {})",
                        json.display()
                    ),
                },
                other => other,
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

    /// Where [`Model::save`] puts the weights of `json`:
    /// `<stem>.safetensors` beside it.
    pub fn weights_path_for(json: &Path) -> Result<PathBuf> {
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
        let weights = json.with_file_name(format!("{stem}.safetensors"));
        if weights == json {
            return Err(Error::invalid(
                json,
                "path",
                json.display(),
                "a JSON file name that differs from its weights file `<stem>.safetensors`",
            ));
        }
        Ok(weights)
    }

    /// Writes the JSON to `json` and the weights to `<stem>.safetensors`
    /// beside it. Both targets are checked first ([`fsio::check_target`]);
    /// both go to temporary files in the same directory and are renamed
    /// into place, so nothing is ever half-written.
    pub fn save(&self, json: &Path) -> Result<()> {
        self.validate()?;
        let weights = Model::weights_path_for(json)?;
        fsio::check_target(json, "path", fsio::Target::File)?;
        fsio::check_target(&weights, "path", fsio::Target::File)?;
        let weights_name = weights
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let json_bytes = json::json_bytes(self, &weights_name);
        let st_bytes = self.safetensors_bytes();
        let tmp_st = fsio::temp_file(&weights, &st_bytes)?;
        let tmp_json = fsio::temp_file(json, &json_bytes)?;
        fsio::persist(tmp_st, &weights)?;
        fsio::persist(tmp_json, json)
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
        preprocess: file.preprocess,
        evaluation: file.evaluation,
    };
    if file.format != FORMAT {
        return Err(Error::invalid(
            origin,
            "format",
            format!("\"{}\"", file.format),
            format!("\"{FORMAT}\""),
        ));
    }
    // Output map (H, W) of every tensor built so far, for the gap kernels.
    let mut maps: std::collections::HashMap<String, (usize, usize)> =
        std::collections::HashMap::from([(
            INPUT.to_string(),
            (model.input.height, model.input.width),
        )]);
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
        // (0, 0) for an unknown input: validation names that first.
        let in_hw = maps.get(&model.layers[i].input).copied().unwrap_or((0, 0));
        if l.op == Op::Gap {
            (model.layers[i].kh, model.layers[i].kw) = in_hw;
        }
        let out_hw = model.layers[i].out_size(in_hw);
        maps.entry(model.layers[i].name.clone()).or_insert(out_hw);
    }
    validate::structure(&model, origin)?;
    validate::meta(&model, origin)?;
    safetensors::read_weights(&mut model, st, weights_file, n_widths)?;
    validate::values(&model, weights_file)?;
    Ok(model)
}
