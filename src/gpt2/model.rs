//! GPT-2 as Hugging Face's `GPT2LMHeadModel` defines it: token + position embeddings, blocks of
//! LayerNorm → causal self-attention → residual → LayerNorm → MLP (GELU, tanh approximation) →
//! residual, a final LayerNorm, and an LM head tied to the token embedding. Linear maps use HF's
//! `Conv1D` layout, weight `(in, out)`: y = x·W + b.

use super::config::Gpt2Config;
use crate::autograd::checkpoint;
use crate::int_tensor::IntTensor;
use crate::nn::functional::cross_entropy;
use crate::nn::{prefixed, Dropout, Forward, LayerNorm, Module};
use crate::quant::QuantizedMatrix;
use crate::tensor::Tensor;
use rand::Rng;
use std::sync::{Arc, Mutex};

/// HF's `Conv1D`: y = x·W + b with W `(in, out)`, plus an optional LoRA adapter. Clones share
/// the tensors.
#[derive(Clone)]
pub struct Conv1D {
    /// (in, out)
    pub weight: Tensor,
    /// (out,)
    pub bias: Tensor,
    /// Low-rank adapter, when LoRA is on.
    pub lora: Option<Lora>,
    /// The frozen weight stored in NF4 or int8 (QLoRA's base, [`Gpt2::quantize_base`]); when
    /// set, `weight` is an empty placeholder and holds no f32 copy.
    pub quantized: Option<Arc<QuantizedMatrix>>,
}

/// LoRA (Hu et al., 2021): a frozen W learns through a low-rank update,
/// y = x·W + b + (dropout(x)·Aᵀ·Bᵀ)·(α/r), with A `(r, in)` (Kaiming-uniform) and B `(out, r)`
/// (zeros, so training starts from the base model exactly). Names and shapes as PEFT's
/// `lora_A` / `lora_B`; the dropout is PEFT's `lora_dropout`, on the adapter's input only.
#[derive(Clone)]
pub struct Lora {
    /// (r, in)
    pub a: Tensor,
    /// (out, r)
    pub b: Tensor,
    /// α / r
    pub scale: f32,
    /// On the adapter's input (p = 0 unless [`Gpt2::set_lora_dropout`] says otherwise).
    pub dropout: Dropout,
}

impl Conv1D {
    fn new(n_in: usize, n_out: usize, rng: &mut impl Rng, random: bool) -> Conv1D {
        // GPT-2's initialisation: N(0, 0.02), zero bias
        let weight = if random { Tensor::normal([n_in, n_out], 0.0, 0.02, rng) } else { Tensor::zeros([n_in, n_out]) };
        Conv1D {
            weight: weight.requires_grad_(),
            bias: Tensor::zeros([n_out]).requires_grad_(),
            lora: None,
            quantized: None,
        }
    }

    /// (in, out) features, whether the weight is stored dense or quantized.
    pub fn in_out(&self) -> (usize, usize) {
        match &self.quantized {
            Some(q) => (q.rows, q.cols),
            None => (self.weight.dims()[0], self.weight.dims()[1]),
        }
    }

    /// Adds a rank-`r` adapter with scale α/r (A ~ U(±1/√in) as PEFT's Kaiming init, B = 0).
    pub fn add_lora(&mut self, r: usize, alpha: f32, rng: &mut impl Rng) {
        let (n_in, n_out) = self.in_out();
        let bound = 1.0 / (n_in as f32).sqrt();
        let a = Tensor::uniform([r, n_in], -bound, bound, rng).requires_grad_();
        let dropout = Dropout::seeded(0.0, 0); // off until Gpt2::set_lora_dropout
        self.lora = Some(Lora { a, b: Tensor::zeros([n_out, r]).requires_grad_(), scale: alpha / r as f32, dropout });
    }

    /// Folds the adapter into W (W ← W + (B·A)ᵀ·α/r) and removes it: inference costs nothing extra.
    /// A quantized W is dequantized first (as PEFT merges into a 4-bit base): the result is f32.
    pub fn merge_lora(&mut self) {
        if let Some(l) = self.lora.take() {
            let _guard = crate::no_grad();
            if let Some(q) = self.quantized.take() {
                self.weight = l.a.new_from_vec(q.dequantize(), [q.rows, q.cols]);
            }
            let delta = l.b.matmul(&l.a).t() * l.scale; // (in, out)
            self.weight.set_data(&(&self.weight + &delta));
        }
    }

    fn lora_params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.lora
            .iter()
            .flat_map(|l| {
                [(format!("{prefix}.lora_A.weight"), l.a.clone()), (format!("{prefix}.lora_B.weight"), l.b.clone())]
            })
            .collect()
    }
}

impl Module for Conv1D {
    /// `weight`, `bias` (the LoRA adapter's tensors are named apart, see `Gpt2::lora_parameters`);
    /// a quantized weight is not an f32 parameter: only `bias` then.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let bias = ("bias".to_string(), self.bias.clone());
        match self.quantized {
            Some(_) => vec![bias],
            None => vec![("weight".to_string(), self.weight.clone()), bias],
        }
    }
}

impl Forward for Conv1D {
    // ANCHOR: lora_forward
    /// y = x·W + b (+ the LoRA update).
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = match &self.quantized {
            Some(q) => x.matmul_quantized(q) + &self.bias,
            None => Tensor::addmm(&self.bias, x, &self.weight), // x·W + b, b added inside the GEMM
        };
        match &self.lora {
            Some(l) => y + l.dropout.forward(x).linear(&l.a, None).linear(&l.b, None) * l.scale,
            None => y,
        }
    }
    // ANCHOR_END: lora_forward
}

/// One transformer block. Clones share the tensors.
#[derive(Clone)]
pub struct Block {
    /// LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// q, k, v projections in one: (C, 3C).
    pub c_attn: Conv1D,
    /// attention output projection (C, C).
    pub attn_proj: Conv1D,
    /// LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// MLP up-projection (C, inner).
    pub c_fc: Conv1D,
    /// MLP down-projection (inner, C).
    pub mlp_proj: Conv1D,
}

impl Block {
    /// The four projections, mutably.
    fn convs_mut(&mut self) -> [&mut Conv1D; 4] {
        [&mut self.c_attn, &mut self.attn_proj, &mut self.c_fc, &mut self.mlp_proj]
    }
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

/// One block's forward pass with everything it needs (tensor handles and the shared dropout
/// generators: cheap to clone), so that a checkpointed block can run again in backward.
#[derive(Clone)]
struct BlockStep {
    config: Gpt2Config,
    block: Block,
    dropout: Dropout,
    attn_dropout: Dropout,
    /// Use the fused attention kernel where the device has one.
    fused: bool,
    /// The padding mask (B, T), 1 = token, for the fused kernel (the unfused path reads the
    /// combined mask instead).
    key_mask: Option<Tensor>,
    /// Where [`Gpt2::attention_weights`] collects each layer's attention probabilities.
    probe: Option<AttentionProbe>,
}

/// Each layer's attention probabilities `(B, NH, T, T)`, in order, as a forward pass makes them.
type AttentionProbe = std::sync::Arc<std::sync::Mutex<Vec<Tensor>>>;

impl BlockStep {
    // ANCHOR: attention
    fn attention(&self, x: &Tensor, mask: &Tensor, cache: Option<&mut LayerCache>) -> Tensor {
        let (blk, (b, t, c)) = (&self.block, (x.dims()[0], x.dims()[1], x.dims()[2]));
        let (nh, hs) = (self.config.n_head, c / self.config.n_head);
        let qkv = blk.c_attn.forward(x);
        // q, k, v: columns i·C.. of qkv (B, T, 3C) as (B, NH, T, HS) — narrow, reshape and
        // transpose in one copy
        let heads = |i: usize| qkv.split_heads(i * c, c, nh);
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
        let scale = 1.0 / (hs as f32).sqrt();
        if self.fused && k.dims()[2] == t && Tensor::has_fused_attention(&q) {
            // no earlier positions cached: the fused kernel, which stores no (T, T) tensor
            let (p, seed) = if self.attn_dropout.active() {
                (self.attn_dropout.p(), self.attn_dropout.draw_seed())
            } else {
                (0.0, 0)
            };
            if let Some(y) = Tensor::fused_causal_attention(&q, &k, &v, self.key_mask.as_ref(), scale, p, seed) {
                let y = y.transpose(1, 2).reshape([b, t, c]); // (B, T, C)
                return self.dropout.forward(&blk.attn_proj.forward(&y));
            }
        }
        // softmax(q·kᵀ·scale), masked: (B, NH, T, T_all), k read transposed in place, scale, mask
        // and softmax one kernel. f32::MIN rather than −∞, as Hugging Face does: a fully masked
        // row stays finite.
        let att = q.matmul_t(&k).masked_softmax(mask, f32::MIN, scale);
        if let Some(probe) = &self.probe {
            probe.lock().unwrap_or_else(|e| e.into_inner()).push(att.detach());
        }
        let att = self.attn_dropout.forward(&att);
        let y = att.matmul(&v).transpose(1, 2).reshape([b, t, c]); // (B, T, C)
        self.dropout.forward(&blk.attn_proj.forward(&y))
    }
    // ANCHOR_END: attention

    // ANCHOR: block_forward
    /// x + attention(ln_1(x)), then + mlp(ln_2(·)).
    fn forward(&self, x: &Tensor, mask: &Tensor, cache: Option<&mut LayerCache>) -> Tensor {
        let blk = &self.block;
        let h = blk.ln_1.forward(x);
        let x = x + &self.attention(&h, mask, cache);
        let h = blk.ln_2.forward(&x);
        let m = blk.mlp_proj.forward(&blk.c_fc.forward(&h).gelu_tanh());
        x + self.dropout.forward(&m)
    }
    // ANCHOR_END: block_forward

    // ANCHOR: checkpointed_block
    /// [`BlockStep::forward`] under gradient checkpointing: only `x` is kept; the block runs again
    /// in backward with the dropout generators replayed from where this forward pass found them,
    /// so the recomputation draws the same masks. Afterwards the generators continue from where
    /// the block left them, exactly as without checkpointing.
    fn forward_checkpointed(self, x: &Tensor, mask: &Tensor) -> Tensor {
        let start = (self.dropout.generator_state(), self.attn_dropout.generator_state());
        let end = Arc::new(Mutex::new(None));
        let (step, end_in) = (self.clone(), end.clone());
        let y = checkpoint(&[x.clone(), mask.clone()], move |xs| {
            let ((y, attn_end), drop_end) = step
                .dropout
                .replay(&start.0, || step.attn_dropout.replay(&start.1, || step.forward(&xs[0], &xs[1], None)));
            *end_in.lock().unwrap_or_else(|e| e.into_inner()) = Some((drop_end, attn_end));
            y
        });
        if let Some((d, a)) = end.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.dropout.set_generator_state(d);
            self.attn_dropout.set_generator_state(a);
        }
        y
    }
    // ANCHOR_END: checkpointed_block
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
    pub ln_f: LayerNorm,
    /// Dropout after the embeddings (`embd_pdrop`).
    embd_dropout: Dropout,
    /// Dropout on each block's residual branches (`resid_pdrop`).
    dropout: Dropout,
    /// Dropout on the attention weights (`attn_pdrop`).
    attn_dropout: Dropout,
    /// Recompute each block's activations in the backward pass instead of storing them
    /// (Hugging Face's `gradient_checkpointing_enable()`); training only, off by default.
    pub gradient_checkpointing: bool,
    /// Attention as one fused op where the device has the kernel (the CPU; see
    /// `ops::attention`): no (B, NH, T, T) tensors are stored. Off by default: on this 2-core
    /// CPU at 8 × 256 tokens (124M) it saves 18% of peak memory (6.2 → 5.1 GiB) but costs 23%
    /// more time per step (its loops are not GEMMs), and with gradient checkpointing it saves
    /// only 3% (benches/README.md). The GPU is where it is meant to pay (issue: CUDA kernel).
    pub fused_attention: bool,
}

impl Gpt2 {
    /// A randomly initialised model (GPT-2's scheme: N(0, 0.02) weights, zero biases, unit norms).
    pub fn new(config: Gpt2Config, rng: &mut impl Rng) -> Gpt2 {
        Gpt2::build(config, rng, true)
    }

    /// The model's shape with zero weights, for a loader to fill: zeros come from calloc, whose
    /// pages cost no memory until written, so loading a model never holds a second, random
    /// copy of it (for the 124M shape, 0.5 GB of peak memory).
    pub(crate) fn skeleton(config: Gpt2Config) -> Gpt2 {
        Gpt2::build(config, &mut crate::manual_seed(0), false)
    }

    fn build(config: Gpt2Config, rng: &mut impl Rng, random: bool) -> Gpt2 {
        let (c, inner) = (config.n_embd, config.inner());
        let mut conv = |n_in: usize, n_out: usize| Conv1D::new(n_in, n_out, rng, random);
        let blocks = (0..config.n_layer)
            .map(|_| Block {
                ln_1: LayerNorm::new(c, config.layer_norm_epsilon),
                c_attn: conv(c, 3 * c),
                attn_proj: conv(c, c),
                ln_2: LayerNorm::new(c, config.layer_norm_epsilon),
                c_fc: conv(c, inner),
                mlp_proj: conv(inner, c),
            })
            .collect();
        let mut table = |rows: usize, std: f32| match random {
            true => Tensor::normal([rows, c], 0.0, std, rng).requires_grad_(),
            false => Tensor::zeros([rows, c]).requires_grad_(),
        };
        Gpt2 {
            wte: table(config.vocab_size, 0.02),
            wpe: table(config.n_positions, 0.01),
            blocks,
            ln_f: LayerNorm::new(c, config.layer_norm_epsilon),
            dropout: Dropout::new(config.resid_pdrop.min(0.99), rng),
            attn_dropout: Dropout::new(config.attn_pdrop.min(0.99), rng),
            embd_dropout: Dropout::new(config.embd_pdrop.min(0.99), rng),
            gradient_checkpointing: false,
            fused_attention: false,
            config,
        }
    }

    /// Restarts every dropout mask generator from `seed` (a trainer does this per micro-batch,
    /// so that a resumed run draws the masks an uninterrupted one would).
    pub fn reseed_dropout(&self, seed: u64) {
        self.embd_dropout.reseed(seed);
        self.dropout.reseed(seed ^ 0x5151_5151_5151_5151);
        self.attn_dropout.reseed(seed ^ 0xa7a7_a7a7_a7a7_a7a7);
    }

    /// Logits `(B, T, V)` for token ids `(B, T)`. `attention_mask` `(B, T)` (1 = token, 0 = pad)
    /// hides padded keys, as Hugging Face's `attention_mask` does.
    pub fn forward(&self, ids: &IntTensor, attention_mask: Option<&Tensor>) -> Tensor {
        self.head(&self.forward_impl(ids, attention_mask, None, None))
    }

    /// Every layer's attention probabilities for `ids` (B, T), in evaluation (no gradient): one
    /// `(B, NH, T, T)` tensor per layer, row i of head h being how query position i spreads its
    /// attention over the keys (each row sums to 1; the future is 0). For drawing
    /// (`gradschool attention`); the unfused path computes them, whatever `fused_attention` says.
    pub fn attention_weights(&self, ids: &IntTensor) -> Vec<Tensor> {
        let _guard = crate::no_grad();
        let probe = AttentionProbe::default();
        self.forward_impl(ids, None, None, Some(&probe));
        let maps = std::mem::take(&mut *probe.lock().unwrap_or_else(|e| e.into_inner()));
        maps
    }

    /// The final hidden states `(B, T, C)` (after `ln_f`), before the LM head: what
    /// [`Gpt2::labelled_loss`] takes, and what a classifier head would read.
    pub fn hidden(&self, ids: &IntTensor, attention_mask: Option<&Tensor>) -> Tensor {
        self.forward_impl(ids, attention_mask, None, None)
    }

    /// The LM head: logits `h·wteᵀ` for hidden states `h: (…, C)`; the head is tied to the token
    /// embedding and x·Wᵀ reads W transposed in place.
    pub fn head(&self, h: &Tensor) -> Tensor {
        h.linear(&self.wte, None)
    }

    /// Like [`Gpt2::forward`] for the next tokens of sequences whose earlier tokens are in
    /// `cache` (empty at first): only the new positions are computed. Logits `(B, T_new, V)`.
    pub fn forward_cached(&self, ids: &IntTensor, cache: &mut KvCache) -> Tensor {
        self.head(&self.forward_impl(ids, None, Some(cache), None))
    }

    fn forward_impl(
        &self,
        ids: &IntTensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        probe: Option<&AttentionProbe>,
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
        let mut x = self.embd_dropout.forward(&x);
        // 1 where attention is not allowed: keys after the query's position, and padded keys.
        let total = past + t;
        let causal: Vec<f32> = (0..t * total).map(|i| if i % total > past + i / total { 1.0 } else { 0.0 }).collect();
        let mut mask = x.new_from_vec(causal, [1, 1, t, total]);
        if let Some(am) = attention_mask {
            assert_eq!(am.dims(), &[b, t], "gpt2: attention_mask {} vs ids {:?}", am.shape(), ids.dims());
            let pad = (1.0 - am).reshape([b, 1, 1, t]);
            mask = mask.maximum(&pad); // (B, 1, T, T)
        }
        let checkpointing = self.gradient_checkpointing && cache.is_none() && crate::is_grad_enabled();
        for (i, blk) in self.blocks.iter().enumerate() {
            let step = BlockStep {
                config: self.config.clone(),
                block: blk.clone(),
                dropout: self.dropout.clone(),
                attn_dropout: self.attn_dropout.clone(),
                fused: self.fused_attention && probe.is_none(),
                key_mask: attention_mask.map(Tensor::detach),
                probe: probe.cloned(),
            };
            x = if checkpointing {
                step.forward_checkpointed(&x, &mask)
            } else {
                step.forward(&x, &mask, cache.as_mut().map(|c| &mut c.layers[i]))
            };
        }
        if let Some(c) = cache {
            c.tokens += t;
        }
        self.ln_f.forward(&x)
    }

    // ANCHOR: lm_loss
    /// The language-modelling loss Hugging Face computes for `labels = input_ids`: each position
    /// predicts the next token (logits shifted left, labels right), -100 ignored.
    pub fn lm_loss(logits: &Tensor, labels: &IntTensor) -> Tensor {
        let (b, t, v) = (logits.dims()[0], logits.dims()[1], logits.dims()[2]);
        // Position i predicts labels[i + 1]; the last position has nothing to predict (−100).
        // Shifting the labels instead of slicing the logits avoids copying a (B, T−1, V) tensor.
        let next: Vec<i64> =
            (0..b * t).map(|k| if k % t + 1 < t { labels.as_slice()[k + 1] } else { crate::IGNORE_INDEX }).collect();
        cross_entropy(&logits.reshape([b * t, v]), &IntTensor::from_vec(next, [b * t]))
    }
    // ANCHOR_END: lm_loss

    // ANCHOR: labelled_loss
    /// [`Gpt2::lm_loss`] of `head(hidden)`, with the head run only where there is a label.
    /// The course's sentiment sequences carry one label among MAX_LEN positions, and the head —
    /// a (C × 50257) product per position, plus the cross-entropy over 50257 logits — would
    /// otherwise be computed 31 times out of 32 for a loss term that is ignored (-100). The
    /// ignored positions contribute nothing to the loss or its gradient, so this is the same
    /// value and the same gradients (tested), for 1/32 of the head's work.
    /// Returns the loss, the logits of the labelled positions `(N, V)` and their flat indices
    /// into `(B·T)`, in order (position `i·T + j` predicts `labels[i][j + 1]`).
    pub fn labelled_loss(&self, hidden: &Tensor, labels: &IntTensor) -> (Tensor, Tensor, Vec<usize>) {
        let (b, t, c) = (hidden.dims()[0], hidden.dims()[1], hidden.dims()[2]);
        assert_eq!(labels.dims(), &[b, t], "labelled_loss: labels {} vs hidden {}", labels.shape(), hidden.shape());
        let l = labels.as_slice();
        let rows: Vec<usize> = (0..b * t).filter(|&k| k % t + 1 < t && l[k + 1] != crate::IGNORE_INDEX).collect();
        let targets = IntTensor::from_vec(rows.iter().map(|&k| l[k + 1]).collect(), [rows.len()]);
        let index = IntTensor::from_vec(rows.iter().map(|&k| k as i64).collect(), [rows.len()]);
        let logits = self.head(&hidden.reshape([b * t, c]).index_select(0, &index)); // (N, V)
        (cross_entropy(&logits, &targets), logits, rows)
    }
    // ANCHOR_END: labelled_loss
}

impl Gpt2 {
    /// Turns on LoRA (the course's "small-parameter fine-tuning"): freezes every base weight and
    /// adds rank-`r` adapters with scale α/r to the attention projections (c_attn, c_proj) and,
    /// with `mlp`, to the MLP's (c_fc, c_proj). Returns the number of trainable parameters.
    pub fn enable_lora(&mut self, r: usize, alpha: f32, mlp: bool, rng: &mut impl Rng) -> usize {
        assert!(r > 0, "enable_lora: rank must be at least 1");
        for (_, p) in self.named_parameters() {
            p.set_requires_grad(false);
        }
        for blk in &mut self.blocks {
            blk.c_attn.add_lora(r, alpha, rng);
            blk.attn_proj.add_lora(r, alpha, rng);
            if mlp {
                blk.c_fc.add_lora(r, alpha, rng);
                blk.mlp_proj.add_lora(r, alpha, rng);
            }
        }
        self.lora_parameters().iter().map(|(_, t)| t.numel()).sum()
    }

    /// PEFT's `lora_dropout`: dropout with probability `p` on every adapter's input. The masks
    /// come from the residual dropout's generator, so reseeding, resuming and gradient
    /// checkpointing's replay reproduce them exactly.
    pub fn set_lora_dropout(&mut self, p: f32) {
        let shared = Dropout::sharing(p, &self.dropout);
        for l in self.blocks.iter_mut().flat_map(Block::convs_mut).filter_map(|c| c.lora.as_mut()) {
            l.dropout = shared.clone();
        }
    }

    /// The adapters with the names a PEFT user would recognise
    /// (`base_model.model.transformer.h.0.attn.c_attn.lora_A.weight` …).
    pub fn lora_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, blk) in self.blocks.iter().enumerate() {
            let pre = format!("base_model.model.transformer.h.{i}");
            out.extend(blk.c_attn.lora_params(&format!("{pre}.attn.c_attn")));
            out.extend(blk.attn_proj.lora_params(&format!("{pre}.attn.c_proj")));
            out.extend(blk.c_fc.lora_params(&format!("{pre}.mlp.c_fc")));
            out.extend(blk.mlp_proj.lora_params(&format!("{pre}.mlp.c_proj")));
        }
        out
    }

    /// Folds every adapter into its base weight.
    pub fn merge_lora(&mut self) {
        for blk in &mut self.blocks {
            for c in [&mut blk.c_attn, &mut blk.attn_proj, &mut blk.c_fc, &mut blk.mlp_proj] {
                c.merge_lora();
            }
        }
    }

    /// Moves every weight (and adapter) to `device`, in place.
    pub fn to_device(&self, device: &crate::Device) -> crate::Result<()> {
        let adapters = self.lora_parameters().into_iter().map(|(_, t)| t);
        self.parameters().into_iter().chain(adapters).try_for_each(|p| p.to_device_(device))
    }

    /// With LoRA on, also trains the final LayerNorm (PEFT's `modules_to_save = ["ln_f"]`, 2·C
    /// parameters). Why it matters: with the tied head frozen, a logit is wⱼ·ln_f(x), and ln_f's
    /// output has a fixed norm (√C·|γ|), so no adapter can make a logit larger than
    /// |wⱼ|·√C·|γ|. Pretrained GPT-2's embedding rows are long enough for that not to bind; a
    /// small or briefly trained model's are not (tests/gpt2_parity.rs measures the plateau).
    pub fn train_final_norm(&mut self) {
        self.ln_f.weight.set_requires_grad(true);
        self.ln_f.bias.set_requires_grad(true);
    }

    /// What LoRA training updates and saves, with PEFT's names: the adapters, then any base
    /// weight left trainable (`modules_to_save`, e.g. ln_f after [`Gpt2::train_final_norm`]).
    pub fn adapter_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = self.lora_parameters();
        let saved = self.named_parameters().into_iter().filter(|(_, p)| p.requires_grad());
        out.extend(saved.map(|(n, p)| (format!("base_model.model.transformer.{n}"), p)));
        out
    }

    /// Parameters that will be trained: the adapters (and modules to save) when LoRA is on,
    /// else everything that requires grad.
    pub fn trainable_parameters(&self) -> Vec<Tensor> {
        if self.lora_parameters().is_empty() {
            self.parameters().into_iter().filter(|p| p.requires_grad()).collect()
        } else {
            self.adapter_parameters().into_iter().map(|(_, t)| t).collect()
        }
    }
}

impl Module for Gpt2 {
    /// Hugging Face's names without the `transformer.` prefix: `wte.weight`, `h.0.attn.c_attn.weight` ….
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("wte.weight".to_string(), self.wte.clone()), ("wpe.weight".to_string(), self.wpe.clone())];
        for (i, blk) in self.blocks.iter().enumerate() {
            let mut b = prefixed("ln_1", blk.ln_1.named_parameters());
            b.extend(prefixed("attn.c_attn", blk.c_attn.named_parameters()));
            b.extend(prefixed("attn.c_proj", blk.attn_proj.named_parameters()));
            b.extend(prefixed("ln_2", blk.ln_2.named_parameters()));
            b.extend(prefixed("mlp.c_fc", blk.c_fc.named_parameters()));
            b.extend(prefixed("mlp.c_proj", blk.mlp_proj.named_parameters()));
            p.extend(prefixed(&format!("h.{i}"), b));
        }
        p.extend(prefixed("ln_f", self.ln_f.named_parameters()));
        p
    }

    fn set_training(&mut self, training: bool) {
        self.embd_dropout.set_training(training);
        self.dropout.set_training(training);
        self.attn_dropout.set_training(training);
        for l in self.blocks.iter_mut().flat_map(Block::convs_mut).filter_map(|c| c.lora.as_mut()) {
            l.dropout.set_training(training);
        }
    }
}
