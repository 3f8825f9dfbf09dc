//! The model JSON text: parsing with errors that name the JSON path of the
//! offending key, and the deterministic text written for a model.

use super::file::{ModelFile, to_file};
use crate::error::{Error, Result};
use crate::model::Model;
use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use std::io::{self, Write};
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
        let key = if key.is_empty() { "\"\"" } else { key };
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
    if let Some(rest) = msg.strip_prefix("duplicate field `") {
        let key = rest.trim_end_matches('`');
        return Error::invalid(
            origin,
            field,
            format!(
                "a second `{key}` at line {}, column {}",
                e.line(),
                e.column()
            ),
            "each key once per object",
        );
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
    let mut out = layout(&to_file(m, weights));
    out.push(b'\n');
    out
}

/// `value` as JSON text laid out by [`Layout`] (no final newline); empty if
/// it cannot be serialized.
fn layout<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Layout::default());
    if value.serialize(&mut ser).is_err() {
        out.clear();
    }
    out
}

/// A serde_json formatter for the model JSON: objects one key per line,
/// indented by two spaces per level, `": "` after a key; arrays of scalars
/// on one line (`[1, 2, 3]`), arrays holding an object or an array one
/// element per line. Scalars are written as serde_json writes them.
///
/// An array's elements are held back until the array closes (one line) or
/// an element opens an object or array (one element per line).
#[derive(Default)]
struct Layout {
    /// The objects and arrays open, outermost first.
    open: Vec<Open>,
}

/// An object or array being written.
enum Open {
    /// An object; `empty` until its first key.
    Object { empty: bool },
    /// An array whose elements are all scalars so far: their text, held back.
    Scalars(Vec<Vec<u8>>),
    /// An array written one element per line.
    Lines,
}

impl Layout {
    /// The buffer of the array element being held back, if any.
    fn held(&mut self) -> Option<&mut Vec<u8>> {
        match self.open.last_mut() {
            Some(Open::Scalars(elements)) => elements.last_mut(),
            _ => None,
        }
    }

    /// Writes `bytes` to the element held back, or else to `w`.
    fn emit<W: ?Sized + Write>(&mut self, w: &mut W, bytes: &[u8]) -> io::Result<()> {
        match self.held() {
            Some(buf) => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
            None => w.write_all(bytes),
        }
    }

    /// A newline, then the indentation of the current depth.
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        w.write_all("  ".repeat(self.open.len()).as_bytes())
    }

    /// An object or array opens: an enclosing array of scalars so far turns
    /// to one element per line, its held-back elements written out.
    fn open_container<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(Open::Scalars(elements)) = self.open.last_mut() {
            let elements = std::mem::take(elements);
            *self.open.last_mut().expect("an open array") = Open::Lines;
            w.write_all(b"[")?;
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                self.newline(w)?;
                // The last is the element now opening (empty so far).
                w.write_all(e)?;
            }
        }
        Ok(())
    }
}

/// Formatter methods that write a scalar or part of one: serde_json's
/// compact text, into the element held back if any.
macro_rules! scalars {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            match self.held() {
                Some(buf) => CompactFormatter.$name(buf $(, $arg)*),
                None => CompactFormatter.$name(w $(, $arg)*),
            }
        }
    )*};
}

impl Formatter for Layout {
    scalars! {
        write_null();
        write_bool(v: bool);
        write_i8(v: i8);
        write_i16(v: i16);
        write_i32(v: i32);
        write_i64(v: i64);
        write_i128(v: i128);
        write_u8(v: u8);
        write_u16(v: u16);
        write_u32(v: u32);
        write_u64(v: u64);
        write_u128(v: u128);
        write_f32(v: f32);
        write_f64(v: f64);
        write_number_str(v: &str);
        begin_string();
        end_string();
        write_string_fragment(fragment: &str);
        write_char_escape(escape: CharEscape);
        write_raw_fragment(fragment: &str);
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open_container(w)?;
        self.open.push(Open::Scalars(Vec::new()));
        Ok(())
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        match self.open.last_mut() {
            Some(Open::Scalars(elements)) => {
                elements.push(Vec::new());
                Ok(())
            }
            // An array turns to lines inside an element, so never on the first.
            _ => {
                if !first {
                    w.write_all(b",")?;
                }
                self.newline(w)
            }
        }
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.open.pop() {
            Some(Open::Scalars(elements)) => {
                let line = [b"[".to_vec(), elements.join(&b", "[..]), b"]".to_vec()].concat();
                self.emit(w, &line)
            }
            _ => {
                self.newline(w)?;
                w.write_all(b"]")
            }
        }
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open_container(w)?;
        self.open.push(Open::Object { empty: true });
        w.write_all(b"{")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if let Some(Open::Object { empty }) = self.open.last_mut() {
            *empty = false;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(Open::Object { empty: false }) = self.open.pop() {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::layout;
    use serde::Serialize;
    use serde_json::json;

    fn text<T: Serialize>(value: &T) -> String {
        String::from_utf8(layout(value)).expect("UTF-8")
    }

    #[test]
    fn objects_indent_and_scalar_arrays_stay_on_one_line() {
        // Field order is kept (a `Value` would sort the keys).
        #[derive(Serialize)]
        struct Outer {
            name: &'static str,
            inner: Inner,
            none: Option<u32>,
        }
        #[derive(Serialize)]
        struct Inner {
            shift: Vec<u32>,
            widths: Vec<f64>,
            flags: (bool, bool),
        }
        let v = Outer {
            name: "x",
            inner: Inner {
                shift: vec![24, 25],
                widths: vec![0.5, 1.0],
                flags: (true, false),
            },
            none: None,
        };
        assert_eq!(
            text(&v),
            r#"{
  "name": "x",
  "inner": {
    "shift": [24, 25],
    "widths": [0.5, 1.0],
    "flags": [true, false]
  },
  "none": null
}"#
        );
    }

    #[test]
    fn arrays_holding_containers_go_one_element_per_line() {
        let v = json!({
            "layers": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": []}],
            "mixed": [1, "two", [3, 4], {}, [[5], []]],
        });
        assert_eq!(
            text(&v),
            r#"{
  "layers": [
    {
      "a": 1,
      "b": [1, 2]
    },
    {
      "a": 2,
      "b": []
    }
  ],
  "mixed": [
    1,
    "two",
    [3, 4],
    {},
    [
      [5],
      []
    ]
  ]
}"#
        );
    }

    #[test]
    fn empty_containers_and_top_level_values() {
        assert_eq!(text(&json!({})), "{}");
        assert_eq!(text(&json!([])), "[]");
        assert_eq!(text(&json!([[]])), "[\n  []\n]");
        assert_eq!(
            text(&json!({"a": {}, "b": []})),
            "{\n  \"a\": {},\n  \"b\": []\n}"
        );
        assert_eq!(text(&7u8), "7");
        assert_eq!(text(&json!("s")), "\"s\"");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let s = "q\"b\\n\nt\tc\u{1}é/";
        let v = json!({"k\"ey": s, "list": [s, "", s]});
        assert_eq!(
            text(&v),
            r#"{
  "k\"ey": "q\"b\\n\nt\tc\u0001é/",
  "list": ["q\"b\\n\nt\tc\u0001é/", "", "q\"b\\n\nt\tc\u0001é/"]
}"#
        );
    }
}
