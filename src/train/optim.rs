//! AdamW (Loshchilov and Hutter) with the learning rate given at every step
//! (the cosine schedule lives in the caller).
//!
//! capim has its own instead of `candle_nn::AdamW` because a resumed run
//! must continue bit-identically: that needs the step count and both
//! moment tensors of every variable saved in the checkpoint and restored,
//! and candle's optimizer keeps them private. The update is PyTorch's
//! `torch.optim.AdamW` (decoupled weight decay, bias correction):
//!
//! ```text
//! t += 1
//! m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
//! theta = theta (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//! ```
//!
//! Weight decay applies to every variable (BN and biases included), as
//! `torch.optim.AdamW` does by default.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

#[derive(Debug)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken.
    pub step: u64,
    /// Per variable: the variable, first moment, second moment.
    pub state: Vec<(Var, Tensor, Tensor)>,
}

impl AdamW {
    /// Zero moments for `vars`; betas 0.9 / 0.999, eps 1e-8.
    pub fn new(vars: &[Var], weight_decay: f64) -> Result<Self> {
        let state = vars
            .iter()
            .map(|v| Ok((v.clone(), v.zeros_like()?, v.zeros_like()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            state,
        })
    }

    /// One update with learning rate `lr`; variables without a gradient
    /// are left alone (their moments too).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let scale_m = 1.0 / (1.0 - b1.powi(t));
        let scale_v = 1.0 / (1.0 - b2.powi(t));
        let decay = 1.0 - lr * self.weight_decay;
        for (var, m, v) in &mut self.state {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            *m = ((&*m * b1)? + (&g * (1.0 - b1))?)?;
            *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&*m * scale_m)? / ((&*v * scale_v)?.sqrt()? + self.eps)?)?;
            let theta = ((var.as_tensor().detach() * decay)? - (update * lr)?)?;
            var.set(&theta)?;
        }
        Ok(())
    }
}
