//! `capim report`: the trade-off per width (and per layer) of a design in a
//! technology, as Markdown, CSV, JSON and SVG plots; `--sweep` over array sizes.

use crate::cli::ReportArgs;
use crate::cost::sweep::{self, Grid, SweepPoint};
use crate::cost::tech::Tech;
use crate::cost::tradeoff::TradeOff;
use crate::error::{Error, Result};
use crate::layout::Layout;
use std::collections::BTreeMap;
use std::io::Write;

/// The file every report directory has (`--out` replaces only such a directory).
pub const REPORT_JSON: &str = "report.json";
/// The file every sweep directory has.
pub const SWEEP_JSON: &str = "sweep.json";

pub fn run(a: ReportArgs) -> Result<()> {
    if let Some(out) = &a.out {
        crate::fsio::check_target(out, "--out", crate::fsio::Target::Dir)?;
    }
    let tech = super::design::tech(&a.tech)?;
    let (cfg, model) = super::design::load(&a.design)?;
    let (files, marker, printed) = match &a.sweep {
        Some(spec) => {
            let configs = Grid::parse(spec)?.configs(&cfg)?;
            let pts = sweep::run(&configs, &model, &tech);
            let mut f = BTreeMap::new();
            let md = sweep_md(&pts, &model.name, &tech);
            let csv = sweep_csv(&pts)?;
            let json = crate::fsio::json_bytes(
                &serde_json::json!({ "model": model.name, "tech": tech.origin, "configs": pts }),
            );
            let printed = match a.format.as_str() {
                "json" => json.clone(),
                "csv" => csv.clone(),
                _ => md.clone().into_bytes(),
            };
            f.insert("sweep.md".to_string(), md.into_bytes());
            f.insert("sweep.csv".to_string(), csv);
            f.insert(SWEEP_JSON.to_string(), json);
            f.insert(
                "sweep.svg".to_string(),
                crate::plot::sweep(&sweep_plot_points(&pts)).into_bytes(),
            );
            (f, SWEEP_JSON, printed)
        }
        None => {
            let lay = Layout::new(&cfg, &model)?;
            let t = TradeOff::new(&lay, &model, &tech);
            let mut f = BTreeMap::new();
            let md = markdown(&t);
            let json = t.json_bytes();
            let wcsv = widths_csv(&t)?;
            let printed = match a.format.as_str() {
                "json" => json.clone(),
                "csv" => wcsv.clone(),
                _ => md.clone().into_bytes(),
            };
            f.insert("report.md".to_string(), md.into_bytes());
            f.insert(REPORT_JSON.to_string(), json);
            f.insert("widths.csv".to_string(), wcsv);
            f.insert("layers.csv".to_string(), layers_csv(&t)?);
            f.insert(
                "energy_latency.svg".to_string(),
                crate::plot::energy_latency(&t).into_bytes(),
            );
            f.insert(
                "energy_breakdown.svg".to_string(),
                crate::plot::energy_breakdown(&t).into_bytes(),
            );
            if let Some(svg) = crate::plot::accuracy_energy(&t) {
                f.insert("accuracy_energy.svg".to_string(), svg.into_bytes());
            }
            (f, REPORT_JSON, printed)
        }
    };
    // a closed pipe (`capim report | head`) is not an error
    let _ = std::io::stdout().lock().write_all(&printed);
    if let Some(out) = &a.out {
        crate::emit::outdir::write_dir(&files, out, marker, "capim report")?;
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        eprintln!(
            "capim report: wrote {} into {}",
            names.join(", "),
            out.display()
        );
    }
    Ok(())
}

/// Microjoules / microseconds with enough digits to compare widths.
fn u(x: f64) -> String {
    format!("{:.3}", x * 1e6)
}

fn markdown(t: &TradeOff) -> String {
    let d = &t.design;
    let mut s = format!(
        "# capim report: {}, {}-bit, {} sub-arrays of {} x {} (segment {}, policy {})\n\n",
        d.model, d.precision, d.count, d.rows, d.cols, d.segment, d.policy
    );
    s += &format!(
        "Technology: {}. Clock {:.0} MHz; the slowest single-cycle operation ({}) allows {:.0} MHz.\n",
        d.tech,
        d.clock_hz / 1e6,
        d.slowest_operation,
        d.max_clock_hz / 1e6
    );
    if d.clock_hz > d.max_clock_hz {
        s += &format!(
            "\n**Warning:** the clock ({:.0} MHz) is faster than the {} operation allows ({:.0} MHz): the latencies below are not reachable in this technology.\n",
            d.clock_hz / 1e6,
            d.slowest_operation,
            d.max_clock_hz / 1e6
        );
    }
    let full = t.widths.last().expect("a model has widths");
    s += "\n## Per width (one inference)\n\n";
    s += "| width | cycles | latency (us) | energy (uJ) | energy / full | power (mW) | weight bits | activation bits | accuracy (%) |\n";
    s += "|---|---|---|---|---|---|---|---|---|\n";
    for w in &t.widths {
        s += &format!(
            "| {} | {} | {} | {} | {:.3} | {:.2} | {} | {} | {} |\n",
            w.width,
            w.cycles,
            u(w.latency_s),
            u(w.energy_j),
            w.energy_j / full.energy_j,
            w.power_w * 1e3,
            w.weight_bits,
            w.activation_bits,
            w.accuracy
                .map_or("-".to_string(), |a| format!("{:.2}", a * 100.0))
        );
    }
    s += "\n## Energy per inference by part (uJ)\n\n| width |";
    let parts = full.energy_breakdown_j.parts();
    for (name, _) in parts {
        s += &format!(" {} |", name.replace('_', " "));
    }
    s += " total |\n|---|";
    s += &"---|".repeat(parts.len() + 1);
    s += "\n";
    for w in &t.widths {
        s += &format!("| {} |", w.width);
        for (_, v) in w.energy_breakdown_j.parts() {
            s += &format!(" {} |", u(v));
        }
        s += &format!(" {} |\n", u(w.energy_j));
    }
    let m = &t.memory;
    s += "\n## Memory\n\n";
    s += &format!(
        "- Weights resident in the sub-arrays: {} bits shared by every width (the full-width model, each weight once) + {} bits of replicas and position copies = {} bits, of {} cells.\n",
        m.shared_weight_bits,
        m.replica_weight_bits,
        m.shared_weight_bits + m.replica_weight_bits,
        m.array_bits
    );
    s += &format!(
        "- Separate models, one per width, would store {} bits ({:.2} x the shared weights).\n",
        m.separate_models_weight_bits,
        m.separate_models_weight_bits as f64 / m.shared_weight_bits as f64
    );
    s += &format!("- Activation memory: {} bits.\n", m.activation_memory_bits);
    s += &format!(
        "- Reading every used row back once (the host's check of the resident weights): {} uJ.\n",
        u(m.weight_readback_j)
    );
    let sc = &t.schedule;
    s += &format!(
        "\n## Adaptive width scheduler cost table\n\nIn order of preference (the first that meets deadline, budget and cap is chosen; else the cheapest, entry {}). Energy in units of {} pJ (SCHED_BUDGET's unit), rounded up.\n\n| entry | width | cycles | energy | most enabled sub-arrays |\n|---|---|---|---|---|\n",
        sc.cheapest,
        1u64 << sc.energy_shift
    );
    for (k, e) in sc.entries.iter().enumerate() {
        s += &format!(
            "| {k} | {} | {} | {} | {} |\n",
            t.widths[e.width].width, e.cycles, e.energy, e.arrays
        );
    }
    let a = &t.area;
    s += "\n## Area (mm^2)\n\n| SOT-MRAM cells | periphery | accumulators | activation memory | total |\n|---|---|---|---|---|\n";
    s += &format!(
        "| {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
        a.cells_mm2, a.periphery_mm2, a.accumulators_mm2, a.activation_memory_mm2, a.total_mm2
    );
    s += "\n## Per layer: cycles and energy (nJ)\n\n| layer |";
    for w in &t.widths {
        s += &format!(" {} cycles | {} nJ |", w.width, w.width);
    }
    s += "\n|---|";
    s += &"---|---|".repeat(t.widths.len());
    s += "\n";
    for (li, l) in full.layers.iter().enumerate() {
        s += &format!("| {} |", l.name);
        for w in &t.widths {
            let x = &w.layers[li];
            s += &format!(" {} | {:.1} |", x.cycles, x.energy_j * 1e9);
        }
        s += "\n";
    }
    s
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::io("<csv>", e);
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::io("<csv>", e))
}

const PART_COLUMNS: [&str; 6] = [
    "compute_j",
    "row_write_j",
    "count_accumulate_j",
    "requantize_j",
    "activation_memory_j",
    "leakage_j",
];

fn widths_csv(t: &TradeOff) -> Result<Vec<u8>> {
    let mut h = vec!["width", "cycles", "latency_s", "energy_j"];
    h.extend(PART_COLUMNS);
    h.extend([
        "power_w",
        "weight_bits",
        "activation_bits",
        "area_mm2",
        "accuracy",
    ]);
    let rows = t
        .widths
        .iter()
        .map(|w| {
            let mut r = vec![
                w.width.to_string(),
                w.cycles.to_string(),
                w.latency_s.to_string(),
                w.energy_j.to_string(),
            ];
            r.extend(w.energy_breakdown_j.parts().iter().map(|p| p.1.to_string()));
            r.extend([
                w.power_w.to_string(),
                w.weight_bits.to_string(),
                w.activation_bits.to_string(),
                w.area_mm2.to_string(),
                w.accuracy.map_or(String::new(), |a| a.to_string()),
            ]);
            r
        })
        .collect();
    csv_bytes(&h, rows)
}

fn layers_csv(t: &TradeOff) -> Result<Vec<u8>> {
    let mut h = vec!["width", "layer", "cycles", "latency_s", "energy_j"];
    h.extend(PART_COLUMNS);
    h.push("arrays");
    let mut rows = Vec::new();
    for w in &t.widths {
        for l in &w.layers {
            let mut r = vec![
                w.width.to_string(),
                l.name.clone(),
                l.cycles.to_string(),
                l.latency_s.to_string(),
                l.energy_j.to_string(),
            ];
            r.extend(l.energy_breakdown_j.parts().iter().map(|p| p.1.to_string()));
            r.push(l.arrays.to_string());
            rows.push(r);
        }
    }
    csv_bytes(&h, rows)
}

fn sweep_md(pts: &[SweepPoint], model: &str, tech: &Tech) -> String {
    let mut s = format!(
        "# capim report --sweep: {model}, {} configurations\n\nTechnology: {}. Pareto front (*) over area, full-width latency and full-width energy.\n\n",
        pts.len(),
        tech.origin
    );
    let nw = pts.iter().map(|p| p.widths.len()).max().unwrap_or(0);
    s += "| rows | cols | count | area (mm^2) | front |";
    let first = pts.iter().find(|p| !p.widths.is_empty());
    if let Some(p) = first {
        for w in &p.widths {
            s += &format!(" {} us | {} uJ |", w.width, w.width);
        }
    }
    s += "\n|---|---|---|---|---|";
    s += &"---|---|".repeat(if first.is_some() { nw } else { 0 });
    s += "\n";
    for p in pts {
        s += &format!("| {} | {} | {} |", p.rows, p.cols, p.count);
        match (&p.does_not_fit, p.area_mm2) {
            (Some(why), _) => {
                s += &format!(
                    " does not fit | | {} |\n",
                    why.lines().next().unwrap_or("").replace('|', "/")
                );
            }
            (None, None) => s += " - | |\n",
            (None, Some(area)) => {
                s += &format!(" {:.3} | {} |", area, if p.pareto { "*" } else { "" });
                for w in &p.widths {
                    s += &format!(" {} | {} |", u(w.latency_s), u(w.energy_j));
                }
                s += "\n";
            }
        }
    }
    s
}

fn sweep_csv(pts: &[SweepPoint]) -> Result<Vec<u8>> {
    let h = [
        "rows",
        "cols",
        "count",
        "width",
        "cycles",
        "latency_s",
        "energy_j",
        "area_mm2",
        "pareto",
        "does_not_fit",
    ];
    let mut rows = Vec::new();
    for p in pts {
        let base = [p.rows.to_string(), p.cols.to_string(), p.count.to_string()];
        if p.widths.is_empty() {
            let mut r = base.to_vec();
            r.extend([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                "false".into(),
            ]);
            r.push(p.does_not_fit.clone().unwrap_or_default());
            rows.push(r);
        }
        for w in &p.widths {
            let mut r = base.to_vec();
            r.extend([
                w.width.to_string(),
                w.cycles.to_string(),
                w.latency_s.to_string(),
                w.energy_j.to_string(),
                p.area_mm2.map_or(String::new(), |a| a.to_string()),
                p.pareto.to_string(),
                String::new(),
            ]);
            rows.push(r);
        }
    }
    csv_bytes(&h, rows)
}

fn sweep_plot_points(pts: &[SweepPoint]) -> Vec<crate::plot::SweepPoint> {
    pts.iter()
        .filter_map(|p| {
            let full = p.widths.last()?;
            Some((
                format!("{}x{}x{}", p.rows, p.cols, p.count),
                full.latency_s * 1e6,
                full.energy_j * 1e6,
                p.pareto,
            ))
        })
        .collect()
}
