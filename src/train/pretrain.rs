//! Pretraining a small GPT-2-shaped model from scratch on local text, so that the fine-tuning
//! pipeline can be proven on real data on machines that cannot download `gpt2` itself.

use super::{epoch_progress, plot_panels, Panel, Series};
use crate::error::{Error, Result};
use crate::gpt2::{Gpt2, Gpt2Config, Gpt2Tokenizer};
use crate::int_tensor::IntTensor;
use crate::nn::Module;
use crate::optim::{clip_grad_norm, AdamW, LrSchedule, Optimizer, Schedule};
use crate::{io::write_atomic, manual_seed};
use rand::Rng;
use std::path::PathBuf;

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
    /// Where the Hugging Face-format model goes.
    pub out_dir: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
    /// Where to train.
    pub device: crate::Device,
    /// Recompute each block's activations in backward.
    pub gradient_checkpointing: bool,
}

/// Trains and saves the model (with the tokenizer files) to `out_dir`; returns the loss of every
/// 10th step.
pub fn pretrain(cfg: &PretrainConfig) -> Result<Vec<(usize, f64)>> {
    if cfg.steps == 0 || cfg.batch_size == 0 || cfg.block_size < 2 || cfg.block_size > cfg.config.n_positions {
        return Err(Error::Config(format!(
            "--steps and --batch-size must be ≥ 1 and --block-size in [2, {}] (n_positions)",
            cfg.config.n_positions
        )));
    }
    cfg.config.validate().map_err(Error::Config)?;
    let tok = Gpt2Tokenizer::from_dir(&cfg.tokenizer_dir)?;
    let mut tokens: Vec<i64> = Vec::new();
    for path in &cfg.texts {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        tokens.extend(tok.encode(&text)?.iter().map(|&t| t as i64));
    }
    if tokens.len() <= cfg.block_size + 1 {
        return Err(Error::Config(format!(
            "the texts hold {} tokens, fewer than one block of {}",
            tokens.len(),
            cfg.block_size
        )));
    }
    let mut rng = manual_seed(cfg.seed);
    let mut model = Gpt2::new(cfg.config.clone(), &mut rng);
    model.train();
    model.gradient_checkpointing = cfg.gradient_checkpointing;
    model.to_device(&cfg.device)?;
    let mut opt = AdamW::new(model.parameters(), cfg.lr).weight_decay(0.1);
    let schedule = Schedule::WarmupCosine { warmup: cfg.steps / 20, total: cfg.steps };
    let bar = epoch_progress(1, 1, cfg.steps);
    if !cfg.progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (b, t) = (cfg.batch_size, cfg.block_size);
    let mut curve = Vec::new();
    for step in 0..cfg.steps {
        // random windows of the token stream; the model predicts each next token
        let starts: Vec<usize> = (0..b).map(|_| rng.random_range(0..tokens.len() - t)).collect();
        let ids: Vec<i64> = starts.iter().flat_map(|&s| tokens[s..s + t].iter().copied()).collect();
        let ids = IntTensor::from_vec(ids, [b, t]);
        opt.set_lr(schedule.lr(cfg.lr, step));
        opt.zero_grad();
        let loss = Gpt2::lm_loss(&model.forward(&ids, None), &ids);
        loss.backward();
        clip_grad_norm(opt.params(), 1.0);
        opt.step();
        if step % 10 == 0 || step + 1 == cfg.steps {
            curve.push((step + 1, loss.item() as f64));
            bar.set_message(format!("loss {:.4}", loss.item()));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    model.save_dir(&cfg.out_dir)?;
    for name in ["tokenizer.json", "vocab.json", "merges.txt"] {
        let src = cfg.tokenizer_dir.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| Error::io(&src, e))?;
            write_atomic(&cfg.out_dir.join(name), &bytes)?;
        }
    }
    let panel = Panel {
        title: format!("pretraining, {} layers × {} wide", cfg.config.n_layer, cfg.config.n_embd),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![Series { label: "train".into(), points: curve.iter().map(|&(s, l)| (s as f64, l)).collect() }],
    };
    plot_panels(&cfg.out_dir.join("pretrain-loss.png"), &[panel], (900, 500))?;
    Ok(curve)
}
