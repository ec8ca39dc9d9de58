//! `gradschool mnist`: the course's MNIST network with its defaults.

use clap::Args;
use gradschool::optim::Schedule;
use gradschool::train::mnist::{train_mnist, MnistConfig, OptimizerKind};
use gradschool::{Device, Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Flags of `gradschool mnist` (defaults: the course notes' recipe).
#[derive(Args, Debug)]
pub struct MnistArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Examples per training batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Solver: sgd, rmsprop, adagrad, adadelta, adam or adamw.
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// Momentum (sgd and rmsprop).
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// Learning-rate schedule per epoch: none, step (×gamma every epoch, the notes' StepLR),
    /// exponential, or cosine (to 0 over the run).
    #[arg(long, default_value = "none")]
    scheduler: String,
    /// Decay factor of the step and exponential schedules.
    #[arg(long, default_value_t = 0.9)]
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
    #[arg(long)]
    resume: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Log the training loss every N steps.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    log_interval: u64,
    /// Train on only the first N training examples (quick experiments).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit_train: Option<u64>,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn schedule(args: &MnistArgs) -> Result<Schedule> {
    if !(args.gamma.is_finite() && args.gamma > 0.0) {
        return Err(Error::Config(format!("--gamma must be a positive number, got {}", args.gamma)));
    }
    Ok(match args.scheduler.as_str() {
        "none" | "constant" => Schedule::Constant,
        "step" => Schedule::Step { step_size: 1, gamma: args.gamma },
        "exponential" => Schedule::Exponential { gamma: args.gamma },
        "cosine" => Schedule::Cosine { t_max: args.epochs as usize, eta_min: 0.0 },
        s => return Err(Error::Config(format!("--scheduler: unknown `{s}` (none, step, exponential, cosine)"))),
    })
}

/// Validates the flags, then trains.
pub fn run(args: &MnistArgs) -> Result<()> {
    let device = Device::parse(&args.device)?;
    device.ensure_available()?;
    if !(args.momentum.is_finite() && (0.0..1.0).contains(&args.momentum)) {
        return Err(Error::Config(format!("--momentum must be in [0, 1), got {}", args.momentum)));
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()
            .map_err(|e| Error::Config(format!("--threads {n}: {e}")))?;
    }
    let config = MnistConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch_size as usize,
        lr: args.lr,
        optimizer: OptimizerKind::parse(&args.optimizer)?,
        momentum: args.momentum,
        schedule: schedule(args)?,
        seed: args.seed,
        data_dir: args.data_dir.clone(),
        out_dir: args.out_dir.clone(),
        resume: args.resume,
        log_interval: args.log_interval as usize,
        test_batch_size: 1000,
        limit_train: args.limit_train.map(|n| n as usize),
        progress: std::io::stderr().is_terminal(),
        device,
    };
    let summary = train_mnist(&config)?;
    println!(
        "wrote {0}/metrics.csv, {0}/loss.png, {0}/model.safetensors, {0}/checkpoint.safetensors",
        config.out_dir.display()
    );
    println!("test_accuracy={:.4}", summary.test_accuracy);
    if let Some(report) = config.device.profile_report() {
        eprintln!("{report}");
    }
    Ok(())
}
