//! `Gpt2Config`: the hyper-parameters of a GPT-2 model, read from a Hugging Face `config.json`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The shape of a GPT-2 model (field names as in Hugging Face's `config.json`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Gpt2Config {
    /// Vocabulary size V (50257 for `gpt2`).
    pub vocab_size: usize,
    /// Context length: the largest position + 1 (1024).
    pub n_positions: usize,
    /// Width C (768).
    pub n_embd: usize,
    /// Number of blocks (12).
    pub n_layer: usize,
    /// Attention heads NH (12).
    pub n_head: usize,
    /// ε of every LayerNorm (1e-5).
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f32,
    /// Width of the MLP's hidden layer; `None` means 4C.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Dropout of the residual branches (0.1).
    #[serde(default = "default_dropout")]
    pub resid_pdrop: f32,
    /// Dropout of the embeddings (0.1).
    #[serde(default = "default_dropout")]
    pub embd_pdrop: f32,
    /// Dropout of the attention probabilities (0.1).
    #[serde(default = "default_dropout")]
    pub attn_pdrop: f32,
}

/// The keys of a Hugging Face GPT-2 `config.json` that change the computation and that gradschool
/// implements one way only; a file asking for another is refused rather than silently run as
/// something else.
#[derive(Deserialize)]
struct Architecture {
    model_type: Option<String>,
    activation_function: Option<String>,
    tie_word_embeddings: Option<bool>,
    scale_attn_weights: Option<bool>,
    scale_attn_by_inverse_layer_idx: Option<bool>,
    add_cross_attention: Option<bool>,
}

impl Architecture {
    fn supported(&self) -> std::result::Result<(), String> {
        let refuse = |key: &str, got: &dyn std::fmt::Debug, implemented: &str| {
            Err(format!("\"{key}\": {got:?} is not implemented by gradschool (it implements {implemented})"))
        };
        if let Some(t) = self.model_type.as_deref().filter(|t| *t != "gpt2") {
            return refuse("model_type", &t, "\"gpt2\"");
        }
        // gelu_new and gelu_pytorch_tanh are the same function: GELU's tanh approximation
        if let Some(a) = self.activation_function.as_deref().filter(|a| !["gelu_new", "gelu_pytorch_tanh"].contains(a))
        {
            return refuse("activation_function", &a, "\"gelu_new\", GELU's tanh approximation");
        }
        if self.tie_word_embeddings == Some(false) {
            return refuse("tie_word_embeddings", &false, "an LM head tied to the token embedding wte");
        }
        if self.scale_attn_weights == Some(false) {
            return refuse("scale_attn_weights", &false, "attention scores scaled by 1/√head_size");
        }
        for (key, v) in [
            ("scale_attn_by_inverse_layer_idx", self.scale_attn_by_inverse_layer_idx),
            ("add_cross_attention", self.add_cross_attention),
        ] {
            if v == Some(true) {
                return refuse(key, &true, "false");
            }
        }
        Ok(())
    }
}

fn default_eps() -> f32 {
    1e-5
}

fn default_dropout() -> f32 {
    0.1
}

impl Gpt2Config {
    /// GPT-2 small (124M), as published.
    pub fn gpt2() -> Gpt2Config {
        Gpt2Config {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            layer_norm_epsilon: 1e-5,
            n_inner: None,
            resid_pdrop: 0.1,
            embd_pdrop: 0.1,
            attn_pdrop: 0.1,
        }
    }

    /// Reads and validates a Hugging Face `config.json`.
    pub fn from_file(path: &Path) -> Result<Gpt2Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Gpt2Config =
            serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not a GPT-2 config: {e}")))?;
        config.validate().map_err(|msg| Error::format(path, msg))?;
        let arch: Architecture =
            serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not a GPT-2 config: {e}")))?;
        arch.supported().map_err(|msg| Error::format(path, msg))?;
        Ok(config)
    }

    /// Checks the shape is usable: the heads divide the width, nothing is zero.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.n_embd == 0 || self.n_head == 0 || self.n_layer == 0 || self.vocab_size == 0 || self.n_positions == 0 {
            return Err("n_embd, n_head, n_layer, vocab_size and n_positions must be positive".into());
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(format!("n_embd {} is not divisible by n_head {}", self.n_embd, self.n_head));
        }
        // Far beyond any published GPT-2-shaped model (GPT-3: 12288 wide, 96 layers, 2048
        // positions), and small enough that a typo cannot ask for terabytes.
        let limits = [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("n_positions", self.n_positions, 1 << 20),
            ("n_embd", self.n_embd, 1 << 16),
            ("n_layer", self.n_layer, 1 << 10),
            ("n_inner", self.n_inner.unwrap_or(0), 1 << 18),
        ];
        for (name, v, max) in limits {
            if v > max {
                return Err(format!("{name} {v} is implausibly large (at most {max})"));
            }
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(format!("layer_norm_epsilon must be a positive number, got {}", self.layer_norm_epsilon));
        }
        for (name, p) in
            [("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)]
        {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} {p} is not a probability in [0, 1)"));
            }
        }
        Ok(())
    }

    /// The MLP's hidden width.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}
