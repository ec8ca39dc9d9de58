//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`).

use super::{Optimizer, OptimizerState};
use crate::ops::optim::{multi_tensor_step, AdamStep, OptimSlot, OptimStep};
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
    (b1, b2): (f64, f64),
    eps: f64,
    wd: f64,
    decoupled: bool,
) {
    // Scalars as PyTorch forms them: in Python floats (f64), rounded to f32 once.
    let h = AdamStep {
        one_minus_beta1: (1.0 - b1) as f32,
        beta2: b2 as f32,
        one_minus_beta2: (1.0 - b2) as f32,
        eps: eps as f32,
        decay: (1.0 - lr * wd) as f32,
        l2: wd as f32,
        decoupled,
    };
    let mut slots = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(g) = p.grad() else { continue }; // no gradient, no update (as PyTorch)
        let t = state.next_step(i) as i32;
        let (m, _) = state.buffer(i, "exp_avg", p, 0.0);
        let (v, _) = state.buffer(i, "exp_avg_sq", p, 0.0);
        // The bias corrections of step t: m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), folded into
        // two per-parameter scalars (torch divides by a scalar as ·(1/s)).
        let step_size = (lr / (1.0 - b1.powi(t))) as f32;
        let inv_bc2_sqrt = 1.0 / ((1.0 - b2.powi(t)).sqrt() as f32);
        slots.push(OptimSlot { w: p.clone(), g, s1: Some(m), s2: Some(v), a: step_size, b: inv_bc2_sqrt });
    }
    multi_tensor_step(&slots, OptimStep::Adam(h)); // per element: AdamStep::update
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
