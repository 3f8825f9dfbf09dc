//! The JSON file form of a model: serde structs with `deny_unknown_fields`,
//! and the conversion from a [`Model`].

use crate::model::{Evaluation, Preprocess};
use crate::model::{FORMAT, Model, Op};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::model) struct ModelFile {
    pub format: String,
    pub name: String,
    pub precision: u32,
    pub widths: Vec<f64>,
    pub input: InputFile,
    /// Weights file, relative to the JSON's directory.
    pub weights: String,
    pub layers: Vec<LayerFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::model) struct InputFile {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub signed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::model) struct LayerFile {
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
pub(in crate::model) enum RequantFile {
    None,
    Some(RequantSpec),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::model) struct RequantSpec {
    pub shift: Vec<u32>,
    pub residual: Option<ResidualFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::model) struct ResidualFile {
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

/// The file form of a model, with `weights` naming the weights file.
pub(in crate::model) fn to_file(m: &Model, weights: &str) -> ModelFile {
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
        preprocess: m.preprocess.clone(),
        evaluation: m.evaluation.clone(),
    }
}
