//! Chapter 6 — solvers: one update step of SGD with momentum, AdamW and RMSprop, on raw
//! slices (parameter w, gradient g, the optimizer's state).
//! Reference solutions. Read: book/src/ch06-solvers.md

/// b ← μ·b + g (b = g on the first step, when `buf` is empty); w ← w − lr·b.
pub fn sgd_momentum_step(w: &mut [f32], g: &[f32], buf: &mut Vec<f32>, lr: f32, momentum: f32) {
    if buf.is_empty() {
        buf.extend_from_slice(g);
    } else {
        for (b, g) in buf.iter_mut().zip(g) {
            *b = momentum * *b + g;
        }
    }
    for (w, b) in w.iter_mut().zip(buf.iter()) {
        *w -= lr * b;
    }
}

/// AdamW step `t` (from 1): w ← w·(1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// w ← w − lr/(1 − β₁ᵗ) · m / (√(v/(1 − β₂ᵗ)) + ε).
#[allow(clippy::too_many_arguments)]
pub fn adamw_step(
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    t: i32,
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
) {
    let (b1, b2) = betas;
    let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
    for i in 0..w.len() {
        w[i] *= 1.0 - lr * weight_decay;
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        w[i] -= lr / bc1 * m[i] / ((v[i] / bc2).sqrt() + eps);
    }
}

/// s ← α·s + (1 − α)·g²; w ← w − lr·g / (√s + ε).
pub fn rmsprop_step(w: &mut [f32], g: &[f32], sq: &mut [f32], lr: f32, alpha: f32, eps: f32) {
    for i in 0..w.len() {
        sq[i] = alpha * sq[i] + (1.0 - alpha) * g[i] * g[i];
        w[i] -= lr * g[i] / (sq[i].sqrt() + eps);
    }
}
