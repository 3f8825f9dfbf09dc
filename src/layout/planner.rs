//! The planner: one plan per (conv layer, width) within the rows of a
//! sub-array, minimizing the policy's objective.
//!
//! It starts from every (layer, width)'s best plan (narrow widths on the
//! full width's rows where that is as good) and, while the weights do not
//! fit, takes the step that costs the least relative objective per row
//! saved: a plan with fewer rows for one (layer, width), or a narrow width
//! moved onto the full width's rows.

use super::plan::{self, Plan, Shape};
use crate::error::{Error, Result};
use crate::hw::{ArrayConfig, MAX_COUNT};
use crate::model::Model;

/// Values of the engine's gather buffer a plan may use: 16 rows' worth, or
/// the largest patch of the model if that is more.
pub fn buffer_cap(cfg: &ArrayConfig, shapes: &[Option<Vec<Shape>>]) -> usize {
    let seg = cfg.mapping.segment as usize;
    shapes
        .iter()
        .flatten()
        .flatten()
        .map(|s| s.pieces(seg) * seg)
        .fold(16 * cfg.subarray.cols as usize, usize::max)
}

/// One (layer, width)'s options, best first, each with fewer rows than the one before.
#[derive(Clone)]
struct Options {
    plans: Vec<(u64, Plan)>,
    best: u64,
}

fn pareto(shape: &Shape, cfg: &ArrayConfig, n: usize, g: usize, cap: usize) -> Options {
    let mut all: Vec<(u64, usize, Plan)> = plan::candidates(shape, cfg, cap)
        .into_iter()
        .map(|p| {
            let c = plan::cycles(shape, &p, n, g);
            (
                plan::objective(cfg.mapping.policy, c, &p),
                p.weight_rows(n),
                p,
            )
        })
        .collect();
    all.sort_by_key(|a| (a.0, a.1, a.2.sets, a.2.qp));
    let mut plans = Vec::new();
    let mut rows = usize::MAX;
    for (o, r, p) in all {
        if r < rows {
            rows = r;
            plans.push((o, p));
        }
    }
    let best = plans.first().map_or(1, |p| p.0.max(1));
    Options { plans, best }
}

/// Choice for a narrow width: the full width's rows, or own option `i`.
#[derive(Clone, Copy, PartialEq)]
enum Pick {
    Shared,
    Own(usize),
}

#[derive(Clone)]
struct LayerState {
    shapes: Vec<Shape>,
    full: Options,
    full_pick: usize,
    narrow: Vec<Options>,
    picks: Vec<Pick>,
}

impl LayerState {
    fn full_plan(&self) -> &Plan {
        &self.full.plans[self.full_pick].1
    }
    fn narrow_cost(
        &self,
        cfg: &ArrayConfig,
        n: usize,
        g: usize,
        wi: usize,
        pick: Pick,
    ) -> (f64, usize) {
        let o = &self.narrow[wi];
        match pick {
            Pick::Own(i) => (
                o.plans[i].0 as f64 / o.best as f64,
                o.plans[i].1.weight_rows(n),
            ),
            Pick::Shared => {
                let p = plan::shared(
                    &self.shapes[wi],
                    cfg.mapping.segment as usize,
                    g,
                    self.full_plan(),
                );
                let c = plan::cycles(&self.shapes[wi], &p, n, g);
                (
                    plan::objective(cfg.mapping.policy, c, &p) as f64 / o.best as f64,
                    0,
                )
            }
        }
    }
    /// (relative objective, rows) of the whole layer.
    fn cost(&self, cfg: &ArrayConfig, n: usize, g: usize) -> (f64, usize) {
        let f = &self.full.plans[self.full_pick];
        let mut obj = f.0 as f64 / self.full.best as f64;
        let mut rows = f.1.weight_rows(n);
        for (wi, &p) in self.picks.iter().enumerate() {
            let (o, r) = self.narrow_cost(cfg, n, g, wi, p);
            obj += o;
            rows += r;
        }
        (obj, rows)
    }
    fn scratch(&self, cfg: &ArrayConfig, g: usize) -> usize {
        let mut m = self.full_plan().ppa_it;
        for (wi, &p) in self.picks.iter().enumerate() {
            m = m.max(match p {
                Pick::Own(i) => self.narrow[wi].plans[i].1.ppa_it,
                Pick::Shared => {
                    plan::shared(
                        &self.shapes[wi],
                        cfg.mapping.segment as usize,
                        g,
                        self.full_plan(),
                    )
                    .ppa_it
                }
            });
        }
        m
    }
    fn plans(&self, cfg: &ArrayConfig, g: usize) -> Vec<Plan> {
        let mut v: Vec<Plan> = self
            .picks
            .iter()
            .enumerate()
            .map(|(wi, &p)| match p {
                Pick::Own(i) => self.narrow[wi].plans[i].1.clone(),
                Pick::Shared => plan::shared(
                    &self.shapes[wi],
                    cfg.mapping.segment as usize,
                    g,
                    self.full_plan(),
                ),
            })
            .collect();
        v.push(self.full_plan().clone());
        v
    }
}

fn states(cfg: &ArrayConfig, shapes: &[Option<Vec<Shape>>]) -> Vec<Option<LayerState>> {
    let n = cfg.precision as usize;
    let g = cfg.segments_per_row();
    let cap = buffer_cap(cfg, shapes);
    shapes
        .iter()
        .map(|s| {
            s.as_ref().map(|sh| {
                let nw = sh.len();
                let full = pareto(&sh[nw - 1], cfg, n, g, cap);
                let narrow: Vec<Options> = sh[..nw - 1]
                    .iter()
                    .map(|s| pareto(s, cfg, n, g, cap))
                    .collect();
                let mut st = LayerState {
                    shapes: sh.clone(),
                    full,
                    full_pick: 0,
                    picks: vec![Pick::Shared; nw - 1],
                    narrow,
                };
                for wi in 0..nw - 1 {
                    let (shared, _) = st.narrow_cost(cfg, n, g, wi, Pick::Shared);
                    if !st.narrow[wi].plans.is_empty() && 1.0 < shared {
                        st.picks[wi] = Pick::Own(0);
                    }
                }
                st
            })
        })
        .collect()
}

fn total_rows(cfg: &ArrayConfig, st: &[Option<LayerState>]) -> usize {
    let n = cfg.precision as usize;
    let g = cfg.segments_per_row();
    let weights: usize = st.iter().flatten().map(|s| s.cost(cfg, n, g).1).sum();
    let scratch = st
        .iter()
        .flatten()
        .map(|s| s.scratch(cfg, g))
        .max()
        .unwrap_or(1)
        .max(1);
    weights + scratch * n
}

/// Greedy row reduction until the layout fits `rows`; false if it cannot.
fn fit(cfg: &ArrayConfig, st: &mut [Option<LayerState>], rows: usize) -> bool {
    let n = cfg.precision as usize;
    let g = cfg.segments_per_row();
    loop {
        let used = total_rows(cfg, st);
        if used <= rows {
            return true;
        }
        // (cost per row saved, layer, move)
        let mut best: Option<(f64, usize, Option<usize>, Pick)> = None;
        for (li, s) in st.iter().enumerate() {
            let Some(s) = s else { continue };
            let (o0, r0) = s.cost(cfg, n, g);
            let mut consider = |o1: f64, r1: usize, wi: Option<usize>, pick: Pick| {
                if r1 < r0 {
                    let d = (o1 - o0).max(0.0) / (r0 - r1) as f64;
                    if best.as_ref().is_none_or(|b| d < b.0) {
                        best = Some((d, li, wi, pick));
                    }
                }
            };
            for wi in 0..s.picks.len() {
                let mut t = s.clone();
                let next = match s.picks[wi] {
                    Pick::Own(i) if i + 1 < s.narrow[wi].plans.len() => {
                        vec![Pick::Own(i + 1), Pick::Shared]
                    }
                    Pick::Own(_) => vec![Pick::Shared],
                    Pick::Shared => vec![],
                };
                for p in next {
                    t.picks[wi] = p;
                    let (o1, r1) = t.cost(cfg, n, g);
                    consider(o1, r1, Some(wi), p);
                }
            }
            if s.full_pick + 1 < s.full.plans.len() {
                let mut t = s.clone();
                t.full_pick += 1;
                let (o1, r1) = t.cost(cfg, n, g);
                consider(o1, r1, None, Pick::Shared);
            }
        }
        let Some((_, li, wi, pick)) = best else {
            return false;
        };
        let s = st[li].as_mut().expect("conv layer");
        match wi {
            Some(wi) => s.picks[wi] = pick,
            None => s.full_pick += 1,
        }
    }
}

/// Spends the rows left after [`fit`]: while some change of one layer's
/// picks lowers its objective and still fits, takes the one with the
/// largest gain per extra row (a narrow width that lost its replica when
/// its full-width plan shrank gets one back).
fn fill(cfg: &ArrayConfig, st: &mut [Option<LayerState>], rows: usize) {
    let n = cfg.precision as usize;
    let g = cfg.segments_per_row();
    loop {
        let used = total_rows(cfg, st);
        let mut best: Option<(f64, usize, LayerState)> = None;
        for (li, s) in st.iter().enumerate() {
            let Some(s) = s else { continue };
            let (o0, r0) = s.cost(cfg, n, g);
            let mut tries: Vec<LayerState> = Vec::new();
            for wi in 0..s.picks.len() {
                for i in 0..s.narrow[wi].plans.len() {
                    let mut t = s.clone();
                    t.picks[wi] = Pick::Own(i);
                    tries.push(t);
                }
            }
            for f in 0..s.full_pick {
                let mut t = s.clone();
                t.full_pick = f;
                tries.push(t);
            }
            for t in tries {
                let (o1, r1) = t.cost(cfg, n, g);
                if o1 >= o0 - 1e-9 {
                    continue;
                }
                let extra = r1.saturating_sub(r0) + scratch_growth(cfg, st, li, &t, g);
                if used + extra > rows {
                    continue;
                }
                let gain = (o0 - o1) / (extra.max(1) as f64);
                if best.as_ref().is_none_or(|b| gain > b.0) {
                    best = Some((gain, li, t));
                }
            }
        }
        match best {
            Some((_, li, t)) => st[li] = Some(t),
            None => return,
        }
    }
}

/// Scratch rows (x N) that replacing layer `li`'s state by `t` adds.
fn scratch_growth(
    cfg: &ArrayConfig,
    st: &[Option<LayerState>],
    li: usize,
    t: &LayerState,
    g: usize,
) -> usize {
    let n = cfg.precision as usize;
    let now = st
        .iter()
        .flatten()
        .map(|s| s.scratch(cfg, g))
        .max()
        .unwrap_or(1)
        .max(1);
    let others = st
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != li)
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| s.scratch(cfg, g))
        .max()
        .unwrap_or(1);
    let new = others.max(t.scratch(cfg, g)).max(1);
    new.saturating_sub(now) * n
}

/// The plans of every layer (per width), or an error naming what is missing.
pub fn plan(
    cfg: &ArrayConfig,
    model: &Model,
    shapes: &[Option<Vec<Shape>>],
) -> Result<Vec<Option<Vec<Plan>>>> {
    let g = cfg.segments_per_row();
    let mut st = states(cfg, shapes);
    if st.iter().flatten().any(|s| s.full.plans.is_empty()) {
        return Err(does_not_fit(cfg, model, shapes));
    }
    let rows = cfg.subarray.rows as usize;
    if !fit(cfg, &mut st, rows) {
        return Err(does_not_fit(cfg, model, shapes));
    }
    fill(cfg, &mut st, rows);
    Ok(st
        .iter()
        .map(|s| s.as_ref().map(|s| s.plans(cfg, g)))
        .collect())
}

/// Rows the smallest layout of `cfg` needs (every plan at its fewest rows).
fn min_rows(cfg: &ArrayConfig, shapes: &[Option<Vec<Shape>>]) -> Option<usize> {
    let mut st = states(cfg, shapes);
    if st.iter().flatten().any(|s| s.full.plans.is_empty()) {
        return None;
    }
    for s in st.iter_mut().flatten() {
        s.full_pick = s.full.plans.len() - 1;
        s.picks.iter_mut().for_each(|p| *p = Pick::Shared);
    }
    Some(total_rows(cfg, &st))
}

/// The error for a model that does not fit: the rows it needs, or the
/// sub-array count that would hold it.
pub fn does_not_fit(cfg: &ArrayConfig, model: &Model, shapes: &[Option<Vec<Shape>>]) -> Error {
    let rows = cfg.subarray.rows as usize;
    let need = min_rows(cfg, shapes);
    let need_count = (cfg.subarray.count..=MAX_COUNT).find(|&c| {
        let mut c2 = cfg.clone();
        c2.subarray.count = c;
        c2.mapping.max_active = None;
        min_rows(&c2, shapes).is_some_and(|r| r <= rows)
    });
    let hint = match need_count {
        Some(c) => format!(", or `subarray.count` >= {c}"),
        None => format!("; no `subarray.count` up to {MAX_COUNT} is enough at {rows} rows"),
    };
    match need {
        Some(r) => Error::invalid(
            &cfg.origin,
            "subarray.rows",
            rows,
            format!(
                "at least {r} to hold model `{}` (activation scratch rows and every layer's weights at its fewest rows per sub-array){hint}",
                model.name
            ),
        ),
        None => Error::invalid(
            &cfg.origin,
            "mapping",
            format!(
                "segment {}, max_active {}",
                cfg.mapping.segment,
                cfg.max_active()
            ),
            format!(
                "settings under which every layer of model `{}` has a plan{hint}",
                model.name
            ),
        ),
    }
}
