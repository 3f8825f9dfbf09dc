//! The model JSON text: parsing with errors that name the JSON path of the
//! offending key, and the deterministic text written for a model.

use super::{ModelFile, to_file};
use crate::error::{Error, Result};
use crate::model::Model;
use std::path::Path;

/// Parses the JSON text; errors name the JSON path of the offending key.
pub(in crate::model) fn parse_json(text: &[u8], origin: &Path) -> Result<ModelFile> {
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

/// Deterministic JSON text in field order: objects indented, arrays of
/// scalars on one line.
pub(in crate::model) fn json_bytes(m: &Model, weights: &str) -> Vec<u8> {
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
