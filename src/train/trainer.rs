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
//!
//! Data parallelism (several ranks under `mpirun`, [`crate::distributed`]) is the same loop: a
//! step takes `ranks × grad_accum` micro-batches, rank r computes the r-th block of them with the
//! same seeds a single process would use, and the gradients are summed across ranks before the
//! step — so N ranks are one process with `--grad-accum N`, and at N = 2 bit for bit (a sum of
//! two numbers does not depend on the order). Only rank 0 evaluates and writes files.

use super::checkpoint::{restore, save_checkpoint, Counters};
use super::run_dir::{RunDir, Start};
use super::{epoch_progress, interrupted, MetricsRow, Task};
use crate::amp::{autocast, Precision};
use crate::distributed::{self, Collectives};
use crate::error::{Error, Result};
use crate::optim::{clip_grad_norm, GradScaler, LrSchedule, Optimizer, Schedule};
use crate::tensor::Tensor;
use std::path::PathBuf;
use std::time::Instant;

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
    /// Replace the run out_dir holds (its checkpoint, metrics.csv and loss.png are deleted);
    /// without this or `resume`, a folder holding a run is refused.
    pub overwrite: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// Stop after this step as an interrupted run would, with a checkpoint (for testing resume).
    pub halt_after: Option<usize>,
    /// ZeRO stage 1 on several ranks: each rank keeps the optimizer state of, and updates, only
    /// the parameters it owns ([`distributed::zero_owners`]), then every parameter is broadcast
    /// from its owner. The same numbers as without; less optimizer memory per rank.
    pub zero: bool,
    /// The matrix products' number format ([`crate::amp`]): the forward pass and the loss run
    /// under `autocast(precision)`, the master weights and the optimizer stay f32; fp16 adds a
    /// [`GradScaler`] (its scale is in the checkpoint).
    pub precision: Precision,
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
            overwrite: false,
            progress: false,
            halt_after: None,
            zero: false,
            precision: Precision::F32,
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
        Start::from_flags(self.resume, self.overwrite)?;
        Ok(())
    }

    /// How the run starts in its folder (`resume`, `overwrite` or neither).
    pub fn start(&self) -> Result<Start> {
        Start::from_flags(self.resume, self.overwrite)
    }

    /// What a resumed run must share with the checkpoint: everything but the number of epochs,
    /// the output, and how it is displayed. `per_step` is the micro-batches of one optimizer step
    /// over all ranks: a run may resume on another number of ranks if that stays the same.
    fn fingerprint(&self, per_step: usize) -> String {
        let precision = match self.precision {
            Precision::F32 => String::new(), // as before mixed precision: older checkpoints resume
            p => format!(" precision={p}"),
        };
        format!(
            "lr={} schedule={:?}/{:?} grad_accum={} max_grad_norm={:?} log_every={} eval_every={:?} eval_each_epoch={} save_every={:?} seed={}{}",
            self.lr,
            self.schedule,
            self.schedule_unit,
            per_step,
            self.max_grad_norm,
            self.log_every,
            self.eval_every,
            self.eval_each_epoch,
            self.save_every,
            self.seed,
            precision
        )
    }
}

/// The one rule of every training command: a batch larger than the training set is refused (it
/// would give one short step an epoch, silently), naming both numbers.
pub fn batch_fits(batch_size: usize, examples: usize) -> Result<()> {
    if batch_size > examples {
        return Err(Error::Config(format!(
            "--batch-size {batch_size} is larger than the {examples} training examples"
        )));
    }
    Ok(())
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

/// Trains `task` with `opt` as `cfg` says (see the module docs); returns every metrics row.
/// Claims `cfg.out_dir` for the run (see [`RunDir::claim`]); a recipe that writes into the folder
/// before or after training claims it itself and calls [`train_in`].
pub fn train(task: &mut dyn Task, opt: &mut dyn Optimizer, cfg: &TrainerConfig) -> Result<TrainReport> {
    cfg.validate()?;
    let run = RunDir::claim(&cfg.out_dir, cfg.start()?)?;
    train_in(&run, task, opt, cfg)
}

/// [`train`] in a folder the caller has claimed (`run` must be `cfg.out_dir`). When it returns,
/// the CPU buffer pool's cache is emptied: it held the training step's buffers for the next
/// step, and there is none (what follows — merging, exporting — would otherwise peak on top of
/// a step's worth of idle buffers: 0.5 GB for GPT-2 124M's LoRA recipe).
pub fn train_in(
    run: &RunDir,
    task: &mut dyn Task,
    opt: &mut dyn Optimizer,
    cfg: &TrainerConfig,
) -> Result<TrainReport> {
    let report = train_steps(run, task, opt, cfg);
    crate::backend::cpu::pool::empty_cache();
    report
}

// ANCHOR: train
fn train_steps(run: &RunDir, task: &mut dyn Task, opt: &mut dyn Optimizer, cfg: &TrainerConfig) -> Result<TrainReport> {
    cfg.validate()?;
    if run.path() != cfg.out_dir {
        return Err(Error::Config(format!(
            "the trainer was given {} but claimed {}",
            cfg.out_dir.display(),
            run.path().display()
        )));
    }
    let (batches, names) = (task.batches(), task.eval_names());
    if batches == 0 {
        return Err(Error::Config("the training set gives no batch (is it empty?)".into()));
    }
    let world = distributed::world();
    let leader = distributed::is_leader();
    // micro-batches per optimizer step, over all ranks (rank r computes its block of them)
    let per_step = cfg.grad_accum * world.size();
    let steps_per_epoch = batches.div_ceil(per_step);
    let total = steps_per_epoch * cfg.epochs;
    let fingerprint = format!("{} | {}", task.fingerprint(), cfg.fingerprint(per_step));
    let (mut c, mut rows) = (Counters { epoch: 1, ..Default::default() }, Vec::new());
    if cfg.resume {
        (c, rows) = restore(task, opt, &cfg.out_dir, &fingerprint, &names)?;
        let finished = c.epoch == cfg.epochs + 1 && c.next_batch == 0;
        if c.epoch > cfg.epochs && !finished {
            let (done, at_least) = if c.next_batch == 0 {
                (format!("has finished {} epochs (step {})", c.epoch - 1, c.step), c.epoch - 1)
            } else {
                (format!("is at step {}, in epoch {}", c.step, c.epoch), c.epoch)
            };
            return Err(Error::Config(format!(
                "--resume --epochs {}: the run in {} {done}; ask for --epochs {at_least} or more",
                cfg.epochs,
                cfg.out_dir.display()
            )));
        }
        if finished {
            // The run ended, but a kill may have come between the checkpoint and the files written
            // after it (metrics.csv, loss.png): write them all again from the checkpoint.
            crate::say!(
                "{}: the run was already complete (step {}); its final files are written again",
                cfg.out_dir.display(),
                c.step
            );
            if leader {
                save_checkpoint(task, opt.state().to_tensors(), &cfg.out_dir, &c, &rows, &names, &fingerprint, true)?;
            }
            return Ok(TrainReport { eval_names: names, rows, steps: c.step });
        }
    }
    // fp16's loss scaler, continued from the checkpoint's scale when resuming
    let mut scaler = (cfg.precision == Precision::Fp16).then(|| match c.grad_scaler {
        Some((scale, tracker)) => GradScaler::default().with_state(scale, tracker),
        None => GradScaler::default(),
    });
    // ZeRO-1: rank r keeps the optimizer state of the parameters it owns only
    let owners = (cfg.zero && world.size() > 1).then(|| {
        let numels: Vec<usize> = opt.params().iter().map(Tensor::numel).collect();
        distributed::zero_owners(&numels, world.size())
    });
    if world.size() > 1 {
        start_replicas(world, task, opt, owners.is_none())?;
    }
    if let Some(own) = &owners {
        opt.state_mut().retain_params(|i| own[i] == world.rank());
    }
    let mut zero_reported = false;
    let check_every_step = std::env::var_os("GRADSCHOOL_CHECK_REPLICAS").is_some_and(|v| v == "1");
    let mut pending: Vec<(usize, Tensor)> = Vec::new(); // (step, loss) not yet read from the device
    while c.epoch <= cfg.epochs {
        let epoch = c.epoch;
        task.start_epoch(epoch, mix(cfg.seed, epoch as u64));
        task.set_training(true);
        if cfg.schedule_unit == ScheduleUnit::Epoch {
            opt.set_lr(cfg.schedule.lr(cfg.lr, epoch - 1));
        }
        let bar = epoch_progress(epoch, cfg.epochs, steps_per_epoch);
        if !(cfg.progress && leader) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_position((c.next_batch / per_step) as u64);
        while c.next_batch < batches {
            let started = Instant::now();
            let group = c.next_batch..(c.next_batch + per_step).min(batches);
            if cfg.schedule_unit == ScheduleUnit::Step {
                opt.set_lr(cfg.schedule.lr(cfg.lr, c.step));
            }
            crate::profiler::step_begin(c.step + 1);
            // ANCHOR: step
            opt.zero_grad();
            let mut step_loss: Option<Tensor> = None;
            for i in distributed::shard(group.clone(), world.rank(), cfg.grad_accum) {
                let seed = mix(mix(cfg.seed, epoch as u64), i as u64 + 1);
                // Each micro-batch's loss is scaled by 1/N: the summed gradients are those of the
                // mean loss over the N micro-batches.
                let loss = {
                    let _autocast = autocast(cfg.precision); // the forward pass only
                    task.loss(i, seed)?.mul_scalar(1.0 / group.len() as f32)
                };
                match &scaler {
                    Some(s) => s.scale_loss(&loss).backward(),
                    None => loss.backward(),
                }
                let l = loss.detach();
                step_loss = Some(step_loss.map_or(l.clone(), |s| s + l));
            }
            let mut stop_asked = false; // by any rank (Ctrl-C reaches them at different moments)
            if world.size() > 1 {
                (step_loss, stop_asked) =
                    distributed::all_reduce_gradients(world, opt.params(), step_loss, interrupted())?;
            }
            let overflow = crate::profiler::optimizer_step(|| {
                // fp16: back to true gradients; an inf or NaN skips the step (the same on every
                // rank: their gradients are the all-reduced sum)
                let overflow = scaler.as_ref().is_some_and(|s| s.unscale(opt.params()));
                if let Some(max) = cfg.max_grad_norm.filter(|_| !overflow) {
                    clip_grad_norm(opt.params(), max);
                }
                if let Some(own) = &owners {
                    // clipped with the global norm above; now each rank updates only its own
                    opt.params().iter().zip(own).filter(|(_, &o)| o != world.rank()).for_each(|(p, _)| p.zero_grad());
                }
                if !overflow {
                    opt.step();
                }
                overflow
            });
            if let Some(s) = &mut scaler {
                s.update(overflow);
                c.grad_scaler = Some((s.scale(), s.growth_tracker()));
            }
            if let Some(own) = &owners {
                gather_parameters(world, opt.params(), own);
                if !zero_reported {
                    report_zero_memory(world, opt);
                    zero_reported = true;
                }
            }
            // ANCHOR_END: step
            crate::profiler::step_end(c.step + 1, started);
            c.step += 1;
            c.next_batch = group.end;
            if let Some(l) = step_loss {
                pending.push((c.step, l)); // read later: reading waits for a GPU to finish
            }
            bar.inc(1);
            c.train_seconds += started.elapsed().as_secs_f64();
            let epoch_done = c.next_batch == batches;
            let last = c.step == total;
            // Ctrl-C or SIGTERM: stop here, with a checkpoint (every rank at the same step)
            let stop = (if world.size() > 1 { stop_asked } else { interrupted() }) && !last;
            let halt = cfg.halt_after == Some(c.step) || stop;
            let eval = !names.is_empty()
                && (cfg.eval_every.is_some_and(|n| c.step % n == 0) || (cfg.eval_each_epoch && epoch_done) || last);
            let save = eval || last || halt || cfg.save_every.is_some_and(|n| c.step % n == 0);
            if eval || save || c.step % cfg.log_every == 0 {
                flush(&mut pending, &mut c, cfg)?;
                bar.set_message(format!("loss {:.4}", c.since.0 / c.since.1.max(1) as f64));
            }
            if world.size() > 1 && (save || check_every_step) {
                let hash = replica_hash(opt, owners.is_none());
                distributed::check_same(world, hash, &format!("after step {}, the parameters", c.step))?;
            }
            if eval {
                // every rank evaluates its shard of the evaluation set; the sums are all-reduced
                let row = evaluate_row(world, task, opt, &mut c, &names)?;
                let line = describe(&row, &names, &c);
                bar.suspend(|| crate::say!("{line}"));
                rows.push(row);
            } else if c.step % cfg.log_every == 0 && c.since.1 > 0 {
                rows.push(log_row(opt, &mut c, epoch));
            }
            if epoch_done {
                (c.epoch, c.next_batch, c.epoch_loss) = (epoch + 1, 0, (0.0, 0));
            }
            if save {
                // under ZeRO-1 every rank sends its shard of the state: the checkpoint is whole
                let state = if owners.is_some() { gather_state(world, opt)? } else { opt.state().to_tensors() };
                if leader {
                    save_checkpoint(task, state, &cfg.out_dir, &c, &rows, &names, &fingerprint, last)?;
                }
            }
            if halt {
                bar.finish_and_clear();
                if stop {
                    return Err(Error::Interrupted(format!(
                        "interrupted at step {} of {total}; the checkpoint in {} is saved: run the same command \
                         with --resume to continue",
                        c.step,
                        cfg.out_dir.display()
                    )));
                }
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

/// Makes every rank start from rank 0's tensors (the task's state: the parameters, and anything
/// else training changes), then checks that parameters and optimizer state are the same on every
/// rank: a rank that built another model, or resumed from another checkpoint, is found before
/// the first step rather than as a silent divergence.
fn start_replicas(world: &dyn Collectives, task: &dyn Task, opt: &dyn Optimizer, with_state: bool) -> Result<()> {
    for (_, t) in task.state() {
        let mut data = t.to_vec();
        world.broadcast(&mut data, 0);
        t.set_host_data(data);
    }
    distributed::check_same(world, replica_hash(opt, with_state), "at the start, the parameters or optimizer state")
}

/// A fingerprint of what must be equal on every rank: the parameters, and the optimizer state
/// unless ZeRO-1 shards it.
fn replica_hash(opt: &dyn Optimizer, with_state: bool) -> u64 {
    let params: Vec<Vec<f32>> = opt.params().iter().map(Tensor::to_vec).collect();
    let state: Vec<Vec<f32>> =
        if with_state { opt.state().to_tensors().iter().map(|(_, t)| t.to_vec()).collect() } else { Vec::new() };
    distributed::fingerprint(params.iter().chain(&state).map(Vec::as_slice))
}

/// ZeRO-1's all-gather: every parameter, as its owner updated it, broadcast to every rank.
fn gather_parameters(world: &dyn Collectives, params: &[Tensor], owners: &[usize]) {
    for (p, &owner) in params.iter().zip(owners) {
        let mut data = if owner == world.rank() { p.to_vec() } else { vec![0.0; p.numel()] };
        world.broadcast(&mut data, owner);
        if owner != world.rank() {
            p.set_host_data(data);
        }
    }
}

/// The whole optimizer state under ZeRO-1, for rank 0's checkpoint: each rank's shard in turn
/// (every rank takes part; the others drop what they receive).
fn gather_state(world: &dyn Collectives, opt: &dyn Optimizer) -> Result<Vec<(String, Tensor)>> {
    let mut all = Vec::new();
    for r in 0..world.size() {
        let mut bytes = if r == world.rank() {
            let mine: Vec<(String, Vec<f32>)> =
                opt.state().to_tensors().into_iter().map(|(n, t)| (n, t.to_vec())).collect();
            distributed::encode_named(&mine)
        } else {
            Vec::new()
        };
        let mut len = (bytes.len() as u64).to_le_bytes();
        world.broadcast_bytes(&mut len, r);
        bytes.resize(u64::from_le_bytes(len) as usize, 0);
        world.broadcast_bytes(&mut bytes, r);
        let shard = distributed::decode_named(&bytes)
            .ok_or_else(|| Error::Config(format!("ZeRO-1: rank {r}'s optimizer state arrived garbled")))?;
        all.extend(shard.into_iter().map(|(n, v)| {
            let len = v.len();
            (n, Tensor::from_vec(v, [len]))
        }));
    }
    // the order OptimizerState::to_tensors gives: buffers by name, then the step counts
    let (mut steps, mut buffers): (Vec<_>, Vec<_>) = all.into_iter().partition(|(n, _)| n.ends_with(".step"));
    buffers.sort_by(|a, b| a.0.cmp(&b.0));
    steps.sort_by_key(|(n, _)| n.split('.').next().and_then(|i| i.parse::<usize>().ok()));
    buffers.extend(steps);
    Ok(buffers)
}

/// Says, once, how many bytes of optimizer state each rank holds under ZeRO-1, against the
/// unsharded total.
fn report_zero_memory(world: &dyn Collectives, opt: &dyn Optimizer) {
    let mut kib = vec![0.0f32; world.size()];
    kib[world.rank()] = opt.state().bytes() as f32 / 1024.0;
    world.all_reduce_sum(&mut kib);
    let each: Vec<String> = kib.iter().map(|k| format!("{k:.1}")).collect();
    crate::say!(
        "ZeRO-1: optimizer state per rank {} KiB ({:.1} KiB unsharded)",
        each.join(", "),
        kib.iter().sum::<f32>()
    );
}

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

// ANCHOR: evaluate_row
/// Evaluates on every rank at once: rank r its shard of the evaluation set, the shards' sums
/// added up by an all-reduce, the metrics computed from the whole set's sums (the same on every
/// rank; rank 0 writes them).
fn evaluate_row(
    world: &dyn Collectives,
    task: &mut dyn Task,
    opt: &dyn Optimizer,
    c: &mut Counters,
    names: &[String],
) -> Result<MetricsRow> {
    task.set_training(false);
    let eval = {
        let _guard = crate::no_grad();
        let mut sums = task.eval_sums(world.rank(), world.size())?;
        let mut len = [sums.len() as f64];
        world.all_reduce_sum_f64(&mut len);
        if len[0] != (sums.len() * world.size()) as f64 {
            return Err(Error::Config(format!(
                "rank {}: {} evaluation sums, other ranks more or fewer",
                world.rank(),
                sums.len()
            )));
        }
        world.all_reduce_sum_f64(&mut sums);
        task.eval_metrics(&sums)
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
// ANCHOR_END: evaluate_row

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
