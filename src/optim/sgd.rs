//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay
//! (`torch.optim.SGD`).

use super::{Optimizer, OptimizerState};
use crate::ops::optim::{multi_tensor_step, OptimSlot, OptimStep, SgdStep};
use crate::tensor::Tensor;

/// SGD. With g = ∇L + λ·w (weight decay λ):
/// without momentum, w ← w − lr·g; with momentum μ, b ← μ·b + (1 − dampening)·g (b = g at the
/// first step) and w ← w − lr·(g + μ·b) (Nesterov) or w ← w − lr·b.
pub struct Sgd {
    params: Vec<Tensor>,
    /// Learning rate.
    pub lr: f64,
    /// Momentum μ (default 0).
    pub momentum: f64,
    /// Dampening of the momentum's gradient term (default 0).
    pub dampening: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs momentum > 0 and dampening 0).
    pub nesterov: bool,
    state: OptimizerState,
}

impl Sgd {
    /// Plain SGD with learning rate `lr` (`optim.SGD(params, lr)`).
    pub fn new(params: Vec<Tensor>, lr: f64) -> Sgd {
        Sgd {
            params,
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            state: OptimizerState::default(),
        }
    }

    /// Sets momentum μ.
    pub fn momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
        self
    }

    /// Sets dampening.
    pub fn dampening(mut self, dampening: f64) -> Sgd {
        self.dampening = dampening;
        self
    }

    /// Sets weight decay λ.
    pub fn weight_decay(mut self, wd: f64) -> Sgd {
        self.weight_decay = wd;
        self
    }

    /// Turns on Nesterov momentum.
    pub fn nesterov(mut self, on: bool) -> Sgd {
        assert!(
            !on || (self.momentum > 0.0 && self.dampening == 0.0),
            "SGD: Nesterov momentum requires a momentum and zero dampening"
        );
        self.nesterov = on;
        self
    }
}

impl Optimizer for Sgd {
    // ANCHOR: sgd_step
    fn step(&mut self) {
        // Scalars as PyTorch forms them: Python floats (f64), rounded to f32 once.
        let h = SgdStep {
            lr: self.lr as f32,
            momentum: self.momentum as f32,
            keep: (1.0 - self.dampening) as f32,
            weight_decay: self.weight_decay as f32,
            nesterov: self.nesterov,
        };
        let mut slots = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = p.grad() else { continue }; // no gradient, no update (as PyTorch)
                                                      // The momentum buffer starts as the first step's d (a = 1 marks that step).
            let (buf, first) = if h.momentum != 0.0 {
                let (b, existed) = self.state.buffer(i, "momentum_buffer", p, 0.0);
                (Some(b), !existed)
            } else {
                (None, false)
            };
            slots.push(OptimSlot { w: p.clone(), g, s1: buf, s2: None, a: if first { 1.0 } else { 0.0 }, b: 0.0 });
        }
        multi_tensor_step(&slots, OptimStep::Sgd(h)); // per element: SgdStep::update
    }
    // ANCHOR_END: sgd_step
    optimizer_accessors!();
}
