//! `capim plan`: the mapping plan the compiler chose for every layer and
//! width, with its cycles, active array-cycles, utilization and rows.

use crate::cli::PlanArgs;
use crate::cost::Report;
use crate::error::Result;
use crate::layout::{Layout, Rows};
use std::io::Write;

pub fn run(a: PlanArgs) -> Result<()> {
    let (cfg, model) = super::design::load(&a.design)?;
    let lay = Layout::new(&cfg, &model)?;
    let r = Report::new(&lay, &model);
    let mut out = std::io::stdout().lock();
    let text = if a.format == "json" {
        String::from_utf8(r.json_bytes()).expect("JSON is UTF-8")
    } else {
        table(&lay, &r)
    };
    // a closed pipe (`capim plan | head`) is not an error
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

fn table(lay: &Layout, r: &Report) -> String {
    let mut s = format!(
        "capim plan: policy {}, segment {} columns ({} per row), {} sub-arrays of {}x{}, rows used {} ({} scratch)\n",
        r.policy,
        lay.segment,
        lay.groups,
        lay.count,
        lay.rows,
        lay.cols,
        lay.rows_used,
        lay.scratch_rows
    );
    s += "plan: d pieces side by side per channel, qp arrays split a dot product, qg arrays split the channels, sets positions at once\n";
    for w in &r.widths {
        s += &format!(
            "\nwidth {}: {} cycles, {} active array-cycles, engaged {:.3}, array {:.3}, replica rows {}\n",
            w.width,
            w.cycles,
            w.active_array_cycles,
            w.engaged_utilization,
            w.array_utilization,
            w.replica_rows
        );
        s += "  layer      d  qp  qg sets  ppa  gpa rows    arrays     cycles  active-cycles engaged  own-rows  saves\n";
        for l in &w.layers {
            let eng = if l.active_array_cycles == 0 {
                0.0
            } else {
                l.and_work as f64 / (l.active_array_cycles as f64 * lay.cols as f64)
            };
            let saves = match l.cycles_on_full_rows {
                Some(c) => format!("{}", c as i64 - l.cycles as i64),
                None => "-".to_string(),
            };
            match &l.plan {
                Some(p) => {
                    s += &format!(
                        "  {:<9} {:>2} {:>3} {:>3} {:>4} {:>4} {:>4} {:<7} {:>6} {:>10} {:>14} {:>7.3} {:>9}  {}\n",
                        l.name,
                        p.d,
                        p.qp,
                        p.qg,
                        p.sets,
                        p.ppa_it,
                        p.gpa_it,
                        if p.rows == Rows::Own { "own" } else { "shared" },
                        l.arrays,
                        l.cycles,
                        l.active_array_cycles,
                        eng,
                        l.rows_used,
                        saves
                    )
                }
                None => {
                    s += &format!(
                        "  {:<9} {:>40} {:>6} {:>10} {:>14}\n",
                        l.name, "(periphery)", l.arrays, l.cycles, l.active_array_cycles
                    )
                }
            }
        }
    }
    s
}
