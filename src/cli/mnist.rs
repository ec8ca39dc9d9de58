//! `gradschool mnist`: the course's MNIST network with its defaults.

use super::args::{at_least_one, device, positive_f64, precision, unit_interval, SchedulerKind};
use clap::Args;
use gradschool::amp::Precision;
use gradschool::optim::OptimizerKind;
use gradschool::train::mnist::{train_mnist, MnistConfig};
use gradschool::{Device, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Flags of `gradschool mnist` (defaults: the course notes' recipe).
#[derive(Args, Debug)]
pub struct MnistArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 15, value_parser = at_least_one)]
    epochs: usize,
    /// Examples per training batch.
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    batch_size: usize,
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
    /// Learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = positive_f64)]
    lr: f64,
    /// Solver.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Momentum (sgd and rmsprop).
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    momentum: f64,
    /// Learning-rate schedule per epoch.
    #[arg(long, value_enum, default_value_t = SchedulerKind::None)]
    scheduler: SchedulerKind,
    /// Decay factor of the step and exponential schedules.
    #[arg(long, default_value_t = 0.9, value_parser = positive_f64)]
    gamma: f64,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory with the four MNIST-format IDX files (plain or .gz); default: the shipped
    /// 10,000 offline digits (8,000 train / 2,000 test).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output directory for metrics.csv, loss.png, model.safetensors, checkpoint.safetensors.
    #[arg(long, default_value = "runs/mnist")]
    out_dir: PathBuf,
    /// Continue from the checkpoint in --out-dir.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start a new run in an --out-dir that holds one, deleting its checkpoint, metrics.csv and
    /// loss.png (without this or --resume such a folder is refused).
    #[arg(long)]
    overwrite: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Log the training loss every N steps.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    log_interval: usize,
    /// Train on only the first N training examples (quick experiments).
    #[arg(long, value_parser = at_least_one)]
    limit_train: Option<usize>,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = device)]
    device: Device,
}

/// Trains with the parsed flags.
pub fn run(args: &MnistArgs) -> Result<()> {
    if let Some(n) = args.threads {
        gradschool::set_num_threads(n)?;
    }
    let config = MnistConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        zero: args.zero == 1,
        precision: args.precision,
        lr: args.lr,
        optimizer: args.optimizer,
        momentum: args.momentum,
        schedule: args.scheduler.schedule(args.gamma, args.epochs),
        seed: args.seed,
        data_dir: args.data_dir.clone(),
        out_dir: args.out_dir.clone(),
        resume: args.resume,
        overwrite: args.overwrite,
        log_interval: args.log_interval,
        test_batch_size: 1000,
        limit_train: args.limit_train,
        progress: std::io::stderr().is_terminal(),
        device: args.device,
        halt_after: None,
    };
    let summary = train_mnist(&config)?;
    gradschool::say!(
        "wrote {0}/metrics.csv, {0}/loss.png, {0}/model.safetensors, {0}/checkpoint.safetensors",
        config.out_dir.display()
    );
    gradschool::say!("test_accuracy={:.4}", summary.test_accuracy);
    Ok(())
}
