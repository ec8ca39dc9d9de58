//! Weight initialisation with PyTorch's formulas (`torch.nn.init`).
//!
//! The idea: keep the variance of activations (forward) or gradients (backward) the same from
//! layer to layer. A weight of shape `(fan_out, fan_in, …)` multiplies `fan_in` inputs; if each
//! weight has variance σ², the output variance is `fan_in · σ² · Var(x)`, so σ² = gain²/fan_in
//! keeps it constant (Kaiming). Xavier compromises between both directions with
//! σ² = 2·gain²/(fan_in + fan_out). A uniform U(−b, b) has variance b²/3, hence b = √3·σ.

use crate::tensor::Tensor;
use rand::Rng;

/// Which fan the variance is normalised by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Preserve the forward pass (PyTorch's default).
    FanIn,
    /// Preserve the backward pass.
    FanOut,
}

/// The nonlinearity after the layer, which sets the gain (`torch.nn.init.calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// No activation, or sigmoid: gain 1.
    Linear,
    /// gain 1.
    Sigmoid,
    /// gain 5/3.
    Tanh,
    /// gain √2.
    Relu,
    /// gain √(2 / (1 + slope²)).
    LeakyRelu(f32),
}

/// The recommended gain for a nonlinearity.
pub fn calculate_gain(nl: Nonlinearity) -> f32 {
    match nl {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f32.sqrt(),
        Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
    }
}

/// `(fan_in, fan_out)` of a weight shaped `(out, in, *kernel)`: `in·k` and `out·k`, with k the
/// product of the kernel dims (1 for a Linear weight).
pub fn fan_in_and_fan_out(shape: &[usize]) -> (usize, usize) {
    assert!(shape.len() >= 2, "init: fan in and fan out need a weight with at least 2 dims, got {shape:?}");
    let receptive: usize = shape[2..].iter().product();
    (shape[1] * receptive, shape[0] * receptive)
}

fn fan(shape: &[usize], mode: FanMode) -> usize {
    let (fi, fo) = fan_in_and_fan_out(shape);
    match mode {
        FanMode::FanIn => fi,
        FanMode::FanOut => fo,
    }
}

/// Kaiming (He) uniform: U(−b, b) with b = gain·√(3/fan). `nn.Linear` uses
/// `Nonlinearity::LeakyRelu(√5)`, fan-in, which gives b = 1/√fan_in.
pub fn kaiming_uniform(shape: &[usize], mode: FanMode, nl: Nonlinearity, rng: &mut impl Rng) -> Tensor {
    let bound = calculate_gain(nl) * (3.0 / fan(shape, mode) as f32).sqrt();
    Tensor::uniform(shape, -bound, bound, rng)
}

/// Kaiming (He) normal: N(0, σ²) with σ = gain/√fan.
pub fn kaiming_normal(shape: &[usize], mode: FanMode, nl: Nonlinearity, rng: &mut impl Rng) -> Tensor {
    let std = calculate_gain(nl) / (fan(shape, mode) as f32).sqrt();
    Tensor::normal(shape, 0.0, std, rng)
}

/// Xavier (Glorot) uniform: U(−b, b) with b = gain·√(6/(fan_in + fan_out)).
pub fn xavier_uniform(shape: &[usize], gain: f32, rng: &mut impl Rng) -> Tensor {
    let (fi, fo) = fan_in_and_fan_out(shape);
    let bound = gain * (6.0 / (fi + fo) as f32).sqrt();
    Tensor::uniform(shape, -bound, bound, rng)
}

/// Xavier (Glorot) normal: N(0, σ²) with σ = gain·√(2/(fan_in + fan_out)).
pub fn xavier_normal(shape: &[usize], gain: f32, rng: &mut impl Rng) -> Tensor {
    let (fi, fo) = fan_in_and_fan_out(shape);
    let std = gain * (2.0 / (fi + fo) as f32).sqrt();
    Tensor::normal(shape, 0.0, std, rng)
}
