//! Chapter 6 — solvers: one update step of SGD with momentum, AdamW and RMSprop, on raw
//! slices (parameter w, gradient g, the optimizer's state).
//! Read: book/src/ch06-solvers.md

/// b ← μ·b + g (b = g on the first step, when `buf` is empty); w ← w − lr·b.
pub fn sgd_momentum_step(w: &mut [f32], g: &[f32], buf: &mut Vec<f32>, lr: f32, momentum: f32) {
    todo!("ex 6.1: SGD with momentum")
}

/// AdamW step `t` (from 1): w ← w·(1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// w ← w − lr/(1 − β₁ᵗ) · m / (√(v/(1 − β₂ᵗ)) + ε).
#[allow(clippy::too_many_arguments)]
pub fn adamw_step(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: i32, lr: f32, betas: (f32, f32), eps: f32, weight_decay: f32) {
    todo!("ex 6.2: AdamW")
}

/// s ← α·s + (1 − α)·g²; w ← w − lr·g / (√s + ε).
pub fn rmsprop_step(w: &mut [f32], g: &[f32], sq: &mut [f32], lr: f32, alpha: f32, eps: f32) {
    todo!("ex 6.3: RMSprop")
}
