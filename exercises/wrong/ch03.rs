//! Chapter 3 — training as optimisation: derivatives by hand and by finite differences.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch03-optimisation.md

/// d/dx ReLU(x) (take 0 at x = 0, as PyTorch does).
pub fn relu_grad(x: f32) -> f32 {
    if x >= 0.0 { // 1 at x = 0: PyTorch takes 0 there
        1.0
    } else {
        0.0
    }
}

/// d/dx GELU_tanh(x): with u = √(2/π)(x + 0.044715x³) and t = tanh u,
/// ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
pub fn gelu_tanh_grad(x: f32) -> f32 {
    let c = (2.0 / std::f32::consts::PI).sqrt();
    let t = (c * (x + 0.044715 * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c // the inner derivative u′ = √(2/π)(1 + 3·0.044715x²) cut short
}

/// The central difference (f(x + ε) − f(x − ε)) / 2ε, whose error shrinks like ε².
pub fn central_difference(f: impl Fn(f64) -> f64, x: f64, eps: f64) -> f64 {
    (f(x + eps) - f(x)) / eps // a forward difference: error O(ε), not O(ε²)
}

/// Minimise L(w) = (w − 3)² by gradient descent: `steps` updates w ← w − lr·L′(w) from `w0`.
pub fn gradient_descent(w0: f64, lr: f64, steps: usize) -> f64 {
    let mut w = w0;
    for _ in 0..steps {
        let grad = w - 3.0; // the factor 2 of d/dw (w − 3)² dropped
        w -= lr * grad;
    }
    w
}
