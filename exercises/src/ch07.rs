//! Chapter 7 — loss functions and their gradients, and a log-softmax of your own inside the
//! engine (chapter 8's network ends with it).
//! Read: book/src/ch07-losses.md

use gradschool::autograd::Backward;
use gradschool::{IntTensor, Tensor};

/// ℓ = (1/N)·Σ(pᵢ − tᵢ)², and its gradient ∂ℓ/∂p.
pub fn mse_and_grad(pred: &[f32], target: &[f32]) -> (f32, Vec<f32>) {
    todo!("ex 7.1: MSE and its gradient")
}

/// log softmax(z)ᵢ = log(e^(zᵢ) / Σⱼ e^(zⱼ)), computed so that nothing overflows (the grader
/// includes a logit of 1000).
pub fn log_softmax(z: &[f32]) -> Vec<f32> {
    todo!("ex 7.2: stable log-softmax")
}

/// Cross-entropy of logits `z` for the class `label`, ℓ = −log softmax(z)[label], and ∂ℓ/∂z.
pub fn cross_entropy_and_grad(z: &[f32], label: usize) -> (f32, Vec<f32>) {
    todo!("ex 7.3: cross-entropy and its gradient")
}

/// The derivative rule of y = log_softmax(x) taken along each row of x (B, C), for the engine.
/// `output` is y, `grad` is ∂L/∂y; return ∂L/∂x. Derive it first (the book's section shows how).
pub struct LogSoftmaxBackward;

impl Backward for LogSoftmaxBackward {
    fn name(&self) -> &'static str {
        "log_softmax (yours)"
    }

    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        todo!("ex 7.4: log-softmax in the engine")
    }
}

/// Your [`log_softmax`] applied to each row of `x` (B, C), recorded with [`LogSoftmaxBackward`]
/// (`Tensor::with_backward`, as in exercise 4.8).
pub fn log_softmax_rows(x: &Tensor) -> Tensor {
    todo!("ex 7.4: log-softmax in the engine")
}

/// The mean negative log-likelihood −(1/B)·Σᵢ log_probs[i, labels[i]] of `log_probs` (B, C),
/// written with tensor ops (`*`, `sum`, …) so that the engine differentiates it for you.
pub fn nll_loss(log_probs: &Tensor, labels: &IntTensor) -> Tensor {
    todo!("ex 7.5: NLL from tensor ops")
}
