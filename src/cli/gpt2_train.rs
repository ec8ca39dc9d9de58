//! `gradschool pretrain` and `gradschool sentiment`: the GPT-2 training commands.

use clap::Args;
use gradschool::gpt2::Gpt2Config;
use gradschool::train::pretrain::{pretrain, PretrainConfig};
use gradschool::train::sentiment::{train_sentiment, SentimentConfig};
use gradschool::{Device, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Flags of `gradschool pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// UTF-8 text files to learn from.
    #[arg(long = "text", required = true)]
    texts: Vec<PathBuf>,
    /// GPT-2 tokenizer directory (vocab.json + merges.txt, or tokenizer.json).
    #[arg(long)]
    tokenizer: PathBuf,
    /// Output directory (Hugging Face format, with the tokenizer files).
    #[arg(long, default_value = "runs/pretrain")]
    out_dir: PathBuf,
    /// Blocks.
    #[arg(long, default_value_t = 4)]
    n_layer: usize,
    /// Width.
    #[arg(long, default_value_t = 128)]
    n_embd: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    n_head: usize,
    /// Tokens per training sequence (also the context length).
    #[arg(long, default_value_t = 64)]
    block_size: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Recompute each block's activations in the backward pass (less memory, ~⅓ more compute).
    #[arg(long)]
    gradient_checkpointing: bool,
}

/// Pretrains and prints the loss curve's ends.
pub fn run_pretrain(a: &PretrainArgs) -> Result<()> {
    let config = Gpt2Config {
        vocab_size: 50257,
        n_positions: a.block_size.max(32),
        n_embd: a.n_embd,
        n_layer: a.n_layer,
        n_head: a.n_head,
        layer_norm_epsilon: 1e-5,
        n_inner: None,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
    };
    let cfg = PretrainConfig {
        texts: a.texts.clone(),
        tokenizer_dir: a.tokenizer.clone(),
        config,
        steps: a.steps,
        batch_size: a.batch_size,
        block_size: a.block_size,
        lr: a.lr,
        seed: a.seed,
        out_dir: a.out_dir.clone(),
        progress: std::io::stderr().is_terminal(),
        device: Device::parse(&a.device)?,
        gradient_checkpointing: a.gradient_checkpointing,
    };
    cfg.device.ensure_available()?;
    let curve = pretrain(&cfg)?;
    if let (Some(first), Some(last)) = (curve.first(), curve.last()) {
        println!("loss {:.4} at step {} → {:.4} at step {}", first.1, first.0, last.1, last.0);
    }
    println!("wrote {} (config.json, model.safetensors, tokenizer files, pretrain-loss.png)", a.out_dir.display());
    Ok(())
}

/// Flags of `gradschool sentiment` (defaults: the course notes').
#[derive(Args, Debug)]
pub struct SentimentArgs {
    /// A Hugging Face GPT-2 directory to fine-tune.
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Directory with rt-polarity.pos and rt-polarity.neg.
    #[arg(long, default_value = "data/rt-polarity")]
    data_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "runs/sentiment")]
    out_dir: PathBuf,
    /// MAX_LEN: tokens per example, input + EOS + label.
    #[arg(long, default_value_t = 32)]
    max_len: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 2e-5)]
    lr: f64,
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Epochs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Evaluate every N steps.
    #[arg(long, default_value_t = 100)]
    eval_every: usize,
    /// Save a checkpoint every N steps.
    #[arg(long, default_value_t = 100)]
    save_every: usize,
    /// Warmup steps.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train on N sentences only.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Evaluate on N sentences only.
    #[arg(long)]
    limit_eval: Option<usize>,
    /// LoRA rank: train low-rank adapters on the attention projections instead of every weight.
    #[arg(long)]
    lora_r: Option<usize>,
    /// LoRA α (the update is scaled by α/r).
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f32,
    /// Also adapt the MLP projections.
    #[arg(long)]
    lora_mlp: bool,
    /// With LoRA, also train the final LayerNorm (PEFT's modules_to_save; needed when the base's
    /// embedding rows are short, as in a small model pretrained here).
    #[arg(long)]
    lora_train_ln_f: bool,
    /// Recompute each block's activations in the backward pass (the course's
    /// gradient_checkpointing=True: less memory, ~⅓ more compute).
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Accumulate gradients over N batches per optimizer step (effective batch N × batch size).
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Fine-tunes and prints the final accuracy.
pub fn run_sentiment(a: &SentimentArgs) -> Result<()> {
    let mut cfg = SentimentConfig::new(a.model_dir.clone(), a.data_dir.clone());
    cfg.tokenizer_dir = a.tokenizer.clone();
    cfg.out_dir = a.out_dir.clone();
    (cfg.max_len, cfg.lr, cfg.batch_size, cfg.epochs) = (a.max_len, a.lr, a.batch_size, a.epochs);
    (cfg.eval_every, cfg.save_every, cfg.warmup, cfg.seed) = (a.eval_every, a.save_every, a.warmup, a.seed);
    (cfg.limit_train, cfg.limit_eval) = (a.limit_train, a.limit_eval);
    cfg.progress = std::io::stderr().is_terminal();
    cfg.lora = a.lora_r.map(|r| (r, a.lora_alpha, a.lora_mlp));
    (cfg.lora_train_ln_f, cfg.gradient_checkpointing, cfg.grad_accum) =
        (a.lora_train_ln_f, a.gradient_checkpointing, a.grad_accum);
    cfg.device = Device::parse(&a.device)?;
    cfg.device.ensure_available()?;
    let rows = train_sentiment(&cfg)?;
    let acc = rows.last().and_then(|r| r.eval_accuracy).unwrap_or(f64::NAN);
    println!("wrote {0}/metrics.csv, {0}/loss.png, {0}/checkpoint-*", cfg.out_dir.display());
    println!("eval_accuracy={acc:.4}");
    Ok(())
}
