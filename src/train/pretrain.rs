//! Pretraining a small GPT-2-shaped model from scratch on local text, so that the fine-tuning
//! pipeline can be proven on real data on machines that cannot download `gpt2` itself — a
//! recipe over the shared [`train`] loop: random windows of the token stream, the last tenth of
//! it held out for an evaluation loss.

use super::{train_in, RunDir, Start, Task, TrainReport, TrainerConfig};
use crate::error::{Error, Result};
use crate::gpt2::{copy_tokenizer, Gpt2, Gpt2Config, Gpt2Tokenizer};
use crate::int_tensor::IntTensor;
use crate::nn::Module;
use crate::optim::{AdamW, Schedule};
use crate::{manual_seed, Tensor};
use rand::Rng;
use std::path::{Path, PathBuf};

/// Everything `gradschool pretrain` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct PretrainConfig {
    /// UTF-8 text files to learn from.
    pub texts: Vec<PathBuf>,
    /// GPT-2's tokenizer (vocab.json + merges.txt or tokenizer.json); copied into the output.
    pub tokenizer_dir: PathBuf,
    /// The model's shape (vocabulary = the tokenizer's).
    pub config: Gpt2Config,
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per sequence.
    pub block_size: usize,
    /// Peak learning rate (warmup 5% then cosine decay).
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Where the Hugging Face-format model goes (and metrics.csv, loss.png, the checkpoint).
    pub out_dir: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
    /// Where to train.
    pub device: crate::Device,
    /// Recompute each block's activations in backward.
    pub gradient_checkpointing: bool,
    /// Evaluate on the held-out tokens and save a checkpoint every this many steps.
    pub eval_every: usize,
    /// Continue from out_dir/checkpoint.safetensors.
    pub resume: bool,
    /// Replace the run the output folder holds (without this or `resume`, such a folder is refused).
    pub overwrite: bool,
    /// Stop after this step with a checkpoint, as an interrupted run would (testing resume).
    pub halt_after: Option<usize>,
    /// Micro-batches per optimizer step on each rank (gradient accumulation).
    pub grad_accum: usize,
    /// ZeRO-1 across ranks (optimizer state sharded; the same numbers).
    pub zero: bool,
    /// The matrix products' number format (`--precision`; fp16 with a loss scaler).
    pub precision: crate::amp::Precision,
}

impl PretrainConfig {
    /// The defaults of `gradschool pretrain` for these texts and tokenizer.
    pub fn new(texts: Vec<PathBuf>, tokenizer_dir: PathBuf, config: Gpt2Config) -> PretrainConfig {
        PretrainConfig {
            texts,
            tokenizer_dir,
            config,
            steps: 1000,
            batch_size: 16,
            block_size: 64,
            lr: 1e-3,
            seed: 42,
            out_dir: PathBuf::from("runs/pretrain"),
            progress: false,
            device: crate::Device::Cpu,
            gradient_checkpointing: false,
            eval_every: 100,
            resume: false,
            overwrite: false,
            halt_after: None,
            grad_accum: 1,
            zero: false,
            precision: crate::amp::Precision::F32,
        }
    }
}

/// Held-out windows evaluated at most (each a batch of `batch_size` sequences).
const EVAL_BATCHES: usize = 4;

struct PretrainTask<'a> {
    cfg: &'a PretrainConfig,
    model: Gpt2,
    train: Vec<i64>,
    valid: Vec<i64>,
}

impl Task for PretrainTask<'_> {
    fn title(&self) -> String {
        format!("pretraining, {} layers × {} wide", self.cfg.config.n_layer, self.cfg.config.n_embd)
    }
    fn fingerprint(&self) -> String {
        let c = self.cfg;
        format!(
            "pretrain texts={:?} tokenizer={:?} config={:?} steps={} batch={} block={}",
            c.texts, c.tokenizer_dir, c.config, c.steps, c.batch_size, c.block_size
        )
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.model.named_parameters()
    }
    fn batches(&self) -> usize {
        // one "epoch" of `steps` optimizer steps, each of grad_accum random batches on each rank
        self.cfg.steps * self.cfg.grad_accum.max(1) * crate::distributed::world().size()
    }
    fn start_epoch(&mut self, _epoch: usize, _seed: u64) {}
    // ANCHOR: pretrain_loss
    fn loss(&mut self, _index: usize, seed: u64) -> Result<Tensor> {
        // random windows of the token stream, drawn from this step's seed; the model predicts
        // each next token
        let (b, t) = (self.cfg.batch_size, self.cfg.block_size);
        let mut rng = manual_seed(seed);
        let starts: Vec<usize> = (0..b).map(|_| rng.random_range(0..self.train.len() - t)).collect();
        let ids: Vec<i64> = starts.iter().flat_map(|&s| self.train[s..s + t].iter().copied()).collect();
        let ids = IntTensor::from_vec(ids, [b, t]); // (B, T)
        self.model.reseed_dropout(rng.random());
        Ok(Gpt2::lm_loss(&self.model.forward(&ids, None), &ids))
    }
    // ANCHOR_END: pretrain_loss
    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
    fn eval_names(&self) -> Vec<String> {
        if self.valid.len() > self.cfg.block_size {
            vec!["eval_loss".into()]
        } else {
            Vec::new() // too little text to hold any out
        }
    }
    fn eval_sums(&mut self, rank: usize, ranks: usize) -> Result<Vec<f64>> {
        // consecutive windows of the held-out tail: the same ones at every evaluation
        let (b, t) = (self.cfg.batch_size, self.cfg.block_size);
        let windows: Vec<&[i64]> = self.valid.chunks_exact(t).take(b * EVAL_BATCHES).collect();
        let (mut sum, mut n) = (0.0, 0);
        for batch in windows.chunks(b).skip(rank).step_by(ranks) {
            let ids = IntTensor::from_vec(batch.concat(), [batch.len(), t]);
            sum += Gpt2::lm_loss(&self.model.forward(&ids, None), &ids).item() as f64 * batch.len() as f64;
            n += batch.len();
        }
        Ok(vec![sum, n as f64])
    }
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64> {
        vec![sums[0] / sums[1].max(1.0)]
    }
    fn export(&self, out_dir: &Path, _step: usize, _last: bool) -> Result<()> {
        self.model.save_dir(out_dir)?;
        copy_tokenizer(&self.cfg.tokenizer_dir, out_dir)
    }
}

/// Trains and saves the model (with the tokenizer files) to `out_dir`, with metrics.csv,
/// loss.png and checkpoint.safetensors for `--resume`.
pub fn pretrain(cfg: &PretrainConfig) -> Result<TrainReport> {
    if cfg.steps == 0 || cfg.batch_size == 0 || cfg.block_size < 2 || cfg.block_size > cfg.config.n_positions {
        return Err(Error::Config(format!(
            "--steps and --batch-size must be ≥ 1 and --block-size in [2, {}] (n_positions)",
            cfg.config.n_positions
        )));
    }
    cfg.config.validate().map_err(Error::Config)?;
    cfg.device.ensure_available()?;
    // The output folder is claimed before anything is read: a refused run costs nothing.
    let run = RunDir::claim(&cfg.out_dir, Start::from_flags(cfg.resume, cfg.overwrite)?)?;
    let tok = Gpt2Tokenizer::from_dir(&cfg.tokenizer_dir)?;
    tok.fits(cfg.config.vocab_size)?;
    let mut tokens: Vec<i64> = Vec::new();
    for path in &cfg.texts {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        tokens.extend(tok.encode_long(&text)?.iter().map(|&t| t as i64));
    }
    let split = tokens.len() - tokens.len() / 10;
    let valid = tokens.split_off(split);
    if tokens.len() <= cfg.block_size + 1 {
        return Err(Error::Config(format!(
            "the texts hold {} training tokens (after holding out a tenth), fewer than one block of {}",
            tokens.len(),
            cfg.block_size
        )));
    }
    let mut model = Gpt2::new(cfg.config.clone(), &mut manual_seed(cfg.seed));
    model.gradient_checkpointing = cfg.gradient_checkpointing;
    model.to_device(&cfg.device)?;
    let mut opt = AdamW::new(model.parameters(), cfg.lr).weight_decay(0.1);
    let mut task = PretrainTask { cfg, model, train: tokens, valid };
    let trainer = TrainerConfig {
        schedule: Schedule::WarmupCosine { warmup: cfg.steps / 20, total: cfg.steps },
        max_grad_norm: Some(1.0),
        log_every: 10,
        eval_every: Some(cfg.eval_every),
        eval_each_epoch: false,
        save_every: Some(cfg.eval_every),
        resume: cfg.resume,
        overwrite: cfg.overwrite,
        progress: cfg.progress,
        halt_after: cfg.halt_after,
        grad_accum: cfg.grad_accum.max(1),
        zero: cfg.zero,
        precision: cfg.precision,
        ..TrainerConfig::new(&cfg.out_dir, 1, cfg.lr, cfg.seed)
    };
    let report = train_in(&run, &mut task, &mut opt, &trainer)?;
    if let Some(profile) = cfg.device.profile_report() {
        crate::warn!("{profile}"); // GRADSCHOOL_CUDA_PROFILE's per-kernel table
    }
    Ok(report)
}
