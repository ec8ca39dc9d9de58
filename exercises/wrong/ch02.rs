//! Chapter 2 — what a model is: y = F(x; w), one neuron, activations.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch02-model.md

use gradschool::Tensor;

/// One neuron: y = σ(w·x + b), with σ(z) = 1 / (1 + e^(−z)).
pub fn neuron(w: &[f32], x: &[f32], b: f32) -> f32 {
    let z: f32 = w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() - b; // the bias subtracted, as in a threshold w·x > b
    1.0 / (1.0 + (-z).exp())
}

/// ReLU(x) = max(x, 0).
pub fn relu(x: f32) -> f32 {
    if x > 1.0 { x } else { 0.0 } // a threshold at 1, not at 0
}

/// GELU, tanh approximation (GPT-2's): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_tanh(x: f32) -> f32 {
    let u = (2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x); // x² for x³
    0.5 * x * (1.0 + u.tanh())
}

/// Two linear layers with no activation between them are one linear layer:
/// W₂(W₁x + b₁) + b₂ = Wx + b. Given W₁ (h×n), b₁ (h), W₂ (m×h), b₂ (m), return (W, b).
pub fn collapse(w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> (Tensor, Tensor) {
    let w = w2.matmul(w1); // (m, n)
    let _ = b1;
    let b = b2.clone(); // W₂b₁ forgotten: right only when b₁ = 0
    (w, b)
}
