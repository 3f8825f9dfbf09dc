//! Mapping plans: how one convolution layer at one width is laid over the
//! sub-arrays' column segments, rows and arrays, the exact cycle schedule
//! of a plan, and the planner that picks one plan per (layer, width) under
//! the configuration's policy and the rows available.
//!
//! Terms (DESIGN.md section 4; `s` = `mapping.segment`, `G = cols / s`):
//! - **piece** `k` of a dot product: block `b = k / K` of `s` input channels
//!   at tap `t = k % K` (`K = kh * kw`); column `c` of the piece holds input
//!   channel `b * s + c`. At a width the active pieces are the prefix
//!   `0 .. ceil(cin_active / s) * K`.
//! - **row-group**: `N` rows, one per bit-plane. Segment `g` of a weight
//!   row-group holds one piece of output channel `g / d` of its group:
//!   `d` consecutive segments carry `d` pieces of the same dot product
//!   (their counts are summed), so a row serves `cpr = G / d` output
//!   channels at once against an activation row that repeats the same `d`
//!   pieces `cpr` times.
//! - **arrays**: `qp * qg * sets` enabled arrays, array `a` =
//!   `(set * qg + gslot) * qp + pslot`. The `qp` arrays of a `(set, gslot)`
//!   split the piece-rows (`ppa` each) and their counts are summed across
//!   the arrays; the `qg` slots split the channel groups (`gpa` each); the
//!   `sets` work on different output positions (each holds a copy of the
//!   weights).

use crate::hw::{ArrayConfig, LANES, Policy};

/// The work of one convolution layer at one width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Kernel taps `kh * kw`.
    pub taps: usize,
    /// Output positions `Hout * Wout`.
    pub positions: usize,
    pub cin_active: usize,
    pub cout_active: usize,
    /// Lanes of one raw output (`ACC_W / N`), or 1 when requantized.
    pub out_words: usize,
}

impl Shape {
    /// Active pieces: `ceil(cin_active / s) * K`.
    pub fn pieces(&self, seg: usize) -> usize {
        self.cin_active.div_ceil(seg) * self.taps
    }
    /// Activation words read per tap: those holding the active channels.
    pub fn words(&self) -> usize {
        self.cin_active.div_ceil(LANES)
    }
}

/// Where the weights a plan reads come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rows {
    /// Its own rows (the full width's, or a narrow width's replica rows).
    Own,
    /// The full width's rows, with the full width's geometry.
    Shared,
}

/// One plan: the geometry and the loop bounds the engine runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Pieces of one dot product side by side in a row-group (segments summed).
    pub d: usize,
    /// Arrays splitting the piece-rows of a dot product (counts summed across them).
    pub qp: usize,
    /// Arrays splitting the output-channel groups.
    pub qg: usize,
    /// Output positions computed at once (a weight copy each).
    pub sets: usize,
    /// Piece-rows per array in the rows the plan reads (the row stride of a group).
    pub ppa: usize,
    /// Channel groups per array in those rows.
    pub gpa: usize,
    /// Piece-rows and groups the engine iterates at this width.
    pub ppa_it: usize,
    pub gpa_it: usize,
    /// Arrays with a useful slot: pslot < qp_used, gslot < qg_used (others gated off).
    pub qp_used: usize,
    pub qg_used: usize,
    pub rows: Rows,
}

impl Plan {
    /// Output channels per row-group: `G / d`.
    pub fn cpr(&self, g: usize) -> usize {
        g / self.d
    }
    /// Arrays enabled for the layer.
    pub fn arrays(&self) -> usize {
        self.sets * self.qg_used * self.qp_used
    }
    /// Whether sub-array `a` is enabled while the layer runs: inside the
    /// geometry, with a piece slot and a group slot that have work.
    pub fn enabled(&self, a: usize) -> bool {
        let pslot = a % self.qp;
        let gslot = (a / self.qp) % self.qg;
        a < self.sets * self.qg * self.qp && pslot < self.qp_used && gslot < self.qg_used
    }
    /// Rows the plan's weights take in every array of its geometry (0 when shared).
    pub fn weight_rows(&self, n: usize) -> usize {
        match self.rows {
            Rows::Own => self.ppa * self.gpa * n,
            Rows::Shared => 0,
        }
    }
    /// Pieces per set in the gather buffer: `qp * ppa * d`.
    pub fn pps(&self) -> usize {
        self.qp * self.ppa * self.d
    }
    /// Values of the gather buffer the plan uses: `sets * pps * s`.
    pub fn buffer(&self, seg: usize) -> usize {
        self.sets * self.pps() * seg
    }
}

/// Fixed timing of the engine (cycles), shared by the schedule and the RTL.
pub mod timing {
    /// Cycles of a gather beyond its reads: the buffer clear and the last write.
    pub const GATHER_EXTRA: u64 = 2;
    /// Cycles from the last compute of a group to its snapshot: the count
    /// pipeline (sense, count, accumulate) drains.
    pub const GROUP_END: u64 = 3;
}

/// Exact busy cycles of the engine for a conv layer with plan `p` (the
/// RTL's `cycles` counter). Mirrors the sequencer (see the engine template):
///
/// ```text
/// DESC, PLAN (2) -> gather round 0 -> per round: WAITG (until the gather is done)
///   WRITE ppa_it*N (the next round's gather starts in its last cycle)
///   per group: COMP ppa_it*N^2, GEND until the pipeline drained and the
///              previous group's requantization finished, then snapshot
/// -> LEND (until the last requantization finished)
/// ```
pub fn cycles(shape: &Shape, p: &Plan, n: usize, g: usize) -> u64 {
    let n = n as u64;
    let rounds = shape.positions.div_ceil(p.sets) as u64;
    let gather = timing::GATHER_EXTRA + (p.sets * shape.words() * shape.taps) as u64;
    let drain = (p.sets * p.qg * p.cpr(g) * shape.out_words) as u64;
    let writes = p.ppa_it as u64 * n;
    let comp = p.ppa_it as u64 * n * n;
    // cycle 0: DESC; cycle 1: PLAN, which starts the gather of round 0
    let mut g_start = 1u64;
    let mut c = 2u64; // WAITG entered
    let mut last_snap: Option<u64> = None;
    for r in 0..rounds {
        c = c.max(g_start + gather + 1); // WAITG leaves in this cycle
        let w_end = c + 1 + writes; // first cycle after the writes
        if r + 1 < rounds {
            g_start = w_end - 1;
        }
        c = w_end;
        for _ in 0..p.gpa_it {
            let e = c + comp; // GEND entered
            let mut x = e + timing::GROUP_END - 1;
            if let Some(s) = last_snap {
                x = x.max(s + drain + 1);
            }
            last_snap = Some(x);
            c = x + 1;
        }
    }
    // LEND: leaves once the last requantization is written
    if let Some(s) = last_snap {
        c = c.max(s + drain + 1);
    }
    c + 1
}

/// Computes and row writes each enabled array performs for the layer.
pub fn ops(shape: &Shape, p: &Plan, n: usize) -> (u64, u64) {
    let rounds = shape.positions.div_ceil(p.sets) as u64;
    let n = n as u64;
    let writes = rounds * p.ppa_it as u64 * n;
    (writes * p.gpa_it as u64 * n, writes)
}

fn pow2_upto(n: usize) -> impl Iterator<Item = usize> {
    (0..usize::BITS)
        .map(|b| 1usize << b)
        .take_while(move |&x| x <= n)
}

/// A plan with its own rows for `shape`, or `None` when it is pointless.
pub fn own(
    shape: &Shape,
    seg: usize,
    g: usize,
    d: usize,
    qp: usize,
    qg: usize,
    sets: usize,
) -> Option<Plan> {
    let prt = shape.pieces(seg).div_ceil(d);
    let cpr = g / d;
    let ng = shape.cout_active.div_ceil(cpr);
    if (qp > 1 && qp > prt) || (qg > 1 && qg > ng) || (sets > 1 && sets > shape.positions) {
        return None;
    }
    // a wider span than a dot product needs only wastes segments
    if d > 1 && d / 2 >= shape.pieces(seg) {
        return None;
    }
    let ppa = prt.div_ceil(qp);
    let gpa = ng.div_ceil(qg);
    Some(Plan {
        d,
        qp,
        qg,
        sets,
        ppa,
        gpa,
        ppa_it: ppa,
        gpa_it: gpa,
        qp_used: prt.div_ceil(ppa),
        qg_used: ng.div_ceil(gpa),
        rows: Rows::Own,
    })
}

/// The plan of a narrow width on the full width's rows `full`.
pub fn shared(shape: &Shape, seg: usize, g: usize, full: &Plan) -> Plan {
    let prt = shape.pieces(seg).div_ceil(full.d);
    let ng = shape.cout_active.div_ceil(full.cpr(g));
    Plan {
        ppa_it: full.ppa.min(prt),
        gpa_it: full.gpa.min(ng),
        qp_used: prt.div_ceil(full.ppa),
        qg_used: ng.div_ceil(full.gpa),
        rows: Rows::Shared,
        ..full.clone()
    }
}

/// Every own-rows plan for `shape` within `max_active` arrays and a gather
/// buffer of `buf_cap` values.
pub fn candidates(shape: &Shape, cfg: &ArrayConfig, buf_cap: usize) -> Vec<Plan> {
    let seg = cfg.mapping.segment as usize;
    let g = cfg.segments_per_row();
    let max_a = cfg.max_active();
    let mut out = Vec::new();
    for d in pow2_upto(g) {
        for qp in pow2_upto(max_a) {
            for qg in pow2_upto(max_a / qp) {
                for sets in pow2_upto(max_a / (qp * qg)) {
                    if let Some(p) = own(shape, seg, g, d, qp, qg, sets)
                        && p.buffer(seg) <= buf_cap
                    {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// A plan's cost under a policy: (objective, cycles).
pub fn objective(policy: Policy, cycles: u64, p: &Plan) -> u64 {
    match policy {
        Policy::Latency => cycles,
        Policy::Energy => cycles * p.arrays() as u64,
    }
}
