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

/// Weights of every layer as stored in the images, `[cout][cin][kh][kw]`,
/// read from the full width's rows.
pub fn decode_weights(lay: &Layout, model: &Model, images: &[Vec<Bits>]) -> Vec<Vec<i64>> {
    decode_plan(lay, model, images, None)
}

/// Weights as stored in width `wi`'s replica rows (0 where a replica holds
/// no copy: inactive channels), or in the full width's rows for `None`.
pub fn decode_plan(
    lay: &Layout,
    model: &Model,
    images: &[Vec<Bits>],
    wi: Option<usize>,
) -> Vec<Vec<i64>> {
    let n = lay.precision as usize;
    lay.layers
        .iter()
        .zip(&model.layers)
        .map(|(lm, l)| {
            if l.op != Op::Conv {
                return Vec::new();
            }
            let wi = wi.unwrap_or(lm.full_width());
            let k = l.kh * l.kw;
            let mut w = vec![0i64; l.cout * l.cin * k];
            for co in 0..l.cout {
                for ci in 0..l.cin {
                    for tap in 0..k {
                        // every copy (set) must hold the same bit
                        let mut v: i64 = 0;
                        for j in 0..n {
                            let cells = lm.weight_cells(lay, wi, (co, ci, tap), j);
                            let ones = cells
                                .iter()
                                .filter(|&&(a, r, c)| images[a][r].get(c))
                                .count();
                            if ones * 2 > cells.len() {
                                v |= 1 << j;
                            }
                            if ones != 0 && ones != cells.len() {
                                // copies disagree: report a value no weight can have
                                v = i64::MIN;
                                break;
                            }
                        }
                        if v != i64::MIN && (v >> (n - 1)) & 1 == 1 {
                            v -= 1 << n; // two's complement of N bits
                        }
                        w[(co * l.cin + ci) * k + tap] = v;
                    }
                }
            }
            w
        })
        .collect()
}
