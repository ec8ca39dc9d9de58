//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay
//! (`torch.optim.SGD`).

use super::{for_each_param, Optimizer, OptimizerState};
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
        let (lr, mu, wd, nesterov) = (self.lr as f32, self.momentum as f32, self.weight_decay as f32, self.nesterov);
        let keep = (1.0 - self.dampening) as f32;
        #[cfg(feature = "cuda")]
        if let Some(ordinal) = super::fused::common_cuda_device(&self.params) {
            return super::fused::sgd(&self.params, &mut self.state, ordinal, (lr, mu, keep, wd, nesterov));
        }
        let state = &mut self.state;
        for_each_param(&self.params, |i, w, g| {
            let (mut buf, existed) =
                if mu != 0.0 { state.take(i, "momentum_buffer", w.len(), 0.0) } else { (Vec::new(), false) };
            for j in 0..w.len() {
                let mut d = g[j];
                if wd != 0.0 {
                    d += wd * w[j];
                }
                if mu != 0.0 {
                    buf[j] = if existed { buf[j] * mu + keep * d } else { d };
                    d = if nesterov { d + mu * buf[j] } else { buf[j] };
                }
                w[j] += -lr * d;
            }
            if mu != 0.0 {
                state.put(i, "momentum_buffer", buf);
            }
        });
    }
    // ANCHOR_END: sgd_step
    optimizer_accessors!();
}
