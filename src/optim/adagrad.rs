//! AdaGrad (`torch.optim.Adagrad`).

use super::{for_each_param, Optimizer, OptimizerState};
use crate::tensor::Tensor;

/// AdaGrad: s ← s + g²; w ← w − lr_t · g / (√s + ε), lr_t = lr / (1 + (t − 1)·lr_decay).
/// Each coordinate's step shrinks with the gradient it has already seen.
pub struct Adagrad {
    params: Vec<Tensor>,
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// Learning-rate decay per step (default 0).
    pub lr_decay: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Starting value of s (default 0).
    pub initial_accumulator_value: f64,
    /// ε (default 1e-10).
    pub eps: f64,
    state: OptimizerState,
}

impl Adagrad {
    /// With PyTorch's defaults and learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adagrad {
        Adagrad {
            params,
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            state: OptimizerState::default(),
        }
    }
}

impl Optimizer for Adagrad {
    // ANCHOR: adagrad_step
    fn step(&mut self) {
        let (lr, decay, wd, init, eps) =
            (self.lr, self.lr_decay, self.weight_decay as f32, self.initial_accumulator_value as f32, self.eps as f32);
        let state = &mut self.state;
        for_each_param(&self.params, |i, w, g| {
            let t = state.next_step(i);
            let (mut sum, _) = state.take(i, "sum", w.len(), init);
            let clr = (lr / (1.0 + (t - 1) as f64 * decay)) as f32;
            for j in 0..w.len() {
                let d = if wd != 0.0 { g[j] + wd * w[j] } else { g[j] };
                sum[j] += d * d;
                w[j] += -clr * (d / (sum[j].sqrt() + eps));
            }
            state.put(i, "sum", sum);
        });
    }
    // ANCHOR_END: adagrad_step
    optimizer_accessors!();
}
