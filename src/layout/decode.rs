//! Decoder of the weight-layout image: rebuilds every layer's weights from
//! the sub-array images, so a layout can be checked against its model.

use super::Layout;
use crate::error::{Error, Result};
use crate::hw::Bits;
use crate::model::{Model, Op};
use std::path::Path;

/// Parses a sub-array `$readmemh` image of `rows` words of `cols` bits.
pub fn parse_subarray(text: &str, rows: usize, cols: usize, file: &Path) -> Result<Vec<Bits>> {
    parse_memh(text, rows, cols, file, "rows", |i| format!("row {i}"))
}

/// Parses a `$readmemh` image of exactly `depth` words of `bits` bits, one
/// word of `ceil(bits/4)` hex digits per line; errors name `file`, the
/// line count as `count_field`, and a bad word as `word_field(index)`.
pub fn parse_memh(
    text: &str,
    depth: usize,
    bits: usize,
    file: &Path,
    count_field: &str,
    word_field: impl Fn(usize) -> String,
) -> Result<Vec<Bits>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != depth {
        return Err(Error::invalid(
            file,
            count_field,
            lines.len(),
            format!("{depth} lines of {} hex digits", bits.div_ceil(4)),
        ));
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Bits::from_hex(l, bits).ok_or_else(|| {
                Error::invalid(
                    file,
                    word_field(i),
                    l.trim(),
                    format!("{} hex digits", bits.div_ceil(4)),
                )
            })
        })
        .collect()
}

/// Weights of every layer as stored in the images, `[cout][cin][kh][kw]`.
pub fn decode_weights(lay: &Layout, model: &Model, images: &[Vec<Bits>]) -> Vec<Vec<i64>> {
    let n = lay.precision as usize;
    lay.layers
        .iter()
        .zip(&model.layers)
        .map(|(lm, l)| {
            if l.op != Op::Conv {
                return Vec::new();
            }
            let mut w = vec![0i64; l.cout * l.cin * l.kh * l.kw];
            for co in 0..l.cout {
                for ci in 0..l.cin {
                    for ky in 0..l.kh {
                        for kx in 0..l.kw {
                            let mut v: i64 = 0;
                            for j in 0..n {
                                let (arr, row, col) = lm.weight_cell(n, l.kw, (co, ci, ky, kx), j);
                                if images[arr][row].get(col) {
                                    v |= 1 << j;
                                }
                            }
                            // two's complement of N bits
                            if (v >> (n - 1)) & 1 == 1 {
                                v -= 1 << n;
                            }
                            w[((co * l.cin + ci) * l.kh + ky) * l.kw + kx] = v;
                        }
                    }
                }
            }
            w
        })
        .collect()
}
