//! `capim classify`: images through the integer reference of a trained
//! model (its preprocessing table included), predictions and accuracy.

use crate::cli::ClassifyArgs;
use crate::data::{Dataset, idx};
use crate::error::{Error, Result};
use crate::model::{Model, classify};

pub fn run(a: ClassifyArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let classes = model.layers.last().map_or(0, |l| l.cout);
    let (n, height, width, images) = idx::read_images(&a.images)?;
    let labels = match &a.labels {
        None => None,
        Some(p) => {
            let l = idx::read_labels(p)?;
            if l.len() != n {
                return Err(Error::invalid(
                    p,
                    "dimension 0",
                    format!("{} labels", l.len()),
                    format!("{n} labels, one per image of {}", a.images.display()),
                ));
            }
            if let Some((i, v)) = l.iter().enumerate().find(|(_, v)| **v as usize >= classes) {
                return Err(Error::invalid(
                    p,
                    format!("label {i}"),
                    v,
                    format!("a class below {classes} (the model's outputs)"),
                ));
            }
            Some(l)
        }
    };
    let keep = a.limit.unwrap_or(n).min(n);
    let len = height * width;
    let ds = Dataset {
        n: keep,
        channels: 1,
        height,
        width,
        classes,
        images: images[..keep * len].to_vec(),
        labels: labels
            .as_ref()
            .map_or_else(|| vec![0; keep], |l| l[..keep].to_vec()),
    };
    let widths: Vec<usize> = match &a.width {
        Some(w) => vec![model.width_index(w)?],
        None => (0..model.widths.len()).collect(),
    };
    let pred = classify::predict(&model, &ds, &widths, &|| {})?;
    if !a.summary {
        for i in 0..keep {
            let label = labels
                .as_ref()
                .map_or("-".to_string(), |l| l[i].to_string());
            let p: Vec<String> = pred.iter().map(|p| p[i].to_string()).collect();
            println!("image {i}: label {label}, predicted {}", p.join(" "));
        }
    }
    println!("{}: {keep} images from {}", model.name, a.images.display());
    for (k, &wi) in widths.iter().enumerate() {
        match &labels {
            Some(_) => println!(
                "width {}: accuracy {:.2} % ({} of {keep})",
                model.widths[wi],
                100.0 * classify::accuracy(&pred[k], &ds),
                classify::correct(&pred[k], &ds)
            ),
            None => println!(
                "width {}: predictions computed (no labels given)",
                model.widths[wi]
            ),
        }
    }
    Ok(())
}
