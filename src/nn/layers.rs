//! Layers: Linear, Dropout, Embedding, LayerNorm, and the activation modules.

use super::init::{kaiming_uniform, FanMode, Nonlinearity};
use super::module::{Forward, Module};
use crate::int_tensor::IntTensor;
use crate::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};

/// y = x·Wᵀ + b (`nn.Linear`). `weight: (out, in)`, `bias: (out,)`.
pub struct Linear {
    /// (out_features, in_features), as PyTorch stores it.
    pub weight: Tensor,
    /// (out_features,), if the layer has a bias.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default initialisation: W ~ kaiming_uniform(a = √5) = U(−1/√in, 1/√in), and
    /// b ~ U(−1/√in, 1/√in).
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Linear {
        let weight =
            kaiming_uniform(&[out_features, in_features], FanMode::FanIn, Nonlinearity::LeakyRelu(5f32.sqrt()), rng);
        let bound = 1.0 / (in_features as f32).sqrt();
        let bias = Tensor::uniform([out_features], -bound, bound, rng);
        Linear { weight: weight.requires_grad_(), bias: Some(bias.requires_grad_()) }
    }
}

impl Module for Linear {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}

// ANCHOR: linear_forward
impl Forward for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}
// ANCHOR_END: linear_forward

/// Inverted dropout (`nn.Dropout`): in training, each element is zeroed with probability p and
/// the survivors are scaled by 1/(1 − p), so the expected value is unchanged and evaluation
/// needs no rescaling. In eval mode it is the identity.
/// Clones share the mask generator (a checkpointed block holds a clone to replay its masks).
#[derive(Clone)]
pub struct Dropout {
    p: f32,
    training: bool,
    rng: Arc<Mutex<StdRng>>,
}

impl Dropout {
    /// Dropout with probability `p` ∈ [0, 1); its mask generator is seeded from `rng`.
    pub fn new(p: f32, rng: &mut impl Rng) -> Dropout {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} must be in [0, 1)");
        Dropout { p, training: true, rng: Arc::new(Mutex::new(StdRng::seed_from_u64(rng.random()))) }
    }

    /// Restarts the mask generator from `seed` (a trainer reseeds per epoch, so that resuming
    /// at an epoch boundary reproduces the masks exactly).
    pub fn reseed(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = StdRng::seed_from_u64(seed);
    }

    /// The mask generator's state now, for [`Dropout::replay`].
    pub fn generator_state(&self) -> StdRng {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `f` with the generator set to `state`, then puts the generator back where it was,
    /// returning `f`'s result and the state `f` left the generator in: the masks drawn inside
    /// `f` are those drawn from `state` before, and later masks are unaffected (gradient
    /// checkpointing's recomputation must see the forward pass's masks).
    pub fn replay<R>(&self, state: &StdRng, f: impl FnOnce() -> R) -> (R, StdRng) {
        let saved = std::mem::replace(&mut *self.rng.lock().unwrap_or_else(|e| e.into_inner()), state.clone());
        let out = f();
        let end = std::mem::replace(&mut *self.rng.lock().unwrap_or_else(|e| e.into_inner()), saved);
        (out, end)
    }

    /// Dropout with probability `p` and its mask generator seeded with `seed`.
    pub fn seeded(p: f32, seed: u64) -> Dropout {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} must be in [0, 1)");
        Dropout { p, training: true, rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))) }
    }

    /// Dropout with probability `p` that draws its masks from `other`'s generator: its masks are
    /// reseeded and replayed (gradient checkpointing) together with `other`'s.
    pub fn sharing(p: f32, other: &Dropout) -> Dropout {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} must be in [0, 1)");
        Dropout { p, training: other.training, rng: other.rng.clone() }
    }

    /// The probability of dropping.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Whether it drops anything now (training, p > 0).
    pub fn active(&self) -> bool {
        self.training && self.p > 0.0
    }

    /// A seed from the mask generator, for a kernel that draws its own mask from it (fused
    /// attention): one draw, so reseeding and replay reproduce it as they do masks.
    pub fn draw_seed(&self) -> u64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).random()
    }

    /// Sets the generator's state.
    pub fn set_generator_state(&self, state: StdRng) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}

impl Module for Dropout {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

// ANCHOR: dropout
impl Forward for Dropout {
    fn forward(&self, x: &Tensor) -> Tensor {
        if !self.training || self.p == 0.0 {
            return x.clone();
        }
        let scale = 1.0 / (1.0 - self.p);
        // One uniform draw u ∈ [0, 1) per element; drop it when u < p. `random::<f32>()` is
        // (b >> 8)·2⁻²⁴ for a random u32 b, so the same test in integers is b >> 8 < ⌈p·2²⁴⌉:
        // the same mask, from a whole buffer of draws at once (benches/README.md: MNIST epoch −20%).
        let mut bits = vec![0u32; x.numel()];
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).fill(&mut bits[..]);
        let below = (f64::from(self.p) * f64::from(1u32 << 24)).ceil() as u32;
        let mask: Vec<f32> = bits.iter().map(|&b| if b >> 8 < below { 0.0 } else { scale }).collect();
        // ∂(x·m)/∂x = m: the backward pass drops the same elements.
        x * &x.new_from_vec(mask, x.dims().to_vec())
    }
}
// ANCHOR_END: dropout

/// A lookup table of `num` vectors of size `dim` (`nn.Embedding`), initialised N(0, 1).
pub struct Embedding {
    /// (num_embeddings, embedding_dim).
    pub weight: Tensor,
}

impl Embedding {
    /// A table of `num` rows of `dim`, N(0, 1) as PyTorch initialises it.
    pub fn new(num: usize, dim: usize, rng: &mut impl Rng) -> Embedding {
        Embedding { weight: Tensor::randn([num, dim], rng).requires_grad_() }
    }

    /// Rows `ids` of the table: shape `ids.shape + [dim]`.
    pub fn forward(&self, ids: &IntTensor) -> Tensor {
        self.weight.embedding(ids)
    }
}

impl Module for Embedding {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}

/// Layer normalisation over the last dimension (`nn.LayerNorm(dim)`):
/// y = (x − mean) / √(var + ε) · γ + β, with the population variance.
#[derive(Clone)]
pub struct LayerNorm {
    /// γ, initialised to 1.
    pub weight: Tensor,
    /// β, initialised to 0.
    pub bias: Tensor,
    /// ε (PyTorch's default 1e-5).
    pub eps: f32,
}

impl LayerNorm {
    /// LayerNorm over a last dimension of size `dim`.
    pub fn new(dim: usize, eps: f32) -> LayerNorm {
        LayerNorm { weight: Tensor::ones([dim]).requires_grad_(), bias: Tensor::zeros([dim]).requires_grad_(), eps }
    }
}

impl Module for LayerNorm {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone()), ("bias".to_string(), self.bias.clone())]
    }
}

impl Forward for LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(&self.weight, &self.bias, self.eps)
    }
}

/// Activation functions as modules, for [`super::Sequential`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// exact GELU
    Gelu,
    /// GELU, tanh approximation
    GeluTanh,
    /// tanh
    Tanh,
    /// σ(x)
    Sigmoid,
    /// x·σ(x)
    Silu,
}

impl Module for Activation {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

impl Forward for Activation {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Silu => x.silu(),
        }
    }
}

/// Any module with a tensor-to-tensor forward pass.
pub trait Layer: Module + Forward + Send + Sync {}
impl<T: Module + Forward + Send + Sync> Layer for T {}

/// Modules applied in order (`nn.Sequential`); parameters are named `0.weight`, `1.bias` ….
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    /// An empty stack.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Layer + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| super::module::prefixed(&i.to_string(), l.named_parameters()))
            .collect()
    }
    fn set_training(&mut self, training: bool) {
        self.layers.iter_mut().for_each(|l| l.set_training(training));
    }
}

impl Forward for Sequential {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.iter().fold(x.clone(), |h, l| l.forward(&h))
    }
}
