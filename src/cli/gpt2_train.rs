//! `gradschool pretrain` and `gradschool sentiment`: the GPT-2 training commands.

use super::args::{at_least_one, device, positive_f32, positive_f64, precision, unit_interval};
use clap::Args;
use gradschool::amp::Precision;
use gradschool::gpt2::Gpt2Config;
use gradschool::train::pretrain::{pretrain, PretrainConfig};
use gradschool::train::sentiment::{train_sentiment, LoraConfig, SentimentConfig, TextData};
use gradschool::train::sweep::{sweep_with, SweepGrid};
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
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    n_layer: usize,
    /// Width.
    #[arg(long, default_value_t = 128, value_parser = at_least_one)]
    n_embd: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    n_head: usize,
    /// Tokens per training sequence (also the context length).
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    block_size: usize,
    /// The model's context length (default: the block size, at least 32); longer than the block
    /// size for a base that will be fine-tuned on longer sequences.
    #[arg(long, value_parser = at_least_one)]
    n_positions: Option<usize>,
    /// Sequences per step.
    #[arg(long, default_value_t = 16, value_parser = at_least_one)]
    batch_size: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    steps: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_f64)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = device)]
    device: Device,
    /// Recompute each block's activations in the backward pass (less memory, ~⅓ more compute).
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Evaluate on the held-out tenth of the text, and save a checkpoint, every N steps.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    eval_every: usize,
    /// Batches per optimizer step: their gradients are summed, as one batch of N × --batch-size
    /// (under mpirun, each rank takes N of them).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    grad_accum: usize,
    /// ZeRO stage 1 under mpirun (`--zero 1`): optimizer state sharded across ranks, the
    /// same result with less memory per rank.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    zero: u8,
    /// Matrix products in bf16 or fp16 (f32 master weights; fp16 adds a dynamic loss scaler).
    #[arg(long, default_value = "f32", value_parser = precision)]
    precision: Precision,
    #[command(flatten)]
    pub(super) profile: super::args::ProfileArgs,
    /// Continue from the checkpoint in --out-dir.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start a new run in an --out-dir that holds one, deleting its checkpoint, metrics.csv and
    /// loss.png (without this or --resume such a folder is refused).
    #[arg(long)]
    overwrite: bool,
}

/// Pretrains and prints the loss curve's ends.
pub fn run_pretrain(a: &PretrainArgs) -> Result<()> {
    let config = Gpt2Config {
        vocab_size: 50257,
        n_positions: a.n_positions.unwrap_or(a.block_size.max(32)),
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
        steps: a.steps,
        batch_size: a.batch_size,
        block_size: a.block_size,
        lr: a.lr,
        seed: a.seed,
        out_dir: a.out_dir.clone(),
        progress: std::io::stderr().is_terminal(),
        device: a.device,
        gradient_checkpointing: a.gradient_checkpointing,
        eval_every: a.eval_every,
        resume: a.resume,
        overwrite: a.overwrite,
        grad_accum: a.grad_accum,
        zero: a.zero == 1,
        precision: a.precision,
        ..PretrainConfig::new(a.texts.clone(), a.tokenizer.clone(), config)
    };
    let report = pretrain(&cfg)?;
    if let (Some(first), Some(last)) = (report.rows.first(), report.rows.last()) {
        gradschool::say!(
            "loss {:.4} at step {} → {:.4} at step {}",
            first.train_loss,
            first.step,
            last.train_loss,
            last.step
        );
    }
    gradschool::say!(
        "wrote {} (config.json, model.safetensors, tokenizer files, metrics.csv, loss.png)",
        a.out_dir.display()
    );
    Ok(())
}

/// Flags of `gradschool sentiment` (defaults: the course notes').
#[derive(Args, Debug)]
pub struct SentimentArgs {
    /// Directory with rt-polarity.pos and rt-polarity.neg.
    #[arg(long, default_value = "data/rt-polarity")]
    data_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "runs/sentiment")]
    out_dir: PathBuf,
    #[command(flatten)]
    pub(super) common: FineTuneArgs,
}

/// Flags of `gradschool classify`: the course's recipe on your own labelled texts.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Training examples: CSV or TSV with `text` and `label` columns, or JSON Lines.
    #[arg(long)]
    train: PathBuf,
    /// Validation examples, same formats (default: a seeded tenth of --train held out).
    #[arg(long)]
    valid: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "runs/classify")]
    out_dir: PathBuf,
    #[command(flatten)]
    pub(super) common: FineTuneArgs,
}

/// Flags of `gradschool sweep`: a grid of fine-tuning runs on Rotten Tomatoes or your files.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Training examples (CSV/TSV/JSONL); without it, Rotten Tomatoes from --data-dir.
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation examples for --train.
    #[arg(long, requires = "train")]
    valid: Option<PathBuf>,
    /// Directory with rt-polarity.pos and rt-polarity.neg (when no --train).
    #[arg(long, default_value = "data/rt-polarity")]
    data_dir: PathBuf,
    /// Output directory: sweep.csv, sweep.png, and run-N/ per run.
    #[arg(long, default_value = "runs/sweep")]
    out_dir: PathBuf,
    /// Learning rates to try, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = positive_f64)]
    sweep_lr: Vec<f64>,
    /// Batch sizes to try.
    #[arg(long, value_delimiter = ',', value_parser = at_least_one)]
    sweep_batch_size: Vec<usize>,
    /// Warmup steps to try.
    #[arg(long, value_delimiter = ',')]
    sweep_warmup: Vec<usize>,
    /// LoRA ranks to try.
    #[arg(long, value_delimiter = ',', value_parser = at_least_one)]
    sweep_lora_r: Vec<usize>,
    /// LoRA α values to try.
    #[arg(long, value_delimiter = ',', value_parser = positive_f32)]
    sweep_lora_alpha: Vec<f32>,
    /// LoRA dropout probabilities to try.
    #[arg(long, value_delimiter = ',', value_parser = unit_interval)]
    sweep_lora_dropout: Vec<f64>,
    #[command(flatten)]
    pub(super) common: FineTuneArgs,
}

/// `gradschool sweep`: every combination of the --sweep-* values, one fine-tuning run each.
pub fn run_sweep(a: &SweepArgs) -> Result<()> {
    let data = match &a.train {
        Some(train) => TextData::Files { train: train.clone(), valid: a.valid.clone() },
        None => TextData::RottenTomatoes(a.data_dir.clone()),
    };
    let base = config(&a.common, data, &a.out_dir);
    let grid = SweepGrid {
        lr: a.sweep_lr.clone(),
        batch_size: a.sweep_batch_size.clone(),
        warmup: a.sweep_warmup.clone(),
        lora_r: a.sweep_lora_r.clone(),
        lora_alpha: a.sweep_lora_alpha.clone(),
        lora_dropout: a.sweep_lora_dropout.iter().map(|&d| d as f32).collect(),
    };
    // --profile FILE: each run's recorded steps into its own trace, FILE's name + `-run-N`
    let profile = a.common.profile.profile.as_deref();
    if let Some(path) = profile {
        super::args::trace_output(path)?;
        gradschool::profiler::record_steps(2, a.common.profile.profile_steps);
    }
    let runs = sweep_with(&base, &grid, |n, _| {
        if let Some(path) = profile {
            super::write_profile(&run_trace(path, n))?;
            gradschool::profiler::record_steps(2, a.common.profile.profile_steps);
            // the next run's
        }
        Ok(())
    })?;
    gradschool::profiler::disarm(); // the window armed for a run that does not follow
    for r in &runs {
        gradschool::say!("{:<50} eval_accuracy={:.4}", r.label, r.report.last("eval_accuracy").unwrap_or(f64::NAN));
    }
    gradschool::say!("wrote {0}/sweep.csv, {0}/sweep.png, {0}/run-*/", a.out_dir.display());
    if let Some(path) = profile {
        gradschool::say!("and one trace a run: {} …", run_trace(path, 1).display());
    }
    Ok(())
}

/// The trace of sweep run `n` for `--profile FILE`: `trace.json` → `trace-run-N.json`.
fn run_trace(path: &std::path::Path, n: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!("{stem}-run-{n}{ext}"))
}

/// The LoRA flags every fine-tuning command shares.
#[derive(Args, Debug)]
pub struct LoraArgs {
    /// LoRA rank: train low-rank adapters on the attention projections instead of every weight.
    #[arg(long, value_parser = at_least_one)]
    lora_r: Option<usize>,
    /// LoRA α (the update is scaled by α/r).
    #[arg(long, default_value_t = 16.0, value_parser = positive_f32)]
    lora_alpha: f32,
    /// Also adapt the MLP projections.
    #[arg(long)]
    lora_mlp: bool,
    /// Dropout on the adapters' input (PEFT's lora_dropout).
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    lora_dropout: f64,
    /// QLoRA: store the frozen base's linear weights as `nf4` (4-bit NormalFloat, blocks of 64)
    /// or `int8` (per output feature), dequantized inside each product; needs --lora-r.
    #[arg(long, value_parser = gradschool::gpt2::parse_quant_kind, requires = "lora_r")]
    quantize_base: Option<gradschool::quant::QuantKind>,
    /// With LoRA, also train the final LayerNorm (PEFT's modules_to_save; needed when the base's
    /// embedding rows are short, as in a small model pretrained here).
    #[arg(long)]
    lora_train_ln_f: bool,
}

impl LoraArgs {
    /// The adapters asked for (None: full fine-tuning).
    pub fn config(&self) -> Option<LoraConfig> {
        self.lora_r.map(|r| LoraConfig {
            r,
            alpha: self.lora_alpha,
            mlp: self.lora_mlp,
            dropout: self.lora_dropout as f32,
            quantize_base: self.quantize_base,
        })
    }

    /// `--lora-train-ln-f`.
    pub fn train_ln_f(&self) -> bool {
        self.lora_train_ln_f
    }
}

/// The fine-tuning flags `sentiment` and `classify` share (defaults: the course notes').
#[derive(Args, Debug)]
pub struct FineTuneArgs {
    /// A Hugging Face GPT-2 directory to fine-tune.
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// MAX_LEN: tokens per example, input + EOS + label.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    max_len: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 2e-5, value_parser = positive_f64)]
    lr: f64,
    /// Batch size.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    batch_size: usize,
    /// Epochs.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    epochs: usize,
    /// Evaluate every N steps.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    eval_every: usize,
    /// Save a checkpoint every N steps.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    save_every: usize,
    /// Warmup steps.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train on N sentences only.
    #[arg(long, value_parser = at_least_one)]
    limit_train: Option<usize>,
    /// Evaluate on N sentences only.
    #[arg(long, value_parser = at_least_one)]
    limit_eval: Option<usize>,
    #[command(flatten)]
    lora: LoraArgs,
    /// Recompute each block's activations in the backward pass (the course's
    /// gradient_checkpointing=True: less memory, ~⅓ more compute).
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Full fine-tuning with the token and position embeddings (and so the tied output head)
    /// frozen: what LoRA leaves frozen besides the layers it adapts (chapter 11's measurement).
    #[arg(long, conflicts_with = "lora_r")]
    freeze_embeddings: bool,
    /// Clip gradients to this global norm before each step (Hugging Face's max_grad_norm).
    #[arg(long, default_value_t = 1.0, value_parser = positive_f32)]
    max_grad_norm: f32,
    /// Continue from the checkpoint in --out-dir.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start a new run in an --out-dir that holds one, deleting its checkpoint, metrics.csv and
    /// loss.png (without this or --resume such a folder is refused).
    #[arg(long)]
    overwrite: bool,
    /// Accumulate gradients over N batches per optimizer step (effective batch N × batch size).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    grad_accum: usize,
    /// ZeRO stage 1 under mpirun (`--zero 1`): optimizer state sharded across ranks, the
    /// same result with less memory per rank.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    zero: u8,
    /// Matrix products in bf16 or fp16 (f32 master weights; fp16 adds a dynamic loss scaler).
    #[arg(long, default_value = "f32", value_parser = precision)]
    precision: Precision,
    #[command(flatten)]
    pub(super) profile: super::args::ProfileArgs,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = device)]
    device: Device,
}

/// The config for `a`'s flags and `data`, written to `out_dir`.
fn config(a: &FineTuneArgs, data: TextData, out_dir: &std::path::Path) -> SentimentConfig {
    SentimentConfig {
        tokenizer_dir: a.tokenizer.clone(),
        out_dir: out_dir.to_path_buf(),
        max_len: a.max_len,
        lr: a.lr,
        batch_size: a.batch_size,
        epochs: a.epochs,
        eval_every: a.eval_every,
        save_every: a.save_every,
        warmup: a.warmup,
        seed: a.seed,
        max_grad_norm: a.max_grad_norm,
        limit_train: a.limit_train,
        limit_eval: a.limit_eval,
        progress: std::io::stderr().is_terminal(),
        lora: a.lora.config(),
        lora_train_ln_f: a.lora.train_ln_f(),
        freeze_embeddings: a.freeze_embeddings,
        gradient_checkpointing: a.gradient_checkpointing,
        grad_accum: a.grad_accum,
        zero: a.zero == 1,
        precision: a.precision,
        device: a.device,
        resume: a.resume,
        overwrite: a.overwrite,
        ..SentimentConfig::with_data(a.model_dir.clone(), data)
    }
}

/// Fine-tunes and prints the final accuracy.
fn fine_tune(cfg: &SentimentConfig) -> Result<()> {
    let report = train_sentiment(cfg)?;
    let acc = report.last("eval_accuracy").unwrap_or(f64::NAN);
    gradschool::say!("wrote {0}/metrics.csv, {0}/loss.png, {0}/checkpoint-*", cfg.out_dir.display());
    gradschool::say!("eval_accuracy={acc:.4}");
    Ok(())
}

/// `gradschool sentiment`: the course's fine-tuning on Rotten Tomatoes.
pub fn run_sentiment(a: &SentimentArgs) -> Result<()> {
    fine_tune(&config(&a.common, TextData::RottenTomatoes(a.data_dir.clone()), &a.out_dir))
}

/// `gradschool classify`: the same recipe on the student's own files.
pub fn run_classify(a: &ClassifyArgs) -> Result<()> {
    let data = TextData::Files { train: a.train.clone(), valid: a.valid.clone() };
    fine_tune(&config(&a.common, data, &a.out_dir))
}
