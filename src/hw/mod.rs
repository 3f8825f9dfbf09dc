//! The hardware contract and the Rust description of the accelerator.
//!
//! Every fact that the RTL, the Rust side and the documentation share is
//! defined here once, as data: the accumulator width, the lanes of an
//! activation-memory word and the ID value (constants below), the register
//! map of the host bus ([`regs`]), the layer-descriptor word ([`desc`]) and
//! the bit widths of the generated RTL ([`Widths`]). The templates, the
//! image packer, the verifier, the manifest and the README table are all
//! derived from them.
//!
//! It is also capim's hardware description language for people who prefer
//! code to configuration files. The blocks of the accelerator are typed
//! values:
//!
//! - [`SubArray`]: one SOT-MRAM computational sub-array (`rows x cols`
//!   cells; write / read / two-row compute with a column bit-counter) and how
//!   many of them the accelerator has;
//! - [`GatingController`]: the channel-gating controller that enables the
//!   first `n_active` sub-arrays for a layer and gates the others off;
//! - [`ConvEngine`]: the descriptor-driven sequencer and its periphery
//!   (activation memory of [`LANES`]-lane words, shift/negate-and-add
//!   accumulators of [`ACC_W`] bits, requantization);
//! - [`ArrayConfig`]: the accelerator top that holds them; the TOML
//!   configuration (`capim gen --config`) is parsed into it.
//!
//! ```
//! use capim::hw::{ArrayConfig, SubArray};
//!
//! // 8 sub-arrays of 256 x 64 cells, 8-bit datapath: the same accelerator
//! // as configs/small.toml, described in code.
//! let acc = ArrayConfig::new(8, SubArray { rows: 256, cols: 64, count: 8 })?;
//! assert_eq!(acc.gating().count, 8);
//! assert_eq!(acc.engine().accumulator_bits, 48);
//! // Out-of-range sizes are refused with the field, the value and the limit.
//! let err = ArrayConfig::new(8, SubArray { rows: 256, cols: 100, count: 8 }).unwrap_err();
//! assert!(err.to_string().contains("`subarray.cols` = 100"));
//! # Ok::<(), capim::Error>(())
//! ```
//!
//! A whole flow (describe, generate, verify) is in `examples/custom_array.rs`.

mod bits;
pub mod desc;
pub mod regs;
pub mod scheduler;

pub use bits::Bits;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Name of the accelerator's top module (`capim_top.v`), the module the
/// host bus, the harness and the lint drive.
pub const TOP_MODULE: &str = "capim_top";

/// Bits of the shift-add accumulator behind every bit-counter.
pub const ACC_W: u32 = 48;

/// Values per activation-memory word (a power of two).
pub const LANES: usize = 16;
/// log2(LANES).
pub const LANE_BITS: u32 = LANES.trailing_zeros();

/// Smallest and largest supported sub-array sizes and counts.
pub const MIN_ROWS: u32 = 16;
pub const MAX_ROWS: u32 = 4096;
pub const MIN_COLS: u32 = 16;
pub const MAX_COLS: u32 = 1024;
pub const MAX_COUNT: u32 = 256;

/// Default column-segment size of the bit-counter (`mapping.segment`).
pub const DEFAULT_SEGMENT: u32 = 8;
/// Largest column segment: one segment's values come from one activation word.
pub const MAX_SEGMENT: u32 = LANES as u32;

/// ceil(log2(x)) for x >= 1, i.e. the bits needed to index `x` items.
pub fn clog2(x: u64) -> u32 {
    if x <= 1 {
        0
    } else {
        64 - (x - 1).leading_zeros()
    }
}

/// Bits needed to hold the value `v`.
pub fn bits_for(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Memory lanes of one raw (requant = none) output: the ACC_W-bit
/// `acc + bias`, least significant lane first.
pub fn raw_words(precision: u32) -> usize {
    (ACC_W / precision) as usize
}

/// The computational sub-arrays: `count` arrays of `rows x cols` 1-bit
/// SOT-MRAM cells. Per cycle each does nothing, writes a row, reads a row,
/// or computes: two rows sensed at once, ANDed column-wise and bit-counted
/// (DESIGN.md section 3). The `[subarray]` table of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubArray {
    /// Rows of 1-bit cells.
    pub rows: u32,
    /// Columns: bits per row, ANDed and counted per compute cycle.
    pub cols: u32,
    /// Number of computational sub-arrays.
    pub count: u32,
}

impl SubArray {
    /// 32-bit host-bus words of one row.
    pub fn row_words(&self) -> usize {
        (self.cols as usize).div_ceil(32)
    }
}

/// What the mapping compiler optimizes per layer and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Fewest cycles.
    #[default]
    Latency,
    /// Fewest active array-cycles (enabled sub-arrays x cycles).
    Energy,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Latency => "latency",
            Policy::Energy => "energy",
        }
    }
}

/// The `[mapping]` table: how the compiler lays work over the arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Columns per bit-counter segment: every compute returns one count per
    /// segment (a power of two, 2 ..= 16, at most `cols`).
    pub segment: u32,
    /// What the planner minimizes.
    pub policy: Policy,
    /// Most sub-arrays enabled at once (peak power); `None`: all of them.
    pub max_active: Option<u32>,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            segment: DEFAULT_SEGMENT,
            policy: Policy::Latency,
            max_active: None,
        }
    }
}

/// The channel-gating controller: while a layer runs, it enables the first
/// `n_active` of `count` sub-arrays and gates the rest off (no operation,
/// cells kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatingController {
    pub count: u32,
}

/// The convolution engine's fixed periphery: the sequencer that gathers a
/// patch one activation word per cycle, writes its bit-planes, issues the
/// computes and requantizes. Its address and counter widths depend on the
/// model as well ([`Widths`], computed by the layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConvEngine {
    /// Operand bits N.
    pub precision: u32,
    /// Values per activation-memory word.
    pub lanes: usize,
    /// Bits of each sub-array's shift/negate-and-add accumulator.
    pub accumulator_bits: u32,
}

/// The accelerator: its precision and its sub-arrays. The TOML array
/// configuration is parsed into this type ([`crate::config`]); code can
/// build one with [`ArrayConfig::new`]. It remembers where it came from
/// ([`ArrayConfig::origin`]) so that errors about it name that file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    /// Datapath operand bits: 8 or 16.
    pub precision: u32,
    pub subarray: SubArray,
    /// The mapping compiler's settings (`[mapping]`, optional).
    #[serde(default)]
    pub mapping: Mapping,
    /// Where the configuration came from (a file, `<built-in default
    /// config>`, or the Rust code that built it); named in messages.
    #[serde(skip)]
    pub origin: String,
}

/// Two configurations are equal when they describe the same hardware,
/// wherever they came from.
impl PartialEq for ArrayConfig {
    fn eq(&self, o: &Self) -> bool {
        self.precision == o.precision && self.subarray == o.subarray && self.mapping == o.mapping
    }
}
impl Eq for ArrayConfig {}

impl ArrayConfig {
    /// An accelerator described in code; validated like a configuration file.
    pub fn new(precision: u32, subarray: SubArray) -> Result<Self> {
        let cfg = ArrayConfig {
            precision,
            subarray,
            mapping: Mapping::default(),
            origin: "<ArrayConfig::new>".to_string(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The channel-gating controller of this accelerator.
    pub fn gating(&self) -> GatingController {
        GatingController {
            count: self.subarray.count,
        }
    }

    /// The convolution engine's fixed periphery.
    pub fn engine(&self) -> ConvEngine {
        ConvEngine {
            precision: self.precision,
            lanes: LANES,
            accumulator_bits: ACC_W,
        }
    }

    /// Checks every field against the limits the generator supports; errors
    /// name [`ArrayConfig::origin`], the field, the value and the limit.
    pub fn validate(&self) -> Result<()> {
        let sa = &self.subarray;
        for (field, v) in [
            ("precision", self.precision),
            ("subarray.rows", sa.rows),
            ("subarray.cols", sa.cols),
            ("subarray.count", sa.count),
        ] {
            if !supported(field, v) {
                return Err(Error::invalid(
                    Path::new(&self.origin),
                    field,
                    v,
                    expected(field),
                ));
            }
        }
        let m = &self.mapping;
        let seg_max = MAX_SEGMENT.min(sa.cols);
        if !(m.segment.is_power_of_two() && (2..=seg_max).contains(&m.segment)) {
            return Err(Error::invalid(
                Path::new(&self.origin),
                "mapping.segment",
                m.segment,
                format!(
                    "a power of two in 2 ..= {seg_max} (at most 16 and at most `subarray.cols`)"
                ),
            ));
        }
        if let Some(a) = m.max_active
            && !(1..=sa.count).contains(&a)
        {
            return Err(Error::invalid(
                Path::new(&self.origin),
                "mapping.max_active",
                a,
                format!("1 ..= {} (`subarray.count`)", sa.count),
            ));
        }
        Ok(())
    }

    /// Bit-counter segments per row: `cols / segment` (both powers of two,
    /// validated).
    pub fn segments_per_row(&self) -> usize {
        (self.subarray.cols / self.mapping.segment) as usize
    }

    /// Sub-arrays the planner may enable at once.
    pub fn max_active(&self) -> usize {
        self.mapping.max_active.unwrap_or(self.subarray.count) as usize
    }

    /// SHA-256 of the canonical (JSON) form of the configuration, hex.
    pub fn hash(&self) -> String {
        let canon = serde_json::to_string(self).expect("config serializes");
        hex(&Sha256::digest(canon.as_bytes()))
    }
}

/// Whether `v` is a supported value of the numeric field `field`.
pub(crate) fn supported(field: &str, v: u32) -> bool {
    match field {
        "precision" => v == 8 || v == 16,
        "subarray.rows" => (MIN_ROWS..=MAX_ROWS).contains(&v),
        "subarray.cols" => (MIN_COLS..=MAX_COLS).contains(&v) && v.is_power_of_two(),
        "subarray.count" => (1..=MAX_COUNT).contains(&v),
        _ => true,
    }
}

/// What the numeric field `field` accepts, in words.
pub(crate) fn expected(field: &str) -> String {
    match field {
        "precision" => "8 or 16".to_string(),
        "subarray.rows" => format!("{MIN_ROWS} ..= {MAX_ROWS}"),
        "subarray.cols" => format!("a power of two in {MIN_COLS} ..= {MAX_COLS}"),
        "subarray.count" => format!("1 ..= {MAX_COUNT}"),
        "mapping.segment" => "a power of two in 2 ..= 16".to_string(),
        "mapping.max_active" => format!("1 ..= {MAX_COUNT}"),
        _ => "a non-negative integer".to_string(),
    }
}

/// Lower-case hex of a byte slice.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bit widths of the generated RTL, computed by the layout from the
/// configuration and the model. The templates receive this struct as `w`.
#[derive(Debug, Clone, Serialize)]
pub struct Widths {
    /// Operand bits N.
    pub n: u32,
    /// Bits of a bit-plane index: clog2(N).
    pub plw: u32,
    /// Bits of a sub-array row address.
    pub rw: u32,
    /// Bits of a bit-count: enough for `cols`.
    pub cnt_w: u32,
    /// Bits of a sub-array index / count.
    pub sw: u32,
    /// Bits of a column index.
    pub clw: u32,
    /// Bits of an activation lane address (and of the descriptor's shapes).
    pub aw: u32,
    /// Bits of a requantization-image address.
    pub qaw: u32,
    /// Bits of a layer index.
    pub lw: u32,
    /// Bits of a width index.
    pub ww: u32,
    /// Accumulator bits (ACC_W).
    pub acc_w: u32,
    /// Bits of a gather-buffer value index.
    pub bw: u32,
}

#[cfg(test)]
impl Widths {
    /// The widths of the default design (ResNet-20 8-bit on 32 x 1024x256),
    /// for unit tests.
    pub(crate) fn example() -> Widths {
        Widths {
            n: 8,
            plw: 3,
            rw: 10,
            cnt_w: 9,
            sw: 6,
            clw: 8,
            aw: 20,
            qaw: 12,
            lw: 5,
            ww: 2,
            acc_w: ACC_W,
            bw: 13,
        }
    }
}
