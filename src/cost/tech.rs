//! The technology file (TOML, `capim report --tech`): what one operation of
//! the accelerator costs in energy and time, what leaks, and what a cell and
//! the periphery take in area. The built-in default is
//! `configs/tech-sot-mram-45nm.toml`.
//!
//! Every parameter is a table `{ value = …, source = "…" }` or
//! `{ value = …, estimate = "…" }`: where the number comes from (a paper and
//! its table or figure) or, when it is an estimate, how it was derived. The
//! set of parameters is [`PARAMS`], their one home: the parser, the typed
//! [`Tech`] and the README's table all read it.

use crate::config::{known_keys, parse_table, read_toml};
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Text of the built-in technology file.
pub const DEFAULT_TOML: &str = include_str!("../../configs/tech-sot-mram-45nm.toml");
/// Name used in messages for the built-in technology file.
pub const DEFAULT_NAME: &str = "<built-in technology file>";

/// One parameter of the technology file: section, key, unit, meaning.
pub struct Param {
    pub section: &'static str,
    pub key: &'static str,
    pub unit: &'static str,
    pub doc: &'static str,
}

const fn p(
    section: &'static str,
    key: &'static str,
    unit: &'static str,
    doc: &'static str,
) -> Param {
    Param {
        section,
        key,
        unit,
        doc,
    }
}

/// Every parameter, in file order.
pub const PARAMS: [Param; 25] = [
    p(
        "clock",
        "frequency_mhz",
        "MHz",
        "clock of the accelerator: latency = cycles / frequency",
    ),
    p(
        "energy_pj",
        "row_write_per_bit",
        "pJ",
        "writing one SOT-MRAM cell (a row write writes `cols` cells)",
    ),
    p(
        "energy_pj",
        "row_read_per_bit",
        "pJ",
        "reading one cell (the host's read-back of the weight rows)",
    ),
    p(
        "energy_pj",
        "compute_per_column",
        "pJ",
        "one column of a two-row compute: both rows sensed, AND",
    ),
    p(
        "energy_pj",
        "count_per_segment",
        "pJ",
        "one bit-counter popcount of one segment",
    ),
    p(
        "energy_pj",
        "shift_add",
        "pJ",
        "one accumulator update (shift, negate, add)",
    ),
    p(
        "energy_pj",
        "requantize",
        "pJ",
        "one requantization (multiply by M, add, shift, clamp)",
    ),
    p(
        "energy_pj",
        "act_read_per_bit",
        "pJ",
        "activation memory (SRAM) read, per bit of a word",
    ),
    p(
        "energy_pj",
        "act_write_per_bit",
        "pJ",
        "activation memory (SRAM) write, per bit",
    ),
    p(
        "latency_ns",
        "row_write",
        "ns",
        "one row write (must fit a clock period)",
    ),
    p("latency_ns", "row_read", "ns", "one row read"),
    p(
        "latency_ns",
        "compute",
        "ns",
        "two-row activation and sensing",
    ),
    p("latency_ns", "count", "ns", "one segment's popcount"),
    p("latency_ns", "shift_add", "ns", "one accumulator update"),
    p("latency_ns", "requantize", "ns", "one requantization"),
    p("latency_ns", "act_read", "ns", "one activation memory read"),
    p(
        "latency_ns",
        "act_write",
        "ns",
        "one activation memory write",
    ),
    p(
        "leakage_nw",
        "enabled_per_column",
        "nW",
        "leakage of an enabled sub-array, per column",
    ),
    p(
        "leakage_nw",
        "gated_per_column",
        "nW",
        "leakage of a gated sub-array, per column (cells are non-volatile)",
    ),
    p("area", "feature_nm", "nm", "feature size F"),
    p("area", "cell_f2", "F^2", "one SOT-MRAM cell"),
    p(
        "area",
        "periphery_per_column_um2",
        "um^2",
        "sense amplifier, write driver and counter share of one column",
    ),
    p(
        "area",
        "periphery_per_subarray_um2",
        "um^2",
        "row decoders and control of one sub-array",
    ),
    p(
        "area",
        "sram_per_bit_um2",
        "um^2",
        "one bit of the activation memory (SRAM)",
    ),
    p(
        "area",
        "accumulator_per_bit_um2",
        "um^2",
        "one bit of an accumulator or its shadow register",
    ),
];

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A published figure: paper (or data sheet) and its table or figure.
    Source(String),
    /// An estimate and how it was derived.
    Estimate(String),
}

/// One parameter's value and origin, as read.
#[derive(Debug, Clone, Serialize)]
pub struct Value {
    pub section: &'static str,
    pub key: &'static str,
    pub unit: &'static str,
    pub value: f64,
    #[serde(flatten)]
    pub origin: Origin,
}

/// Energy per operation (J), as the cost model uses them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Energies {
    pub row_write_per_bit: f64,
    pub row_read_per_bit: f64,
    pub compute_per_column: f64,
    pub count_per_segment: f64,
    pub shift_add: f64,
    pub requantize: f64,
    pub act_read_per_bit: f64,
    pub act_write_per_bit: f64,
}

/// A technology, in SI units (Hz, J, s, W, m^2).
#[derive(Debug, Clone, Serialize)]
pub struct Tech {
    /// The file it was read from (or [`DEFAULT_NAME`]).
    pub origin: String,
    pub clock_hz: f64,
    pub energy: Energies,
    /// Latency of each single-cycle operation (s), keyed as in the file.
    pub latencies: Vec<(&'static str, f64)>,
    pub leak_enabled_per_column_w: f64,
    pub leak_gated_per_column_w: f64,
    pub feature_m: f64,
    pub cell_f2: f64,
    pub periphery_per_column_m2: f64,
    pub periphery_per_subarray_m2: f64,
    pub sram_per_bit_m2: f64,
    pub accumulator_per_bit_m2: f64,
    /// Every value as written, with its origin.
    pub values: Vec<Value>,
    /// The TOML text it was parsed from (a generated directory keeps a copy).
    #[serde(skip)]
    pub text: String,
}

impl Tech {
    /// The built-in technology file.
    pub fn builtin() -> Tech {
        Tech::parse(DEFAULT_TOML, Path::new(DEFAULT_NAME))
            .expect("built-in technology file is valid")
    }

    /// Loads and checks a technology file.
    pub fn load(path: &Path) -> Result<Tech> {
        Tech::parse(&read_toml(path, "a technology file")?, path)
    }

    /// Parses and checks technology TOML; `origin` names it in messages.
    /// Every error names the file, the dotted key, the value and what was
    /// expected: unknown or missing keys, a value that is not a finite
    /// number >= 0 (the clock and the feature size > 0), an origin missing
    /// or empty.
    pub fn parse(text: &str, origin: &Path) -> Result<Tech> {
        let table = parse_table(text, origin)?;
        let mut sections: Vec<&str> = PARAMS.iter().map(|p| p.section).collect();
        sections.dedup();
        known_keys(&table, "", &sections, origin)?;
        let mut values = Vec::with_capacity(PARAMS.len());
        for s in &sections {
            let keys: Vec<&str> = PARAMS
                .iter()
                .filter(|p| p.section == *s)
                .map(|p| p.key)
                .collect();
            let t = match table.get(*s) {
                Some(toml::Value::Table(t)) => t,
                other => {
                    return Err(Error::invalid(
                        origin,
                        *s,
                        other.map_or("(missing)".to_string(), |v| v.to_string()),
                        format!("a table `[{s}]` with {}", quoted(&keys)),
                    ));
                }
            };
            known_keys(t, &format!("{s}."), &keys, origin)?;
            for p in PARAMS.iter().filter(|p| p.section == *s) {
                values.push(param(t, p, origin)?);
            }
        }
        let v = |section: &str, key: &str| {
            values
                .iter()
                .find(|x| x.section == section && x.key == key)
                .expect("every parameter was read")
                .value
        };
        let pj = |k| v("energy_pj", k) * 1e-12;
        let um2 = |k| v("area", k) * 1e-12;
        Ok(Tech {
            origin: origin.display().to_string(),
            clock_hz: v("clock", "frequency_mhz") * 1e6,
            energy: Energies {
                row_write_per_bit: pj("row_write_per_bit"),
                row_read_per_bit: pj("row_read_per_bit"),
                compute_per_column: pj("compute_per_column"),
                count_per_segment: pj("count_per_segment"),
                shift_add: pj("shift_add"),
                requantize: pj("requantize"),
                act_read_per_bit: pj("act_read_per_bit"),
                act_write_per_bit: pj("act_write_per_bit"),
            },
            latencies: PARAMS
                .iter()
                .filter(|p| p.section == "latency_ns")
                .map(|p| (p.key, v(p.section, p.key) * 1e-9))
                .collect(),
            leak_enabled_per_column_w: v("leakage_nw", "enabled_per_column") * 1e-9,
            leak_gated_per_column_w: v("leakage_nw", "gated_per_column") * 1e-9,
            feature_m: v("area", "feature_nm") * 1e-9,
            cell_f2: v("area", "cell_f2"),
            periphery_per_column_m2: um2("periphery_per_column_um2"),
            periphery_per_subarray_m2: um2("periphery_per_subarray_um2"),
            sram_per_bit_m2: um2("sram_per_bit_um2"),
            accumulator_per_bit_m2: um2("accumulator_per_bit_um2"),
            values,
            text: text.to_string(),
        })
    }

    /// The clock period (s).
    pub fn period_s(&self) -> f64 {
        1.0 / self.clock_hz
    }

    /// The slowest single-cycle operation: (key, latency in s).
    pub fn slowest(&self) -> (&'static str, f64) {
        self.latencies
            .iter()
            .copied()
            .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// One cell's area (m^2): `cell_f2 * F^2`.
    pub fn cell_m2(&self) -> f64 {
        self.cell_f2 * self.feature_m * self.feature_m
    }
}

/// The README's table of the technology file: key, unit, the built-in
/// value, whether it is sourced or an estimate, and what it is.
pub fn markdown_table() -> String {
    let t = Tech::builtin();
    let mut s =
        String::from("| key | unit | built-in | origin | what it is |\n|---|---|---|---|---|\n");
    for (p, v) in PARAMS.iter().zip(&t.values) {
        let origin = match v.origin {
            Origin::Source(_) => "source",
            Origin::Estimate(_) => "estimate",
        };
        s += &format!(
            "| `{}.{}` | {} | {} | {} | {} |\n",
            p.section, p.key, p.unit, v.value, origin, p.doc
        );
    }
    s
}

fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads parameter `p` of section table `t`: `{ value, source | estimate }`.
fn param(t: &toml::Table, p: &Param, origin: &Path) -> Result<Value> {
    let field = format!("{}.{}", p.section, p.key);
    let shape = format!(
        "a table `{{ value = <{}>, source = \"<paper, table or figure>\" }}` or `{{ value = …, estimate = \"<how it was derived>\" }}` ({})",
        p.unit, p.doc
    );
    let e = match t.get(p.key) {
        Some(toml::Value::Table(e)) => e,
        other => {
            let v = other.map_or("(missing)".to_string(), |v| v.to_string());
            return Err(Error::invalid(origin, field, v, shape));
        }
    };
    known_keys(
        e,
        &format!("{field}."),
        &["value", "source", "estimate"],
        origin,
    )?;
    let value = match e.get("value") {
        Some(toml::Value::Float(f)) => *f,
        Some(toml::Value::Integer(i)) => *i as f64,
        other => {
            let v = other.map_or("(missing)".to_string(), |v| v.to_string());
            return Err(Error::invalid(
                origin,
                format!("{field}.value"),
                v,
                format!("a number in {}", p.unit),
            ));
        }
    };
    let positive = matches!(p.key, "frequency_mhz" | "feature_nm" | "cell_f2");
    if !value.is_finite() || value < 0.0 || (positive && value == 0.0) {
        let want = if positive {
            "a finite number > 0"
        } else {
            "a finite number >= 0"
        };
        return Err(Error::invalid(
            origin,
            format!("{field}.value"),
            value,
            format!("{want} in {}", p.unit),
        ));
    }
    let text = |k: &str| match e.get(k) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        None => Ok(None),
        Some(v) => Err(Error::invalid(
            origin,
            format!("{field}.{k}"),
            v,
            "a non-empty string",
        )),
    };
    let origin_of = match (text("source")?, text("estimate")?) {
        (Some(s), None) => Origin::Source(s),
        (None, Some(s)) => Origin::Estimate(s),
        (s, _) => {
            return Err(Error::invalid(
                origin,
                field,
                if s.is_some() {
                    "both `source` and `estimate`"
                } else {
                    "neither `source` nor `estimate`"
                },
                "exactly one of `source` (paper, table or figure) and `estimate` (how it was derived)",
            ));
        }
    };
    Ok(Value {
        section: p.section,
        key: p.key,
        unit: p.unit,
        value,
        origin: origin_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Tech> {
        Tech::parse(s, Path::new("t.toml"))
    }

    /// Every parameter of the built-in file says where its value comes from.
    #[test]
    fn every_default_value_has_a_source_or_is_an_estimate() {
        let t = Tech::builtin();
        assert_eq!(t.values.len(), PARAMS.len());
        for v in &t.values {
            let text = match &v.origin {
                Origin::Source(s) | Origin::Estimate(s) => s,
            };
            assert!(
                text.len() >= 10,
                "{}.{}: origin too short: {text:?}",
                v.section,
                v.key
            );
        }
    }

    fn replace(key: &str, with: &str) -> String {
        let line = DEFAULT_TOML
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} in the default file"));
        DEFAULT_TOML.replace(line, with)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_what_was_expected() {
        let e = err(&replace(
            "shift_add",
            "shift_add = { value = -1.0, estimate = \"a guess here\" }",
        ));
        assert!(
            e.contains("t.toml")
                && e.contains("energy_pj.shift_add.value")
                && e.contains("-1")
                && e.contains(">= 0"),
            "{e}"
        );
        let e = err(&replace(
            "requantize",
            "requantize = { value = nan, estimate = \"a guess here\" }",
        ));
        assert!(
            e.contains("energy_pj.requantize.value") && e.contains("NaN") && e.contains("finite"),
            "{e}"
        );
        let e = err(&replace(
            "frequency_mhz",
            "frequency_mhz = { value = inf, estimate = \"a guess here\" }",
        ));
        assert!(
            e.contains("clock.frequency_mhz.value") && e.contains("inf"),
            "{e}"
        );
        let e = err(&replace(
            "frequency_mhz",
            "frequency_mhz = { value = 0, estimate = \"a guess here\" }",
        ));
        assert!(e.contains("> 0"), "{e}");
        let e = err(&replace("cell_f2", "cell_f2 = { value = 40 }"));
        assert!(e.contains("area.cell_f2") && e.contains("neither"), "{e}");
        let e = err(&replace(
            "cell_f2",
            "cell_f2 = { value = 40, source = \"x\", estimate = \"y\" }",
        ));
        assert!(e.contains("both"), "{e}");
        let e = err(&replace("cell_f2", "cell_f2 = 40"));
        assert!(
            e.contains("area.cell_f2") && e.contains("value = <F^2>"),
            "{e}"
        );
        let e = err(&replace(
            "cell_f2",
            "cell_f2 = { value = 40, source = \"x\", unit = \"F2\" }",
        ));
        assert!(
            e.contains("area.cell_f2.unit") && e.contains("unknown key"),
            "{e}"
        );
        let e = err(&replace(
            "cell_f2",
            "cel_f2 = { value = 40, source = \"x\" }",
        ));
        assert!(
            e.contains("area.cel_f2") && e.contains("`area.cell_f2`"),
            "{e}"
        );
        let e = err(&format!("{DEFAULT_TOML}\n[voltage]\nvdd = 1\n"));
        assert!(e.contains("voltage") && e.contains("unknown key"), "{e}");
        let e = err(&replace("cell_f2", ""));
        assert!(e.contains("area.cell_f2") && e.contains("(missing)"), "{e}");
    }

    #[test]
    fn units_are_converted_to_si() {
        let t = Tech::builtin();
        let raw = |s: &str, k: &str| {
            t.values
                .iter()
                .find(|v| v.section == s && v.key == k)
                .unwrap()
                .value
        };
        assert_eq!(t.clock_hz, raw("clock", "frequency_mhz") * 1e6);
        assert_eq!(t.energy.shift_add, raw("energy_pj", "shift_add") * 1e-12);
        assert_eq!(
            t.leak_gated_per_column_w,
            raw("leakage_nw", "gated_per_column") * 1e-9
        );
        let f = raw("area", "feature_nm") * 1e-9;
        assert!((t.cell_m2() - raw("area", "cell_f2") * f * f).abs() < 1e-30);
        assert_eq!(t.latencies.len(), 8);
    }
}
