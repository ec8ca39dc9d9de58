//! Chapter 8 — MNIST: a Linear layer, dropout, accuracy, and a training loop.
//! Read: book/src/ch08-mnist.md

use gradschool::data::ImageDataset;
use gradschool::models::FeedForwardNet;
use gradschool::{IntTensor, Tensor};
use rand::Rng;

/// PyTorch's nn.Linear initialisation: weight (out, in) and bias (out), both U(−1/√in, 1/√in),
/// both requiring grad.
pub fn linear_init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> (Tensor, Tensor) {
    todo!("ex 8.1: a Linear layer")
}

/// y = x·Wᵀ + b for x (B, in), W (out, in), b (out), with `matmul`, `t()` and `+`.
pub fn linear_forward(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    todo!("ex 8.1: a Linear layer")
}

/// An inverted-dropout mask of n values: 0 with probability p, else 1/(1 − p).
pub fn dropout_mask(n: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    todo!("ex 8.2: inverted dropout")
}

/// The fraction of rows of `log_probs` (B, C) whose largest entry is at `labels`.
pub fn accuracy(log_probs: &Tensor, labels: &IntTensor) -> f64 {
    todo!("ex 8.3: accuracy")
}

/// Train a FeedForwardNet (seeded with `seed`) on `train` for `epochs` with SGD (lr 0.05,
/// momentum 0.9), batches of 64 from `gradschool::data::DataLoader` (shuffled, seed + epoch),
/// NLL loss. Return the trained model; the grader tests it on held-out digits.
pub fn train_small(train: &ImageDataset, epochs: usize, seed: u64) -> FeedForwardNet {
    todo!("ex 8.4: the training loop")
}
