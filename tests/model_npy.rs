//! NPY input checks of `capim run`: each bad file is named with the field
//! (`dtype`, `shape`, `data[i]`), the value and what was expected.

use capim::model::npy::{self, NpyDtype};
use capim::model::{Model, builtin_model};

/// The shipped skeleton (input 3x8x8) at precision `p`.
fn skeleton(p: u32) -> Model {
    builtin_model(&format!("skeleton-i{p}")).unwrap()
}
use npyz::WriterBuilder;
use std::path::Path;

const F: &str = "in/x.npy";

fn bytes<T: npyz::AutoSerialize + Clone>(shape: &[u64], data: &[T]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().cloned()).unwrap();
    w.finish().unwrap();
    buf
}

fn input(m: &Model, b: &[u8]) -> capim::Result<(Vec<capim::model::Tensor>, bool)> {
    let a = npy::parse(b, Path::new(F))?;
    npy::input_tensors(a, Path::new(F), m)
}

#[track_caller]
fn check<T>(r: capim::Result<T>, field: &str, value: &str) -> String {
    let e = match r {
        Ok(_) => panic!("should be rejected: {field}"),
        Err(e) => e,
    };
    let m = e.to_string();
    assert!(m.contains(F), "no file in: {m}");
    assert!(
        m.contains(&format!("`{field}`")),
        "no field `{field}` in: {m}"
    );
    assert!(
        m.contains(&format!("= {value}")),
        "no value `{value}` in: {m}"
    );
    assert_eq!(e.exit_code(), 2);
    m
}

#[test]
fn accepts_matching_dtypes() {
    let m8 = skeleton(8);
    let (t, batched) = input(&m8, &bytes(&[3, 8, 8], &[-128i8; 192])).unwrap();
    assert_eq!((t.len(), batched), (1, false));
    assert!(t[0].data.iter().all(|v| v == -128));
    let (t, batched) = input(&m8, &bytes(&[2, 3, 8, 8], &[5i64; 384])).unwrap();
    assert_eq!((t.len(), batched), (2, true));
    input(&m8, &bytes(&[3, 8, 8], &[127i32; 192])).unwrap();
    let m16 = skeleton(16);
    input(&m16, &bytes(&[3, 8, 8], &[-32768i16; 192])).unwrap();
}

#[test]
fn wrong_dtype() {
    let m8 = skeleton(8);
    let m = check(
        input(&m8, &bytes(&[3, 8, 8], &[0f32; 192])),
        "dtype",
        "float32",
    );
    assert!(m.contains("int8"), "{m}");
    // Signedness must match the model input (signed here).
    let m = check(
        input(&m8, &bytes(&[3, 8, 8], &[0u8; 192])),
        "dtype",
        "uint8",
    );
    assert!(m.contains("int8") && m.contains("signed"), "{m}");
    // 16-bit data for an 8-bit model.
    check(
        input(&m8, &bytes(&[3, 8, 8], &[0i16; 192])),
        "dtype",
        "int16",
    );
    let m16 = skeleton(16);
    check(
        input(&m16, &bytes(&[3, 8, 8], &[0i8; 192])),
        "dtype",
        "int8",
    );
}

#[test]
fn wrong_shape() {
    let m8 = skeleton(8);
    let m = check(
        input(&m8, &bytes(&[4, 8, 8], &[0i8; 256])),
        "shape",
        "(4, 8, 8)",
    );
    assert!(m.contains("(3, 8, 8)"), "{m}");
    check(
        input(&m8, &bytes(&[3, 8, 7], &[0i8; 168])),
        "shape",
        "(3, 8, 7)",
    );
    check(input(&m8, &bytes(&[192], &[0i8; 192])), "shape", "(192,)");
    check(
        input(&m8, &bytes(&[0, 3, 8, 8], &[0i8; 0])),
        "shape",
        "(0, 3, 8, 8)",
    );
    check(
        input(&m8, &bytes(&[1, 1, 3, 8, 8], &[0i8; 192])),
        "shape",
        "(1, 1, 3, 8, 8)",
    );
}

#[test]
fn out_of_range_values() {
    let m8 = skeleton(8);
    let mut d = vec![0i64; 192];
    d[77] = 128;
    let m = check(input(&m8, &bytes(&[3, 8, 8], &d)), "data[77]", "128");
    assert!(m.contains("-128..=127"), "{m}");
    d[77] = -129;
    check(input(&m8, &bytes(&[3, 8, 8], &d)), "data[77]", "-129");
}

/// An NPY 1.0 file with the given header dict and raw data.
fn raw_npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut text = dict.to_string();
    while !(10 + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(text.len() as u16).to_le_bytes());
    b.extend_from_slice(text.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn truncated_and_garbage_files() {
    let m8 = skeleton(8);
    let full = bytes(&[3, 8, 8], &[1i8; 192]);
    check(input(&m8, &full[..full.len() - 5]), "data", "187 bytes");
    check(input(&m8, b"not an npy file"), "header", "15 bytes");
    check(input(&m8, b""), "header", "0 bytes");
    // A header whose shape overflows the element count (crafted file).
    let b = raw_npy(
        "{'descr': '|i1', 'fortran_order': False, 'shape': (9999999999, 9999999999, 9), }",
        &[0; 16],
    );
    check(input(&m8, &b), "shape", "(9999999999, 9999999999, 9)");
    // numpy's own spelling of a header parses.
    let b = raw_npy(
        "{'descr': '|i1', 'fortran_order': False, 'shape': (3, 8, 8), }",
        &[0; 192],
    );
    input(&m8, &b).unwrap();
    // Fortran order is refused rather than silently transposed.
    let b = raw_npy(
        "{'descr': '|i1', 'fortran_order': True, 'shape': (3, 8, 8), }",
        &[0; 192],
    );
    check(input(&m8, &b), "fortran_order", "True");
}

#[test]
fn output_bytes_round_trip() {
    for (dt, v) in [
        (NpyDtype::I8, vec![-128i64, 127, 0]),
        (NpyDtype::U8, vec![0, 255, 7]),
        (NpyDtype::I16, vec![-32768, 32767, 1]),
        (NpyDtype::U16, vec![0, 65535, 9]),
        (NpyDtype::I64, vec![-(1i64 << 47), 1 << 47, 3]),
    ] {
        let b = npy::to_bytes(Path::new(F), &[1, 3, 1], &v, dt).unwrap();
        let a = npy::parse(&b, Path::new(F)).unwrap();
        assert_eq!((a.shape, a.dtype, a.data.to_vec()), (vec![1, 3, 1], dt, v));
    }
    // A value that does not fit the dtype is an error, not a wrap.
    let e = npy::to_bytes(Path::new(F), &[1], [300], NpyDtype::U8).unwrap_err();
    assert!(e.to_string().contains("data[0]") && e.to_string().contains("300"));
}
