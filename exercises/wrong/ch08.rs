//! Chapter 8 — MNIST with your own parts: a Linear layer, dropout, accuracy, and a training loop
//! whose matmul (4.8), log-softmax (7.4), loss (7.5) and optimizer step (6.1) are yours.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch08-mnist.md

// correct chapters 4, 6 and 7, so that each grader here fails for this file's own mistake
use crate::reference_ch04::matmul;
use crate::reference_ch06::sgd_momentum_step;
use crate::reference_ch07::{log_softmax_rows, nll_loss};
use gradschool::data::ImageDataset;
use gradschool::{IntTensor, Tensor};
use rand::rngs::StdRng;
use rand::Rng;

/// PyTorch's nn.Linear initialisation: weight (out, in) and bias (out), both U(−1/√in, 1/√in),
/// both requiring grad.
pub fn linear_init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let _ = rng;
    let w = Tensor::zeros([out_features, in_features]).requires_grad_(); // all-zero: every unit the same forever
    let b = Tensor::zeros([out_features]).requires_grad_();
    (w, b)
}

/// y = x·Wᵀ + b for x (B, in), W (out, in), b (out), with your `matmul` (4.8), `t()` and `+`.
pub fn linear_forward(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    matmul(x, &w.t()) + b
}

/// An inverted-dropout mask of n values: each 0 with probability p, and the kept ones scaled so
/// that the expected value of every element is unchanged.
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
        let layers = sizes.windows(2).map(|io| correct_init(io[0], io[1], rng)).collect();
        Mlp { layers, p }
    }

    /// Every weight and bias, in order.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect()
    }

    /// x (B, 784) → log-probabilities (B, 10). Every layer but the last: `linear_forward`, ReLU,
    /// then dropout with a fresh `dropout_mask` when `rng` is given (training) — none when it is
    /// `None` (evaluation). The last layer's output goes through your `log_softmax_rows`.
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut StdRng>) -> Tensor {
        let (last, hidden) = self.layers.split_last().expect("at least one layer");
        let mut h = x.clone(); // (B, 784)
        for (w, b) in hidden {
            h = linear_forward(&h, w, b).relu(); // (B, out)
            if let Some(rng) = rng.as_deref_mut() {
                let mask = correct_mask(h.numel(), self.p, rng);
                h = &h * &Tensor::from_vec(mask, h.dims().to_vec());
            }
        }
        log_softmax_rows(&linear_forward(&h, &last.0, &last.1)) // (B, 10)
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
        for (p, buf) in self.params.iter().zip(&mut self.buffers) {
            let Some(grad) = p.grad() else { continue };
            grad.with_data(|g| p.with_data_mut(|w| sgd_momentum_step(w, g, buf, self.lr, self.momentum)));
        }
    }
}

/// Train `Mlp::new(&[784, 256, 128, 64, 10], 0.2, …)` seeded with `manual_seed(seed)` on `train`
/// for `epochs`: batches of 64 from `gradschool::data::DataLoader` (shuffled; epoch e draws its
/// order with `loader.epoch(seed + e)`), your forward with dropout, your `nll_loss`,
/// `backward()`, and `MomentumSgd` with lr 0.05 and momentum 0.9. The grader tests the trained
/// network on held-out digits.
pub fn train_small(train: &ImageDataset, epochs: usize, seed: u64) -> Mlp {
    let mut rng = gradschool::manual_seed(seed);
    let model = Mlp::new(&[784, 256, 128, 64, 10], 0.2, &mut rng);
    let mut opt = MomentumSgd::new(model.parameters(), 0.05, 0.9);
    let loader = gradschool::data::DataLoader::new(train, 64, true, false);
    for epoch in 0..epochs {
        for (x, y) in loader.epoch(seed + epoch as u64) {
            let x = x.reshape([x.dims()[0], 784]); // (B, 784)
            // zero_grad forgotten: every step adds this batch's gradient to all the earlier ones
            let loss = nll_loss(&model.forward(&x, Some(&mut rng)), &y);
            loss.backward();
            opt.step();
        }
    }
    model
}

// 8.4's grader must fail on 8.4's own mistake (the forgotten zero_grad), so the network is built
// with correct versions of 8.1 and 8.2, not the wrong ones above.
fn correct_init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let bound = 1.0 / (in_features as f32).sqrt();
    let w = Tensor::uniform([out_features, in_features], -bound, bound, rng).requires_grad_();
    let b = Tensor::uniform([out_features], -bound, bound, rng).requires_grad_();
    (w, b)
}

fn correct_mask(n: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    (0..n).map(|_| if rng.random::<f32>() < p { 0.0 } else { 1.0 / (1.0 - p) }).collect()
}
