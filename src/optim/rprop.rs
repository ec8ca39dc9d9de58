//! Rprop, resilient backpropagation (`torch.optim.Rprop`; Riedmiller & Braun, 1993).

use super::{for_each_param, Optimizer, OptimizerState};
use crate::tensor::Tensor;

/// Rprop uses only the *sign* of each gradient coordinate. Every coordinate has its own step
/// size Δ (starting at lr): when the gradient keeps its sign, Δ ← min(Δ·η₊, Δ_max); when it
/// flips (the last step jumped over a minimum), Δ ← max(Δ·η₋, Δ_min) and that coordinate pauses
/// for one step (its gradient is taken as 0). Then w ← w − sign(g)·Δ. Meant for full-batch
/// training: with mini-batches the sign flips from noise alone.
pub struct Rprop {
    params: Vec<Tensor>,
    /// Initial step size Δ₀ (default 0.01).
    pub lr: f64,
    /// (η₋, η₊): step-size factors on a sign flip and on a kept sign (default (0.5, 1.2)).
    pub etas: (f64, f64),
    /// (Δ_min, Δ_max) (default (1e-6, 50)).
    pub step_sizes: (f64, f64),
    state: OptimizerState,
}

impl Rprop {
    /// With PyTorch's defaults and initial step size `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Rprop {
        Rprop { params, lr, etas: (0.5, 1.2), step_sizes: (1e-6, 50.0), state: OptimizerState::default() }
    }
}

impl Optimizer for Rprop {
    // ANCHOR: rprop_step
    fn step(&mut self) {
        let (eta_minus, eta_plus) = (self.etas.0 as f32, self.etas.1 as f32);
        let (lo, hi) = (self.step_sizes.0 as f32, self.step_sizes.1 as f32);
        let lr = self.lr as f32;
        let state = &mut self.state;
        for_each_param(&self.params, |i, w, g| {
            state.next_step(i);
            let (mut prev, _) = state.take(i, "prev", w.len(), 0.0);
            let (mut step, _) = state.take(i, "step_size", w.len(), lr);
            for j in 0..w.len() {
                let agreement = g[j] * prev[j];
                let factor = if agreement > 0.0 {
                    eta_plus
                } else if agreement < 0.0 {
                    eta_minus
                } else {
                    1.0
                };
                step[j] = (step[j] * factor).clamp(lo, hi);
                // on a sign flip the coordinate rests this step, and the next compares with 0
                let d = if agreement < 0.0 { 0.0 } else { g[j] };
                let sign = if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                w[j] += -sign * step[j];
                prev[j] = d;
            }
            state.put(i, "prev", prev);
            state.put(i, "step_size", step);
        });
    }
    // ANCHOR_END: rprop_step
    optimizer_accessors!();
}
