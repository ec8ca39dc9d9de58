//! Chapter 8 — MNIST with your own parts: a Linear layer, dropout, accuracy, and a training loop
//! whose matmul (4.8), log-softmax (7.4), loss (7.5) and optimizer step (6.1) are yours.
//! Read: book/src/ch08-mnist.md

use crate::ch04::matmul;
use crate::ch06::sgd_momentum_step;
use crate::ch07::{log_softmax_rows, nll_loss};
use gradschool::data::ImageDataset;
use gradschool::{IntTensor, Tensor};
use rand::rngs::StdRng;
use rand::Rng;

/// PyTorch's nn.Linear initialisation: weight (out, in) and bias (out), both U(−1/√in, 1/√in),
/// both requiring grad.
pub fn linear_init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> (Tensor, Tensor) {
    todo!("ex 8.1: a Linear layer")
}

/// y = x·Wᵀ + b for x (B, in), W (out, in), b (out), with your `matmul` (4.8), `t()` and `+`.
pub fn linear_forward(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    todo!("ex 8.1: a Linear layer")
}

/// An inverted-dropout mask of n values: each 0 with probability p, and the kept ones scaled so
/// that the expected value of every element is unchanged.
pub fn dropout_mask(n: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    todo!("ex 8.2: inverted dropout")
}

/// The fraction of rows of `log_probs` (B, C) whose largest entry is at `labels`.
pub fn accuracy(log_probs: &Tensor, labels: &IntTensor) -> f64 {
    todo!("ex 8.3: accuracy")
}

/// The seed's network, made of your parts: Linear layers (weight, bias) and the dropout
/// probability applied after every hidden ReLU.
pub struct Mlp {
    pub layers: Vec<(Tensor, Tensor)>,
    pub p: f32,
}

impl Mlp {
    /// Linear layers between consecutive `sizes` (the course's 784, 256, 128, 64, 10), each
    /// initialised with your `linear_init`.
    pub fn new(sizes: &[usize], p: f32, rng: &mut impl Rng) -> Mlp {
        todo!("ex 8.4: your network")
    }

    /// Every weight and bias, in order.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect()
    }

    /// x (B, 784) → log-probabilities (B, 10). Every layer but the last: `linear_forward`, ReLU,
    /// then dropout with a fresh `dropout_mask` when `rng` is given (training) — none when it is
    /// `None` (evaluation). The last layer's output goes through your `log_softmax_rows`.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Tensor {
        todo!("ex 8.4: your network")
    }
}

/// SGD with momentum over a list of parameters, one velocity buffer each, stepping with your
/// `sgd_momentum_step` on the parameter's data and its gradient's.
pub struct MomentumSgd {
    pub params: Vec<Tensor>,
    pub buffers: Vec<Vec<f32>>,
    pub lr: f32,
    pub momentum: f32,
}

impl MomentumSgd {
    pub fn new(params: Vec<Tensor>, lr: f32, momentum: f32) -> MomentumSgd {
        let buffers = vec![Vec::new(); params.len()];
        MomentumSgd { params, buffers, lr, momentum }
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }

    /// One update of every parameter that has a gradient (`Tensor::with_data_mut` gives you the
    /// parameter's numbers, `grad()` then `with_data` its gradient's).
    pub fn step(&mut self) {
        todo!("ex 8.4: your optimizer")
    }
}

/// Train `Mlp::new(&[784, 256, 128, 64, 10], 0.2, …)` seeded with `manual_seed(seed)` on `train`
/// for `epochs`: batches of 64 from `gradschool::data::DataLoader` (shuffled, a fresh order each
/// epoch: e.g. epoch e draws it with `loader.epoch(seed + e)`), your forward with dropout, your `nll_loss`,
/// `backward()`, and `MomentumSgd` with lr 0.05 and momentum 0.9. The grader tests the trained
/// network on held-out digits.
pub fn train_small(train: &ImageDataset, epochs: usize, seed: u64) -> Mlp {
    todo!("ex 8.4: the training loop")
}
