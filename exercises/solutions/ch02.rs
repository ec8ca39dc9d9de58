//! Chapter 2 — what a model is: y = F(x; w), one neuron, activations.
//! Reference solutions. Read: book/src/ch02-model.md

use gradschool::Tensor;

/// One neuron: y = σ(w·x + b), with σ(z) = 1 / (1 + e^(−z)).
pub fn neuron(w: &[f32], x: &[f32], b: f32) -> f32 {
    let z: f32 = w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() + b;
    1.0 / (1.0 + (-z).exp())
}

/// ReLU(x) = max(x, 0).
pub fn relu(x: f32) -> f32 {
    x.max(0.0)
}

/// GELU, tanh approximation (GPT-2's): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_tanh(x: f32) -> f32 {
    let u = (2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + u.tanh())
}

/// Two linear layers with no activation between them are one linear layer:
/// W₂(W₁x + b₁) + b₂ = Wx + b. Given W₁ (h×n), b₁ (h), W₂ (m×h), b₂ (m), return (W, b).
pub fn collapse(w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> (Tensor, Tensor) {
    let w = w2.matmul(w1); // (m, n)
    let b = w2.matmul(b1) + b2; // (m,)
    (w, b)
}
