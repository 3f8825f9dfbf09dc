//! `capim report --sweep`: the trade-off of one model over a grid of array
//! sizes (rows x cols x count), configurations side by side on all cores
//! (rayon), with the Pareto front over area, full-width latency and
//! full-width energy.

use super::tech::Tech;
use super::tradeoff::TradeOff;
use crate::error::{Error, Result};
use crate::hw::ArrayConfig;
use crate::layout::Layout;
use crate::model::Model;
use rayon::prelude::*;
use serde::Serialize;

/// The grid: every combination of the three lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub rows: Vec<u32>,
    pub cols: Vec<u32>,
    pub count: Vec<u32>,
}

impl Grid {
    /// Parses `ROWSxCOLSxCOUNT`, each a comma-separated list of integers:
    /// `512,1024x128,256x16,32,64`.
    pub fn parse(spec: &str) -> Result<Grid> {
        let bad = |what: String| Error::invalid("command line", "--sweep", spec, what);
        let parts: Vec<&str> = spec.split('x').collect();
        if parts.len() != 3 {
            return Err(bad(
                "ROWSxCOLSxCOUNT, each a comma-separated list of integers, e.g. 512,1024x128,256x16,32,64".into(),
            ));
        }
        let list = |s: &str, name: &str| -> Result<Vec<u32>> {
            let v: Vec<u32> = s
                .split(',')
                .map(|x| x.trim().parse::<u32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    bad(format!(
                        "a comma-separated list of integers for {name}, got `{s}`"
                    ))
                })?;
            let mut d = v.clone();
            d.sort_unstable();
            d.dedup();
            Ok(d)
        };
        let g = Grid {
            rows: list(parts[0], "the rows")?,
            cols: list(parts[1], "the columns")?,
            count: list(parts[2], "the sub-array count")?,
        };
        let n = g.rows.len() * g.cols.len() * g.count.len();
        if n > 4096 {
            return Err(bad(format!("at most 4096 configurations ({n} given)")));
        }
        Ok(g)
    }

    /// Every configuration of the grid on `base`, rows fastest varying last.
    /// Each is validated: a size the validator refuses is an error naming it.
    pub fn configs(&self, base: &ArrayConfig) -> Result<Vec<ArrayConfig>> {
        let mut v = Vec::new();
        for &rows in &self.rows {
            for &cols in &self.cols {
                for &count in &self.count {
                    let mut c = base.clone();
                    c.subarray.rows = rows;
                    c.subarray.cols = cols;
                    c.subarray.count = count;
                    c.origin = format!("--sweep {rows}x{cols}x{count}");
                    c.validate()?;
                    v.push(c);
                }
            }
        }
        Ok(v)
    }
}

/// One width of one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct SweepWidth {
    pub width: f64,
    pub cycles: u64,
    pub latency_s: f64,
    pub energy_j: f64,
}

/// One configuration of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub rows: u32,
    pub cols: u32,
    pub count: u32,
    /// Why the model does not fit this array, else `null`.
    pub does_not_fit: Option<String>,
    pub area_mm2: Option<f64>,
    /// On the Pareto front over area, full-width latency and energy.
    pub pareto: bool,
    pub widths: Vec<SweepWidth>,
}

impl SweepPoint {
    /// (area, full-width latency, full-width energy), for a fitting point.
    fn objectives(&self) -> Option<[f64; 3]> {
        let full = self.widths.last()?;
        Some([self.area_mm2?, full.latency_s, full.energy_j])
    }
}

/// The trade-off of `model` on every configuration, in the grid's order.
pub fn run(configs: &[ArrayConfig], model: &Model, tech: &Tech) -> Vec<SweepPoint> {
    let mut pts: Vec<SweepPoint> = configs
        .par_iter()
        .map(|cfg| {
            let (rows, cols, count) = (cfg.subarray.rows, cfg.subarray.cols, cfg.subarray.count);
            match Layout::new(cfg, model) {
                Err(e) => SweepPoint {
                    rows,
                    cols,
                    count,
                    does_not_fit: Some(e.to_string()),
                    area_mm2: None,
                    pareto: false,
                    widths: Vec::new(),
                },
                Ok(lay) => {
                    let t = TradeOff::new(&lay, model, tech);
                    SweepPoint {
                        rows,
                        cols,
                        count,
                        does_not_fit: None,
                        area_mm2: Some(t.area.total_mm2),
                        pareto: false,
                        widths: t
                            .widths
                            .iter()
                            .map(|w| SweepWidth {
                                width: w.width,
                                cycles: w.cycles,
                                latency_s: w.latency_s,
                                energy_j: w.energy_j,
                            })
                            .collect(),
                    }
                }
            }
        })
        .collect();
    let objs: Vec<Option<[f64; 3]>> = pts.iter().map(SweepPoint::objectives).collect();
    for (i, p) in pts.iter_mut().enumerate() {
        p.pareto = objs[i].is_some_and(|a| {
            !objs.iter().flatten().any(|b| {
                b.iter().zip(&a).all(|(x, y)| x <= y) && b.iter().zip(&a).any(|(x, y)| x < y)
            })
        });
    }
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_parses_and_refuses_bad_specs() {
        let g = Grid::parse("1024,512x256x32,16,16").unwrap();
        assert_eq!(g.rows, vec![512, 1024]);
        assert_eq!(g.count, vec![16, 32]);
        for bad in [
            "512x256",
            "512xax16",
            "512x256x16x2",
            "x256x16",
            "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17x1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17x1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
        ] {
            let e = Grid::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--sweep") && e.contains(bad), "{e}");
        }
        let e = Grid::parse("512x100x16")
            .unwrap()
            .configs(&ArrayConfig::builtin())
            .unwrap_err()
            .to_string();
        assert!(e.contains("512x100x16") && e.contains("cols"), "{e}");
    }

    /// The front holds exactly the points no other point dominates; a
    /// model that does not fit is reported, not on the front.
    #[test]
    fn pareto_front_is_the_undominated_points() {
        let model = crate::model::default_model(8).unwrap();
        let g = Grid::parse("512,1024x128,256x16,32,64").unwrap();
        let pts = run(
            &g.configs(&ArrayConfig::builtin()).unwrap(),
            &model,
            &Tech::builtin(),
        );
        assert_eq!(pts.len(), 12);
        assert!(
            pts[0].does_not_fit.is_some(),
            "512 x 128 x 16 cannot hold ResNet-20"
        );
        let fit: Vec<&SweepPoint> = pts.iter().filter(|p| p.does_not_fit.is_none()).collect();
        assert!(fit.iter().any(|p| p.pareto) && fit.iter().any(|p| !p.pareto));
        for p in &pts {
            let dominated = p.objectives().is_some_and(|a| {
                fit.iter().any(|q| {
                    let b = q.objectives().unwrap();
                    b.iter().zip(&a).all(|(x, y)| x <= y) && b != a
                })
            });
            assert_eq!(p.pareto, p.does_not_fit.is_none() && !dominated);
        }
    }
}
