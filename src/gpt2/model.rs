//! GPT-2 as Hugging Face's `GPT2LMHeadModel` defines it: token + position embeddings, blocks of
//! LayerNorm → causal self-attention → residual → LayerNorm → MLP (GELU, tanh approximation) →
//! residual, a final LayerNorm, and an LM head tied to the token embedding. Linear maps use HF's
//! `Conv1D` layout, weight `(in, out)`: y = x·W + b.

use super::config::Gpt2Config;
use crate::int_tensor::IntTensor;
use crate::nn::functional::cross_entropy;
use crate::nn::{prefixed, Dropout, Forward, Module};
use crate::tensor::Tensor;
use rand::Rng;

/// HF's `Conv1D`: y = x·W + b with W `(in, out)`.
pub struct Conv1D {
    /// (in, out)
    pub weight: Tensor,
    /// (out,)
    pub bias: Tensor,
}

impl Conv1D {
    fn new(n_in: usize, n_out: usize, rng: &mut impl Rng) -> Conv1D {
        // GPT-2's initialisation: N(0, 0.02), zero bias
        Conv1D {
            weight: Tensor::normal([n_in, n_out], 0.0, 0.02, rng).requires_grad_(),
            bias: Tensor::zeros([n_out]).requires_grad_(),
        }
    }

    /// y = x·W + b.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.weight) + &self.bias
    }

    fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![(format!("{prefix}.weight"), self.weight.clone()), (format!("{prefix}.bias"), self.bias.clone())]
    }
}

/// A LayerNorm's parameters.
pub struct Norm {
    /// γ
    pub weight: Tensor,
    /// β
    pub bias: Tensor,
}

impl Norm {
    fn new(c: usize) -> Norm {
        Norm { weight: Tensor::ones([c]).requires_grad_(), bias: Tensor::zeros([c]).requires_grad_() }
    }

    fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![(format!("{prefix}.weight"), self.weight.clone()), (format!("{prefix}.bias"), self.bias.clone())]
    }
}

/// One transformer block.
pub struct Block {
    /// LayerNorm before attention.
    pub ln_1: Norm,
    /// q, k, v projections in one: (C, 3C).
    pub c_attn: Conv1D,
    /// attention output projection (C, C).
    pub attn_proj: Conv1D,
    /// LayerNorm before the MLP.
    pub ln_2: Norm,
    /// MLP up-projection (C, inner).
    pub c_fc: Conv1D,
    /// MLP down-projection (inner, C).
    pub mlp_proj: Conv1D,
}

/// One layer's cached keys and values, `(B, NH, T_past, HS)` each.
pub type LayerCache = Option<(Tensor, Tensor)>;

/// The keys and values of every layer for the tokens seen so far (generation's KV cache).
pub struct KvCache {
    layers: Vec<LayerCache>,
    tokens: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Gpt2) -> KvCache {
        KvCache { layers: vec![None; model.config.n_layer], tokens: 0 }
    }

    /// Tokens cached so far.
    pub fn len(&self) -> usize {
        self.tokens
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.tokens == 0
    }
}

/// GPT-2 with its LM head.
pub struct Gpt2 {
    /// The shape.
    pub config: Gpt2Config,
    /// Token embedding (V, C), also the LM head.
    pub wte: Tensor,
    /// Position embedding (n_positions, C).
    pub wpe: Tensor,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorm.
    pub ln_f: Norm,
    dropout: Dropout,
    attn_dropout: Dropout,
    training: bool,
}

impl Gpt2 {
    /// A randomly initialised model (GPT-2's scheme: N(0, 0.02) weights, zero biases, unit norms).
    pub fn new(config: Gpt2Config, rng: &mut impl Rng) -> Gpt2 {
        let (c, inner) = (config.n_embd, config.inner());
        let blocks = (0..config.n_layer)
            .map(|_| Block {
                ln_1: Norm::new(c),
                c_attn: Conv1D::new(c, 3 * c, rng),
                attn_proj: Conv1D::new(c, c, rng),
                ln_2: Norm::new(c),
                c_fc: Conv1D::new(c, inner, rng),
                mlp_proj: Conv1D::new(inner, c, rng),
            })
            .collect();
        Gpt2 {
            wte: Tensor::normal([config.vocab_size, c], 0.0, 0.02, rng).requires_grad_(),
            wpe: Tensor::normal([config.n_positions, c], 0.0, 0.01, rng).requires_grad_(),
            blocks,
            ln_f: Norm::new(c),
            dropout: Dropout::new(config.resid_pdrop.min(0.99), rng),
            attn_dropout: Dropout::new(config.attn_pdrop.min(0.99), rng),
            training: true,
            config,
        }
    }

    fn attention(&self, blk: &Block, x: &Tensor, mask: &Tensor, cache: Option<&mut LayerCache>) -> Tensor {
        let (b, t, c) = (x.dims()[0], x.dims()[1], x.dims()[2]);
        let (nh, hs) = (self.config.n_head, c / self.config.n_head);
        let qkv = blk.c_attn.forward(x); // (B, T, 3C)
        let heads = |i: usize| qkv.narrow(-1, i * c, c).reshape([b, t, nh, hs]).transpose(1, 2); // (B, NH, T, HS)
        let (q, mut k, mut v) = (heads(0), heads(1), heads(2));
        if let Some(cache) = cache {
            // Keys and values of earlier positions are kept: each new token attends to them
            // without recomputing them.
            if let Some((pk, pv)) = cache.take() {
                k = Tensor::cat(&[&pk, &k], 2); // (B, NH, T_past + T, HS)
                v = Tensor::cat(&[&pv, &v], 2);
            }
            *cache = Some((k.clone(), v.clone()));
        }
        let scores = q.matmul(&k.transpose(-2, -1)) * (1.0 / (hs as f32).sqrt()); // (B, NH, T, T_all)
                                                                                  // f32::MIN rather than −∞, as Hugging Face does: a fully masked row stays finite.
        let att = scores.masked_fill(mask, f32::MIN).softmax(-1);
        let att = self.attn_dropout.forward(&att);
        let y = att.matmul(&v).transpose(1, 2).reshape([b, t, c]); // (B, T, C)
        self.dropout.forward(&blk.attn_proj.forward(&y))
    }

    /// Logits `(B, T, V)` for token ids `(B, T)`. `attention_mask` `(B, T)` (1 = token, 0 = pad)
    /// hides padded keys, as Hugging Face's `attention_mask` does.
    pub fn forward(&self, ids: &IntTensor, attention_mask: Option<&Tensor>) -> Tensor {
        self.forward_impl(ids, attention_mask, None)
    }

    /// Like [`Gpt2::forward`] for the next tokens of sequences whose earlier tokens are in
    /// `cache` (empty at first): only the new positions are computed. Logits `(B, T_new, V)`.
    pub fn forward_cached(&self, ids: &IntTensor, cache: &mut KvCache) -> Tensor {
        self.forward_impl(ids, None, Some(cache))
    }

    fn forward_impl(
        &self,
        ids: &IntTensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor {
        assert_eq!(ids.dims().len(), 2, "gpt2: token ids must be (B, T), got {:?}", ids.dims());
        let (b, t) = (ids.dims()[0], ids.dims()[1]);
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        assert!(
            past + t <= self.config.n_positions,
            "gpt2: {} tokens exceed the context of {}",
            past + t,
            self.config.n_positions
        );
        if let Some(&bad) = ids.as_slice().iter().find(|&&i| i < 0 || i as usize >= self.config.vocab_size) {
            panic!("gpt2: token id {bad} outside the vocabulary of {}", self.config.vocab_size);
        }
        let pos = IntTensor::from_vec((past as i64..(past + t) as i64).collect(), [t]);
        let x = self.wte.embedding(ids) + self.wpe.embedding(&pos); // (B, T, C)
        let mut x = self.dropout.forward(&x);
        // 1 where attention is not allowed: keys after the query's position, and padded keys.
        let total = past + t;
        let causal: Vec<f32> = (0..t * total).map(|i| if i % total > past + i / total { 1.0 } else { 0.0 }).collect();
        let mut mask = x.new_from_vec(causal, [1, 1, t, total]);
        if let Some(am) = attention_mask {
            assert_eq!(am.dims(), &[b, t], "gpt2: attention_mask {} vs ids {:?}", am.shape(), ids.dims());
            let pad = (1.0 - am).reshape([b, 1, 1, t]);
            mask = mask.maximum(&pad); // (B, 1, T, T)
        }
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = x.layer_norm(&blk.ln_1.weight, &blk.ln_1.bias, self.config.layer_norm_epsilon);
            let layer_cache = cache.as_mut().map(|c| &mut c.layers[i]);
            x = x + self.attention(blk, &h, &mask, layer_cache);
            let h = x.layer_norm(&blk.ln_2.weight, &blk.ln_2.bias, self.config.layer_norm_epsilon);
            let m = blk.mlp_proj.forward(&blk.c_fc.forward(&h).gelu_tanh());
            x = x + self.dropout.forward(&m);
        }
        if let Some(c) = cache {
            c.tokens += t;
        }
        let x = x.layer_norm(&self.ln_f.weight, &self.ln_f.bias, self.config.layer_norm_epsilon);
        x.matmul(&self.wte.t()) // (B, T, V): the head is tied to the token embedding
    }

    /// The language-modelling loss Hugging Face computes for `labels = input_ids`: each position
    /// predicts the next token (logits shifted left, labels right), -100 ignored.
    pub fn lm_loss(logits: &Tensor, labels: &IntTensor) -> Tensor {
        let (b, t, v) = (logits.dims()[0], logits.dims()[1], logits.dims()[2]);
        let shifted = logits.narrow(1, 0, t - 1); // (B, T-1, V)
        let next: Vec<i64> = (0..b).flat_map(|i| labels.as_slice()[i * t + 1..(i + 1) * t].to_vec()).collect();
        cross_entropy(&shifted.reshape([b * (t - 1), v]), &IntTensor::from_vec(next, [b * (t - 1)]))
    }
}

impl Module for Gpt2 {
    /// Hugging Face's names without the `transformer.` prefix: `wte.weight`, `h.0.attn.c_attn.weight` ….
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("wte.weight".to_string(), self.wte.clone()), ("wpe.weight".to_string(), self.wpe.clone())];
        for (i, blk) in self.blocks.iter().enumerate() {
            let mut b = blk.ln_1.params("ln_1");
            b.extend(blk.c_attn.params("attn.c_attn"));
            b.extend(blk.attn_proj.params("attn.c_proj"));
            b.extend(blk.ln_2.params("ln_2"));
            b.extend(blk.c_fc.params("mlp.c_fc"));
            b.extend(blk.mlp_proj.params("mlp.c_proj"));
            p.extend(prefixed(&format!("h.{i}"), b));
        }
        p.extend(self.ln_f.params("ln_f"));
        p
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.dropout.set_training(training);
        self.attn_dropout.set_training(training);
    }
}
