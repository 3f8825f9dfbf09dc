//! SVG plots of the trade-off report (plotters, SVG backend: text is
//! written as SVG text, no font files are read, and the same data gives the
//! same bytes).

use crate::cost::tradeoff::TradeOff;
use plotters::prelude::*;

const W: u32 = 900;
const H: u32 = 420;
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Upper end of an axis that shows `max` with a little room.
fn top(max: f64) -> f64 {
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

type Fallible = Result<(), Box<dyn std::error::Error>>;

/// Energy (uJ) and latency (us) per inference against the width, side by side.
pub fn energy_latency(t: &TradeOff) -> String {
    let mut s = String::new();
    draw_energy_latency(t, &mut s).expect("plot draws into a string");
    s
}

fn draw_energy_latency(t: &TradeOff, s: &mut String) -> Fallible {
    let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}: {}-bit, {} x {}x{} sub-arrays",
        t.design.model, t.design.precision, t.design.count, t.design.rows, t.design.cols
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let panels = root.split_evenly((1, 2));
    let series: [(&str, Vec<(f64, f64)>); 2] = [
        (
            "energy per inference (uJ)",
            t.widths
                .iter()
                .map(|w| (w.width, w.energy_j * 1e6))
                .collect(),
        ),
        (
            "latency per inference (us)",
            t.widths
                .iter()
                .map(|w| (w.width, w.latency_s * 1e6))
                .collect(),
        ),
    ];
    for (i, (panel, (label, pts))) in panels.iter().zip(series).enumerate() {
        let ymax = top(pts.iter().map(|p| p.1).fold(0.0, f64::max));
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.05f64, 0.0..ymax)?;
        chart
            .configure_mesh()
            .x_desc("width")
            .y_desc(label)
            .draw()?;
        let c = PALETTE[i];
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    root.present()?;
    Ok(())
}

/// Where the energy goes, one stacked bar per width (uJ).
pub fn energy_breakdown(t: &TradeOff) -> String {
    let mut s = String::new();
    draw_breakdown(t, &mut s).expect("plot draws into a string");
    s
}

fn draw_breakdown(t: &TradeOff, s: &mut String) -> Fallible {
    let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = t.widths.len();
    let ymax = top(t
        .widths
        .iter()
        .map(|w| w.energy_j * 1e6)
        .fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(&root)
        .caption("energy per inference by part (uJ)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..ymax)?;
    let labels: Vec<String> = t.widths.iter().map(|w| format!("{}", w.width)).collect();
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc("width")
        .y_desc("uJ")
        .disable_x_mesh()
        .draw()?;
    let parts = t.widths[0].energy_breakdown_j.parts();
    for (k, (name, _)) in parts.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let bars: Vec<Rectangle<(f64, f64)>> = t
            .widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let p = w.energy_breakdown_j.parts();
                let below: f64 = p[..k].iter().map(|x| x.1).sum::<f64>() * 1e6;
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.3, below), (x + 0.3, below + p[k].1 * 1e6)],
                    c.filled(),
                )
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(name.replace('_', " "))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Accuracy (%) against energy per inference (uJ), one point per width;
/// `None` when the model records no accuracy.
pub fn accuracy_energy(t: &TradeOff) -> Option<String> {
    let pts: Vec<(f64, f64, f64)> = t
        .widths
        .iter()
        .map(|w| Some((w.energy_j * 1e6, w.accuracy? * 100.0, w.width)))
        .collect::<Option<_>>()?;
    let mut s = String::new();
    draw_accuracy(&pts, &mut s).expect("plot draws into a string");
    Some(s)
}

fn draw_accuracy(pts: &[(f64, f64, f64)], s: &mut String) -> Fallible {
    let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let xmax = top(pts.iter().map(|p| p.0).fold(0.0, f64::max));
    let lo = pts.iter().map(|p| p.1).fold(100.0, f64::min);
    let hi = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.2).max(0.5);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "accuracy against energy per inference, one point per width",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, (lo - pad)..(hi + pad).min(100.0))?;
    chart
        .configure_mesh()
        .x_desc("energy per inference (uJ)")
        .y_desc("top-1 accuracy (%)")
        .draw()?;
    let c = PALETTE[0];
    let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
    chart.draw_series(LineSeries::new(line, c.stroke_width(2)))?;
    chart.draw_series(pts.iter().map(|&(x, y, w)| {
        EmptyElement::at((x, y))
            + Circle::new((0, 0), 4, c.filled())
            + Text::new(format!("w {w}"), (6, -14), ("sans-serif", 13))
    }))?;
    root.present()?;
    Ok(())
}

/// One point of a sweep plot: (label, latency us, energy uJ, on the Pareto front).
pub type SweepPoint = (String, f64, f64, bool);

/// Energy against latency at full width, one point per configuration;
/// the Pareto front in red.
pub fn sweep(pts: &[SweepPoint]) -> String {
    let mut s = String::new();
    draw_sweep(pts, &mut s).expect("plot draws into a string");
    s
}

fn draw_sweep(pts: &[SweepPoint], s: &mut String) -> Fallible {
    let root = SVGBackend::with_string(s, (W, H + 80)).into_drawing_area();
    root.fill(&WHITE)?;
    let xmax = top(pts.iter().map(|p| p.1).fold(0.0, f64::max));
    let ymax = top(pts.iter().map(|p| p.2).fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "array sizes at full width: energy against latency (Pareto front in red)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("latency per inference (us)")
        .y_desc("energy per inference (uJ)")
        .draw()?;
    chart.draw_series(pts.iter().map(|(label, x, y, front)| {
        let c = if *front { PALETTE[3] } else { PALETTE[0] };
        EmptyElement::at((*x, *y))
            + Circle::new((0, 0), 4, c.filled())
            + Text::new(label.clone(), (6, -12), ("sans-serif", 11))
    }))?;
    root.present()?;
    Ok(())
}
