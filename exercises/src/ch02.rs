//! Chapter 2 — what a model is: y = F(x; w), one neuron, activations.
//! Read: book/src/ch02-model.md

use gradschool::Tensor;

/// One neuron: y = σ(w·x + b), with σ(z) = 1 / (1 + e^(−z)).
pub fn neuron(w: &[f32], x: &[f32], b: f32) -> f32 {
    todo!("ex 2.1: neuron forward")
}

/// ReLU(x) = max(x, 0).
pub fn relu(x: f32) -> f32 {
    todo!("ex 2.2: relu and gelu")
}

/// GELU, tanh approximation (GPT-2's): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_tanh(x: f32) -> f32 {
    todo!("ex 2.2: relu and gelu")
}

/// Two linear layers with no activation between them are one linear layer:
/// W₂(W₁x + b₁) + b₂ = Wx + b. Given W₁ (h×n), b₁ (h), W₂ (m×h), b₂ (m), return (W, b).
pub fn collapse(w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> (Tensor, Tensor) {
    todo!("ex 2.3: linear layers collapse")
}
