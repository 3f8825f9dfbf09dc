//! NPY tensors in and out of `capim run`.
//!
//! Inputs are `(C, H, W)` or `(N, C, H, W)`, C order, with an integer dtype
//! that matches the model: int8/uint8 at 8 bits, int16/uint16 at 16 bits
//! (signedness as `input.signed`), or int32/int64 with every value in range.
//! Outputs keep the input's rank; their dtype follows the output tensor:
//! int8/uint8/int16/uint16 for requantized layers (uint for ReLU), int64 for
//! `requant: "none"`.

use super::{MAX_ELEMS, Model, Tensor, Values, reference::out_range};
use crate::error::{Error, Result};
use npyz::{TypeChar, WriterBuilder};
use std::path::Path;

/// Integer dtypes capim reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    I8,
    U8,
    I16,
    U16,
    I32,
    I64,
}

impl NpyDtype {
    /// numpy's name for it (`int8`, `uint16`, ...).
    pub fn numpy_name(self) -> &'static str {
        match self {
            NpyDtype::I8 => "int8",
            NpyDtype::U8 => "uint8",
            NpyDtype::I16 => "int16",
            NpyDtype::U16 => "uint16",
            NpyDtype::I32 => "int32",
            NpyDtype::I64 => "int64",
        }
    }

    /// The N-bit activation dtype for a precision and signedness.
    pub fn activation(precision: u32, signed: bool) -> NpyDtype {
        match (precision, signed) {
            (8, true) => NpyDtype::I8,
            (8, false) => NpyDtype::U8,
            (_, true) => NpyDtype::I16,
            (_, false) => NpyDtype::U16,
        }
    }

    fn bytes(self) -> usize {
        match self {
            NpyDtype::I8 | NpyDtype::U8 => 1,
            NpyDtype::I16 | NpyDtype::U16 => 2,
            NpyDtype::I32 => 4,
            NpyDtype::I64 => 8,
        }
    }
}

/// An integer NPY array, values in the narrowest storage that holds its
/// dtype ([`Values`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub dtype: NpyDtype,
    pub data: Values,
}

/// Reads an integer NPY file (C order).
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = crate::fsio::read_bounded(path, crate::fsio::MAX_NPY_BYTES, "a tensor (NPY)")?;
    parse(&bytes, path)
}

/// Parses NPY bytes; `origin` names the file in messages.
pub fn parse(bytes: &[u8], origin: &Path) -> Result<NpyArray> {
    check_preamble(bytes, origin)?;
    let mut rest: &[u8] = bytes;
    let header = npyz::NpyHeader::from_reader(&mut rest).map_err(|e| {
        Error::invalid(
            origin,
            "header",
            format!("{} bytes ({e})", bytes.len()),
            "a valid NPY file",
        )
    })?;
    let descr = match header.dtype() {
        npyz::DType::Plain(ts) => {
            let bits = ts.size_field() * 8;
            match ts.type_char() {
                TypeChar::Int => format!("int{bits}"),
                TypeChar::Uint => format!("uint{bits}"),
                TypeChar::Float => format!("float{bits}"),
                TypeChar::Complex => format!("complex{bits}"),
                TypeChar::Bool => "bool".to_string(),
                _ => ts.to_string(),
            }
        }
        other => other.descr(),
    };
    let dtype = match header.dtype() {
        npyz::DType::Plain(ts) => match (ts.type_char(), ts.size_field()) {
            (TypeChar::Int, 1) => Some(NpyDtype::I8),
            (TypeChar::Uint, 1) => Some(NpyDtype::U8),
            (TypeChar::Int, 2) => Some(NpyDtype::I16),
            (TypeChar::Uint, 2) => Some(NpyDtype::U16),
            (TypeChar::Int, 4) => Some(NpyDtype::I32),
            (TypeChar::Int, 8) => Some(NpyDtype::I64),
            _ => None,
        },
        _ => None,
    };
    let Some(dtype) = dtype else {
        return Err(Error::invalid(
            origin,
            "dtype",
            descr,
            "an integer dtype: int8, uint8, int16, uint16, int32 or int64",
        ));
    };
    if header.order() != npyz::Order::C {
        return Err(Error::invalid(
            origin,
            "fortran_order",
            "True",
            "False (C order; use numpy.ascontiguousarray)",
        ));
    }
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let n = header.len() as u128;
    let need = n * dtype.bytes() as u128;
    if need != rest.len() as u128 {
        return Err(Error::invalid(
            origin,
            "data",
            format!("{} bytes", rest.len()),
            format!(
                "{need} bytes for shape {} of {} (file truncated or padded?)",
                shape_str(&shape),
                dtype.numpy_name()
            ),
        ));
    }
    let file = npyz::NpyFile::with_header(header, rest);
    let io = |e: std::io::Error| Error::invalid(origin, "data", e, "readable integer data");
    let data = match dtype {
        NpyDtype::I8 => Values::I16(widen(file.into_vec::<i8>().map_err(io)?)),
        NpyDtype::U8 => Values::I16(widen(file.into_vec::<u8>().map_err(io)?)),
        NpyDtype::I16 => Values::I16(file.into_vec::<i16>().map_err(io)?),
        NpyDtype::U16 => Values::I32(widen(file.into_vec::<u16>().map_err(io)?)),
        NpyDtype::I32 => Values::I32(file.into_vec::<i32>().map_err(io)?),
        NpyDtype::I64 => Values::I64(file.into_vec::<i64>().map_err(io)?),
    };
    Ok(NpyArray { shape, dtype, data })
}

/// Checks the NPY preamble before any parser allocates: the magic, the
/// version, a header length that fits in the file, and a shape (keys in
/// single or double quotes) of at most [`MAX_ELEMS`] elements, no dimension
/// above it either (even beside a zero dimension). The data
/// length is checked against the parsed shape before it is decoded.
fn check_preamble(bytes: &[u8], origin: &Path) -> Result<()> {
    let bad = |field: &str, value: String, expected: &str| {
        Err(Error::invalid(origin, field, value, expected.to_string()))
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return bad(
            "header",
            format!("{} bytes", bytes.len()),
            "a valid NPY file (magic \\x93NUMPY)",
        );
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => {
            return bad(
                "header",
                format!("version {v}"),
                "a valid NPY file (version 1, 2 or 3)",
            );
        }
    };
    if len > bytes.len() - start {
        return bad(
            "header length",
            len.to_string(),
            &format!(
                "at most the {} bytes that follow the preamble",
                bytes.len() - start
            ),
        );
    }
    let header = String::from_utf8_lossy(&bytes[start..start + len]);
    let Some(at) = header.find("'shape'").or_else(|| header.find("\"shape\"")) else {
        return Ok(()); // the parser names what is missing
    };
    let after = &header[at..];
    let (Some(open), Some(close)) = (after.find('('), after.find(')')) else {
        return Ok(());
    };
    if close < open {
        return Ok(());
    }
    let text = &after[open + 1..close];
    let (mut product, mut huge): (u128, bool) = (1, false);
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Ok(d) = part.trim_end_matches('L').parse::<u128>() else {
            return Ok(());
        };
        // A huge dimension beside a zero one has no elements but still
        // overflows size arithmetic: each dimension is bounded too.
        huge |= d > MAX_ELEMS as u128;
        product = product.saturating_mul(d);
    }
    if huge || product > MAX_ELEMS as u128 {
        return bad(
            "shape",
            format!("({text})"),
            &format!("at most {MAX_ELEMS} elements, no dimension larger"),
        );
    }
    Ok(())
}

fn widen<T: Into<U>, U>(v: Vec<T>) -> Vec<U> {
    v.into_iter().map(Into::into).collect()
}

/// `(3, 8, 8)`.
pub fn shape_str(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Reads the network input for `model`: one tensor per sample, and whether
/// the file had a batch axis `(N, C, H, W)`.
pub fn read_input(path: &Path, model: &Model) -> Result<(Vec<Tensor>, bool)> {
    let a = read(path)?;
    input_tensors(a, path, model)
}

/// Checks an array against the model's input and splits it into samples.
pub fn input_tensors(a: NpyArray, path: &Path, model: &Model) -> Result<(Vec<Tensor>, bool)> {
    let n = model.precision;
    let signed = model.input.signed;
    let (lo, hi) = out_range(n, !signed);
    let exact = NpyDtype::activation(n, signed);
    let range = format!("{lo}..={hi}");
    if !(a.dtype == exact || a.dtype == NpyDtype::I32 || a.dtype == NpyDtype::I64) {
        return Err(Error::invalid(
            path,
            "dtype",
            a.dtype.numpy_name(),
            format!(
                "{} for a {n}-bit {} input, or int32/int64 with values in {range}",
                exact.numpy_name(),
                if signed { "signed" } else { "unsigned" }
            ),
        ));
    }
    let (c, h, w) = (model.input.channels, model.input.height, model.input.width);
    let want = format!("(C, H, W) = ({c}, {h}, {w}) or (N, {c}, {h}, {w})");
    let (batched, chw) = match a.shape.as_slice() {
        [ci, hi, wi] => (false, (1, *ci, *hi, *wi)),
        [ni, ci, hi, wi] => (true, (*ni, *ci, *hi, *wi)),
        _ => {
            return Err(Error::invalid(path, "shape", shape_str(&a.shape), want));
        }
    };
    if (chw.1, chw.2, chw.3) != (c, h, w) || chw.0 == 0 {
        return Err(Error::invalid(path, "shape", shape_str(&a.shape), want));
    }
    if let Some(i) = a.data.iter().position(|v| v < lo || v > hi) {
        return Err(Error::invalid(
            path,
            format!("data[{i}]"),
            a.data.get(i),
            format!("a {n}-bit input value in {range}"),
        ));
    }
    let per = c * h * w;
    let tensors = (0..chw.0)
        .map(|k| {
            let mut data = Values::with_range(lo, hi, per);
            (k * per..(k + 1) * per).for_each(|i| data.push(a.data.get(i)));
            Tensor { c, h, w, data }
        })
        .collect();
    Ok((tensors, batched))
}

/// The NPY dtype of layer `layer`'s output.
pub fn output_dtype(model: &Model, layer: usize) -> NpyDtype {
    let l = &model.layers[layer];
    if l.requant.is_none() {
        NpyDtype::I64
    } else {
        NpyDtype::activation(model.precision, !l.relu)
    }
}

/// NPY bytes of `data` with `shape` as `dtype`; values outside the dtype are
/// an error naming `origin`. Values are encoded as they come (no copy of
/// the whole array in another type).
pub fn to_bytes<V: std::borrow::Borrow<i64>>(
    origin: &Path,
    shape: &[usize],
    data: impl IntoIterator<Item = V>,
    dtype: NpyDtype,
) -> Result<Vec<u8>> {
    fn enc<T: npyz::AutoSerialize + TryFrom<i64>>(
        origin: &Path,
        shape: &[usize],
        data: impl Iterator<Item = i64>,
        dtype: NpyDtype,
    ) -> Result<Vec<u8>> {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let mut buf: Vec<u8> = Vec::new();
        let io = |e: std::io::Error| Error::io(origin, e);
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(io)?;
        for (i, v) in data.enumerate() {
            let t = T::try_from(v).map_err(|_| {
                Error::invalid(
                    origin,
                    format!("data[{i}]"),
                    v,
                    format!("a value that fits {}", dtype.numpy_name()),
                )
            })?;
            w.push(&t).map_err(io)?;
        }
        w.finish().map_err(io)?;
        Ok(buf)
    }
    let data = data.into_iter().map(|v| *v.borrow());
    match dtype {
        NpyDtype::I8 => enc::<i8>(origin, shape, data, dtype),
        NpyDtype::U8 => enc::<u8>(origin, shape, data, dtype),
        NpyDtype::I16 => enc::<i16>(origin, shape, data, dtype),
        NpyDtype::U16 => enc::<u16>(origin, shape, data, dtype),
        NpyDtype::I32 => enc::<i32>(origin, shape, data, dtype),
        NpyDtype::I64 => enc::<i64>(origin, shape, data, dtype),
    }
}

/// Writes an NPY file through a temporary file in the same directory and a
/// rename, so a failed run never leaves a half-written output.
pub fn write<V: std::borrow::Borrow<i64>>(
    path: &Path,
    shape: &[usize],
    data: impl IntoIterator<Item = V>,
    dtype: NpyDtype,
) -> Result<()> {
    let bytes = to_bytes(path, shape, data, dtype)?;
    crate::fsio::write_file(path, &bytes)
}
