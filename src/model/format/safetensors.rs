//! The model weights file: reading the tensors into a [`Model`] (every
//! name, dtype and shape checked) and writing them back.

use crate::error::{Error, Result};
use crate::model::{MULT_LIMIT, Model, Op};
use ::safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::path::Path;

/// Fills weights, bias and mult of every layer from the safetensors bytes.
pub(super) fn read_weights(
    model: &mut Model,
    st: &[u8],
    file: &Path,
    n_widths: usize,
) -> Result<()> {
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
                        format!("a multiplier M in 0 ..= {}", MULT_LIMIT - 1),
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

/// Deterministic safetensors bytes (tensors sorted by dtype, then name).
pub(in crate::model) fn safetensors_bytes(m: &Model) -> Vec<u8> {
    struct Raw {
        dtype: Dtype,
        shape: Vec<usize>,
        data: Vec<u8>,
    }
    impl ::safetensors::View for &Raw {
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
    ::safetensors::serialize(views, None).unwrap_or_default()
}
