//! The course's MNIST network: 784-256-128-64-10 with ReLU, dropout 0.2 and log_softmax,
//! the same module as the notes' PyTorch `FeedForwardNet` (same parameter names and shapes,
//! so weights saved here load there).

use crate::nn::{prefixed, Dropout, Forward, Linear, Module};
use crate::tensor::Tensor;
use rand::Rng;

/// fc1 (784→256) → ReLU → dropout → fc2 (256→128) → ReLU → dropout → fc3 (128→64) → ReLU →
/// dropout → fc4 (64→10) → log_softmax.
pub struct FeedForwardNet {
    /// 784 → 256
    pub fc1: Linear,
    /// 256 → 128
    pub fc2: Linear,
    /// 128 → 64
    pub fc3: Linear,
    /// 64 → 10
    pub fc4: Linear,
    /// p = 0.2, shared by the three hidden layers as in the notes
    pub dropout: Dropout,
}

impl FeedForwardNet {
    /// The network with PyTorch's default initialisation, drawn from `rng`.
    pub fn new(rng: &mut impl Rng) -> FeedForwardNet {
        FeedForwardNet::with_inputs(784, rng)
    }

    /// The same network for images of `n_in` pixels (fc1 n_in → 256): the course's recipe on
    /// another image size (Fashion-MNIST is 28 × 28 too; a 32 × 32 set gives 1024).
    pub fn with_inputs(n_in: usize, rng: &mut impl Rng) -> FeedForwardNet {
        FeedForwardNet {
            fc1: Linear::new(n_in, 256, rng),
            fc2: Linear::new(256, 128, rng),
            fc3: Linear::new(128, 64, rng),
            fc4: Linear::new(64, 10, rng),
            dropout: Dropout::new(0.2, rng),
        }
    }
}

impl Module for FeedForwardNet {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = prefixed("fc1", self.fc1.named_parameters());
        p.extend(prefixed("fc2", self.fc2.named_parameters()));
        p.extend(prefixed("fc3", self.fc3.named_parameters()));
        p.extend(prefixed("fc4", self.fc4.named_parameters()));
        p
    }
    fn set_training(&mut self, training: bool) {
        self.dropout.set_training(training);
    }
}

// ANCHOR: ffn
impl Forward for FeedForwardNet {
    /// `x: (B, 1, 28, 28)` or `(B, 784)` → log-probabilities `(B, 10)`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x.reshape([x.dims()[0], x.numel() / x.dims()[0].max(1)]); // (B, 784)
        let x = self.dropout.forward(&self.fc1.forward(&x).relu()); // (B, 256)
        let x = self.dropout.forward(&self.fc2.forward(&x).relu()); // (B, 128)
        let x = self.dropout.forward(&self.fc3.forward(&x).relu()); // (B, 64)
        self.fc4.forward(&x).log_softmax(1) // (B, 10)
    }
}
// ANCHOR_END: ffn
