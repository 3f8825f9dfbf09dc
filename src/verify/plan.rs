//! What a verification runs: the stimulus images, the order of the runs
//! (per width: the first image layer by layer, the others whole-network;
//! then the width-switching sequence) and the cycle bound of a run.

use crate::data::Dataset;
use crate::error::Result;
use crate::model::{Model, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A stimulus image.
#[derive(Debug, Clone)]
pub struct Stimulus {
    pub name: String,
    pub input: Tensor,
    /// The true class of a real image (a labelled data set).
    pub label: Option<u8>,
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
        label: None,
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

/// The first `n` images of a labelled set `ds` (`what` names it), each
/// through the model's preprocessing table.
pub fn dataset_stimuli(model: &Model, ds: &Dataset, what: &str, n: usize) -> Result<Vec<Stimulus>> {
    let pre = crate::model::classify::preprocess_for(model, ds, what)?;
    Ok((0..n.min(ds.n))
        .map(|i| Stimulus {
            name: format!("{what} #{i} (label {})", ds.labels[i]),
            input: pre.apply(ds.image(i)),
            label: Some(ds.labels[i]),
        })
        .collect())
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

/// Spreads the runs of a plan over at most `jobs` simulations: a list of
/// plan indices per simulation, each in plan order. The switching sequence
/// stays together in one simulation (its steps depend on each other); the
/// other runs are independent. Longest first onto the least loaded
/// simulation, by the analytic cycles of the run's width
/// (`width_cycles`; a per-layer run counts the same).
pub fn shards(
    plan: &[(usize, &Stimulus, Mode)],
    jobs: usize,
    width_cycles: impl Fn(usize) -> u64,
) -> Vec<Vec<usize>> {
    let mut units: Vec<(u64, Vec<usize>)> = Vec::new();
    let switch: Vec<usize> = (0..plan.len())
        .filter(|&k| plan[k].2 == Mode::Switch)
        .collect();
    if !switch.is_empty() {
        let c = switch.iter().map(|&k| width_cycles(plan[k].0)).sum();
        units.push((c, switch));
    }
    for (k, &(wi, _, mode)) in plan.iter().enumerate() {
        if mode != Mode::Switch {
            units.push((width_cycles(wi), vec![k]));
        }
    }
    // stable: equal costs keep plan order
    units.sort_by_key(|u| std::cmp::Reverse(u.0));
    let n = jobs.clamp(1, units.len().max(1));
    let mut load = vec![0u64; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (c, ks) in units {
        let j = (0..n).min_by_key(|&j| (load[j], j)).expect("n >= 1");
        load[j] += c;
        out[j].extend(ks);
    }
    for s in &mut out {
        s.sort_unstable();
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_run_once_and_keep_the_switching_sequence_together() {
        let model = crate::model::synth::synth("tinynet", 8, 1).expect("tinynet");
        let stims = stimuli(&model, 1, 2);
        let widths = [0usize, 1, 2, 3];
        let plan = runs(&widths, &stims);
        let cost = |wi: usize| 100 * (wi as u64 + 1);
        for jobs in 1..=6 {
            let sh = shards(&plan, jobs, cost);
            assert!(!sh.is_empty() && sh.len() <= jobs);
            let mut all: Vec<usize> = sh.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..plan.len()).collect::<Vec<_>>(), "jobs {jobs}");
            for s in &sh {
                assert!(s.windows(2).all(|w| w[0] < w[1]), "plan order");
            }
            let holding: Vec<usize> = (0..sh.len())
                .filter(|&j| sh[j].iter().any(|&k| plan[k].2 == Mode::Switch))
                .collect();
            assert_eq!(
                holding.len(),
                1,
                "one simulation runs the switching sequence"
            );
            let n_switch = plan.iter().filter(|r| r.2 == Mode::Switch).count();
            assert_eq!(
                sh[holding[0]]
                    .iter()
                    .filter(|&&k| plan[k].2 == Mode::Switch)
                    .count(),
                n_switch
            );
        }
        assert_eq!(
            shards(&plan, 1, cost),
            vec![(0..plan.len()).collect::<Vec<_>>()]
        );
    }
}
