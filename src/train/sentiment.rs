//! The course's sentiment fine-tuning: GPT-2 learns to emit `pos` or `neg` after a review and
//! EOS (labels −100 everywhere else), with the notes' defaults (MAX_LEN 32, lr 2e-5, batch 8,
//! 1 epoch, evaluate and save every 100 steps, seed 42) and AdamW with linear decay as Hugging
//! Face's Trainer uses — a recipe over the shared [`train`] loop.

use super::{train_in, RunDir, Start, Task, TrainReport, TrainerConfig};
use crate::data::sentiment::{collate, process_example, LabelledSequence};
pub use crate::data::text::{load_text_data, TextData};
use crate::error::{Error, Result};
use crate::gpt2::{Gpt2, Gpt2Tokenizer, EOS_ID};
use crate::io::write_atomic;
use crate::nn::Module;
use crate::optim::{AdamW, Schedule};
use crate::{manual_seed, no_grad, Tensor};
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Everything `gradschool sentiment` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentConfig {
    /// A Hugging Face GPT-2 directory to start from.
    pub model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    pub tokenizer_dir: Option<PathBuf>,
    /// The examples: Rotten Tomatoes (the course), or your own files (the homework).
    pub data: TextData,
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
    /// LoRA instead of full fine-tuning.
    pub lora: Option<LoraConfig>,
    /// With LoRA, also train the final LayerNorm (PEFT's `modules_to_save`; see
    /// `Gpt2::train_final_norm`).
    pub lora_train_ln_f: bool,
    /// Full fine-tuning with the token and position embeddings frozen (the token embedding is
    /// also the tied output head): the part of the model LoRA never trains, frozen alone, to
    /// measure what freezing it costs (book chapter 11).
    pub freeze_embeddings: bool,
    /// Recompute each block's activations in backward (`Gpt2::gradient_checkpointing`).
    pub gradient_checkpointing: bool,
    /// Accumulate gradients over this many batches per optimizer step (1).
    pub grad_accum: usize,
    /// ZeRO-1 across ranks (optimizer state sharded; the same numbers).
    pub zero: bool,
    /// The matrix products' number format (`--precision`; fp16 with a loss scaler).
    pub precision: crate::amp::Precision,
    /// Where to train.
    pub device: crate::Device,
    /// Continue from out_dir/checkpoint.safetensors.
    pub resume: bool,
    /// Replace the run the output folder holds (without this or `resume`, such a folder is refused).
    pub overwrite: bool,
    /// Stop after this step with a checkpoint, as an interrupted run would (testing resume).
    pub halt_after: Option<usize>,
}

/// LoRA's settings (PEFT's `LoraConfig`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoraConfig {
    /// Rank r of the update B·A.
    pub r: usize,
    /// α: the update is scaled by α/r.
    pub alpha: f32,
    /// Adapt the MLP projections too (else only attention's c_attn and c_proj).
    pub mlp: bool,
    /// Dropout on the adapters' input (PEFT's `lora_dropout`; 0 = none).
    pub dropout: f32,
    /// QLoRA: the frozen base's linear weights stored in NF4 or int8 (`--quantize-base`).
    pub quantize_base: Option<crate::quant::QuantKind>,
}

impl SentimentConfig {
    /// The notes' defaults for `model_dir` and the Rotten Tomatoes folder `data_dir`.
    pub fn new(model_dir: PathBuf, data_dir: PathBuf) -> SentimentConfig {
        SentimentConfig::with_data(model_dir, TextData::RottenTomatoes(data_dir))
    }

    /// The notes' defaults for `model_dir` and any text-classification `data`.
    pub fn with_data(model_dir: PathBuf, data: TextData) -> SentimentConfig {
        SentimentConfig {
            model_dir,
            tokenizer_dir: None,
            data,
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
            freeze_embeddings: false,
            gradient_checkpointing: false,
            grad_accum: 1,
            zero: false,
            precision: crate::amp::Precision::F32,
            device: crate::Device::Cpu,
            resume: false,
            overwrite: false,
            halt_after: None,
        }
    }
}

/// The label tokens, as the notes compute them: the first token of each label's name (`neg`,
/// `pos`). Two labels that start with the same token could not be told apart: an error naming
/// both.
pub fn label_tokens(tok: &Gpt2Tokenizer, names: &[String]) -> Result<Vec<u32>> {
    let mut tokens: Vec<u32> = Vec::new();
    for w in names {
        let t = tok.encode(w)?.first().copied().ok_or_else(|| Error::Config(format!("label `{w}` has no token")))?;
        if let Some(j) = tokens.iter().position(|&u| u == t) {
            return Err(Error::Config(format!(
                "labels `{}` and `{w}` start with the same token ({t}): the model could not tell them apart; rename one",
                names[j]
            )));
        }
        tokens.push(t);
    }
    Ok(tokens)
}

fn process_all(
    examples: &[(String, usize)],
    tok: &Gpt2Tokenizer,
    labels: &[u32],
    max_len: usize,
) -> Result<Vec<LabelledSequence>> {
    examples.iter().map(|(text, l)| Ok(process_example(&tok.encode(text)?, labels[*l], EOS_ID, max_len))).collect()
}

/// Validation loss and accuracy: the prediction is whichever label token has the highest logit
/// at the position before the label (the EOS position).
pub fn evaluate_sentiment(model: &Gpt2, data: &[LabelledSequence], batch: usize, labels: &[u32]) -> (f64, f64) {
    let [loss_sum, correct, n] = evaluate_sentiment_shard(model, data, batch, labels, 0, 1);
    (loss_sum / data.len().max(1) as f64, correct / n.max(1.0))
}

/// The summed loss (each batch's mean × its size), the correct predictions and the labels scored
/// over shard `rank` of `ranks`: batches i with i % ranks == rank.
pub fn evaluate_sentiment_shard(
    model: &Gpt2,
    data: &[LabelledSequence],
    batch: usize,
    labels: &[u32],
    rank: usize,
    ranks: usize,
) -> [f64; 3] {
    let _guard = no_grad();
    let (mut loss_sum, mut correct, mut n) = (0.0, 0usize, 0usize);
    for chunk in data.chunks(batch).skip(rank).step_by(ranks) {
        let (ids, mask, lab) = collate(chunk);
        let mask = mask.to(&model.wte.device()).unwrap_or_else(|e| panic!("{e}")); // the model's device is available
                                                                                   // The head runs only at the labelled positions (the EOS before each label token).
        let (loss, logits, rows) = model.labelled_loss(&model.hidden(&ids, Some(&mask)), &lab);
        loss_sum += loss.item() as f64 * chunk.len() as f64;
        let (l, v) = (ids.dims()[1], logits.dims()[1]);
        let values = logits.to_vec(); // (N, V)
        for (r, &k) in rows.iter().enumerate() {
            let at = |tok: u32| values[r * v + tok as usize];
            // the first of the highest, as argmax: ties go to the earlier label
            let predicted = labels.iter().copied().fold(labels[0], |best, t| if at(t) > at(best) { t } else { best });
            correct += usize::from(predicted as i64 == chunk[k / l].labels[k % l + 1]);
            n += 1;
        }
    }
    [loss_sum, correct as f64, n as f64]
}

struct SentimentTask<'a> {
    cfg: &'a SentimentConfig,
    model: Gpt2,
    labels: Vec<u32>,
    train: Vec<LabelledSequence>,
    valid: Vec<LabelledSequence>,
    order: Vec<usize>,
}

impl Task for SentimentTask<'_> {
    fn title(&self) -> String {
        format!("GPT-2 sentiment fine-tuning, lr {} batch {}", self.cfg.lr, self.cfg.batch_size)
    }
    fn fingerprint(&self) -> String {
        let c = self.cfg;
        format!(
            "sentiment model={:?} tokenizer={:?} data={:?} max_len={} batch_size={} limit={:?}/{:?} lora={:?} ln_f={}",
            c.model_dir,
            c.tokenizer_dir,
            c.data,
            c.max_len,
            c.batch_size,
            c.limit_train,
            c.limit_eval,
            c.lora,
            c.lora_train_ln_f
        ) + if c.freeze_embeddings { " freeze_embeddings=true" } else { "" }
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        fine_tuned_state(&self.model, self.cfg.lora.is_some())
    }
    fn batches(&self) -> usize {
        self.train.len().div_ceil(self.cfg.batch_size)
    }
    fn start_epoch(&mut self, _epoch: usize, seed: u64) {
        self.order = epoch_order(self.train.len(), seed);
    }
    // ANCHOR: sentiment_loss
    fn loss(&mut self, index: usize, seed: u64) -> Result<Tensor> {
        let bs = self.cfg.batch_size;
        let chunk = &self.order[index * bs..((index + 1) * bs).min(self.order.len())];
        let batch: Vec<LabelledSequence> = chunk.iter().map(|&i| self.train[i].clone()).collect();
        let (ids, mask, lab) = collate(&batch); // (B, T) ids, attention mask, labels (−100 but at EOS)
        self.model.reseed_dropout(seed);
        let hidden = self.model.hidden(&ids, Some(&mask.to(&self.cfg.device)?)); // (B, T, C)
                                                                                 // = Gpt2::lm_loss(&model.head(&hidden), &lab), with the head run only where a label is
                                                                                 // (1 position in MAX_LEN): the same loss and gradients, for ~¼ less time per step
                                                                                 // (benches/README.md).
        let (loss, _, _) = self.model.labelled_loss(&hidden, &lab);
        Ok(loss)
    }
    // ANCHOR_END: sentiment_loss
    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
    fn eval_names(&self) -> Vec<String> {
        vec!["eval_loss".into(), "eval_accuracy".into()]
    }
    fn eval_sums(&mut self, rank: usize, ranks: usize) -> Result<Vec<f64>> {
        let (b, labels) = (self.cfg.batch_size, &self.labels);
        Ok(evaluate_sentiment_shard(&self.model, &self.valid, b, labels, rank, ranks).to_vec())
    }
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64> {
        vec![sums[0] / self.valid.len().max(1) as f64, sums[1] / sums[2].max(1.0)]
    }
    fn export(&self, out_dir: &Path, step: usize, _last: bool) -> Result<()> {
        let c = self.cfg;
        export_fine_tuned(&self.model, c.lora, c.lora_train_ln_f, &c.model_dir, out_dir, step)
    }
}

/// Fine-tunes as `cfg` says: metrics.csv, loss.png, checkpoint-N/ every `save_every` steps (a
/// Hugging Face directory, or PEFT adapters with LoRA, then the merged model in merged/), and
/// checkpoint.safetensors for `--resume`.
pub fn train_sentiment(cfg: &SentimentConfig) -> Result<TrainReport> {
    if cfg.batch_size == 0 || cfg.max_len < 3 {
        return Err(Error::Config("--batch-size must be ≥ 1 and --max-len ≥ 3".into()));
    }
    cfg.device.ensure_available()?;
    // The output folder is claimed before anything is read: a refused run costs nothing.
    let run = RunDir::claim(&cfg.out_dir, Start::from_flags(cfg.resume, cfg.overwrite)?)?;
    // QLoRA: the base's linear weights quantized as they are read
    let mut model = Gpt2::from_dir_with(&cfg.model_dir, cfg.lora.and_then(|l| l.quantize_base))?;
    let tok = Gpt2Tokenizer::from_dir(cfg.tokenizer_dir.as_ref().unwrap_or(&cfg.model_dir))?;
    tok.fits(model.config.vocab_size)?;
    if cfg.max_len > model.config.n_positions {
        return Err(Error::Config(format!(
            "--max-len {} exceeds the model's context of {} positions",
            cfg.max_len, model.config.n_positions
        )));
    }
    let (train_pairs, valid_pairs, names) = load_text_data(&cfg.data, cfg.seed)?;
    let labels = label_tokens(&tok, &names)?;
    prepare_fine_tuning(&mut model, cfg.lora, cfg.lora_train_ln_f, cfg.seed);
    if cfg.freeze_embeddings {
        freeze_embeddings(&model, cfg.lora.is_some())?;
    }
    model.gradient_checkpointing = cfg.gradient_checkpointing;
    model.to_device(&cfg.device)?;
    let mut train_set = process_all(&train_pairs, &tok, &labels, cfg.max_len)?;
    let mut valid = process_all(&valid_pairs, &tok, &labels, cfg.max_len)?;
    if let Some(n) = cfg.limit_train {
        train_set.shuffle(&mut manual_seed(cfg.seed)); // a balanced subset, not the first n positives
        train_set.truncate(n);
    }
    super::batch_fits(cfg.batch_size, train_set.len())?;
    if let Some(n) = cfg.limit_eval {
        valid.shuffle(&mut manual_seed(cfg.seed + 1));
        valid.truncate(n);
    }
    let mut opt = AdamW::new(model.trainable_parameters(), cfg.lr).weight_decay(0.0); // Trainer's default
    let mut task = SentimentTask { cfg, model, labels, train: train_set, valid, order: Vec::new() };
    // optimizer steps: each takes grad_accum micro-batches on each rank
    let per_step = cfg.grad_accum.max(1) * crate::distributed::world().size();
    let total = task.batches().div_ceil(per_step) * cfg.epochs;
    let trainer = TrainerConfig {
        schedule: Schedule::WarmupLinear { warmup: cfg.warmup, total },
        grad_accum: cfg.grad_accum,
        zero: cfg.zero,
        precision: cfg.precision,
        max_grad_norm: Some(cfg.max_grad_norm),
        log_every: cfg.eval_every,
        eval_every: Some(cfg.eval_every),
        eval_each_epoch: false,
        save_every: Some(cfg.save_every),
        resume: cfg.resume,
        overwrite: cfg.overwrite,
        progress: cfg.progress,
        halt_after: cfg.halt_after,
        ..TrainerConfig::new(&cfg.out_dir, cfg.epochs, cfg.lr, cfg.seed)
    };
    let report = train_in(&run, &mut task, &mut opt, &trainer)?;
    if cfg.lora.is_some() && cfg.halt_after.is_none_or(|h| report.steps < h) && crate::distributed::is_leader() {
        task.model.save_merged_dir(&cfg.out_dir.join("merged"))?;
    }
    if let Some(profile) = cfg.device.profile_report() {
        crate::warn!("{profile}"); // GRADSCHOOL_CUDA_PROFILE's per-kernel table
    }
    Ok(report)
}

/// What a fine-tuning run changes, by name: the adapters with LoRA (the base stays as loaded from
/// the model directory), else every parameter.
pub(crate) fn fine_tuned_state(model: &Gpt2, lora: bool) -> Vec<(String, Tensor)> {
    if lora {
        model.adapter_parameters()
    } else {
        model.named_parameters()
    }
}

/// A save point's export: `checkpoint-{step}/` as PEFT adapters (LoRA) or a Hugging Face directory.
pub(crate) fn export_fine_tuned(
    model: &Gpt2,
    lora: Option<LoraConfig>,
    train_ln_f: bool,
    base: &Path,
    out_dir: &Path,
    step: usize,
) -> Result<()> {
    let dir = out_dir.join(format!("checkpoint-{step}"));
    match lora {
        Some(lora) => save_adapter(model, lora, train_ln_f, base, &dir), // only the adapters are trained
        None => model.save_dir(&dir),
    }
}

/// The example order of an epoch: 0..n shuffled with the epoch's seed.
pub(crate) fn epoch_order(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut manual_seed(seed));
    order
}

/// `--freeze-embeddings`: full fine-tuning with `wte` (also the tied output head) and `wpe`
/// frozen — what LoRA leaves frozen besides the layers it adapts, frozen alone, to measure what
/// that costs. Refused with LoRA, which freezes them already.
pub(crate) fn freeze_embeddings(model: &Gpt2, lora: bool) -> Result<()> {
    if lora {
        return Err(Error::Config("--freeze-embeddings is for full fine-tuning (LoRA freezes them already)".into()));
    }
    let frozen: usize = model
        .named_parameters()
        .into_iter()
        .filter(|(name, _)| name == "wte.weight" || name == "wpe.weight")
        .map(|(_, p)| {
            p.set_requires_grad(false);
            p.numel()
        })
        .sum();
    crate::say!("embeddings frozen (wte = the tied head, wpe): {frozen} parameters not trained");
    Ok(())
}

/// Full fine-tuning (`lora` None: every weight trains) or LoRA (adapters, and `ln_f` if
/// `train_ln_f`), seeded; prints how many parameters train.
pub(crate) fn prepare_fine_tuning(model: &mut Gpt2, lora: Option<LoraConfig>, train_ln_f: bool, seed: u64) {
    if let Some(LoraConfig { r, alpha, mlp, dropout, quantize_base }) = lora {
        if let Some(kind) = quantize_base {
            let s = model.quantize_base(kind);
            crate::say!(
                "QLoRA: {} base weights ({} values) stored as {kind:?}, {:.4} bytes a value ({:.1} MiB instead of {:.1})",
                s.matrices,
                s.values,
                s.bytes_per_value(),
                s.bytes as f64 / 1048576.0,
                4.0 * s.values as f64 / 1048576.0
            );
        }
        model.enable_lora(r, alpha, mlp, &mut manual_seed(seed));
        model.set_lora_dropout(dropout);
        if train_ln_f {
            model.train_final_norm();
        }
        let n: usize = model.trainable_parameters().iter().map(|p| p.numel()).sum();
        let adapters: usize = model.lora_parameters().iter().map(|(_, p)| p.numel()).sum();
        crate::say!("LoRA r={r} α={alpha}: {n} trainable parameters of {}", model.num_parameters() + adapters);
    } else {
        crate::say!("full fine-tuning: {} trainable parameters", model.num_parameters());
    }
}

/// PEFT's `adapter_config.json`, the fields PEFT needs to load the adapters.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AdapterConfig {
    /// "LORA".
    pub peft_type: String,
    /// "CAUSAL_LM".
    pub task_type: String,
    /// Rank.
    pub r: usize,
    /// α.
    pub lora_alpha: f32,
    /// Dropout on the adapters' input.
    pub lora_dropout: f32,
    /// The adapted projections (Hugging Face module names).
    pub target_modules: Vec<String>,
    /// Base modules trained and saved whole (`ln_f`), if any.
    pub modules_to_save: Option<Vec<String>>,
    /// GPT-2's Conv1D stores weights (in, out): true.
    pub fan_in_fan_out: bool,
    /// Where the base model came from.
    pub base_model_name_or_path: String,
}

/// Writes PEFT's layout: `adapter_model.safetensors` (the adapters, PEFT names) and
/// `adapter_config.json`; `train_ln_f` records `ln_f` as trained whole, `base` where the frozen
/// weights came from.
pub(crate) fn save_adapter(model: &Gpt2, lora: LoraConfig, train_ln_f: bool, base: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let modules: &[&str] = if lora.mlp { &["c_attn", "c_proj", "c_fc"] } else { &["c_attn", "c_proj"] };
    let config = AdapterConfig {
        peft_type: "LORA".into(),
        task_type: "CAUSAL_LM".into(),
        r: lora.r,
        lora_alpha: lora.alpha,
        lora_dropout: lora.dropout,
        target_modules: modules.iter().map(|m| m.to_string()).collect(),
        modules_to_save: train_ln_f.then(|| vec!["ln_f".to_string()]),
        fan_in_fan_out: true,
        base_model_name_or_path: base.display().to_string(),
    };
    let path = dir.join("adapter_config.json");
    let json = serde_json::to_string_pretty(&config).map_err(|e| Error::format(&path, e.to_string()))?;
    write_atomic(&path, (json + "\n").as_bytes())?;
    crate::io::save_safetensors(
        &dir.join("adapter_model.safetensors"),
        &model.adapter_parameters(),
        &Default::default(),
    )
}
