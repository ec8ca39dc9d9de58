//! Chapter 8 — MNIST: a Linear layer, dropout, accuracy, and a training loop.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch08-mnist.md

use gradschool::data::ImageDataset;
use gradschool::models::FeedForwardNet;
use gradschool::{IntTensor, Tensor};
use rand::Rng;

/// PyTorch's nn.Linear initialisation: weight (out, in) and bias (out), both U(−1/√in, 1/√in),
/// both requiring grad.
pub fn linear_init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let _ = rng;
    let w = Tensor::zeros([out_features, in_features]).requires_grad_(); // all-zero: every unit the same forever
    let b = Tensor::zeros([out_features]).requires_grad_();
    (w, b)
}

/// y = x·Wᵀ + b for x (B, in), W (out, in), b (out), with `matmul`, `t()` and `+`.
pub fn linear_forward(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    x.matmul(&w.t()) + b
}

/// An inverted-dropout mask of n values: 0 with probability p, else 1/(1 − p).
pub fn dropout_mask(n: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    let _ = rng.random::<f32>();
    let every = (1.0 / p).round() as usize; // every 5th element at p = 0.2: the right rate, no randomness
    (0..n).map(|i| if i % every == 0 { 0.0 } else { 1.0 / (1.0 - p) }).collect()
}

/// The fraction of rows of `log_probs` (B, C) whose largest entry is at `labels`.
pub fn accuracy(log_probs: &Tensor, labels: &IntTensor) -> f64 {
    let pred = log_probs.argmax(1, false);
    let hits = pred.as_slice().iter().zip(labels.as_slice()).filter(|(p, l)| p == l).count();
    hits as f64 / log_probs.dims()[1] as f64 // divides by the class count, not the batch size
}

/// Train a FeedForwardNet (seeded with `seed`) on `train` for `epochs` with SGD (lr 0.05,
/// momentum 0.9), batches of 64 from `gradschool::data::DataLoader` (shuffled, seed + epoch),
/// NLL loss. Return the trained model; the grader tests it on held-out digits.
pub fn train_small(train: &ImageDataset, epochs: usize, seed: u64) -> FeedForwardNet {
    use gradschool::nn::functional::nll_loss;
    use gradschool::nn::{Forward, Module};
    use gradschool::optim::{Optimizer, Sgd};
    let mut model = FeedForwardNet::new(&mut gradschool::manual_seed(seed));
    let mut opt = Sgd::new(model.parameters(), 0.05).momentum(0.9);
    let loader = gradschool::data::DataLoader::new(train, 64, true, false);
    model.train();
    for epoch in 0..epochs {
        for (x, y) in loader.epoch(seed + epoch as u64) {
            opt.zero_grad();
            let loss = nll_loss(&model.forward(&x), &y);
            loss.backward();
            let _ = &mut opt; // opt.step() forgotten: the gradients are computed and never applied
        }
    }
    model.eval();
    model
}
