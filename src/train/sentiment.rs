//! The course's sentiment fine-tuning: GPT-2 learns to emit `pos` or `neg` after a review and
//! EOS (labels −100 everywhere else), with the notes' defaults (MAX_LEN 32, lr 2e-5, batch 8,
//! 1 epoch, evaluate and save every 100 steps, seed 42) and AdamW with linear decay as Hugging
//! Face's Trainer uses.

use super::{epoch_progress, plot_panels, Panel, Series};
use crate::data::sentiment::{collate, load_rotten_tomatoes, process_example, LabelledSequence, Review};
use crate::error::{Error, Result};
use crate::gpt2::{Gpt2, Gpt2Tokenizer, EOS_ID};
use crate::io::write_atomic;
use crate::nn::Module;
use crate::optim::{clip_grad_norm, AdamW, LrSchedule, Optimizer, Schedule};
use crate::{manual_seed, no_grad};
use rand::seq::SliceRandom;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Everything `gradschool sentiment` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentConfig {
    /// A Hugging Face GPT-2 directory to start from.
    pub model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    pub tokenizer_dir: Option<PathBuf>,
    /// Directory with rt-polarity.pos / rt-polarity.neg.
    pub data_dir: PathBuf,
    /// Output: metrics.csv, loss.png, checkpoints.
    pub out_dir: PathBuf,
    /// MAX_LEN (32).
    pub max_len: usize,
    /// Learning rate (2e-5).
    pub lr: f64,
    /// Batch size (8).
    pub batch_size: usize,
    /// Epochs (1).
    pub epochs: usize,
    /// Evaluate every this many steps (100).
    pub eval_every: usize,
    /// Save a checkpoint every this many steps (100).
    pub save_every: usize,
    /// Seed (42).
    pub seed: u64,
    /// Warmup steps of the linear schedule (0, as the notes' Trainer).
    pub warmup: usize,
    /// Clip gradients to this global norm (1.0, Trainer's default).
    pub max_grad_norm: f32,
    /// Use only the first N training sentences (quick runs).
    pub limit_train: Option<usize>,
    /// Use only the first N validation sentences.
    pub limit_eval: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
    /// LoRA instead of full fine-tuning: (rank r, α, adapt the MLP too).
    pub lora: Option<(usize, f32, bool)>,
    /// With LoRA, also train the final LayerNorm (PEFT's `modules_to_save`; see
    /// `Gpt2::train_final_norm`).
    pub lora_train_ln_f: bool,
    /// Recompute each block's activations in backward (`Gpt2::gradient_checkpointing`).
    pub gradient_checkpointing: bool,
    /// Accumulate gradients over this many batches per optimizer step (1).
    pub grad_accum: usize,
    /// Where to train.
    pub device: crate::Device,
}

impl SentimentConfig {
    /// The notes' defaults for `model_dir` and `data_dir`.
    pub fn new(model_dir: PathBuf, data_dir: PathBuf) -> SentimentConfig {
        SentimentConfig {
            model_dir,
            tokenizer_dir: None,
            data_dir,
            out_dir: PathBuf::from("runs/sentiment"),
            max_len: 32,
            lr: 2e-5,
            batch_size: 8,
            epochs: 1,
            eval_every: 100,
            save_every: 100,
            seed: 42,
            warmup: 0,
            max_grad_norm: 1.0,
            limit_train: None,
            limit_eval: None,
            progress: true,
            lora: None,
            lora_train_ln_f: false,
            gradient_checkpointing: false,
            grad_accum: 1,
            device: crate::Device::Cpu,
        }
    }
}

/// One metrics row: a logged step, with the evaluation where one ran.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentRow {
    /// Optimizer step.
    pub step: usize,
    /// Mean training loss since the previous row.
    pub train_loss: f64,
    /// Validation loss.
    pub eval_loss: Option<f64>,
    /// Validation accuracy.
    pub eval_accuracy: Option<f64>,
}

/// The label tokens, as the notes compute them: the first token of "neg" and of "pos".
pub fn label_tokens(tok: &Gpt2Tokenizer) -> Result<[u32; 2]> {
    let first = |w: &str| -> Result<u32> {
        tok.encode(w)?.first().copied().ok_or_else(|| Error::Config(format!("tokenizer: `{w}` has no token")))
    };
    Ok([first("neg")?, first("pos")?])
}

fn process_all(
    reviews: &[Review],
    tok: &Gpt2Tokenizer,
    labels: [u32; 2],
    max_len: usize,
) -> Result<Vec<LabelledSequence>> {
    reviews.iter().map(|r| Ok(process_example(&tok.encode(&r.text)?, labels[r.label], EOS_ID, max_len))).collect()
}

/// Validation loss and accuracy: the prediction is whichever label token has the higher logit
/// at the position before the label (the EOS position).
pub fn evaluate_sentiment(model: &Gpt2, data: &[LabelledSequence], batch: usize, labels: [u32; 2]) -> (f64, f64) {
    let _guard = no_grad();
    let (mut loss_sum, mut correct, mut n) = (0.0, 0usize, 0usize);
    for chunk in data.chunks(batch) {
        let (ids, mask, lab) = collate(chunk);
        let mask = mask.to(&model.wte.device()).unwrap_or_else(|e| panic!("{e}")); // the model's device is available
                                                                                   // The head runs only at the labelled positions (the EOS before each label token).
        let (loss, logits, rows) = model.labelled_loss(&model.hidden(&ids, Some(&mask)), &lab);
        loss_sum += loss.item() as f64 * chunk.len() as f64;
        let (l, v) = (ids.dims()[1], logits.dims()[1]);
        let values = logits.to_vec(); // (N, V)
        for (r, &k) in rows.iter().enumerate() {
            let at = |tok: u32| values[r * v + tok as usize];
            let predicted = if at(labels[1]) > at(labels[0]) { labels[1] } else { labels[0] };
            correct += usize::from(predicted as i64 == chunk[k / l].labels[k % l + 1]);
            n += 1;
        }
    }
    (loss_sum / data.len().max(1) as f64, correct as f64 / n.max(1) as f64)
}

fn write_outputs(cfg: &SentimentConfig, rows: &[SentimentRow]) -> Result<()> {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut csv = String::from("step,train_loss,eval_loss,eval_accuracy\n");
    for r in rows {
        let _ = writeln!(csv, "{},{},{},{}", r.step, r.train_loss, opt(r.eval_loss), opt(r.eval_accuracy));
    }
    write_atomic(&cfg.out_dir.join("metrics.csv"), csv.as_bytes())?;
    let series = |f: &dyn Fn(&SentimentRow) -> Option<f64>| {
        rows.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect()
    };
    let loss = Panel {
        title: format!("GPT-2 sentiment fine-tuning, lr {} batch {}", cfg.lr, cfg.batch_size),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![
            Series { label: "train".into(), points: series(&|r| Some(r.train_loss)) },
            Series { label: "validation".into(), points: series(&|r| r.eval_loss) },
        ],
    };
    let acc = Panel {
        title: "validation accuracy".into(),
        x_label: "step".into(),
        y_label: "accuracy (%)".into(),
        series: vec![Series { label: "validation".into(), points: series(&|r| r.eval_accuracy.map(|a| 100.0 * a)) }],
    };
    plot_panels(&cfg.out_dir.join("loss.png"), &[loss, acc], (1000, 800))
}

/// Fine-tunes as `cfg` says; returns every metrics row (the last one has the final evaluation).
pub fn train_sentiment(cfg: &SentimentConfig) -> Result<Vec<SentimentRow>> {
    if cfg.batch_size == 0
        || cfg.epochs == 0
        || cfg.eval_every == 0
        || cfg.save_every == 0
        || cfg.grad_accum == 0
        || cfg.max_len < 3
    {
        return Err(Error::Config(
            "--batch-size, --epochs, --eval-every, --save-every and --grad-accum must be ≥ 1, --max-len ≥ 3".into(),
        ));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(Error::Config(format!("--lr must be a positive number, got {}", cfg.lr)));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io(&cfg.out_dir, e))?;
    let tok = Gpt2Tokenizer::from_dir(cfg.tokenizer_dir.as_ref().unwrap_or(&cfg.model_dir))?;
    let mut model = Gpt2::from_dir(&cfg.model_dir)?;
    if tok.vocab_size() > model.config.vocab_size {
        return Err(Error::Config(format!(
            "the tokenizer has {} tokens, the model only {}",
            tok.vocab_size(),
            model.config.vocab_size
        )));
    }
    let labels = label_tokens(&tok)?;
    if let Some((r, alpha, mlp)) = cfg.lora {
        model.enable_lora(r, alpha, mlp, &mut manual_seed(cfg.seed));
        if cfg.lora_train_ln_f {
            model.train_final_norm();
        }
        let n: usize = model.trainable_parameters().iter().map(|p| p.numel()).sum();
        let adapters: usize = model.lora_parameters().iter().map(|(_, p)| p.numel()).sum();
        println!("LoRA r={r} α={alpha}: {n} trainable parameters of {}", model.num_parameters() + adapters);
    } else {
        println!("full fine-tuning: {} trainable parameters", model.num_parameters());
    }
    model.gradient_checkpointing = cfg.gradient_checkpointing;
    model.to_device(&cfg.device)?;
    let data = load_rotten_tomatoes(&cfg.data_dir)?;
    let mut train = process_all(&data.train, &tok, labels, cfg.max_len)?;
    let mut valid = process_all(&data.validation, &tok, labels, cfg.max_len)?;
    if let Some(n) = cfg.limit_train {
        train.shuffle(&mut manual_seed(cfg.seed)); // a balanced subset, not the first n positives
        train.truncate(n);
    }
    if let Some(n) = cfg.limit_eval {
        valid.shuffle(&mut manual_seed(cfg.seed + 1));
        valid.truncate(n);
    }
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size).div_ceil(cfg.grad_accum);
    let total = steps_per_epoch * cfg.epochs;
    let schedule = Schedule::WarmupLinear { warmup: cfg.warmup, total };
    let mut opt = AdamW::new(model.trainable_parameters(), cfg.lr).weight_decay(0.0); // Trainer's default
    let (mut rows, mut step, mut since, mut count) = (Vec::new(), 0usize, 0.0f64, 0usize);
    for epoch in 1..=cfg.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut manual_seed(cfg.seed.wrapping_add(epoch as u64)));
        let bar = epoch_progress(epoch, cfg.epochs, steps_per_epoch);
        if !cfg.progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        model.train();
        let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).collect();
        // ANCHOR: sentiment_step
        for group in batches.chunks(cfg.grad_accum) {
            opt.set_lr(schedule.lr(cfg.lr, step));
            opt.zero_grad();
            // Gradient accumulation: each micro-batch's loss is scaled by 1/group size and the
            // gradients add up in .grad(); one optimizer step per group.
            let mut group_loss = 0.0f64;
            for chunk in group {
                let batch: Vec<LabelledSequence> = chunk.iter().map(|&i| train[i].clone()).collect();
                let (ids, mask, lab) = collate(&batch);
                let hidden = model.hidden(&ids, Some(&mask.to(&cfg.device)?));
                // = Gpt2::lm_loss(&model.head(&hidden), &lab), with the head run only where a
                // label is (1 position in MAX_LEN): the same loss and gradients, for ~¼ less time
                // per step (benches/README.md).
                let (loss, _, _) = model.labelled_loss(&hidden, &lab);
                loss.mul_scalar(1.0 / group.len() as f32).backward();
                group_loss += loss.item() as f64 / group.len() as f64;
            }
            clip_grad_norm(opt.params(), cfg.max_grad_norm);
            opt.step();
            // ANCHOR_END: sentiment_step
            step += 1;
            since += group_loss;
            count += 1;
            bar.set_message(format!("loss {group_loss:.4}"));
            bar.inc(1);
            let last = step == total;
            if step % cfg.eval_every == 0 || last {
                model.eval();
                let (eval_loss, eval_accuracy) = evaluate_sentiment(&model, &valid, cfg.batch_size, labels);
                model.train();
                rows.push(SentimentRow {
                    step,
                    train_loss: since / count as f64,
                    eval_loss: Some(eval_loss),
                    eval_accuracy: Some(eval_accuracy),
                });
                let line = format!(
                    "step {step:>5}  train loss {:.4}  eval loss {eval_loss:.4}  eval accuracy {:.2}%",
                    since / count as f64,
                    100.0 * eval_accuracy
                );
                bar.suspend(|| println!("{line}"));
                (since, count) = (0.0, 0);
                write_outputs(cfg, &rows)?;
            }
            if step % cfg.save_every == 0 || last {
                let dir = cfg.out_dir.join(format!("checkpoint-{step}"));
                if cfg.lora.is_some() {
                    save_adapter(&model, cfg, &dir)?; // only the adapters are trained, only they are saved
                } else {
                    model.save_dir(&dir)?;
                }
            }
        }
        bar.finish_and_clear();
    }
    if cfg.lora.is_some() {
        model.merge_lora();
        model.save_dir(&cfg.out_dir.join("merged"))?;
    }
    Ok(rows)
}

/// Writes PEFT's layout: `adapter_model.safetensors` (the adapters, PEFT names) and
/// `adapter_config.json`.
fn save_adapter(model: &Gpt2, cfg: &SentimentConfig, dir: &std::path::Path) -> Result<()> {
    let (r, alpha, mlp) = cfg.lora.expect("LoRA is on");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let targets = if mlp { r#"["c_attn", "c_proj", "c_fc"]"# } else { r#"["c_attn", "c_proj"]"# };
    let saved = if cfg.lora_train_ln_f { r#"["ln_f"]"# } else { "null" };
    let config = format!(
        "{{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"CAUSAL_LM\",\n  \"r\": {r},\n  \"lora_alpha\": {alpha},\n  \"target_modules\": {targets},\n  \"modules_to_save\": {saved},\n  \"fan_in_fan_out\": true,\n  \"base_model_name_or_path\": \"{}\"\n}}\n",
        cfg.model_dir.display()
    );
    write_atomic(&dir.join("adapter_config.json"), config.as_bytes())?;
    crate::io::save_safetensors(
        &dir.join("adapter_model.safetensors"),
        &model.adapter_parameters(),
        &Default::default(),
    )
}
