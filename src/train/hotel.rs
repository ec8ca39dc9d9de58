//! The vertical-domain capstone: supervised fine-tuning of a GPT-2 into the course's
//! hotel-booking assistant, a recipe over the shared [`train`] loop. The model learns to write
//! the `search` call (JSON arguments) and the replies; the program runs the search on the hotel
//! database. Evaluation generates on held-out dialogues: JSON validity, exact match and slot F1
//! of the arguments, and whether each reply is exact and quotes the facts it should.

use super::sentiment::{
    epoch_order, export_fine_tuned, fine_tuned_state, freeze_embeddings, prepare_fine_tuning, LoraConfig,
};
use super::{train_in, RunDir, Start, Task, TrainReport, TrainerConfig};
use crate::data::hotel::{load_dialogues, parse_model_turn, query, serialise, Hotel, Record, SlotCounts, Turn};
use crate::error::{Error, Result};
use crate::gpt2::{copy_tokenizer, Gpt2, Gpt2Tokenizer, Sampling, EOS_ID};
use crate::int_tensor::{IntTensor, IGNORE_INDEX};
use crate::io::write_atomic;
use crate::nn::Module;
use crate::optim::{AdamW, Schedule};
use crate::{manual_seed, no_grad, Tensor};
use std::path::{Path, PathBuf};

/// Everything `gradschool hotel-sft` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct HotelConfig {
    /// The GPT-2 directory to start from.
    pub model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    pub tokenizer_dir: Option<PathBuf>,
    /// `train.jsonl` and `valid.jsonl`, as `gradschool hotel-data` writes them.
    pub data_dir: PathBuf,
    /// Output: metrics.csv, loss.png, checkpoints, final/, eval.json.
    pub out_dir: PathBuf,
    /// Tokens per dialogue at most (longer ones lose their last turns).
    pub max_len: usize,
    /// Learning rate.
    pub lr: f64,
    /// Dialogues per batch.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: usize,
    /// Evaluate (and save) every this many steps.
    pub eval_every: usize,
    /// Held-out dialogues generated on at each evaluation (all of them at the end).
    pub eval_dialogues: usize,
    /// Seed.
    pub seed: u64,
    /// Warmup steps of the linear schedule.
    pub warmup: usize,
    /// LoRA instead of full fine-tuning.
    pub lora: Option<LoraConfig>,
    /// With LoRA, also train ln_f.
    pub lora_train_ln_f: bool,
    /// Full fine-tuning with the embeddings frozen (`--freeze-embeddings`).
    pub freeze_embeddings: bool,
    /// Recompute each block in backward.
    pub gradient_checkpointing: bool,
    /// Where to train.
    pub device: crate::Device,
    /// Continue from out_dir/checkpoint.safetensors.
    pub resume: bool,
    /// Replace the run the output folder holds (without this or `resume`, such a folder is refused).
    pub overwrite: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this step with a checkpoint (testing resume).
    pub halt_after: Option<usize>,
    /// Micro-batches per optimizer step on each rank (gradient accumulation).
    pub grad_accum: usize,
    /// ZeRO-1 across ranks (optimizer state sharded; the same numbers).
    pub zero: bool,
    /// The matrix products' number format (`--precision`; fp16 with a loss scaler).
    pub precision: crate::amp::Precision,
}

impl HotelConfig {
    /// The defaults of `gradschool hotel-sft`.
    pub fn new(model_dir: PathBuf, data_dir: PathBuf) -> HotelConfig {
        HotelConfig {
            model_dir,
            tokenizer_dir: None,
            data_dir,
            out_dir: PathBuf::from("runs/hotel"),
            max_len: 256,
            lr: 1e-3,
            batch_size: 8,
            epochs: 1,
            eval_every: 100,
            eval_dialogues: 40,
            seed: 42,
            warmup: 20,
            lora: None,
            lora_train_ln_f: false,
            freeze_embeddings: false,
            gradient_checkpointing: false,
            device: crate::Device::Cpu,
            resume: false,
            overwrite: false,
            progress: false,
            halt_after: None,
            grad_accum: 1,
            zero: false,
            precision: crate::amp::Precision::F32,
        }
    }
}

/// One serialised dialogue: ids and labels (−100 off the model's turns), `max_len` at most.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Labels (Hugging Face's: position i predicts labels[i + 1]).
    pub labels: Vec<i64>,
}

/// Serialises and truncates `dialogues`; returns them and how many were cut.
pub fn sequences(dialogues: &[Vec<Turn>], tok: &Gpt2Tokenizer, max_len: usize) -> Result<(Vec<Sequence>, usize)> {
    let mut cut = 0;
    let mut out = Vec::with_capacity(dialogues.len());
    for d in dialogues {
        let (mut ids, mut labels) = serialise(d, &mut |s| tok.encode(s), EOS_ID)?;
        if ids.len() > max_len {
            cut += 1;
            ids.truncate(max_len);
            labels.truncate(max_len);
        }
        out.push(Sequence { ids, labels });
    }
    Ok((out, cut))
}

/// Pads a batch to its longest sequence: `(ids (B, L), attention mask (B, L), labels (B, L))`,
/// padding 0 / 0 / −100 on the right.
pub fn pad_batch(batch: &[&Sequence]) -> (IntTensor, Tensor, IntTensor) {
    let l = batch.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let (mut ids, mut mask, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for s in batch {
        let pad = l - s.ids.len();
        ids.extend(s.ids.iter().map(|&t| t as i64).chain(std::iter::repeat_n(0, pad)));
        mask.extend(std::iter::repeat_n(1.0, s.ids.len()).chain(std::iter::repeat_n(0.0, pad)));
        labels.extend(s.labels.iter().copied().chain(std::iter::repeat_n(IGNORE_INDEX, pad)));
    }
    let b = batch.len();
    (IntTensor::from_vec(ids, [b, l]), Tensor::from_vec(mask, [b, l]), IntTensor::from_vec(labels, [b, l]))
}

/// The model side of the assistant: writes the next turn of a dialogue, greedily.
pub struct Assistant<'a> {
    /// The fine-tuned model.
    pub model: &'a Gpt2,
    /// Its tokenizer.
    pub tok: &'a Gpt2Tokenizer,
    /// Most tokens one turn may take.
    pub max_turn_tokens: usize,
}

impl Assistant<'_> {
    /// The text the model writes after `history` (role marker included, EOS excluded), greedy,
    /// at most `max_turn_tokens` and what is left of the context.
    pub fn next_turn(&self, history: &[Turn]) -> Result<String> {
        self.next_turn_while(history, &|| true)
    }

    /// [`Assistant::next_turn`] that asks `keep_going` after each token and stops (an error)
    /// when it says no: a server's client that has left.
    pub fn next_turn_while(&self, history: &[Turn], keep_going: &dyn Fn() -> bool) -> Result<String> {
        let (prompt, _) = serialise(history, &mut |s| self.tok.encode(s), EOS_ID)?;
        let room = self.model.config.n_positions.saturating_sub(prompt.len());
        if room == 0 {
            return Err(Error::Config(format!(
                "the dialogue takes {} tokens, the whole of the model's context of {}",
                prompt.len(),
                self.model.config.n_positions
            )));
        }
        let max_new = self.max_turn_tokens.min(room);
        let mut stopped = false;
        let mut on_token = |_| {
            stopped = !keep_going();
            !stopped
        };
        let out = self.model.generate_streaming(
            &prompt,
            max_new,
            &Sampling::default(),
            Some(EOS_ID),
            &mut manual_seed(0),
            &mut on_token,
        );
        if stopped {
            return Err(Error::Config("stopped: nobody is waiting for this turn".into()));
        }
        let new: Vec<u32> = out[prompt.len()..].iter().copied().filter(|&t| t != EOS_ID).collect();
        self.tok.decode(&new)
    }

    /// Drops the oldest exchanges (from one user turn to the next) while `history` and one
    /// more turn would not fit in the context; the last user turn always stays.
    pub fn forget_to_fit(&self, history: &mut Vec<Turn>) -> Result<()> {
        loop {
            let (ids, _) = serialise(history, &mut |s| self.tok.encode(s), EOS_ID)?;
            let next_user = history.iter().skip(1).position(|t| matches!(t, Turn::User { .. }));
            match next_user {
                Some(k) if ids.len() + self.max_turn_tokens > self.model.config.n_positions => {
                    history.drain(..=k);
                }
                _ => return Ok(()),
            }
        }
    }
}

/// The held-out metrics of [`evaluate_hotel`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HotelMetrics {
    /// The search arguments' counts (validity, exact match, slot F1).
    pub slots: SlotCounts,
    /// Replies evaluated.
    pub replies: usize,
    /// Replies equal to the reference.
    pub reply_exact: usize,
    /// Replies that quote every fact the reference quotes (hotel name, price, rating, phone,
    /// subway, or "没有找到" when nothing matched).
    pub reply_grounded: usize,
}

/// The values of the last `return` before turn `i` that the reference reply quotes.
fn quoted_facts(dialogue: &[Turn], i: usize, reference: &str) -> Vec<String> {
    let records: &[Record] = dialogue[..i]
        .iter()
        .rev()
        .find_map(|t| if let Turn::Return { records } = t { Some(records.as_slice()) } else { None })
        .unwrap_or(&[]);
    let mut facts: Vec<String> = records.iter().flat_map(Record::facts).collect();
    facts.push("没有找到".into());
    facts.into_iter().filter(|f| !f.is_empty() && reference.contains(f.as_str())).collect()
}

/// Generates every model turn of `dialogues` from the reference history before it (teacher
/// forcing across turns, greedy within one) and scores it.
pub fn evaluate_hotel(assistant: &Assistant, dialogues: &[Vec<Turn>]) -> Result<HotelMetrics> {
    let _guard = no_grad();
    let mut m = HotelMetrics::default();
    for d in dialogues {
        for (i, turn) in d.iter().enumerate() {
            let written = match turn {
                Turn::Search { .. } | Turn::Assistant { .. } => parse_model_turn(&assistant.next_turn(&d[..i])?),
                _ => continue,
            };
            match turn {
                Turn::Search { arguments } => {
                    let got = match &written {
                        Ok(Turn::Search { arguments }) => Some(arguments),
                        _ => None,
                    };
                    m.slots.add(got, arguments);
                }
                Turn::Assistant { content } => {
                    m.replies += 1;
                    if let Ok(Turn::Assistant { content: got }) = &written {
                        m.reply_exact += usize::from(got == content);
                        let facts = quoted_facts(d, i, content);
                        m.reply_grounded += usize::from(facts.iter().all(|f| got.contains(f.as_str())));
                    }
                }
                _ => unreachable!("only model turns are generated"),
            }
        }
    }
    Ok(m)
}

impl HotelMetrics {
    /// The metrics.csv columns, in [`HotelMetrics::values`] order.
    pub fn names() -> Vec<String> {
        ["json_valid", "search_exact", "slot_f1", "reply_exact", "reply_grounded"].map(String::from).to_vec()
    }

    /// The counts behind the metrics, as numbers that add up across shards of the dialogues.
    pub fn counts(&self) -> [f64; 9] {
        let s = &self.slots;
        [
            s.searches,
            s.valid,
            s.exact,
            s.true_positive,
            s.predicted,
            s.reference,
            self.replies,
            self.reply_exact,
            self.reply_grounded,
        ]
        .map(|c| c as f64)
    }

    /// The inverse of [`HotelMetrics::counts`] (on the counts' sum over shards).
    pub fn from_counts(c: &[f64]) -> HotelMetrics {
        let n = |i: usize| c.get(i).copied().unwrap_or(0.0) as usize;
        let slots = SlotCounts {
            searches: n(0),
            valid: n(1),
            exact: n(2),
            true_positive: n(3),
            predicted: n(4),
            reference: n(5),
        };
        HotelMetrics { slots, replies: n(6), reply_exact: n(7), reply_grounded: n(8) }
    }

    /// The fractions, in [`HotelMetrics::names`] order.
    pub fn values(&self) -> Vec<f64> {
        let r = self.replies.max(1) as f64;
        vec![
            self.slots.validity(),
            self.slots.exact_match(),
            self.slots.f1(),
            self.reply_exact as f64 / r,
            self.reply_grounded as f64 / r,
        ]
    }
}

struct HotelTask<'a> {
    cfg: &'a HotelConfig,
    model: Gpt2,
    tok: Gpt2Tokenizer,
    train: Vec<Sequence>,
    valid: Vec<Sequence>,
    valid_dialogues: Vec<Vec<Turn>>,
    order: Vec<usize>,
}

impl HotelTask<'_> {
    fn assistant(&self) -> Assistant<'_> {
        Assistant { model: &self.model, tok: &self.tok, max_turn_tokens: 96 }
    }
}

impl Task for HotelTask<'_> {
    fn title(&self) -> String {
        let how = if self.cfg.lora.is_some() { "LoRA" } else { "full" };
        format!("hotel assistant SFT ({how}), lr {} batch {}", self.cfg.lr, self.cfg.batch_size)
    }
    fn fingerprint(&self) -> String {
        let c = self.cfg;
        format!(
            "hotel model={:?} tokenizer={:?} data={:?} max_len={} batch={} lora={:?} ln_f={} eval_dialogues={}",
            c.model_dir,
            c.tokenizer_dir,
            c.data_dir,
            c.max_len,
            c.batch_size,
            c.lora,
            c.lora_train_ln_f,
            c.eval_dialogues
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
    // ANCHOR: hotel_loss
    fn loss(&mut self, index: usize, seed: u64) -> Result<Tensor> {
        let bs = self.cfg.batch_size;
        let chunk = &self.order[index * bs..((index + 1) * bs).min(self.order.len())];
        let batch: Vec<&Sequence> = chunk.iter().map(|&i| &self.train[i]).collect();
        let (ids, mask, labels) = pad_batch(&batch); // (B, L): padded to the batch's longest
        self.model.reseed_dropout(seed);
        let hidden = self.model.hidden(&ids, Some(&mask.to(&self.cfg.device)?));
        // the head only where the model writes: the search and assistant turns
        Ok(self.model.labelled_loss(&hidden, &labels).0)
    }
    // ANCHOR_END: hotel_loss
    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
    fn eval_names(&self) -> Vec<String> {
        let mut n = vec!["eval_loss".to_string()];
        n.extend(HotelMetrics::names());
        n
    }
    fn eval_sums(&mut self, rank: usize, ranks: usize) -> Result<Vec<f64>> {
        let mut sum = 0.0;
        for chunk in self.valid.chunks(self.cfg.batch_size).skip(rank).step_by(ranks) {
            let batch: Vec<&Sequence> = chunk.iter().collect();
            let (ids, mask, labels) = pad_batch(&batch);
            let hidden = self.model.hidden(&ids, Some(&mask.to(&self.cfg.device)?));
            sum += self.model.labelled_loss(&hidden, &labels).0.item() as f64 * chunk.len() as f64;
        }
        // the generated turns: rank r scores dialogues i with i % ranks == r
        let k = self.cfg.eval_dialogues.min(self.valid_dialogues.len());
        let mine: Vec<Vec<Turn>> = self.valid_dialogues[..k].iter().skip(rank).step_by(ranks).cloned().collect();
        let m = evaluate_hotel(&self.assistant(), &mine)?;
        let mut out = vec![sum];
        out.extend(m.counts());
        Ok(out)
    }
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64> {
        let mut out = vec![sums[0] / self.valid.len().max(1) as f64];
        out.extend(HotelMetrics::from_counts(&sums[1..]).values());
        out
    }
    fn export(&self, out_dir: &Path, step: usize, _last: bool) -> Result<()> {
        let c = self.cfg;
        export_fine_tuned(&self.model, c.lora, c.lora_train_ln_f, &c.model_dir, out_dir, step)
    }
}

/// What [`train_hotel`] reports besides the loop's rows.
#[derive(Clone, Debug, PartialEq)]
pub struct HotelReport {
    /// The loop's report.
    pub train: TrainReport,
    /// The final metrics on every held-out dialogue.
    pub metrics: HotelMetrics,
    /// Training dialogues cut at max_len.
    pub truncated: usize,
}

/// Fine-tunes as `cfg` says; writes metrics.csv, loss.png, checkpoint-N/, checkpoint.safetensors,
/// the final model in final/ (merged, with LoRA; with the tokenizer) and eval.json (the
/// held-out metrics on every validation dialogue).
pub fn train_hotel(cfg: &HotelConfig) -> Result<HotelReport> {
    if cfg.batch_size == 0 || cfg.max_len < 8 {
        return Err(Error::Config("--batch-size must be ≥ 1 and --max-len ≥ 8".into()));
    }
    cfg.device.ensure_available()?;
    // The output folder is claimed before anything is read: a refused run costs nothing.
    let run = RunDir::claim(&cfg.out_dir, Start::from_flags(cfg.resume, cfg.overwrite)?)?;
    let tok_dir = cfg.tokenizer_dir.clone().unwrap_or_else(|| cfg.model_dir.clone());
    // QLoRA: the base's linear weights quantized as they are read
    let mut model = Gpt2::from_dir_with(&cfg.model_dir, cfg.lora.and_then(|l| l.quantize_base))?;
    let tok = Gpt2Tokenizer::from_dir(&tok_dir)?;
    tok.fits(model.config.vocab_size)?;
    if cfg.max_len > model.config.n_positions {
        return Err(Error::Config(format!(
            "--max-len {} exceeds the model's context of {} positions",
            cfg.max_len, model.config.n_positions
        )));
    }
    let train_d = load_dialogues(&cfg.data_dir.join("train.jsonl"))?;
    let valid_d = load_dialogues(&cfg.data_dir.join("valid.jsonl"))?;
    let (train_set, truncated) = sequences(&train_d, &tok, cfg.max_len)?;
    let (valid, _) = sequences(&valid_d, &tok, cfg.max_len)?;
    super::batch_fits(cfg.batch_size, train_set.len())?;
    if truncated > 0 {
        crate::say!(
            "{truncated} of {} training dialogues are longer than --max-len {} and lose their last turns",
            train_d.len(),
            cfg.max_len
        );
    }
    prepare_fine_tuning(&mut model, cfg.lora, cfg.lora_train_ln_f, cfg.seed);
    if cfg.freeze_embeddings {
        freeze_embeddings(&model, cfg.lora.is_some())?;
    }
    model.gradient_checkpointing = cfg.gradient_checkpointing;
    model.to_device(&cfg.device)?;
    let mut opt = AdamW::new(model.trainable_parameters(), cfg.lr).weight_decay(0.0);
    let mut task = HotelTask { cfg, model, tok, train: train_set, valid, valid_dialogues: valid_d, order: Vec::new() };
    // optimizer steps: each takes grad_accum micro-batches on each rank
    let per_step = cfg.grad_accum.max(1) * crate::distributed::world().size();
    let total = task.batches().div_ceil(per_step) * cfg.epochs;
    let trainer = TrainerConfig {
        schedule: Schedule::WarmupLinear { warmup: cfg.warmup, total },
        max_grad_norm: Some(1.0),
        log_every: 10.min(cfg.eval_every),
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
        ..TrainerConfig::new(&cfg.out_dir, cfg.epochs, cfg.lr, cfg.seed)
    };
    let report = train_in(&run, &mut task, &mut opt, &trainer)?;
    // the final evaluation on every held-out dialogue, sharded over the ranks as the trainer's
    task.model.set_training(false);
    let world = crate::distributed::world();
    let (rank, ranks) = (world.rank(), world.size());
    let mine: Vec<Vec<Turn>> = task.valid_dialogues.iter().skip(rank).step_by(ranks).cloned().collect();
    let mut counts = evaluate_hotel(&task.assistant(), &mine)?.counts();
    world.all_reduce_sum_f64(&mut counts);
    let metrics = HotelMetrics::from_counts(&counts);
    if !crate::distributed::is_leader() {
        // rank 0 writes the final model and eval.json
        return Ok(HotelReport { train: report, metrics, truncated });
    }
    if cfg.halt_after.is_none_or(|h| report.steps < h) {
        let final_dir = cfg.out_dir.join("final");
        match cfg.lora {
            Some(_) => task.model.save_merged_dir(&final_dir)?,
            None => task.model.save_dir(&final_dir)?,
        }
        copy_tokenizer(&tok_dir, &final_dir)?;
    }
    let json = serde_json::json!({
        "dialogues": task.valid_dialogues.len(),
        "searches": metrics.slots.searches,
        "replies": metrics.replies,
        "json_valid": metrics.slots.validity(),
        "search_exact": metrics.slots.exact_match(),
        "slot_f1": metrics.slots.f1(),
        "reply_exact": metrics.reply_exact as f64 / metrics.replies.max(1) as f64,
        "reply_grounded": metrics.reply_grounded as f64 / metrics.replies.max(1) as f64,
        "steps": report.steps,
    });
    let path = cfg.out_dir.join("eval.json");
    write_atomic(&path, (serde_json::to_string_pretty(&json).expect("plain data") + "\n").as_bytes())?;
    Ok(HotelReport { train: report, metrics, truncated })
}

/// One exchange of `hotel-bot`: the model's turns after the user's last, with the program's
/// search in between. Appends every turn to `history` and returns them.
pub fn respond(assistant: &Assistant, hotels: &[Hotel], history: &mut Vec<Turn>) -> Result<Vec<Turn>> {
    respond_while(assistant, hotels, history, &|| true)
}

/// [`respond`], asking `keep_going` after each token the model writes (see
/// [`Assistant::next_turn_while`]).
pub fn respond_while(
    assistant: &Assistant,
    hotels: &[Hotel],
    history: &mut Vec<Turn>,
    keep_going: &dyn Fn() -> bool,
) -> Result<Vec<Turn>> {
    let mut new = Vec::new();
    for _ in 0..3 {
        assistant.forget_to_fit(history)?;
        let text = assistant.next_turn_while(history, keep_going)?;
        match parse_model_turn(&text) {
            Ok(Turn::Search { arguments }) => {
                let records = query(hotels, &arguments).first().map(|h| Record::of(h)).into_iter().collect();
                for t in [Turn::Search { arguments }, Turn::Return { records }] {
                    history.push(t.clone());
                    new.push(t);
                }
            }
            Ok(reply) => {
                history.push(reply.clone());
                new.push(reply);
                break;
            }
            Err(why) => {
                // what the model wrote is shown, not acted on
                let reply = Turn::Assistant { content: format!("（模型的输出无法解析：{why}）") };
                new.push(reply);
                break;
            }
        }
    }
    Ok(new)
}
