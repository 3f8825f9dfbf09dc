//! The on-disk model format: JSON description (serde structs with
//! `deny_unknown_fields`) and the safetensors weights file.

use super::{FORMAT, INPUT, InputSpec, Layer, Model, Op, Requant, Residual, validate};
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
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

/// Parses the JSON text; errors name the JSON path of the offending key.
pub(super) fn parse_json(text: &[u8], origin: &Path) -> Result<ModelFile> {
    let file: ModelFile = serde_json::from_slice(text).map_err(|e| json_error(text, origin, &e))?;
    if file.weights.is_empty() {
        return Err(Error::invalid(
            origin,
            "weights",
            "\"\"",
            "the weights file name, e.g. \"model.safetensors\"",
        ));
    }
    Ok(file)
}

/// Turns a serde_json error into an [`Error::Invalid`] naming the JSON path
/// (`layers[2].cin`), the offending value and what was expected.
fn json_error(text: &[u8], origin: &Path, e: &serde_json::Error) -> Error {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) if e.line() > 0 => &full[..i],
        _ => full.as_str(),
    };
    let offset = byte_offset(text, e.line(), e.column());
    let (path, container) = json_path_at(text, offset);
    let join = |key: &str| {
        if container.is_empty() {
            key.to_string()
        } else {
            format!("{container}.{key}")
        }
    };
    let field = if path.is_empty() {
        "<document>".to_string()
    } else {
        path.clone()
    };
    if e.is_syntax() || e.is_eof() || e.is_io() {
        return Error::invalid(
            origin,
            field,
            format!("line {}, column {}", e.line(), e.column()),
            format!("valid JSON ({msg})"),
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, exp) = rest
            .split_once("`, expected ")
            .unwrap_or((rest.trim_end_matches('`'), ""));
        let field = join(key);
        let exp = if exp.is_empty() {
            "no keys here".to_string()
        } else {
            format!("a known key: {exp}")
        };
        return Error::invalid(origin, field, format!("unknown key \"{key}\""), exp);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.trim_end_matches('`');
        return Error::invalid(
            origin,
            join(key),
            "(missing)",
            "a value for this required key",
        );
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((value, exp)) = rest.rsplit_once(", expected ")
        {
            return Error::invalid(origin, field, value, friendly(exp));
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `")
        && let Some((value, exp)) = rest.split_once("`, expected ")
    {
        return Error::invalid(origin, field, format!("\"{value}\""), exp);
    }
    Error::invalid(
        origin,
        field,
        format!("line {}, column {}", e.line(), e.column()),
        msg.to_string(),
    )
}

/// serde's type names in words.
fn friendly(exp: &str) -> String {
    match exp {
        "usize" | "u32" | "u64" => "a non-negative integer".to_string(),
        "i64" | "i32" => "an integer".to_string(),
        "f64" => "a number".to_string(),
        other => other.to_string(),
    }
}

/// Byte offset of the character at a 1-based (line, column) position; the
/// end of the text if the position is unknown or past it.
fn byte_offset(text: &[u8], line: usize, column: usize) -> usize {
    if line == 0 {
        return text.len();
    }
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => return text.len(),
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// The JSON path (`layers[2].requant.shift[1]`) of the innermost key or
/// element open at byte `offset` (the text before it is scanned), and the
/// path of the innermost object or array alone (`layers[2].requant`).
/// Assumes the text before `offset` is plausible JSON; never panics.
fn json_path_at(text: &[u8], offset: usize) -> (String, String) {
    enum Frame {
        Obj { key: Option<String>, want_key: bool },
        Arr { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let end = offset.min(text.len());
    while i < end {
        match text[i] {
            b'{' => stack.push(Frame::Obj {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Arr { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Arr { index }) => *index += 1,
                Some(Frame::Obj { want_key, .. }) => *want_key = true,
                None => {}
            },
            b':' => {
                if let Some(Frame::Obj { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < text.len() && text[j] != b'"' {
                    j += if text[j] == b'\\' { 2 } else { 1 };
                }
                let s = String::from_utf8_lossy(&text[start..j.min(text.len())]).into_owned();
                if let Some(Frame::Obj { key, want_key }) = stack.last_mut()
                    && *want_key
                {
                    *key = Some(s);
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let render = |frames: &[Frame]| {
        let mut out = String::new();
        for f in frames {
            match f {
                Frame::Obj { key: Some(k), .. } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Frame::Obj { key: None, .. } => {}
                Frame::Arr { index } => out.push_str(&format!("[{index}]")),
            }
        }
        out
    };
    let container = render(&stack[..stack.len().saturating_sub(1)]);
    (render(&stack), container)
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
    read_weights(&mut model, st, weights_file, n_widths)?;
    validate::values(&model, weights_file)?;
    Ok(model)
}

/// Fills weights, bias and mult of every layer from the safetensors bytes.
fn read_weights(model: &mut Model, st: &[u8], file: &Path, n_widths: usize) -> Result<()> {
    let tensors = SafeTensors::deserialize(st).map_err(|e| {
        Error::invalid(
            file,
            "safetensors",
            format!("{} bytes ({e})", st.len()),
            "a complete safetensors file (8-byte header length, JSON header, all tensor data)",
        )
    })?;
    let wdtype = weight_dtype(model.precision);
    let mut expected_names = Vec::new();
    for layer in &mut model.layers {
        let wname = format!("{}.weight", layer.name);
        let bname = format!("{}.bias", layer.name);
        let mname = format!("{}.mult", layer.name);
        match layer.op {
            Op::Conv => {
                let w = get(
                    &tensors,
                    file,
                    &wname,
                    wdtype,
                    &[layer.cout, layer.cin, layer.kh, layer.kw],
                )?;
                layer.weights = decode(&w);
                expected_names.push(wname);
            }
            Op::Gap => {
                if let Ok(t) = tensors.tensor(&wname) {
                    return Err(Error::invalid(
                        file,
                        wname,
                        format!("a {:?} tensor of shape {:?}", t.dtype(), t.shape()),
                        "no weight tensor: a gap layer has no weights",
                    ));
                }
            }
        }
        let b = get(&tensors, file, &bname, Dtype::I64, &[n_widths, layer.cout])?;
        let m = get(&tensors, file, &mname, Dtype::I32, &[n_widths, layer.cout])?;
        let rows = |v: Vec<i64>| -> Vec<Vec<i64>> {
            v.chunks(layer.cout.max(1)).map(|c| c.to_vec()).collect()
        };
        layer.bias = rows(decode(&b));
        let mult = rows(decode(&m));
        let mut mult_u = Vec::with_capacity(n_widths);
        for (wi, row) in mult.iter().enumerate() {
            let mut r = Vec::with_capacity(row.len());
            for (co, &v) in row.iter().enumerate() {
                let v = u32::try_from(v).map_err(|_| {
                    Error::invalid(
                        file,
                        format!("{mname}[{wi}][{co}]"),
                        v,
                        format!("a multiplier M in 0 ..= {}", super::MULT_LIMIT - 1),
                    )
                })?;
                r.push(v);
            }
            mult_u.push(r);
        }
        layer.mult = mult_u;
        expected_names.extend([bname, mname]);
    }
    let mut names: Vec<&str> = tensors.names();
    names.sort_unstable();
    if let Some(extra) = names
        .iter()
        .find(|n| !expected_names.iter().any(|e| e == *n))
    {
        return Err(Error::invalid(
            file,
            *extra,
            "(unexpected tensor)",
            "only `{layer}.weight` (conv layers), `{layer}.bias` and `{layer}.mult` for the model's layers",
        ));
    }
    Ok(())
}

fn weight_dtype(precision: u32) -> Dtype {
    if precision == 8 {
        Dtype::I8
    } else {
        Dtype::I16
    }
}

fn get<'a>(
    tensors: &SafeTensors<'a>,
    file: &Path,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<TensorView<'a>> {
    let t = tensors.tensor(name).map_err(|_| {
        Error::invalid(
            file,
            name,
            "(missing)",
            format!("a {dtype:?} tensor of shape {shape:?}"),
        )
    })?;
    if t.dtype() != dtype {
        return Err(Error::invalid(
            file,
            name,
            format!("dtype {:?}", t.dtype()),
            format!("dtype {dtype:?}"),
        ));
    }
    if t.shape() != shape {
        return Err(Error::invalid(
            file,
            name,
            format!("shape {:?}", t.shape()),
            format!("shape {shape:?}"),
        ));
    }
    Ok(t)
}

/// Little-endian integer data to i64 (dtype already checked).
fn decode(t: &TensorView<'_>) -> Vec<i64> {
    let d = t.data();
    match t.dtype() {
        Dtype::I8 => d.iter().map(|&b| b as i8 as i64).collect(),
        Dtype::I16 => d
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
            .collect(),
        Dtype::I32 => d
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        Dtype::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => Vec::new(),
    }
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

/// Deterministic JSON text in field order: objects indented, arrays of
/// scalars on one line.
pub(super) fn json_bytes(m: &Model, weights: &str) -> Vec<u8> {
    let compact = serde_json::to_string(&to_file(m, weights)).unwrap_or_default();
    let mut out = String::new();
    let mut pos = 0;
    if let Some(tree) = Json::parse(compact.as_bytes(), &mut pos) {
        tree.pretty(0, &mut out);
    }
    out.push('\n');
    out.into_bytes()
}

/// Order-preserving JSON tree of serde_json's compact output (trusted text).
enum Json {
    Scalar(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(t: &[u8], pos: &mut usize) -> Option<Json> {
        match *t.get(*pos)? {
            b'{' => {
                *pos += 1;
                let mut items = Vec::new();
                if t.get(*pos) == Some(&b'}') {
                    *pos += 1;
                    return Some(Json::Obj(items));
                }
                loop {
                    let key = Json::string(t, pos)?;
                    *pos += 1; // ':'
                    items.push((key, Json::parse(t, pos)?));
                    let c = *t.get(*pos)?;
                    *pos += 1;
                    if c == b'}' {
                        return Some(Json::Obj(items));
                    }
                }
            }
            b'[' => {
                *pos += 1;
                let mut items = Vec::new();
                if t.get(*pos) == Some(&b']') {
                    *pos += 1;
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(Json::parse(t, pos)?);
                    let c = *t.get(*pos)?;
                    *pos += 1;
                    if c == b']' {
                        return Some(Json::Arr(items));
                    }
                }
            }
            b'"' => Json::string(t, pos).map(Json::Scalar),
            _ => {
                let start = *pos;
                while *pos < t.len() && !matches!(t[*pos], b',' | b']' | b'}') {
                    *pos += 1;
                }
                Some(Json::Scalar(
                    String::from_utf8_lossy(&t[start..*pos]).into_owned(),
                ))
            }
        }
    }

    /// A string token, quotes and escapes kept as written.
    fn string(t: &[u8], pos: &mut usize) -> Option<String> {
        let start = *pos;
        *pos += 1;
        while *t.get(*pos)? != b'"' {
            *pos += if t[*pos] == b'\\' { 2 } else { 1 };
        }
        *pos += 1;
        Some(String::from_utf8_lossy(&t[start..*pos]).into_owned())
    }

    fn pretty(&self, indent: usize, out: &mut String) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Json::Scalar(s) => out.push_str(s),
            Json::Obj(items) if items.is_empty() => out.push_str("{}"),
            Json::Obj(items) => {
                out.push_str("{\n");
                for (i, (k, v)) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    out.push_str(k);
                    out.push_str(": ");
                    v.pretty(indent + 1, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
            Json::Arr(items) if items.iter().all(|x| matches!(x, Json::Scalar(_))) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.pretty(indent, out);
                }
                out.push(']');
            }
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    v.pretty(indent + 1, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
        }
    }
}

/// Deterministic safetensors bytes (tensors sorted by dtype, then name).
pub(super) fn safetensors_bytes(m: &Model) -> Vec<u8> {
    struct Raw {
        dtype: Dtype,
        shape: Vec<usize>,
        data: Vec<u8>,
    }
    impl safetensors::View for &Raw {
        fn dtype(&self) -> Dtype {
            self.dtype
        }
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn data(&self) -> std::borrow::Cow<'_, [u8]> {
            std::borrow::Cow::Borrowed(&self.data)
        }
        fn data_len(&self) -> usize {
            self.data.len()
        }
    }
    let n_widths = m.widths.len();
    let mut raws: Vec<(String, Raw)> = Vec::new();
    for l in &m.layers {
        if l.op == Op::Conv {
            let data: Vec<u8> = if m.precision == 8 {
                l.weights.iter().map(|&w| w as i8 as u8).collect()
            } else {
                l.weights
                    .iter()
                    .flat_map(|&w| (w as i16).to_le_bytes())
                    .collect()
            };
            raws.push((
                format!("{}.weight", l.name),
                Raw {
                    dtype: weight_dtype(m.precision),
                    shape: vec![l.cout, l.cin, l.kh, l.kw],
                    data,
                },
            ));
        }
        raws.push((
            format!("{}.bias", l.name),
            Raw {
                dtype: Dtype::I64,
                shape: vec![n_widths, l.cout],
                data: l
                    .bias
                    .iter()
                    .flatten()
                    .flat_map(|b| b.to_le_bytes())
                    .collect(),
            },
        ));
        raws.push((
            format!("{}.mult", l.name),
            Raw {
                dtype: Dtype::I32,
                shape: vec![n_widths, l.cout],
                data: l
                    .mult
                    .iter()
                    .flatten()
                    .flat_map(|&x| (x as i32).to_le_bytes())
                    .collect(),
            },
        ));
    }
    let views = raws.iter().map(|(n, r)| (n.clone(), r));
    safetensors::serialize(views, None).unwrap_or_default()
}
