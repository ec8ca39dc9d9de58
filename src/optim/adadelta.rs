//! AdaDelta (`torch.optim.Adadelta`).

use super::{for_each_param, Optimizer, OptimizerState};
use crate::tensor::Tensor;

/// AdaDelta: s ← ρ·s + (1 − ρ)·g²; Δ = √(a + ε)/√(s + ε) · g; a ← ρ·a + (1 − ρ)·Δ²;
/// w ← w − lr·Δ. The ratio of running RMS values gives each coordinate a step in the units of w.
pub struct Adadelta {
    params: Vec<Tensor>,
    /// Learning rate (default 1.0).
    pub lr: f64,
    /// ρ (default 0.9).
    pub rho: f64,
    /// ε (default 1e-6).
    pub eps: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    state: OptimizerState,
}

impl Adadelta {
    /// With PyTorch's defaults and learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adadelta {
        Adadelta { params, lr, rho: 0.9, eps: 1e-6, weight_decay: 0.0, state: OptimizerState::default() }
    }
}

impl Optimizer for Adadelta {
    // ANCHOR: adadelta_step
    fn step(&mut self) {
        let (lr, rho, one_m_rho, eps, wd) =
            (self.lr as f32, self.rho as f32, (1.0 - self.rho) as f32, self.eps as f32, self.weight_decay as f32);
        let state = &mut self.state;
        for_each_param(&self.params, |i, w, g| {
            state.next_step(i);
            let (mut sq, _) = state.take(i, "square_avg", w.len(), 0.0);
            let (mut acc, _) = state.take(i, "acc_delta", w.len(), 0.0);
            for j in 0..w.len() {
                let d = if wd != 0.0 { g[j] + wd * w[j] } else { g[j] };
                sq[j] = sq[j] * rho + one_m_rho * d * d;
                let delta = (acc[j] + eps).sqrt() / (sq[j] + eps).sqrt() * d;
                acc[j] = acc[j] * rho + one_m_rho * delta * delta;
                w[j] += -lr * delta;
            }
            state.put(i, "square_avg", sq);
            state.put(i, "acc_delta", acc);
        });
    }
    // ANCHOR_END: adadelta_step
    optimizer_accessors!();
}
