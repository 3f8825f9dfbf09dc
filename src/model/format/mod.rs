//! The on-disk model format: JSON description (serde structs with
//! `deny_unknown_fields`) and the safetensors weights file.
//!
//! This module holds the file structs and the conversions between them and
//! a [`Model`]; `json` reads and writes the JSON text, `safetensors` the
//! weights file.

mod json;
mod safetensors;

pub(super) use json::{json_bytes, parse_json};
pub(super) use safetensors::safetensors_bytes;

use super::{FORMAT, INPUT, InputSpec, Layer, Model, Op, Requant, Residual, validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelFile {
    pub format: String,
    pub name: String,
    pub precision: u32,
    pub widths: Vec<f64>,
    pub input: InputFile,
    /// Weights file, relative to the JSON's directory.
    pub weights: String,
    pub layers: Vec<LayerFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputFile {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub signed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LayerFile {
    pub name: String,
    pub op: Op,
    pub input: String,
    pub cin: usize,
    pub cout: usize,
    /// `[kh, kw]`; required for conv, absent for gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<[usize; 2]>,
    /// Required for conv, absent for gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Required for conv, absent for gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<usize>,
    pub relu: bool,
    pub cin_active: Vec<usize>,
    pub cout_active: Vec<usize>,
    pub requant: RequantFile,
}

/// `"none"` or `{"shift": [...], "residual": null | {...}}`.
#[derive(Debug)]
pub(super) enum RequantFile {
    None,
    Some(RequantSpec),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequantSpec {
    pub shift: Vec<u32>,
    pub residual: Option<ResidualFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResidualFile {
    pub source: String,
    pub mult: Vec<u32>,
}

impl Serialize for RequantFile {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            RequantFile::None => s.serialize_str("none"),
            RequantFile::Some(spec) => spec.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RequantFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RequantFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"none\" or an object {\"shift\": [...], \"residual\": ...}")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<RequantFile, E> {
                if v == "none" {
                    Ok(RequantFile::None)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RequantFile, A::Error> {
                RequantSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RequantFile::Some)
            }
        }
        d.deserialize_any(V)
    }
}

/// Path of the weights file named in the JSON, relative to the JSON's directory.
pub(super) fn weights_path(json: &Path, weights: &str) -> PathBuf {
    match json.parent() {
        Some(dir) => dir.join(weights),
        None => PathBuf::from(weights),
    }
}

/// Builds and validates a model from the parsed JSON and the weights bytes.
pub(super) fn build(
    file: ModelFile,
    st: &[u8],
    origin: &Path,
    weights_file: &Path,
) -> Result<Model> {
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

/// The file form of a model, with `weights` naming the weights file.
fn to_file(m: &Model, weights: &str) -> ModelFile {
    ModelFile {
        format: FORMAT.to_string(),
        name: m.name.clone(),
        precision: m.precision,
        widths: m.widths.clone(),
        input: InputFile {
            channels: m.input.channels,
            height: m.input.height,
            width: m.input.width,
            signed: m.input.signed,
        },
        weights: weights.to_string(),
        layers: m
            .layers
            .iter()
            .map(|l| LayerFile {
                name: l.name.clone(),
                op: l.op,
                input: l.input.clone(),
                cin: l.cin,
                cout: l.cout,
                kernel: (l.op == Op::Conv).then_some([l.kh, l.kw]),
                stride: (l.op == Op::Conv).then_some(l.stride),
                pad: (l.op == Op::Conv).then_some(l.pad),
                relu: l.relu,
                cin_active: l.cin_active.clone(),
                cout_active: l.cout_active.clone(),
                requant: match &l.requant {
                    None => RequantFile::None,
                    Some(r) => RequantFile::Some(RequantSpec {
                        shift: r.shift.clone(),
                        residual: r.residual.as_ref().map(|r| ResidualFile {
                            source: r.source.clone(),
                            mult: r.mult.clone(),
                        }),
                    }),
                },
            })
            .collect(),
    }
}
