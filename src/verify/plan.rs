//! What a verification runs: the stimulus images, the order of the runs
//! (per width: the first image layer by layer, the others whole-network;
//! then the width-switching sequence) and the cycle bound of a run.

use crate::model::{Model, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A stimulus image.
#[derive(Debug, Clone)]
pub struct Stimulus {
    pub name: String,
    pub input: Tensor,
}

/// Stimulus for one width: `images` seeded random images plus edge cases
/// (all zero, all maximum, all minimum when the input is signed).
pub fn stimuli(model: &Model, seed: u64, images: usize) -> Vec<Stimulus> {
    let inp = &model.input;
    let n = model.precision;
    let (lo, hi) = if inp.signed {
        (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1)
    } else {
        (0, (1i64 << n) - 1)
    };
    let len = inp.channels * inp.height * inp.width;
    let mk = |name: String, data: Vec<i64>| Stimulus {
        name,
        input: Tensor::new(inp.channels, inp.height, inp.width, data),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<Stimulus> = (0..images)
        .map(|k| {
            let data = (0..len).map(|_| rng.random_range(lo..=hi)).collect();
            mk(format!("random #{k} (seed {seed})"), data)
        })
        .collect();
    v.push(mk("all zero".into(), vec![0; len]));
    v.push(mk("all maximum".into(), vec![hi; len]));
    if inp.signed {
        v.push(mk("all minimum".into(), vec![lo; len]));
    }
    v
}

/// How one stimulus is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One start per layer: per-layer cycles and gating counters.
    PerLayer,
    /// One start for the whole network, activations on chip.
    Network,
    /// A step of the width-switching sequence: whole network, and the
    /// sub-arrays gated off for the whole inference must keep every cell.
    Switch,
}

/// Cycle bound of one layer: twice the analytic model plus slack.
pub fn cycle_bound(model_cycles: u64) -> u64 {
    2 * model_cycles + 1000
}

/// Width order of the switching sequence: full, narrowest, ..., full
/// (1.0 -> 0.25 -> 0.75 -> 0.5 -> 1.0 for four widths).
pub fn switch_sequence(widths: &[usize]) -> Vec<usize> {
    let mut w: Vec<usize> = widths.to_vec();
    w.sort_unstable();
    w.dedup();
    let Some(&full) = w.last() else {
        return Vec::new();
    };
    let rest = &w[..w.len() - 1];
    let mut seq = vec![full];
    let (mut lo, mut hi) = (0usize, rest.len());
    let mut take_lo = true;
    while lo < hi {
        if take_lo {
            seq.push(rest[lo]);
            lo += 1;
        } else {
            hi -= 1;
            seq.push(rest[hi]);
        }
        take_lo = !take_lo;
    }
    seq.push(full);
    seq
}

/// The runs of one verification, in order, all in one simulation with no
/// weight reload: per width the first image layer by layer (per-layer
/// cycles and gating), the others as whole-network runs; then the
/// width-switching sequence over `widths`.
pub fn runs<'a>(widths: &[usize], stims: &'a [Stimulus]) -> Vec<(usize, &'a Stimulus, Mode)> {
    let mut plan = Vec::new();
    for &wi in widths {
        for (k, stim) in stims.iter().enumerate() {
            let mode = if k == 0 {
                Mode::PerLayer
            } else {
                Mode::Network
            };
            plan.push((wi, stim, mode));
        }
    }
    for (k, &wi) in switch_sequence(widths).iter().enumerate() {
        plan.push((wi, &stims[k % stims.len()], Mode::Switch));
    }
    plan
}
