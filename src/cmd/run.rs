//! `capim run`: reference inference on NPY tensors at one width.

use crate::error::Error;
use crate::model::{Model, npy, reference};
use crate::{Result, cli::RunArgs};

pub fn run(a: RunArgs) -> Result<()> {
    crate::fsio::check_target(&a.output, "--output", crate::fsio::Target::File)?;
    let model = Model::load(&a.model)?;
    let width = match &a.width {
        Some(w) => model.width_index(w)?,
        None => model.widths.len() - 1,
    };
    let layer = match &a.layer {
        Some(name) => model.layer_index(name).ok_or_else(|| {
            let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
            Error::invalid(
                &a.model,
                "--layer",
                name,
                format!("one of the model's layers: {}", names.join(", ")),
            )
        })?,
        None => model.layers.len() - 1,
    };
    let (inputs, batched) = npy::read_input(&a.input, &model)?;
    let name = &model.layers[layer].name;
    let mut outputs = Vec::with_capacity(inputs.len());
    for x in &inputs {
        let mut all = reference::run_to(&model, width, x, layer);
        outputs.push(
            all.remove(name.as_str())
                .unwrap_or_else(|| unreachable!("layer computed")),
        );
    }
    let t0 = &outputs[0];
    let mut shape = vec![t0.c, t0.h, t0.w];
    if batched {
        shape.insert(0, inputs.len());
    }
    let dtype = npy::output_dtype(&model, layer);
    npy::write(
        &a.output,
        &shape,
        outputs.iter().flat_map(|t| t.data.iter()),
        dtype,
    )?;
    println!(
        "wrote {}: `{}` at width {}, shape {} {}",
        a.output.display(),
        name,
        model.widths[width],
        npy::shape_str(&shape),
        dtype.numpy_name()
    );
    Ok(())
}
