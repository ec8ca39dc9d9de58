//! RMSprop (`torch.optim.RMSprop`).

use super::{for_each_param, Optimizer, OptimizerState};
use crate::tensor::Tensor;

/// RMSprop: s ← α·s + (1 − α)·g²; w ← w − lr·g / (√s + ε). Centered: divide by
/// √(s − ḡ²) + ε with ḡ the running mean of g. With momentum μ: b ← μ·b + g/(…), w ← w − lr·b.
pub struct RmsProp {
    params: Vec<Tensor>,
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// Smoothing constant α (default 0.99).
    pub alpha: f64,
    /// ε (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Momentum μ (default 0).
    pub momentum: f64,
    /// Normalise by the gradient's variance instead of its second moment (default false).
    pub centered: bool,
    state: OptimizerState,
}

impl RmsProp {
    /// With PyTorch's defaults and learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> RmsProp {
        RmsProp {
            params,
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            state: OptimizerState::default(),
        }
    }
}

impl Optimizer for RmsProp {
    // ANCHOR: rmsprop_step
    fn step(&mut self) {
        let (lr, wd, mu, centered) = (self.lr as f32, self.weight_decay as f32, self.momentum as f32, self.centered);
        let (alpha, one_m_alpha, eps) = (self.alpha as f32, (1.0 - self.alpha) as f32, self.eps as f32);
        let state = &mut self.state;
        for_each_param(&self.params, |i, w, g| {
            let n = w.len();
            let (mut sq, _) = state.take(i, "square_avg", n, 0.0);
            let (mut gavg, _) = if centered { state.take(i, "grad_avg", n, 0.0) } else { (Vec::new(), false) };
            let (mut buf, _) = if mu > 0.0 { state.take(i, "momentum_buffer", n, 0.0) } else { (Vec::new(), false) };
            state.next_step(i);
            for j in 0..n {
                let d = if wd != 0.0 { g[j] + wd * w[j] } else { g[j] };
                sq[j] = sq[j] * alpha + one_m_alpha * d * d;
                let avg = if centered {
                    gavg[j] += one_m_alpha * (d - gavg[j]);
                    (sq[j] - gavg[j] * gavg[j]).sqrt() + eps
                } else {
                    sq[j].sqrt() + eps
                };
                if mu > 0.0 {
                    buf[j] = buf[j] * mu + d / avg;
                    w[j] += -lr * buf[j];
                } else {
                    w[j] += -lr * (d / avg);
                }
            }
            state.put(i, "square_avg", sq);
            if centered {
                state.put(i, "grad_avg", gavg);
            }
            if mu > 0.0 {
                state.put(i, "momentum_buffer", buf);
            }
        });
    }
    // ANCHOR_END: rmsprop_step
    optimizer_accessors!();
}
