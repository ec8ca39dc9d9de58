//! The one training loop every task runs: a [`Task`] says what a batch's loss is and how to
//! evaluate; [`train`] does the rest — epochs and steps, gradient accumulation, clipping, the
//! learning-rate schedule, the progress bar, metrics.csv and loss.png, evaluation and saving at
//! their intervals, a checkpoint that `--resume` continues bit for bit, and a stop with a clear
//! message when the loss stops being a number.
//!
//! Why resuming is exact: everything random is a pure function of the run's seed and a
//! position — the example order of epoch e, the dropout masks and samples of micro-batch i of
//! epoch e — and everything else that changes (parameters, optimizer state, step counts, the
//! running loss sums, the metrics so far) is in the checkpoint.

use super::{epoch_progress, metrics_csv, parse_metrics_csv, plot_panels, MetricsRow, Panel, Series};
use crate::error::{Error, Result};
use crate::io::{load_safetensors, save_safetensors, write_atomic};
use crate::optim::{clip_grad_norm, LrSchedule, Optimizer, Schedule};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one training job provides; the loop itself is [`train`]'s.
pub trait Task {
    /// A short description for plot titles (model, optimizer, batch size …).
    fn title(&self) -> String;
    /// The task's settings a resumed run must share with its checkpoint (data, model, seed …).
    fn fingerprint(&self) -> String;
    /// The tensors training changes (parameters), by name: saved in checkpoints, restored on
    /// resume.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Micro-batches per epoch.
    fn batches(&self) -> usize;
    /// Called before epoch `epoch` (from 1) with that epoch's seed: shuffle here.
    fn start_epoch(&mut self, epoch: usize, seed: u64);
    /// The loss of micro-batch `index` of the current epoch; `seed` is this micro-batch's own
    /// (reseed dropout and any sampling from it).
    fn loss(&mut self, index: usize, seed: u64) -> Result<Tensor>;
    /// Train (true) or eval (false) mode.
    fn set_training(&mut self, training: bool);
    /// Names of the evaluation metrics, as metrics.csv columns; empty = no evaluation.
    fn eval_names(&self) -> Vec<String>;
    /// The evaluation metrics, in `eval_names` order (called in eval mode without a graph).
    fn evaluate(&mut self) -> Result<Vec<f64>>;
    /// Writes the model in its exchange format (safetensors, a Hugging Face directory, adapters)
    /// at a save point after `step`; `last` at the end of training.
    fn export(&self, out_dir: &Path, step: usize, last: bool) -> Result<()>;
}

/// When the learning-rate schedule advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleUnit {
    /// Once per epoch (`scheduler.step()` after each epoch, as the course's MNIST loop).
    Epoch,
    /// Once per optimizer step (transformer fine-tuning).
    Step,
}

/// How [`train`] runs a task.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerConfig {
    /// metrics.csv, loss.png, checkpoint.safetensors and the task's exports go here.
    pub out_dir: PathBuf,
    /// Epochs.
    pub epochs: usize,
    /// Base learning rate.
    pub lr: f64,
    /// The learning-rate schedule over epochs or steps.
    pub schedule: Schedule,
    /// What the schedule counts.
    pub schedule_unit: ScheduleUnit,
    /// Micro-batches per optimizer step (their losses scaled by 1/N, gradients summed).
    pub grad_accum: usize,
    /// Clip gradients to this global L2 norm before each step.
    pub max_grad_norm: Option<f32>,
    /// Write a training-loss row every this many steps.
    pub log_every: usize,
    /// Evaluate every this many steps.
    pub eval_every: Option<usize>,
    /// Evaluate at the end of every epoch.
    pub eval_each_epoch: bool,
    /// Save a checkpoint every this many steps (it is also saved at every evaluation and at the
    /// end).
    pub save_every: Option<usize>,
    /// The run's seed (example order, dropout, sampling).
    pub seed: u64,
    /// Continue from out_dir/checkpoint.safetensors.
    pub resume: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// Stop after this step as an interrupted run would, with a checkpoint (for testing resume).
    pub halt_after: Option<usize>,
}

impl TrainerConfig {
    /// A config with the usual defaults: constant schedule per step, no accumulation, no
    /// clipping, a row every 10 steps, evaluation each epoch.
    pub fn new(out_dir: impl Into<PathBuf>, epochs: usize, lr: f64, seed: u64) -> TrainerConfig {
        TrainerConfig {
            out_dir: out_dir.into(),
            epochs,
            lr,
            schedule: Schedule::Constant,
            schedule_unit: ScheduleUnit::Step,
            grad_accum: 1,
            max_grad_norm: None,
            log_every: 10,
            eval_every: None,
            eval_each_epoch: true,
            save_every: None,
            seed,
            resume: false,
            progress: false,
            halt_after: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let zero = [("epochs", self.epochs), ("grad_accum", self.grad_accum), ("log_every", self.log_every)];
        let more = [("eval_every", self.eval_every), ("save_every", self.save_every)];
        for (name, v) in zero.into_iter().chain(more.into_iter().filter_map(|(n, v)| v.map(|v| (n, v)))) {
            if v == 0 {
                return Err(Error::Config(format!("--{}: must be at least 1", name.replace('_', "-"))));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::Config(format!("--lr must be a positive number, got {}", self.lr)));
        }
        if self.max_grad_norm.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
            return Err(Error::Config("--max-grad-norm must be a positive number".into()));
        }
        Ok(())
    }

    /// What a resumed run must share with the checkpoint: everything but the number of epochs,
    /// the output, and how it is displayed.
    fn fingerprint(&self) -> String {
        format!(
            "lr={} schedule={:?}/{:?} grad_accum={} max_grad_norm={:?} log_every={} eval_every={:?} eval_each_epoch={} save_every={:?} seed={}",
            self.lr,
            self.schedule,
            self.schedule_unit,
            self.grad_accum,
            self.max_grad_norm,
            self.log_every,
            self.eval_every,
            self.eval_each_epoch,
            self.save_every,
            self.seed
        )
    }
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// The evaluation metrics' names.
    pub eval_names: Vec<String>,
    /// Every metrics row (including those of earlier runs this one resumed).
    pub rows: Vec<MetricsRow>,
    /// Optimizer steps done.
    pub steps: usize,
}

impl TrainReport {
    /// The last value of evaluation metric `name`, if any evaluation ran.
    pub fn last(&self, name: &str) -> Option<f64> {
        let i = self.eval_names.iter().position(|n| n == name)?;
        self.rows.iter().rev().find_map(|r| r.eval.get(i).copied())
    }
}

/// SplitMix64: a well-mixed 64-bit seed from a seed and a position.
fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Running sums the loop carries between rows (kept exact across a resume).
#[derive(Clone, Debug, Default, PartialEq)]
struct Counters {
    epoch: usize,
    next_batch: usize,
    step: usize,
    since: (f64, usize),
    epoch_loss: (f64, usize),
    train_seconds: f64,
}

const CHECKPOINT: &str = "checkpoint.safetensors";

/// Trains `task` with `opt` as `cfg` says (see the module docs); returns every metrics row.
// ANCHOR: train
pub fn train(task: &mut dyn Task, opt: &mut dyn Optimizer, cfg: &TrainerConfig) -> Result<TrainReport> {
    cfg.validate()?;
    let (batches, names) = (task.batches(), task.eval_names());
    if batches == 0 {
        return Err(Error::Config("the training set gives no batch (is it empty?)".into()));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io(&cfg.out_dir, e))?;
    let steps_per_epoch = batches.div_ceil(cfg.grad_accum);
    let total = steps_per_epoch * cfg.epochs;
    let fingerprint = format!("{} | {}", task.fingerprint(), cfg.fingerprint());
    let (mut c, mut rows) = (Counters { epoch: 1, ..Default::default() }, Vec::new());
    if cfg.resume {
        (c, rows) = restore(task, opt, cfg, &fingerprint, &names)?;
    }
    let mut pending: Vec<(usize, Tensor)> = Vec::new(); // (step, loss) not yet read from the device
    while c.epoch <= cfg.epochs {
        let epoch = c.epoch;
        task.start_epoch(epoch, mix(cfg.seed, epoch as u64));
        task.set_training(true);
        if cfg.schedule_unit == ScheduleUnit::Epoch {
            opt.set_lr(cfg.schedule.lr(cfg.lr, epoch - 1));
        }
        let bar = epoch_progress(epoch, cfg.epochs, steps_per_epoch);
        if !cfg.progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_position((c.next_batch / cfg.grad_accum) as u64);
        while c.next_batch < batches {
            let started = Instant::now();
            let group = c.next_batch..(c.next_batch + cfg.grad_accum).min(batches);
            if cfg.schedule_unit == ScheduleUnit::Step {
                opt.set_lr(cfg.schedule.lr(cfg.lr, c.step));
            }
            // ANCHOR: step
            opt.zero_grad();
            let mut step_loss: Option<Tensor> = None;
            for i in group.clone() {
                let seed = mix(mix(cfg.seed, epoch as u64), i as u64 + 1);
                // Each micro-batch's loss is scaled by 1/N: the summed gradients are those of the
                // mean loss over the N micro-batches.
                let loss = task.loss(i, seed)?.mul_scalar(1.0 / group.len() as f32);
                loss.backward();
                let l = loss.detach();
                step_loss = Some(step_loss.map_or(l.clone(), |s| s + l));
            }
            if let Some(max) = cfg.max_grad_norm {
                clip_grad_norm(opt.params(), max);
            }
            opt.step();
            // ANCHOR_END: step
            c.step += 1;
            c.next_batch = group.end;
            if let Some(l) = step_loss {
                pending.push((c.step, l)); // read later: reading waits for a GPU to finish
            }
            bar.inc(1);
            c.train_seconds += started.elapsed().as_secs_f64();
            let epoch_done = c.next_batch == batches;
            let last = c.step == total;
            let halt = cfg.halt_after == Some(c.step);
            let eval = !names.is_empty()
                && (cfg.eval_every.is_some_and(|n| c.step % n == 0) || (cfg.eval_each_epoch && epoch_done) || last);
            let save = eval || last || halt || cfg.save_every.is_some_and(|n| c.step % n == 0);
            if eval || save || c.step % cfg.log_every == 0 {
                flush(&mut pending, &mut c, cfg)?;
                bar.set_message(format!("loss {:.4}", c.since.0 / c.since.1.max(1) as f64));
            }
            if eval {
                let row = evaluate_row(task, opt, &mut c, &names)?;
                let line = describe(&row, &names, &c);
                bar.suspend(|| println!("{line}"));
                rows.push(row);
            } else if c.step % cfg.log_every == 0 && c.since.1 > 0 {
                rows.push(log_row(opt, &mut c, epoch));
            }
            if epoch_done {
                (c.epoch, c.next_batch, c.epoch_loss) = (epoch + 1, 0, (0.0, 0));
            }
            if save {
                save_checkpoint(task, opt, cfg, &c, &rows, &names, &fingerprint, last)?;
            }
            if halt {
                bar.finish_and_clear();
                return Ok(TrainReport { eval_names: names, rows, steps: c.step });
            }
            if epoch_done {
                break;
            }
        }
        bar.finish_and_clear();
    }
    Ok(TrainReport { eval_names: names, rows, steps: c.step })
}
// ANCHOR_END: train

/// Reads the pending step losses into the running sums, in step order; a loss that is not a
/// finite number stops training before anything is saved, so the last checkpoint stays good.
fn flush(pending: &mut Vec<(usize, Tensor)>, c: &mut Counters, cfg: &TrainerConfig) -> Result<()> {
    for (step, l) in pending.drain(..) {
        let v = l.item() as f64;
        if !v.is_finite() {
            return Err(Error::Config(format!(
                "training stopped: the loss is {v} at step {step}; nothing after the last checkpoint in {} was saved \
                 (try a lower --lr)",
                cfg.out_dir.display()
            )));
        }
        c.since = (c.since.0 + v, c.since.1 + 1);
        c.epoch_loss = (c.epoch_loss.0 + v, c.epoch_loss.1 + 1);
    }
    Ok(())
}

fn log_row(opt: &dyn Optimizer, c: &mut Counters, epoch: usize) -> MetricsRow {
    let train_loss = c.since.0 / c.since.1 as f64;
    c.since = (0.0, 0);
    MetricsRow { epoch, step: c.step, lr: opt.lr(), train_loss, eval: Vec::new(), train_seconds: None }
}

fn evaluate_row(task: &mut dyn Task, opt: &dyn Optimizer, c: &mut Counters, names: &[String]) -> Result<MetricsRow> {
    task.set_training(false);
    let eval = {
        let _guard = crate::no_grad();
        task.evaluate()?
    };
    task.set_training(true);
    if eval.len() != names.len() {
        return Err(Error::Config(format!("evaluation returned {} metrics for {} names", eval.len(), names.len())));
    }
    let mut row = log_row(opt, c, c.epoch);
    row.eval = eval;
    row.train_seconds = Some(c.train_seconds);
    c.train_seconds = 0.0;
    Ok(row)
}

fn describe(row: &MetricsRow, names: &[String], c: &Counters) -> String {
    let mut line = format!(
        "epoch {:>3}  step {:>6}  train loss {:.4}",
        row.epoch,
        row.step,
        c.epoch_loss.0 / c.epoch_loss.1.max(1) as f64
    );
    for (n, v) in names.iter().zip(&row.eval) {
        let shown = if n.ends_with("accuracy") { format!("{:.2}%", 100.0 * v) } else { format!("{v:.4}") };
        line += &format!("  {} {shown}", n.replace('_', " "));
    }
    line + &format!("  ({:.2} s)", row.train_seconds.unwrap_or(0.0))
}

/// Writes the task's exports, then the checkpoint (atomically), then metrics.csv and loss.png.
#[allow(clippy::too_many_arguments)]
fn save_checkpoint(
    task: &dyn Task,
    opt: &dyn Optimizer,
    cfg: &TrainerConfig,
    c: &Counters,
    rows: &[MetricsRow],
    names: &[String],
    fingerprint: &str,
    last: bool,
) -> Result<()> {
    task.export(&cfg.out_dir, c.step, last)?;
    let mut tensors: Vec<(String, Tensor)> = task.state().into_iter().map(|(n, t)| (format!("model.{n}"), t)).collect();
    tensors.extend(opt.state().to_tensors().into_iter().map(|(n, t)| (format!("optim.{n}"), t)));
    let csv = metrics_csv(names, rows);
    let meta = HashMap::from([
        ("config".to_string(), fingerprint.to_string()),
        ("epoch".into(), c.epoch.to_string()),
        ("next_batch".into(), c.next_batch.to_string()),
        ("step".into(), c.step.to_string()),
        ("since".into(), format!("{} {}", c.since.0, c.since.1)),
        ("epoch_loss".into(), format!("{} {}", c.epoch_loss.0, c.epoch_loss.1)),
        ("train_seconds".into(), c.train_seconds.to_string()),
        ("metrics".into(), csv.clone()),
    ]);
    save_safetensors(&cfg.out_dir.join(CHECKPOINT), &tensors, &meta)?;
    write_atomic(&cfg.out_dir.join("metrics.csv"), csv.as_bytes())?;
    plot_rows(&cfg.out_dir.join("loss.png"), &task.title(), names, rows)
}

/// Loads out_dir/checkpoint.safetensors into the task and optimizer.
fn restore(
    task: &mut dyn Task,
    opt: &mut dyn Optimizer,
    cfg: &TrainerConfig,
    fingerprint: &str,
    names: &[String],
) -> Result<(Counters, Vec<MetricsRow>)> {
    let path = cfg.out_dir.join(CHECKPOINT);
    let (tensors, meta) = load_safetensors(&path)?;
    let saved = meta.get("config").cloned().unwrap_or_default();
    if saved != fingerprint {
        return Err(Error::Config(format!(
            "--resume: {} was written with other settings\n  checkpoint: {saved}\n  now:        {fingerprint}",
            path.display()
        )));
    }
    let get = |k: &str| meta.get(k).ok_or_else(|| Error::format(&path, format!("metadata `{k}` missing")));
    let count = |k: &str| get(k)?.parse::<usize>().map_err(|_| Error::format(&path, format!("metadata `{k}`")));
    let pair = |k: &str| -> Result<(f64, usize)> {
        let bad = || Error::format(&path, format!("metadata `{k}`"));
        let (s, n) = get(k)?.split_once(' ').ok_or_else(bad)?;
        Ok((s.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?))
    };
    let c = Counters {
        epoch: count("epoch")?,
        next_batch: count("next_batch")?,
        step: count("step")?,
        since: pair("since")?,
        epoch_loss: pair("epoch_loss")?,
        train_seconds: get("train_seconds")?.parse().unwrap_or(0.0),
    };
    let by_name: HashMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, t) in task.state() {
        let saved = by_name
            .get(format!("model.{name}").as_str())
            .ok_or_else(|| Error::format(&path, format!("tensor model.{name} missing")))?;
        if saved.dims() != t.dims() {
            return Err(Error::format(&path, format!("model.{name}: shape {} vs {}", saved.shape(), t.shape())));
        }
        t.set_data(saved);
    }
    let optim: Vec<(String, Tensor)> =
        tensors.iter().filter_map(|(n, t)| n.strip_prefix("optim.").map(|n| (n.to_string(), t.clone()))).collect();
    opt.state_mut().load_tensors(&optim)?;
    let rows = parse_metrics_csv(get("metrics")?, names, &path)?;
    Ok((c, rows))
}

/// loss.png: the training loss and every evaluation metric named `*loss` in one panel, the
/// others (accuracy in %) in a second.
fn plot_rows(path: &Path, title: &str, names: &[String], rows: &[MetricsRow]) -> Result<()> {
    let series = |i: Option<usize>, scale: f64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| match i {
                None => Some((r.step as f64, r.train_loss)),
                Some(i) => r.eval.get(i).map(|v| (r.step as f64, scale * v)),
            })
            .collect()
    };
    let mut losses = vec![Series { label: "train".into(), points: series(None, 1.0) }];
    let mut others = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if n.ends_with("loss") {
            losses.push(Series { label: n.replace('_', " "), points: series(Some(i), 1.0) });
        } else {
            let scale = if n.ends_with("accuracy") { 100.0 } else { 1.0 };
            others.push(Series { label: n.replace('_', " "), points: series(Some(i), scale) });
        }
    }
    let mut panels =
        vec![Panel { title: title.to_string(), x_label: "step".into(), y_label: "loss".into(), series: losses }];
    if !others.is_empty() {
        let y_label = if names.iter().any(|n| n.ends_with("accuracy")) { "accuracy (%)" } else { "value" };
        panels.push(Panel {
            title: "evaluation".into(),
            x_label: "step".into(),
            y_label: y_label.into(),
            series: others,
        });
    }
    let height = 400 * panels.len() as u32;
    plot_panels(path, &panels, (1000, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;

    /// Least squares on 8 fixed points, one point per micro-batch: ℓ = (w·x − y)²; from step
    /// `nan_at` on, the loss is NaN (as a diverged run's would be).
    struct Line {
        w: Tensor,
        nan_at: Option<usize>,
        seen: usize,
    }

    impl Task for Line {
        fn title(&self) -> String {
            "line".into()
        }
        fn fingerprint(&self) -> String {
            "line".into()
        }
        fn state(&self) -> Vec<(String, Tensor)> {
            vec![("w".into(), self.w.clone())]
        }
        fn batches(&self) -> usize {
            8
        }
        fn start_epoch(&mut self, _: usize, _: u64) {}
        fn loss(&mut self, index: usize, _: u64) -> Result<Tensor> {
            self.seen += 1;
            let x = index as f32 / 8.0;
            let loss = (&self.w * x - (2.0 * x + 1.0)).square().sum();
            Ok(if self.nan_at.is_some_and(|n| self.seen >= n) { loss * f32::NAN } else { loss })
        }
        fn set_training(&mut self, _: bool) {}
        fn eval_names(&self) -> Vec<String> {
            vec!["w".into()]
        }
        fn evaluate(&mut self) -> Result<Vec<f64>> {
            Ok(vec![self.w.item() as f64])
        }
        fn export(&self, _: &Path, _: usize, _: bool) -> Result<()> {
            Ok(())
        }
    }

    fn out(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gradschool-trainer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint() {
        let dir = out("nan");
        let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: Some(7), seen: 0 };
        let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
        let cfg = TrainerConfig { save_every: Some(3), log_every: 100, ..TrainerConfig::new(&dir, 1, 0.1, 0) };
        let err = train(&mut task, &mut opt, &cfg).unwrap_err().to_string();
        assert!(err.contains("NaN at step 7"), "{err}");
        let (tensors, meta) = load_safetensors(&dir.join(CHECKPOINT)).unwrap();
        assert_eq!(meta["step"], "6", "the checkpoint of step 6 is the last one, and it is kept");
        let w = &tensors.iter().find(|(n, _)| n == "model.w").unwrap().1;
        assert!(w.item().is_finite());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn accumulation_scales_each_micro_batch_by_one_over_n() {
        // grad_accum = 8 over the 8 points is one step on the mean loss: with w = 0,
        // ∂/∂w mean((w·x − (2x + 1))²) = mean(−2x(2x + 1)), so w = −lr·that after one step.
        let dir = out("accum");
        let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: None, seen: 0 };
        let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
        let cfg = TrainerConfig { grad_accum: 8, ..TrainerConfig::new(&dir, 1, 0.1, 0) };
        let report = train(&mut task, &mut opt, &cfg).unwrap();
        let grad: f64 = (0..8).map(|i| i as f64 / 8.0).map(|x| -2.0 * x * (2.0 * x + 1.0)).sum::<f64>() / 8.0;
        assert_eq!(report.steps, 1);
        assert!((report.last("w").unwrap() - (-0.1 * grad)).abs() < 1e-6, "{:?}", report.rows);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resuming_with_other_settings_is_refused_naming_both() {
        let dir = out("refuse");
        let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: None, seen: 0 };
        let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
        train(&mut task, &mut opt, &TrainerConfig::new(&dir, 1, 0.1, 0)).unwrap();
        let cfg = TrainerConfig { resume: true, ..TrainerConfig::new(&dir, 2, 0.2, 0) };
        let err = train(&mut task, &mut opt, &cfg).unwrap_err().to_string();
        assert!(err.contains("--resume") && err.contains("lr=0.1") && err.contains("lr=0.2"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
