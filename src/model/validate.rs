//! Model validation: everything DESIGN.md §1 fixes. [`structure`] checks the
//! JSON description (errors name the model file and a JSON path such as
//! `layers[2].cout_active[1]`); [`values`] checks the tensors (errors name the
//! weights file and a tensor such as `conv1.mult[0][3]`).

use super::{
    ACC_BITS, Evaluation, INPUT, Layer, MAX_DIM, MAX_ELEMS, MAX_SHIFT, MULT_LIMIT, Model, Op,
    Preprocess, Residual, WIDTH_TOL,
};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

impl Model {
    /// Checks everything DESIGN.md §1 fixes (see the `validate` module).
    pub fn validate(&self) -> Result<()> {
        let origin = self.origin();
        let weights = self.weights_origin();
        structure(self, &origin)?;
        meta(self, &origin)?;
        values(self, &weights)
    }
}

/// The optional `preprocess` and `evaluation` records (see [`super::meta`]).
pub(super) fn meta(m: &Model, file: &Path) -> Result<()> {
    if let Some(p) = &m.preprocess {
        p.validate(m, file)?;
    }
    if let Some(e) = &m.evaluation {
        e.validate(m, file)?;
    }
    Ok(())
}

/// What validation knows about a tensor produced before the current layer.
struct TensorInfo {
    c: usize,
    h: usize,
    w: usize,
    /// Active channels per width.
    active: Vec<usize>,
    /// Produced by a layer with `requant: "none"` (raw accumulator, not N-bit).
    raw: bool,
}

/// Longest model, layer or tensor name: names reach generated Verilog,
/// file names and messages.
pub const MAX_NAME: usize = 64;

/// ASCII letters, digits and `_`, not starting with a digit, at most
/// [`MAX_NAME`] characters.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= MAX_NAME
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// ASCII letters, digits, `_`, `-` and `.`, at most [`MAX_NAME`] characters.
fn is_model_name(s: &str) -> bool {
    s.len() <= MAX_NAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `lo <= v <= hi`, else an error naming `field`.
fn range(file: &Path, field: String, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(Error::invalid(file, field, v, format!("{lo} ..= {hi}")));
    }
    Ok(())
}

/// Checks the description (everything but the tensor values): the header,
/// the widths, the input, then each layer in turn against the tensors
/// produced before it. The first failing check is the error.
pub(super) fn structure(m: &Model, file: &Path) -> Result<()> {
    header(m, file)?;
    widths(m, file)?;
    input(m, file)?;
    if m.layers.is_empty() {
        return Err(Error::invalid(file, "layers", "[]", "at least one layer"));
    }
    let mut known: BTreeMap<&str, TensorInfo> = BTreeMap::new();
    known.insert(
        INPUT,
        TensorInfo {
            c: m.input.channels,
            h: m.input.height,
            w: m.input.width,
            active: vec![m.input.channels; m.widths.len()],
            raw: false,
        },
    );
    for (i, l) in m.layers.iter().enumerate() {
        let p = format!("layers[{i}]");
        layer_name(file, &known, &p, l)?;
        let src = source(file, &known, &format!("{p}.input"), &l.input)?;
        layer_dims(file, &p, l, src)?;
        let out = output_hw(file, &p, l, src)?;
        layer_sizes(m, file, &p, l, out)?;
        active_counts(m, file, &p, l, src)?;
        match &l.requant {
            None => raw_output(file, &p, l)?,
            Some(r) => {
                shifts(m, file, &p, &r.shift)?;
                if let Some(res) = &r.residual {
                    residual(m, file, &known, &p, l, res, out)?;
                }
            }
        }
        known.insert(
            &l.name,
            TensorInfo {
                c: l.cout,
                h: out.0,
                w: out.1,
                active: l.cout_active.clone(),
                raw: l.requant.is_none(),
            },
        );
    }
    Ok(())
}

/// Precision 8 or 16 and a non-empty model name.
fn header(m: &Model, file: &Path) -> Result<()> {
    if m.precision != 8 && m.precision != 16 {
        return Err(Error::invalid(file, "precision", m.precision, "8 or 16"));
    }
    if m.name.is_empty() {
        return Err(Error::invalid(
            file,
            "name",
            "\"\"",
            "a non-empty model name",
        ));
    }
    if !is_model_name(&m.name) {
        return Err(Error::invalid(
            file,
            "name",
            format!("{:?}", m.name),
            format!(
                "a model name of at most {MAX_NAME} characters from ASCII letters, digits, `_`, `-` and `.` (it is written into every generated file)"
            ),
        ));
    }
    Ok(())
}

/// At least one width, each in (0, 1], strictly increasing, the last 1.0.
fn widths(m: &Model, file: &Path) -> Result<()> {
    let nw = m.widths.len();
    if nw == 0 {
        return Err(Error::invalid(
            file,
            "widths",
            "[]",
            "at least one width; the last must be 1.0",
        ));
    }
    for (i, &w) in m.widths.iter().enumerate() {
        if !(w > 0.0 && w <= 1.0) {
            return Err(Error::invalid(
                file,
                format!("widths[{i}]"),
                w,
                "a width in (0, 1]",
            ));
        }
        if i > 0 && w - m.widths[i - 1] <= WIDTH_TOL {
            return Err(Error::invalid(
                file,
                format!("widths[{i}]"),
                w,
                format!(
                    "strictly increasing widths, each more than {WIDTH_TOL:e} greater than the one before (widths are matched within {WIDTH_TOL:e}): greater than widths[{}] = {}",
                    i - 1,
                    m.widths[i - 1]
                ),
            ));
        }
    }
    if m.widths[nw - 1] != 1.0 {
        return Err(Error::invalid(
            file,
            format!("widths[{}]", nw - 1),
            m.widths[nw - 1],
            "1.0 (the last width is the full network)",
        ));
    }
    Ok(())
}

/// The network input: named [`INPUT`], each dimension in range, not too
/// many elements.
fn input(m: &Model, file: &Path) -> Result<()> {
    if m.input.name != INPUT {
        return Err(Error::invalid(
            file,
            "input.name",
            &m.input.name,
            format!("\"{INPUT}\""),
        ));
    }
    range(file, "input.channels".into(), m.input.channels, 1, MAX_DIM)?;
    range(file, "input.height".into(), m.input.height, 1, MAX_DIM)?;
    range(file, "input.width".into(), m.input.width, 1, MAX_DIM)?;
    let in_elems = m.input.channels * m.input.height * m.input.width;
    if in_elems > MAX_ELEMS {
        return Err(Error::invalid(
            file,
            "input",
            format!("{in_elems} elements"),
            format!("at most {MAX_ELEMS} elements"),
        ));
    }
    Ok(())
}

/// A layer name: not [`INPUT`], an identifier, not taken by an earlier layer.
fn layer_name(file: &Path, known: &BTreeMap<&str, TensorInfo>, p: &str, l: &Layer) -> Result<()> {
    if l.name == INPUT {
        return Err(Error::invalid(
            file,
            format!("{p}.name"),
            format!("\"{}\"", l.name),
            format!("a layer name other than \"{INPUT}\" (reserved for the network input)"),
        ));
    }
    if !is_identifier(&l.name) {
        return Err(Error::invalid(
            file,
            format!("{p}.name"),
            format!("\"{}\"", l.name),
            format!(
                "an identifier of at most {MAX_NAME} characters: ASCII letters, digits and `_`, not starting with a digit"
            ),
        ));
    }
    if known.contains_key(l.name.as_str()) {
        return Err(Error::invalid(
            file,
            format!("{p}.name"),
            format!("\"{}\"", l.name),
            "a name not used by another layer",
        ));
    }
    Ok(())
}

/// Channel counts, kernel and stride in range, the padding smaller than the
/// kernel, `cin` the channel count of the input (and a gap layer's shape).
fn layer_dims(file: &Path, p: &str, l: &Layer, src: &TensorInfo) -> Result<()> {
    range(file, format!("{p}.cin"), l.cin, 1, MAX_DIM)?;
    range(file, format!("{p}.cout"), l.cout, 1, MAX_DIM)?;
    range(file, format!("{p}.kernel[0]"), l.kh, 1, MAX_DIM)?;
    range(file, format!("{p}.kernel[1]"), l.kw, 1, MAX_DIM)?;
    range(file, format!("{p}.stride"), l.stride, 1, MAX_DIM)?;
    if l.pad >= l.kh || l.pad >= l.kw {
        return Err(Error::invalid(
            file,
            format!("{p}.pad"),
            l.pad,
            format!("less than the kernel size {}x{}", l.kh, l.kw),
        ));
    }
    if l.cin != src.c {
        return Err(Error::invalid(
            file,
            format!("{p}.cin"),
            l.cin,
            format!("the channel count of `{}`: {}", l.input, src.c),
        ));
    }
    if l.op == Op::Gap {
        gap_shape(file, p, l, src)?;
    }
    Ok(())
}

/// The output's `(height, width)`: the kernel must fit the padded input.
fn output_hw(file: &Path, p: &str, l: &Layer, src: &TensorInfo) -> Result<(usize, usize)> {
    if src.h + 2 * l.pad < l.kh {
        return Err(Error::invalid(
            file,
            format!("{p}.kernel[0]"),
            l.kh,
            format!(
                "at most input height {} + 2*pad {} (an output height >= 1)",
                src.h, l.pad
            ),
        ));
    }
    if src.w + 2 * l.pad < l.kw {
        return Err(Error::invalid(
            file,
            format!("{p}.kernel[1]"),
            l.kw,
            format!(
                "at most input width {} + 2*pad {} (an output width >= 1)",
                src.w, l.pad
            ),
        ));
    }
    let ho = (src.h + 2 * l.pad - l.kh) / l.stride + 1;
    let wo = (src.w + 2 * l.pad - l.kw) / l.stride + 1;
    Ok((ho, wo))
}

/// Tensor sizes and the accumulator: the weight tensor (conv) and the
/// output within [`MAX_ELEMS`], the worst-case sum within [`ACC_BITS`].
fn layer_sizes(m: &Model, file: &Path, p: &str, l: &Layer, (ho, wo): (usize, usize)) -> Result<()> {
    let w_elems = l.cout as u128 * l.cin as u128 * l.kh as u128 * l.kw as u128;
    if l.op == Op::Conv && w_elems > MAX_ELEMS as u128 {
        return Err(Error::invalid(
            file,
            format!("{p}.cout"),
            l.cout,
            format!("a weight tensor of at most {MAX_ELEMS} elements (has {w_elems})"),
        ));
    }
    // cin*kh*kw*2^(2N-1) < 2^47: the 48-bit accumulator holds the worst sum.
    let fan_in = l.cin as u128 * l.kh as u128 * l.kw as u128;
    let fan_limit = 1u128 << (ACC_BITS - 1 - (2 * m.precision - 1));
    // H*W*2^N < 2^47 for a gap.
    let map = l.kh as u128 * l.kw as u128;
    let map_limit = 1u128 << (ACC_BITS - 1 - m.precision);
    if l.op == Op::Gap && map >= map_limit {
        return Err(Error::invalid(
            file,
            format!("{p}.input"),
            format!("\"{}\" of {}x{}", l.input, l.kh, l.kw),
            format!(
                "an input map of H*W < {map_limit} at precision {} (the {ACC_BITS}-bit accumulator), has {map}",
                m.precision
            ),
        ));
    }
    if l.op == Op::Conv && fan_in >= fan_limit {
        return Err(Error::invalid(
            file,
            format!("{p}.cin"),
            l.cin,
            format!(
                "cin*kh*kw < {fan_limit} at precision {} (the {ACC_BITS}-bit accumulator), has {fan_in}",
                m.precision
            ),
        ));
    }
    let o_elems = l.cout as u128 * ho as u128 * wo as u128;
    if o_elems > MAX_ELEMS as u128 {
        return Err(Error::invalid(
            file,
            format!("{p}.cout"),
            l.cout,
            format!("an output tensor of at most {MAX_ELEMS} elements (has {o_elems})"),
        ));
    }
    Ok(())
}

/// The layer's active counts: each list well formed, `cin_active` the
/// input's active counts, and a gap layer's `cout_active` its `cin_active`.
fn active_counts(m: &Model, file: &Path, p: &str, l: &Layer, src: &TensorInfo) -> Result<()> {
    let nw = m.widths.len();
    active(file, &format!("{p}.cin_active"), &l.cin_active, l.cin, nw)?;
    active(
        file,
        &format!("{p}.cout_active"),
        &l.cout_active,
        l.cout,
        nw,
    )?;
    for (w, (&k, &s)) in l.cin_active.iter().zip(&src.active).enumerate() {
        if k != s {
            let what = if l.input == INPUT {
                format!(
                    "{s}: the network input never shrinks (all {} channels at every width)",
                    m.input.channels
                )
            } else {
                format!(
                    "{s}: the active count of `{}` at width {}",
                    l.input, m.widths[w]
                )
            };
            return Err(Error::invalid(
                file,
                format!("{p}.cin_active[{w}]"),
                k,
                what,
            ));
        }
    }
    if l.op == Op::Gap {
        for (w, (&k, &s)) in l.cout_active.iter().zip(&l.cin_active).enumerate() {
            if k != s {
                return Err(Error::invalid(
                    file,
                    format!("{p}.cout_active[{w}]"),
                    k,
                    format!(
                        "{s}: a gap layer keeps the active channels of `{}` (cin_active[{w}])",
                        l.input
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A `requant: "none"` layer outputs the raw accumulator (the logits): a
/// conv layer, without ReLU, with every class active at every width.
fn raw_output(file: &Path, p: &str, l: &Layer) -> Result<()> {
    if l.op == Op::Gap {
        return Err(Error::invalid(
            file,
            format!("{p}.requant"),
            "\"none\"",
            "a requantization {\"shift\": [...], \"residual\": null}: a gap layer's sums are scaled by a scalar M",
        ));
    }
    if l.relu {
        return Err(Error::invalid(
            file,
            format!("{p}.relu"),
            true,
            "false when requant is \"none\" (the raw accumulator is not clamped)",
        ));
    }
    if let Some((w, &k)) = l.cout_active.iter().enumerate().find(|x| *x.1 != l.cout) {
        return Err(Error::invalid(
            file,
            format!("{p}.cout_active[{w}]"),
            k,
            format!(
                "cout = {} at every width: a requant \"none\" layer gives the logits, and the class count never shrinks",
                l.cout
            ),
        ));
    }
    Ok(())
}

/// The requantization shifts: one per width, each at most [`MAX_SHIFT`].
fn shifts(m: &Model, file: &Path, p: &str, shift: &[u32]) -> Result<()> {
    let nw = m.widths.len();
    if shift.len() != nw {
        return Err(Error::invalid(
            file,
            format!("{p}.requant.shift"),
            format!("{} entries", shift.len()),
            format!("one shift per width ({nw})"),
        ));
    }
    for (w, &s) in shift.iter().enumerate() {
        if s > MAX_SHIFT {
            return Err(Error::invalid(
                file,
                format!("{p}.requant.shift[{w}]"),
                s,
                format!("0 ..= {MAX_SHIFT}"),
            ));
        }
    }
    Ok(())
}

/// A residual: on a conv layer only, from an earlier N-bit tensor of the
/// output's shape and active counts, with one multiplier R per width.
fn residual(
    m: &Model,
    file: &Path,
    known: &BTreeMap<&str, TensorInfo>,
    p: &str,
    l: &Layer,
    res: &Residual,
    (ho, wo): (usize, usize),
) -> Result<()> {
    let nw = m.widths.len();
    let rp = format!("{p}.requant.residual");
    if l.op == Op::Gap {
        return Err(Error::invalid(
            file,
            rp,
            format!("{{\"source\": \"{}\", ...}}", res.source),
            "null: a gap layer takes no residual",
        ));
    }
    let rs = source(file, known, &format!("{rp}.source"), &res.source)?;
    if (rs.c, rs.h, rs.w) != (l.cout, ho, wo) {
        return Err(Error::invalid(
            file,
            format!("{rp}.source"),
            format!("\"{}\" of shape {}x{}x{}", res.source, rs.c, rs.h, rs.w),
            format!(
                "a tensor of the output's shape {}x{}x{} (C x H x W)",
                l.cout, ho, wo
            ),
        ));
    }
    for (w, (&k, &s)) in l.cout_active.iter().zip(&rs.active).enumerate() {
        if k != s {
            return Err(Error::invalid(
                file,
                format!("{rp}.source"),
                format!(
                    "\"{}\" with {s} active channels at width {}",
                    res.source, m.widths[w]
                ),
                format!("{k} active channels, as cout_active[{w}]"),
            ));
        }
    }
    if res.mult.len() != nw {
        return Err(Error::invalid(
            file,
            format!("{rp}.mult"),
            format!("{} entries", res.mult.len()),
            format!("one multiplier per width ({nw})"),
        ));
    }
    for (w, &r) in res.mult.iter().enumerate() {
        if r >= MULT_LIMIT {
            return Err(Error::invalid(
                file,
                format!("{rp}.mult[{w}]"),
                r,
                format!("a multiplier R in 0 ..= {}", MULT_LIMIT - 1),
            ));
        }
    }
    Ok(())
}

/// A gap layer pools its whole input map and keeps its channels.
fn gap_shape(file: &Path, p: &str, l: &Layer, src: &TensorInfo) -> Result<()> {
    let why =
        "(a gap layer pools its whole input map; the JSON omits `kernel`, `stride` and `pad`)";
    if l.kh != src.h {
        return Err(Error::invalid(
            file,
            format!("{p}.kernel[0]"),
            l.kh,
            format!("the height of `{}`: {} {why}", l.input, src.h),
        ));
    }
    if l.kw != src.w {
        return Err(Error::invalid(
            file,
            format!("{p}.kernel[1]"),
            l.kw,
            format!("the width of `{}`: {} {why}", l.input, src.w),
        ));
    }
    if l.stride != 1 {
        return Err(Error::invalid(
            file,
            format!("{p}.stride"),
            l.stride,
            format!("1 {why}"),
        ));
    }
    if l.pad != 0 {
        return Err(Error::invalid(
            file,
            format!("{p}.pad"),
            l.pad,
            format!("0 {why}"),
        ));
    }
    if l.cout != l.cin {
        return Err(Error::invalid(
            file,
            format!("{p}.cout"),
            l.cout,
            format!(
                "cin = {}: a gap layer keeps the channels of `{}`",
                l.cin, l.input
            ),
        ));
    }
    Ok(())
}

/// Looks up a tensor a layer reads: it must be produced earlier and be N-bit.
fn source<'a>(
    file: &Path,
    known: &'a BTreeMap<&str, TensorInfo>,
    field: &str,
    name: &str,
) -> Result<&'a TensorInfo> {
    let Some(t) = known.get(name) else {
        let names: Vec<&str> = known.keys().copied().collect();
        return Err(Error::invalid(
            file,
            field,
            format!("\"{name}\""),
            format!("an earlier tensor: one of {}", names.join(", ")),
        ));
    };
    if t.raw {
        return Err(Error::invalid(
            file,
            field,
            format!("\"{name}\""),
            "an N-bit tensor (this one is a raw accumulator output, requant \"none\")",
        ));
    }
    Ok(t)
}

/// Active counts: one per width, `1 <= k <= full`, non-decreasing, full at
/// the last width.
fn active(file: &Path, field: &str, v: &[usize], full: usize, nw: usize) -> Result<()> {
    if v.len() != nw {
        return Err(Error::invalid(
            file,
            field,
            format!("{} entries", v.len()),
            format!("one count per width ({nw})"),
        ));
    }
    for (w, &k) in v.iter().enumerate() {
        if k < 1 || k > full {
            return Err(Error::invalid(
                file,
                format!("{field}[{w}]"),
                k,
                format!("1 ..= {full}"),
            ));
        }
        if w > 0 && k < v[w - 1] {
            return Err(Error::invalid(
                file,
                format!("{field}[{w}]"),
                k,
                format!(
                    "at least {field}[{}] = {} (active channels are a prefix that grows with the width)",
                    w - 1,
                    v[w - 1]
                ),
            ));
        }
    }
    if v[nw - 1] != full {
        return Err(Error::invalid(
            file,
            format!("{field}[{}]", nw - 1),
            v[nw - 1],
            format!("{full}: every channel is active at the full width"),
        ));
    }
    Ok(())
}

/// Checks tensor sizes and values: weights in N-bit range, M in range, and
/// the bias within the 48-bit accumulator.
pub(super) fn values(m: &Model, file: &Path) -> Result<()> {
    let nw = m.widths.len();
    let n = m.precision;
    let wlo = -(1i64 << (n - 1));
    let whi = (1i64 << (n - 1)) - 1;
    for l in &m.layers {
        let name = &l.name;
        if l.op == Op::Gap && !l.weights.is_empty() {
            return Err(Error::invalid(
                file,
                format!("{name}.weight"),
                format!("{} elements", l.weights.len()),
                "none: a gap layer has no weights",
            ));
        }
        let expect = match l.op {
            Op::Conv => l.cout * l.cin * l.kh * l.kw,
            Op::Gap => 0,
        };
        if l.weights.len() != expect {
            return Err(Error::invalid(
                file,
                format!("{name}.weight"),
                format!("{} elements", l.weights.len()),
                format!(
                    "{expect} elements (shape [{}, {}, {}, {}])",
                    l.cout, l.cin, l.kh, l.kw
                ),
            ));
        }
        if let Some(j) = l.weights.iter().position(|&w| w < wlo || w > whi) {
            return Err(Error::invalid(
                file,
                format!("{name}.weight[{j}]"),
                l.weights[j],
                format!("a {n}-bit signed weight in {wlo} ..= {whi}"),
            ));
        }
        for (t, rows) in [("bias", l.bias.len()), ("mult", l.mult.len())] {
            if rows != nw {
                return Err(Error::invalid(
                    file,
                    format!("{name}.{t}"),
                    format!("{rows} rows"),
                    format!("one row per width ({nw}), shape [{nw}, {}]", l.cout),
                ));
            }
        }
        // |bias| + cin*kh*kw*2^(2N-1) (conv) or kh*kw*2^N (gap) < 2^47: the
        // accumulator never overflows.
        let worst = l.sum_bound(n);
        let limit = 1i128 << (ACC_BITS - 1);
        for w in 0..nw {
            if l.bias[w].len() != l.cout {
                return Err(Error::invalid(
                    file,
                    format!("{name}.bias[{w}]"),
                    format!("{} entries", l.bias[w].len()),
                    format!("cout = {} entries", l.cout),
                ));
            }
            if l.mult[w].len() != l.cout {
                return Err(Error::invalid(
                    file,
                    format!("{name}.mult[{w}]"),
                    format!("{} entries", l.mult[w].len()),
                    format!("cout = {} entries", l.cout),
                ));
            }
            for (co, &b) in l.bias[w].iter().enumerate() {
                if (b as i128).abs() + worst >= limit {
                    return Err(Error::invalid(
                        file,
                        format!("{name}.bias[{w}][{co}]"),
                        b,
                        format!(
                            "|bias| < {} so that |bias| + {} fits the {ACC_BITS}-bit accumulator",
                            (limit - worst).max(0),
                            match l.op {
                                Op::Conv => "cin*kh*kw*2^(2N-1)",
                                Op::Gap => "H*W*2^N",
                            }
                        ),
                    ));
                }
            }
            for (co, &x) in l.mult[w].iter().enumerate() {
                if x >= MULT_LIMIT {
                    return Err(Error::invalid(
                        file,
                        format!("{name}.mult[{w}][{co}]"),
                        x,
                        format!("a multiplier M in 0 ..= {}", MULT_LIMIT - 1),
                    ));
                }
            }
            if l.op == Op::Gap
                && let Some((co, &x)) = l.mult[w].iter().enumerate().find(|x| *x.1 != l.mult[w][0])
            {
                return Err(Error::invalid(
                    file,
                    format!("{name}.mult[{w}][{co}]"),
                    x,
                    format!(
                        "{}, as {name}.mult[{w}][0]: a gap layer has one scalar M per width",
                        l.mult[w][0]
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Preprocess {
    /// The consistency rules: one 256-entry table per input channel, every
    /// entry and the padding value inside the input's range, raw size plus
    /// padding equal to the input size, the recorded constants per channel.
    pub(super) fn validate(&self, m: &Model, origin: &Path) -> Result<()> {
        let c = m.input.channels;
        let [rc, rh, rw] = self.raw;
        let [t, b, l, r] = self.pad;
        let padded = [rc, rh + t + b, rw + l + r];
        let want = [c, m.input.height, m.input.width];
        if padded != want {
            return Err(Error::invalid(
                origin,
                "preprocess.raw",
                format!("{rc}x{rh}x{rw} padded by {:?} = {padded:?}", self.pad),
                format!("raw size plus padding equal to the input, {want:?}"),
            ));
        }
        let (lo, hi) = if m.input.signed {
            (
                -(1i64 << (m.precision - 1)),
                (1i64 << (m.precision - 1)) - 1,
            )
        } else {
            (0, (1i64 << m.precision) - 1)
        };
        let range = format!(
            "an input integer in {lo}..={hi} (precision {})",
            m.precision
        );
        if !(lo..=hi).contains(&self.pad_value) {
            return Err(Error::invalid(
                origin,
                "preprocess.pad_value",
                self.pad_value,
                range,
            ));
        }
        for (key, n) in [
            ("mean", self.mean.len()),
            ("std", self.std.len()),
            ("scale", self.scale.len()),
            ("table", self.table.len()),
        ] {
            if n != c {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.{key}"),
                    format!("{n} entries"),
                    format!("one per input channel ({c})"),
                ));
            }
        }
        for (ch, row) in self.table.iter().enumerate() {
            if row.len() != 256 {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.table[{ch}]"),
                    format!("{} entries", row.len()),
                    "256 entries, one per pixel value 0..=255",
                ));
            }
            if let Some((p, v)) = row
                .iter()
                .enumerate()
                .find(|(_, v)| !(lo..=hi).contains(*v))
            {
                return Err(Error::invalid(
                    origin,
                    format!("preprocess.table[{ch}][{p}]"),
                    v,
                    range,
                ));
            }
        }
        Ok(())
    }
}

impl Evaluation {
    /// One accuracy per width, each in `0..=1`, on at least one image.
    pub(super) fn validate(&self, m: &Model, origin: &Path) -> Result<()> {
        if self.images == 0 {
            return Err(Error::invalid(
                origin,
                "evaluation.images",
                0,
                "the number of images evaluated, at least 1",
            ));
        }
        for (key, v) in [
            ("accuracy", &self.accuracy),
            ("float_accuracy", &self.float_accuracy),
        ] {
            if v.len() != m.widths.len() {
                return Err(Error::invalid(
                    origin,
                    format!("evaluation.{key}"),
                    format!("{} entries", v.len()),
                    format!("one per width ({})", m.widths.len()),
                ));
            }
            if let Some((i, a)) = v
                .iter()
                .enumerate()
                .find(|(_, a)| !(0.0..=1.0).contains(*a))
            {
                return Err(Error::invalid(
                    origin,
                    format!("evaluation.{key}[{i}]"),
                    a,
                    "a fraction of correct predictions in 0..=1",
                ));
            }
        }
        Ok(())
    }
}
