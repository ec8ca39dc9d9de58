//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`).

use super::{for_each_param, Optimizer, OptimizerState};
use crate::tensor::Tensor;

/// The update shared by Adam and AdamW. With g the gradient and t the step:
/// m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·g²,
/// w ← w − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).
/// Adam adds λ·w to g (L2 regularisation); AdamW instead decays w ← w·(1 − lr·λ) first
/// (decoupled weight decay, Loshchilov & Hutter).
// ANCHOR: adam_step
fn adam_step(
    params: &[Tensor],
    state: &mut OptimizerState,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    wd: f64,
    decoupled: bool,
) {
    #[cfg(feature = "cuda")]
    if let Some(ordinal) = super::fused::common_cuda_device(params) {
        return super::fused::adam(params, state, ordinal, (lr, betas, eps, wd, decoupled));
    }
    let (b1, b2) = betas;
    for_each_param(params, |i, w, g| {
        let t = state.next_step(i) as i32;
        let (mut m, _) = state.take(i, "exp_avg", w.len(), 0.0);
        let (mut v, _) = state.take(i, "exp_avg_sq", w.len(), 0.0);
        // Scalars as PyTorch forms them: in Python floats (f64), rounded to f32 once.
        let step_size = (lr / (1.0 - b1.powi(t))) as f32;
        let inv_bc2_sqrt = 1.0 / ((1.0 - b2.powi(t)).sqrt() as f32); // torch divides by a scalar as ·(1/s)
        let (decay, l2) = ((1.0 - lr * wd) as f32, wd as f32);
        let (w1, b2f, w2, epsf) = ((1.0 - b1) as f32, b2 as f32, (1.0 - b2) as f32, eps as f32);
        for j in 0..w.len() {
            let mut d = g[j];
            if decoupled {
                w[j] *= decay;
            } else if wd != 0.0 {
                d += l2 * w[j];
            }
            m[j] += w1 * (d - m[j]); // = β₁m + (1 − β₁)d, as torch's lerp
            v[j] = v[j] * b2f + w2 * d * d;
            let denom = v[j].sqrt() * inv_bc2_sqrt + epsf;
            w[j] += -step_size * (m[j] / denom);
        }
        state.put(i, "exp_avg", m);
        state.put(i, "exp_avg_sq", v);
    });
}
// ANCHOR_END: adam_step

macro_rules! adam_like {
    ($name:ident, $doc:literal, $wd_default:expr, $decoupled:expr) => {
        #[doc = $doc]
        pub struct $name {
            params: Vec<Tensor>,
            /// Learning rate (default 1e-3).
            pub lr: f64,
            /// (β₁, β₂) (default (0.9, 0.999)).
            pub betas: (f64, f64),
            /// ε (default 1e-8).
            pub eps: f64,
            /// Weight decay λ.
            pub weight_decay: f64,
            state: OptimizerState,
        }

        impl $name {
            /// With PyTorch's defaults and learning rate `lr`.
            pub fn new(params: Vec<Tensor>, lr: f64) -> $name {
                $name {
                    params,
                    lr,
                    betas: (0.9, 0.999),
                    eps: 1e-8,
                    weight_decay: $wd_default,
                    state: OptimizerState::default(),
                }
            }
            /// Sets (β₁, β₂).
            pub fn betas(mut self, b1: f64, b2: f64) -> $name {
                self.betas = (b1, b2);
                self
            }
            /// Sets ε.
            pub fn eps(mut self, eps: f64) -> $name {
                self.eps = eps;
                self
            }
            /// Sets weight decay λ.
            pub fn weight_decay(mut self, wd: f64) -> $name {
                self.weight_decay = wd;
                self
            }
        }

        impl Optimizer for $name {
            fn step(&mut self) {
                adam_step(&self.params, &mut self.state, self.lr, self.betas, self.eps, self.weight_decay, $decoupled);
            }
            optimizer_accessors!();
        }
    };
}

adam_like!(Adam, "Adam (Kingma & Ba) with L2 weight decay added to the gradient (default 0).", 0.0, false);
adam_like!(
    AdamW,
    "AdamW: Adam with decoupled weight decay (default λ = 0.01), the optimizer of transformer fine-tuning.",
    0.01,
    true
);
