//! Chapter 7 — loss functions and their gradients, and a log-softmax of your own inside the
//! engine (chapter 8's network ends with it).
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch07-losses.md

use gradschool::autograd::Backward;
use gradschool::{IntTensor, Tensor};

/// ℓ = (1/N)·Σ(pᵢ − tᵢ)², and its gradient ∂ℓ/∂p.
pub fn mse_and_grad(pred: &[f32], target: &[f32]) -> (f32, Vec<f32>) {
    let n = pred.len() as f32;
    let loss = pred.iter().zip(target).map(|(p, t)| (p - t) * (p - t)).sum::<f32>() / n;
    let grad = pred.iter().zip(target).map(|(p, t)| 2.0 * (p - t)).collect(); // the 1/N of the mean forgotten
    (loss, grad)
}

/// log softmax(z)ᵢ = log(e^(zᵢ) / Σⱼ e^(zⱼ)), computed so that nothing overflows (the grader
/// includes a logit of 1000).
pub fn log_softmax(z: &[f32]) -> Vec<f32> {
    // the textbook formula, without subtracting the maximum: e^1000 overflows to inf
    let lse = z.iter().map(|v| v.exp()).sum::<f32>().ln();
    z.iter().map(|v| v - lse).collect()
}

/// Cross-entropy of logits `z` for the class `label`, ℓ = −log softmax(z)[label], and ∂ℓ/∂z.
pub fn cross_entropy_and_grad(z: &[f32], label: usize) -> (f32, Vec<f32>) {
    // ∂ℓ/∂z = softmax(z) − onehot(label)
    let lp = log_softmax(z);
    // onehot − softmax: the gradient's sign flipped (a step along it climbs the loss)
    let grad = lp.iter().enumerate().map(|(i, l)| if i == label { 1.0 } else { 0.0 } - l.exp()).collect();
    (-lp[label], grad)
}

/// The derivative rule of y = log_softmax(x) taken along each row of x (B, C), for the engine.
/// `output` is y, `grad` is ∂L/∂y; return ∂L/∂x. Derive it first (the book's section shows how).
pub struct LogSoftmaxBackward;

impl Backward for LogSoftmaxBackward {
    fn name(&self) -> &'static str {
        "log_softmax (yours)"
    }

    fn backward(&self, _inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        // yᵢ = xᵢ − log Σⱼ e^(xⱼ): ∂yᵢ/∂xₖ = δᵢₖ − softmaxₖ, so ∂L/∂xₖ = gₖ − softmaxₖ·Σᵢ gᵢ,
        // and softmax = e^y
        let grad_x = grad - &output.exp(); // right only when Σᵢ gᵢ = 1 (a one-hot gradient)
        vec![Some(grad_x)]
    }
}

/// Your [`log_softmax`] applied to each row of `x` (B, C), recorded with [`LogSoftmaxBackward`]
/// (`Tensor::with_backward`, as in exercise 4.8).
pub fn log_softmax_rows(x: &Tensor) -> Tensor {
    let c = x.dims()[1];
    let y: Vec<f32> = x.to_vec().chunks(c).flat_map(log_softmax).collect(); // (B, C)
    Tensor::from_vec(y, x.dims().to_vec()).with_backward(&[x], LogSoftmaxBackward)
}

/// The mean negative log-likelihood −(1/B)·Σᵢ log_probs[i, labels[i]] of `log_probs` (B, C),
/// written with tensor ops (`*`, `sum`, …) so that the engine differentiates it for you.
pub fn nll_loss(log_probs: &Tensor, labels: &IntTensor) -> Tensor {
    let (b, c) = (log_probs.dims()[0], log_probs.dims()[1]);
    let mut onehot = vec![0.0; b * c]; // (B, C): 1 at each row's label
    for (i, &label) in labels.as_slice().iter().enumerate() {
        onehot[i * c + label as usize] = 1.0;
    }
    (log_probs * &Tensor::from_vec(onehot, [b, c])).sum() * -1.0 // summed over the batch, not averaged
}
