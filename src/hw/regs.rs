//! The host register map of `capim_top`: one table ([`MAP`]) from which the
//! top template's address decode and header comment, the verifier's host
//! I/O, the manifest's `registers` section and the README table are derived.
//!
//! Addresses are 32-bit word addresses; a read returns its data on
//! `host_rdata` the cycle after `host_re`. The control registers may be
//! written at any time, also while a run is busy: a run reads them only at
//! its start, so a write takes effect at the next start. The memory
//! windows (activation memory, rows, descriptors, requantization, cost
//! table) take writes only while idle. A register either is one word
//! ([`Span::One`]) or opens a window of `2^k` words indexed from its base
//! (per sub-array counters, activation-memory lanes, sub-array rows).

use super::{SubArray, Widths, clog2};
use serde::Serialize;

/// Value of the ID register: "CA9" and the interface revision.
pub const ID_VALUE: u32 = 0xCA90_0003;

/// Who may access a register over the host bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read only.
    Ro,
    /// Read and write.
    Rw,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Ro => "ro",
            Access::Rw => "rw",
        }
    }
}

/// How many words a register covers: the address bits below its base that
/// index into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// One word.
    One,
    /// One word per sub-array: `Widths::sw` index bits.
    SubArrays,
    /// One word per activation-memory lane: `Widths::aw` index bits.
    Lanes,
    /// `{sub-array, row, 32-bit word of the row}`: 27 index bits (at most
    /// 9 + 12 + 5 are used).
    Rows,
    /// `{cost-table entry, field}`: `Widths::ww` + 2 index bits.
    Table,
    /// One 32-bit word of a sub-array row: 5 index bits (up to 1,024 columns).
    RowWords,
    /// `{descriptor index, 32-bit word}`: `lw + ww` + [`desc_word_bits`].
    Desc,
    /// `{requantization entry, 32-bit word}`: `qaw + 1` index bits.
    Quant,
}

/// One register (or window) of the host bus.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reg {
    /// Upper-case name, as in the README and the C header of a bundle.
    pub name: &'static str,
    /// Word address (of index 0 for a window).
    pub addr: u32,
    pub span: Span,
    /// The index below the base, as the README writes it (`a`, `i`, ...);
    /// empty for a one-word register.
    pub index: &'static str,
    pub access: Access,
    /// What it holds.
    pub doc: &'static str,
    /// The constant it always reads, if any.
    pub value: Option<u32>,
}

pub const ID: Reg = Reg {
    name: "ID",
    addr: 0x0000_0000,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "identification",
    value: Some(ID_VALUE),
};
pub const CTRL: Reg = Reg {
    name: "CTRL",
    addr: 0x0000_0001,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "write bit 0 = start; read bit 0 = busy",
    value: None,
};
pub const WIDTH: Reg = Reg {
    name: "WIDTH",
    addr: 0x0000_0002,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "width index (into the model's widths) of the next run in manual mode",
    value: None,
};
pub const LAYER_FIRST: Reg = Reg {
    name: "LAYER_FIRST",
    addr: 0x0000_0003,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "first layer of the next run",
    value: None,
};
pub const LAYER_LAST: Reg = Reg {
    name: "LAYER_LAST",
    addr: 0x0000_0004,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "last layer of the next run (the engine runs LAYER_FIRST ..= LAYER_LAST)",
    value: None,
};
pub const CYCLES: Reg = Reg {
    name: "CYCLES",
    addr: 0x0000_0005,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "cycles of the last run",
    value: None,
};
pub const SCRATCH: Reg = Reg {
    name: "SCRATCH",
    addr: 0x0000_0006,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "free for the host (bus test)",
    value: None,
};
pub const INFO: Reg = Reg {
    name: "INFO",
    addr: 0x0000_0007,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "`{precision[31:24], n_widths[23:16], count[15:0]}`",
    value: None,
};
pub const N_ACT_READ: Reg = Reg {
    name: "N_ACT_READ",
    addr: 0x0000_0008,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "activation memory words read since the last start (gather, pooling, residual)",
    value: None,
};
pub const N_ACT_WRITE: Reg = Reg {
    name: "N_ACT_WRITE",
    addr: 0x0000_0009,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "activation memory lanes written since the last start",
    value: None,
};
pub const N_REQUANT: Reg = Reg {
    name: "N_REQUANT",
    addr: 0x0000_000A,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "requantizations since the last start",
    value: None,
};
pub const N_ACC_UPDATE: Reg = Reg {
    name: "N_ACC_UPDATE",
    addr: 0x0000_000B,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "accumulator updates (shift-adds) since the last start",
    value: None,
};
pub const SCHED_MODE: Reg = Reg {
    name: "SCHED_MODE",
    addr: 0x0000_000C,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "bit 0: 1 = automatic (the scheduler picks the width at each start), 0 = manual (WIDTH)",
    value: None,
};
pub const SCHED_DEADLINE: Reg = Reg {
    name: "SCHED_DEADLINE",
    addr: 0x0000_000D,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "latency deadline of the next run in cycles; 0 = none",
    value: None,
};
pub const SCHED_BUDGET: Reg = Reg {
    name: "SCHED_BUDGET",
    addr: 0x0000_000E,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "energy budget of the next run in units of 2^SCHED_INFO[15:8] pJ; 0 = none",
    value: None,
};
pub const SCHED_CAP: Reg = Reg {
    name: "SCHED_CAP",
    addr: 0x0000_000F,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "most sub-arrays enabled at once in the next run; 0 = none",
    value: None,
};
pub const SCHED_STATUS: Reg = Reg {
    name: "SCHED_STATUS",
    addr: 0x0000_0010,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "the last start's choice: `{auto[31], entry[23:16], width[15:8], violated[3], why[2:0] = {cap, budget, deadline}}`; entry 0xFF in manual mode",
    value: None,
};
pub const SCHED_INFO: Reg = Reg {
    name: "SCHED_INFO",
    addr: 0x0000_0011,
    span: Span::One,
    index: "",
    access: Access::Ro,
    doc: "`{cheapest entry[23:16], energy unit log2 pJ[15:8], entries[7:0]}`",
    value: None,
};
pub const ROW_WRITE: Reg = Reg {
    name: "ROW_WRITE",
    addr: 0x0000_0013,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "write `{a[31:16], row[15:0]}` while idle: ROW_STAGE becomes row `row` of sub-array `a` (a new model's weights over the bus); reads the last value written",
    value: None,
};
pub const ROW_STAGE: Reg = Reg {
    name: "ROW_STAGE",
    addr: 0x0000_0020,
    span: Span::RowWords,
    index: "w",
    access: Access::Rw,
    doc: "32-bit word `w` of the row that ROW_WRITE writes (column `32w` in bit 0)",
    value: None,
};
pub const SCHED_TABLE: Reg = Reg {
    name: "SCHED_TABLE",
    addr: 0x0000_1000,
    span: Span::Table,
    index: "{e, f}",
    access: Access::Rw,
    doc: "cost-table entry `e` (preference order), field `f`: 0 width index, 1 cycles, 2 energy, 3 most enabled sub-arrays (`capim_sched.memh`); written while idle",
    value: None,
};
pub const DESC: Reg = Reg {
    name: "DESC",
    addr: 0x0040_0000,
    span: Span::Desc,
    index: "{d, k}",
    access: Access::Rw,
    doc: "32-bit word `k` (least significant first) of layer descriptor `d = layer << ww | width` (`capim_desc.memh`); written while idle",
    value: None,
};
pub const QUANT: Reg = Reg {
    name: "QUANT",
    addr: 0x0080_0000,
    span: Span::Quant,
    index: "{q, k}",
    access: Access::Rw,
    doc: "32-bit word `k` of requantization entry `q`, `{bias, M}` (`capim_quant.memh`); written while idle",
    value: None,
};
pub const IRQ: Reg = Reg {
    name: "IRQ",
    addr: 0x0000_0012,
    span: Span::One,
    index: "",
    access: Access::Rw,
    doc: "bit 0: interrupt enable; bit 1: done, set when a run ends, cleared by writing 1 to it; the `irq` output is enable AND done",
    value: None,
};
pub const N_COMPUTE: Reg = Reg {
    name: "N_COMPUTE",
    addr: 0x0100_0000,
    span: Span::SubArrays,
    index: "a",
    access: Access::Ro,
    doc: "computes of sub-array `a` since the last start",
    value: None,
};
pub const N_ENABLED: Reg = Reg {
    name: "N_ENABLED",
    addr: 0x0140_0000,
    span: Span::SubArrays,
    index: "a",
    access: Access::Ro,
    doc: "cycles sub-array `a` was enabled since the last start",
    value: None,
};
pub const N_WRITE: Reg = Reg {
    name: "N_WRITE",
    addr: 0x0180_0000,
    span: Span::SubArrays,
    index: "a",
    access: Access::Ro,
    doc: "row writes of sub-array `a` since the last start",
    value: None,
};
pub const ACT: Reg = Reg {
    name: "ACT",
    addr: 0x0200_0000,
    span: Span::Lanes,
    index: "i",
    access: Access::Rw,
    doc: "activation memory lane `i` (lane `i % LANES` of word `i / LANES`; tensor regions in `manifest.json`); written while idle",
    value: None,
};
pub const ROW: Reg = Reg {
    name: "ROW",
    addr: 0x0800_0000,
    span: Span::Rows,
    index: "{a, row, word}",
    access: Access::Ro,
    doc: "32 bits of a sub-array row, read while idle",
    value: None,
};

/// The whole map, in address order.
pub const MAP: [Reg; 29] = [
    ID,
    CTRL,
    WIDTH,
    LAYER_FIRST,
    LAYER_LAST,
    CYCLES,
    SCRATCH,
    INFO,
    N_ACT_READ,
    N_ACT_WRITE,
    N_REQUANT,
    N_ACC_UPDATE,
    SCHED_MODE,
    SCHED_DEADLINE,
    SCHED_BUDGET,
    SCHED_CAP,
    SCHED_STATUS,
    SCHED_INFO,
    IRQ,
    ROW_WRITE,
    ROW_STAGE,
    SCHED_TABLE,
    DESC,
    QUANT,
    N_COMPUTE,
    N_ENABLED,
    N_WRITE,
    ACT,
    ROW,
];

impl Reg {
    /// Index bits below the base for a design with RTL widths `w`.
    pub fn span_bits(&self, w: &Widths) -> u32 {
        match self.span {
            Span::One => 0,
            Span::SubArrays => w.sw,
            Span::Lanes => w.aw,
            Span::Rows => 27,
            Span::Table => w.ww + 2,
            Span::RowWords => 5,
            Span::Desc => w.lw + w.ww + desc_word_bits(w),
            Span::Quant => w.qaw + 1,
        }
    }

    /// What it holds, with its constant value if it has one.
    pub fn describe(&self) -> String {
        let doc = self.doc.replace("LANES", &super::LANES.to_string());
        match self.value {
            Some(v) => format!("{doc} `0x{v:08X}`"),
            None => doc,
        }
    }

    /// The address as the README writes it: `0x0100_0000 + a`.
    pub fn addr_text(&self) -> String {
        let h = format!("{:08x}", self.addr);
        let base = format!("0x{}_{}", &h[..4], &h[4..]);
        if self.index.is_empty() {
            base
        } else {
            format!("{base} + {}", self.index)
        }
    }
}

/// Bits of the 32-bit word index within one descriptor.
pub fn desc_word_bits(w: &Widths) -> u32 {
    super::clog2(super::desc::width(&super::desc::layout(w)).div_ceil(32) as u64)
}

/// The value of the INFO register.
pub fn info_value(precision: u32, n_widths: usize, count: usize) -> u32 {
    (precision << 24) | ((n_widths as u32) << 16) | count as u32
}

/// Where the 32-bit words of sub-array rows sit in the [`ROW`] window:
/// address `ROW + {a, row, word}` with `word_bits` bits of word index, then
/// `Widths::rw` bits of row, then the sub-array index.
#[derive(Debug, Clone, Serialize)]
pub struct RowWindow {
    /// 32-bit words of one row.
    pub words: usize,
    /// Bits of the word index (clog2 of `words`).
    pub word_bits: u32,
    /// Lowest address bit of the row index.
    pub row_lo: u32,
    /// Lowest address bit of the sub-array index.
    pub sa_lo: u32,
}

impl RowWindow {
    pub fn new(sa: &SubArray, w: &Widths) -> Self {
        let words = sa.row_words();
        let word_bits = clog2(words as u64);
        RowWindow {
            words,
            word_bits,
            row_lo: word_bits,
            sa_lo: word_bits + w.rw,
        }
    }

    /// Host address of 32-bit word `word` of row `row` of sub-array `a`.
    pub fn addr(&self, a: usize, row: usize, word: usize) -> u32 {
        ROW.addr + ((a << self.sa_lo) | (row << self.row_lo) | word) as u32
    }
}

/// One register as the templates see it: its Verilog address literal and
/// the decode of its window.
#[derive(Debug, Clone, Serialize)]
pub struct RegCtx {
    pub name: &'static str,
    /// `32'h0000_0001`.
    pub lit: String,
    /// Index bits below the base (0 for one word).
    pub lo: u32,
    /// The base's bits `[31:lo]` as a Verilog literal.
    pub hi_lit: String,
    /// README form of the address, for the header comment.
    pub text: String,
    pub access: Access,
    pub doc: String,
    /// The constant it reads as 8 hex digits (`ca900002`), or empty.
    pub value_hex: String,
    /// One line of the top's header comment.
    pub comment: String,
}

/// Every register as the templates see it, keyed by lower-case name
/// (`regs.ctrl.lit`), plus `list` in address order.
pub fn template_ctx(w: &Widths) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let mut list = Vec::new();
    for r in MAP {
        let lo = r.span_bits(w);
        let h = format!("{:08x}", r.addr);
        let ctx = RegCtx {
            name: r.name,
            lit: format!("32'h{}_{}", &h[..4], &h[4..]),
            lo,
            hi_lit: format!("{}'h{:x}", 32 - lo, r.addr >> lo),
            text: r.addr_text(),
            access: r.access,
            doc: r.describe(),
            value_hex: r.value.map(|v| format!("{v:08x}")).unwrap_or_default(),
            comment: format!(
                "{:<29} {:<12} {:<3} {}",
                r.addr_text(),
                r.name,
                r.access.as_str(),
                r.describe()
            ),
        };
        let v = serde_json::to_value(&ctx).expect("register serializes");
        list.push(v.clone());
        m.insert(r.name.to_lowercase(), v);
    }
    m.insert("list".into(), serde_json::Value::Array(list));
    serde_json::Value::Object(m)
}

/// The register map for the manifest.
pub fn manifest() -> serde_json::Value {
    serde_json::Value::Array(
        MAP.iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "address": r.addr_text(),
                    "span": r.span,
                    "access": r.access,
                    "doc": r.describe(),
                })
            })
            .collect(),
    )
}

/// The register map as the README's Markdown table (a test checks that
/// README.md contains exactly this).
pub fn markdown_table() -> String {
    let mut s = String::from("| address | register | access | what |\n|---|---|---|---|\n");
    for r in MAP {
        s += &format!(
            "| `{}` | {} | {} | {} |\n",
            r.addr_text(),
            r.name,
            r.access.as_str(),
            r.describe()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows and words never overlap, so each address decodes to one register.
    #[test]
    fn registers_do_not_overlap() {
        let w = Widths {
            rw: 12,
            sw: 9,
            aw: 24,
            ..Widths::example()
        };
        let spans: Vec<(u64, u64)> = MAP
            .iter()
            .map(|r| {
                let lo = r.addr as u64;
                assert_eq!(lo % (1 << r.span_bits(&w)), 0, "{} aligned", r.name);
                (lo, lo + (1u64 << r.span_bits(&w)))
            })
            .collect();
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                assert!(a.1 <= b.0, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn row_window_packs_array_row_word() {
        let sa = SubArray {
            rows: 1024,
            cols: 256,
            count: 32,
        };
        let w = Widths::example();
        let rw = RowWindow::new(&sa, &w);
        assert_eq!((rw.words, rw.word_bits, rw.row_lo, rw.sa_lo), (8, 3, 3, 13));
        assert_eq!(rw.addr(2, 5, 7), 0x0800_0000 | (2 << 13) | (5 << 3) | 7);
    }
}
