//! Random tensors from a seeded generator. Pass the same `StdRng` seed and get the same numbers,
//! on every machine (the generator is ChaCha-based and portable).

use crate::shape::Shape;
use crate::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Uniform};

/// A seeded random generator, the analogue of `torch.manual_seed(seed)`.
pub fn manual_seed(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

impl Tensor {
    /// Uniform on [lo, hi) (`torch.empty(shape).uniform_(lo, hi)`).
    pub fn uniform(shape: impl Into<Shape>, lo: f32, hi: f32, rng: &mut impl Rng) -> Tensor {
        let shape = shape.into();
        assert!(lo < hi, "uniform: lo {lo} must be below hi {hi}");
        let dist = Uniform::new(lo, hi).expect("uniform: finite bounds");
        let data = (0..shape.numel()).map(|_| dist.sample(rng)).collect();
        Tensor::from_vec(data, shape)
    }

    /// Uniform on [0, 1) (`torch.rand`).
    pub fn rand(shape: impl Into<Shape>, rng: &mut impl Rng) -> Tensor {
        Tensor::uniform(shape, 0.0, 1.0, rng)
    }

    /// Normal with mean `mean` and standard deviation `std` (`torch.normal`).
    pub fn normal(shape: impl Into<Shape>, mean: f32, std: f32, rng: &mut impl Rng) -> Tensor {
        let shape = shape.into();
        let dist = Normal::new(mean, std).unwrap_or_else(|_| panic!("normal: std {std} must be finite and ≥ 0"));
        let data = (0..shape.numel()).map(|_| dist.sample(rng)).collect();
        Tensor::from_vec(data, shape)
    }

    /// Standard normal N(0, 1) (`torch.randn`).
    pub fn randn(shape: impl Into<Shape>, rng: &mut impl Rng) -> Tensor {
        Tensor::normal(shape, 0.0, 1.0, rng)
    }
}
