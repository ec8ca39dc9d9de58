//! Chapter 3 — training as optimisation: derivatives by hand and by finite differences.
//! Read: book/src/ch03-optimisation.md

/// d/dx ReLU(x) (take 0 at x = 0, as PyTorch does).
pub fn relu_grad(x: f32) -> f32 {
    todo!("ex 3.1: derivatives by hand")
}

/// d/dx GELU_tanh(x), for GELU_tanh(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (exercise 2.2).
/// Derive it by hand first: the product rule, then the chain rule through tanh.
pub fn gelu_tanh_grad(x: f32) -> f32 {
    todo!("ex 3.1: derivatives by hand")
}

/// The derivative of f at x estimated from f's values on both sides of x, ε away: the central
/// difference, whose error shrinks like ε².
pub fn central_difference(f: impl Fn(f64) -> f64, x: f64, eps: f64) -> f64 {
    todo!("ex 3.2: central differences")
}

/// Minimise L(w) = (w − 3)² by gradient descent: `steps` updates w ← w − lr·L′(w) from `w0`.
pub fn gradient_descent(w0: f64, lr: f64, steps: usize) -> f64 {
    todo!("ex 3.3: gradient descent")
}
