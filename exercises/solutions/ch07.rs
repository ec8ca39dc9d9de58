//! Chapter 7 — loss functions and their gradients.
//! Reference solutions. Read: book/src/ch07-losses.md

/// ℓ = (1/N)·Σ(pᵢ − tᵢ)² and ∂ℓ/∂pᵢ = 2(pᵢ − tᵢ)/N.
pub fn mse_and_grad(pred: &[f32], target: &[f32]) -> (f32, Vec<f32>) {
    let n = pred.len() as f32;
    let loss = pred.iter().zip(target).map(|(p, t)| (p - t) * (p - t)).sum::<f32>() / n;
    let grad = pred.iter().zip(target).map(|(p, t)| 2.0 * (p - t) / n).collect();
    (loss, grad)
}

/// log softmax(z)ᵢ = zᵢ − m − log Σⱼ e^(zⱼ − m), with m = maxⱼ zⱼ so that nothing overflows
/// (the grader includes a logit of 1000).
pub fn log_softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
    z.iter().map(|v| v - m - lse).collect()
}

/// Cross-entropy of logits `z` for the class `label`: ℓ = −log softmax(z)[label], and
/// ∂ℓ/∂z = softmax(z) − onehot(label).
pub fn cross_entropy_and_grad(z: &[f32], label: usize) -> (f32, Vec<f32>) {
    let lp = log_softmax(z);
    let grad = lp.iter().enumerate().map(|(i, l)| l.exp() - if i == label { 1.0 } else { 0.0 }).collect();
    (-lp[label], grad)
}
