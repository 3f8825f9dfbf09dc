//! `capim model synth`: write a deterministic synthetic CA-DNN;
//! `capim model accuracy`: the accuracy table of trained models.

use crate::error::Error;
use crate::model::Model;
use crate::{
    Result,
    cli::{AccuracyArgs, SynthArgs},
};
use std::collections::BTreeMap;

pub fn synth(a: SynthArgs) -> Result<()> {
    // Both files it writes are checked before anything is computed.
    use crate::fsio::{Target, check_target};
    check_target(&a.out, "--out", Target::File)?;
    check_target(
        &crate::model::Model::weights_path_for(&a.out)?,
        "--out",
        Target::File,
    )?;
    let model = crate::model::synth::synth(&a.preset, a.precision, a.seed)?;
    model.save(&a.out)?;
    println!(
        "wrote {} and {} ({}, {} layers, {}-bit, widths {:?}, seed {})",
        a.out.display(),
        a.out.with_extension("safetensors").display(),
        a.preset,
        model.layers.len(),
        model.precision,
        model.widths,
        a.seed
    );
    Ok(())
}

/// Accuracy of one trained model file: `(precision, widths, float, int)`.
fn evaluated(path: &std::path::Path) -> Result<Model> {
    let m = Model::load(path)?;
    if m.evaluation.is_none() {
        return Err(Error::invalid(
            path,
            "evaluation",
            "(missing)",
            "a model written by `capim quantize` (it records the measured accuracy)",
        ));
    }
    Ok(m)
}

/// One table cell: a percentage, or a dash.
fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", 100.0 * v))
}

pub fn accuracy(a: AccuracyArgs) -> Result<()> {
    if let Some(o) = &a.out {
        crate::fsio::check_target(o, "--out", crate::fsio::Target::File)?;
    }
    // width (as text) -> precision -> (float, int)
    type Cells = BTreeMap<String, BTreeMap<u32, (f64, f64)>>;
    let key = |w: f64| format!("{w}");
    let mut ca: Cells = BTreeMap::new();
    let mut widths: Vec<f64> = Vec::new();
    let mut images = BTreeMap::new();
    for p in &a.cadnn {
        let m = evaluated(p)?;
        let e = m.evaluation.as_ref().expect("checked");
        images.insert(p.display().to_string(), e.images);
        for (i, &w) in m.widths.iter().enumerate() {
            if !widths.contains(&w) {
                widths.push(w);
            }
            ca.entry(key(w))
                .or_default()
                .insert(m.precision, (e.float_accuracy[i], e.accuracy[i]));
        }
    }
    let mut sep: Cells = BTreeMap::new();
    for s in &a.separate {
        let (w, p) = s.split_once('=').ok_or_else(|| {
            Error::invalid("capim model accuracy", "--separate", s, "WIDTH=MODEL.json")
        })?;
        let w: f64 = w.trim().parse().map_err(|_| {
            Error::invalid(
                "capim model accuracy",
                "--separate",
                s,
                "WIDTH=MODEL.json with WIDTH a number such as 0.25",
            )
        })?;
        let path = std::path::PathBuf::from(p);
        let m = evaluated(&path)?;
        let e = m.evaluation.as_ref().expect("checked");
        images.insert(path.display().to_string(), e.images);
        let last = e.accuracy.len() - 1;
        sep.entry(key(w))
            .or_default()
            .insert(m.precision, (e.float_accuracy[last], e.accuracy[last]));
    }
    widths.sort_by(f64::total_cmp);
    let get = |c: &Cells, w: f64, n: u32, float: bool| {
        c.get(&key(w))
            .and_then(|m| m.get(&n))
            .map(|&(f, i)| if float { f } else { i })
    };
    let float_of = |c: &Cells, w: f64| get(c, w, 8, true).or(get(c, w, 16, true));
    let mut t = String::new();
    t.push_str(
        "| width | CA-DNN float | CA-DNN int8 | CA-DNN int16 | separate float | separate int8 | separate int16 | CA-DNN - separate (float) |\n",
    );
    t.push_str("|---|---|---|---|---|---|---|---|\n");
    for &w in &widths {
        let diff = match (float_of(&ca, w), float_of(&sep, w)) {
            (Some(a), Some(b)) => format!("{:+.2}", 100.0 * (a - b)),
            _ => "-".into(),
        };
        t.push_str(&format!(
            "| {w} | {} | {} | {} | {} | {} | {} | {diff} |\n",
            pct(float_of(&ca, w)),
            pct(get(&ca, w, 8, false)),
            pct(get(&ca, w, 16, false)),
            pct(float_of(&sep, w)),
            pct(get(&sep, w, 8, false)),
            pct(get(&sep, w, 16, false)),
        ));
    }
    let n: Vec<usize> = images.values().copied().collect();
    let same = n.windows(2).all(|p| p[0] == p[1]);
    t.push_str(&format!(
        "\nTop-1 accuracy in % on {} test images{}; float: the float network in inference mode, \
         intN: the N-bit integer model through capim's reference (`capim quantize` measured both).\n",
        n.first().copied().unwrap_or(0),
        if same { "" } else { " (NOT the same number for every model)" }
    ));
    print!("{t}");
    if let Some(o) = &a.out {
        crate::fsio::write_file(o, t.as_bytes())?;
    }
    Ok(())
}
