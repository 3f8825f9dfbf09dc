//! The exact cycle model of the convolution engine and the operations each
//! enabled sub-array performs, per layer and width. `capim verify` checks
//! both against the RTL's counters for every layer and width; the cost
//! model ([`super`]) derives energy proxies and utilization from them.
//!
//! ```text
//! conv: cycles = 1 + Hout*Wout * ( sum_chunks (2 + words_in_chunk*K + N)
//!                                  + slots * (2 + chunks*N^2 + rq)
//!                                  + cout_active * raw_words )
//!       rq = arrays + 1, or 2*arrays with raw_words = ACC_W/N for requant none
//! gap:  cycles = 1 + cout_active * (H*W + 3)
//! ```

use crate::hw::raw_words;
use crate::layout::Layout;
use crate::model::{Model, Op};

/// Busy cycles the engine takes for layer `li` at width `wi` (exact).
pub fn layer_cycles(lay: &Layout, model: &Model, li: usize, wi: usize) -> u64 {
    let lm = &lay.layers[li];
    let wm = &lm.widths[wi];
    let n = lay.precision as u64;
    let l = &model.layers[li];
    if l.op == Op::Gap {
        // per channel: start, one read per input position, last read, requantize
        let (h, w) = lay.layers[li].in_hw;
        return 1 + wm.cout_active as u64 * ((h * w) as u64 + 3);
    }
    let (ho, wo) = lay.layers[li].out_hw;
    let positions = (ho * wo) as u64;
    let raw = if l.requant.is_none() {
        raw_words(lay.precision) as u64
    } else {
        0
    };
    // per chunk: start, one read per tap and activation word, last read, N row writes
    let mut gather = 0u64;
    for c in 0..wm.chunks {
        gather += 1 + (lm.ksize * lm.chunk_words(c, wm.cin_active)) as u64 + 1 + n;
    }
    // per slot: start, computes, drain, then one requantization per array
    // and a last write (raw outputs: two cycles per array, then the words)
    let rq = if raw > 0 {
        2 * wm.arrays as u64
    } else {
        wm.arrays as u64 + 1
    };
    let per_slot = 1 + wm.chunks as u64 * n * n + 1 + rq;
    1 + positions * (gather + wm.slots as u64 * per_slot + wm.cout_active as u64 * raw)
}

/// (computes, row writes) every enabled sub-array performs for layer `li` at width `wi`.
pub fn layer_ops(lay: &Layout, li: usize, wi: usize) -> (u64, u64) {
    let wm = &lay.layers[li].widths[wi];
    let n = lay.precision as u64;
    let (ho, wo) = lay.layers[li].out_hw;
    let positions = (ho * wo) as u64;
    let writes = positions * wm.chunks as u64 * n;
    let computes = positions * wm.slots as u64 * wm.chunks as u64 * n * n;
    (computes, writes)
}
