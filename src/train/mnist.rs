//! The course's MNIST training as a recipe over the shared [`train`] loop: data,
//! FeedForwardNet, optimizer and schedule here; epochs, metrics, plots, checkpoints and
//! `--resume` in the Trainer.

use super::{train_in, RunDir, ScheduleUnit, Start, Task, TrainReport, TrainerConfig};
use crate::data::{offline_data_dir, DataLoader, ImageDataset, MnistFiles, MNIST_MEAN_STD};
use crate::error::{Error, Result};
use crate::models::FeedForwardNet;
use crate::nn::functional::{nll_loss, nll_loss_with, ClassLossOptions};
use crate::nn::{Forward, Module};
use crate::optim::{OptimizerKind, Schedule};
use crate::{manual_seed, no_grad, Device, Reduction, Tensor};
use std::path::{Path, PathBuf};

/// Everything `gradschool mnist` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistConfig {
    /// Epochs (the course: 15).
    pub epochs: usize,
    /// Batch size (64).
    pub batch_size: usize,
    /// Batches per optimizer step (1): their gradients are summed, as one batch of
    /// `grad_accum × batch_size`; under `mpirun` each of N ranks takes this many.
    pub grad_accum: usize,
    /// ZeRO-1 across ranks (optimizer state sharded; the same numbers).
    pub zero: bool,
    /// The matrix products' number format (`--precision`; fp16 with a loss scaler).
    pub precision: crate::amp::Precision,
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
    /// Replace the run the output folder holds (without this or `resume`, such a folder is refused).
    pub overwrite: bool,
    /// Log the training loss every this many steps (the course: 100).
    pub log_interval: usize,
    /// Test batch size (1000).
    pub test_batch_size: usize,
    /// Train on only the first N training examples (quick experiments, tests).
    pub limit_train: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
    /// Where to train.
    pub device: Device,
    /// Stop after this step with a checkpoint, as an interrupted run would (testing resume).
    pub halt_after: Option<usize>,
}

impl Default for MnistConfig {
    fn default() -> Self {
        MnistConfig {
            epochs: 15,
            batch_size: 64,
            grad_accum: 1,
            zero: false,
            precision: crate::amp::Precision::F32,
            lr: 0.01,
            optimizer: OptimizerKind::Sgd,
            momentum: 0.0,
            schedule: Schedule::Constant,
            seed: 42,
            data_dir: None,
            out_dir: PathBuf::from("runs/mnist"),
            resume: false,
            overwrite: false,
            log_interval: 100,
            test_batch_size: 1000,
            limit_train: None,
            progress: true,
            device: Device::Cpu,
            halt_after: None,
        }
    }
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

/// Mean loss and accuracy of `model` on `data`, in eval mode without a graph.
// ANCHOR: evaluate
pub fn evaluate(model: &FeedForwardNet, data: &ImageDataset, batch_size: usize, device: &Device) -> Result<(f64, f64)> {
    let (loss, correct) = evaluate_shard(model, data, batch_size, device, 0, 1)?;
    Ok((loss / data.len() as f64, correct / data.len() as f64))
}

/// The summed loss and the correct predictions over shard `rank` of `ranks` of `data`: batches
/// i with i % ranks == rank (data-parallel ranks add their shards up).
pub fn evaluate_shard(
    model: &FeedForwardNet,
    data: &ImageDataset,
    batch_size: usize,
    device: &Device,
    rank: usize,
    ranks: usize,
) -> Result<(f64, f64)> {
    let _guard = no_grad();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let loader = DataLoader::new(data, batch_size, false, false);
    for (x, y) in loader.epoch(0).skip(rank).step_by(ranks) {
        let logp = model.forward(&x.to(device)?); // (B, 10)
        let opts = ClassLossOptions { reduction: Reduction::Sum, ..Default::default() };
        loss += nll_loss_with(&logp, &y, opts).item() as f64;
        let pred = logp.argmax(1, false);
        correct += pred.as_slice().iter().zip(y.as_slice()).filter(|(p, t)| p == t).count();
    }
    Ok((loss, correct as f64))
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
    pub report: TrainReport,
}

/// The task: the network, the training batches of the current epoch, the test set.
struct MnistTask<'a> {
    config: &'a MnistConfig,
    model: FeedForwardNet,
    loader: DataLoader<'a>,
    test: &'a ImageDataset,
    order: Vec<usize>,
}

impl Task for MnistTask<'_> {
    fn title(&self) -> String {
        let c = self.config;
        format!("FeedForwardNet, {:?} lr {} batch {}", c.optimizer, c.lr, c.batch_size)
    }
    fn fingerprint(&self) -> String {
        let c = self.config;
        format!(
            "mnist batch_size={} optimizer={:?} momentum={} data_dir={:?} limit_train={:?}",
            c.batch_size, c.optimizer, c.momentum, c.data_dir, c.limit_train
        )
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.model.named_parameters()
    }
    fn batches(&self) -> usize {
        self.loader.len()
    }
    fn start_epoch(&mut self, _epoch: usize, seed: u64) {
        self.order = self.loader.order(seed);
    }
    // ANCHOR: loss
    fn loss(&mut self, index: usize, seed: u64) -> Result<Tensor> {
        let (x, y) = self.loader.batch(&self.order, index, &self.config.device)?; // (B, 1, 28, 28), (B,)
        self.model.dropout.reseed(seed); // this batch's masks, whether or not the run was resumed
        Ok(nll_loss(&self.model.forward(&x), &y))
    }
    // ANCHOR_END: loss
    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
    fn eval_names(&self) -> Vec<String> {
        vec!["test_loss".into(), "test_accuracy".into()]
    }
    fn eval_sums(&mut self, rank: usize, ranks: usize) -> Result<Vec<f64>> {
        let c = self.config;
        let (loss, correct) = evaluate_shard(&self.model, self.test, c.test_batch_size, &c.device, rank, ranks)?;
        Ok(vec![loss, correct])
    }
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64> {
        let n = self.test.len() as f64;
        vec![sums[0] / n, sums[1] / n]
    }
    fn export(&self, out_dir: &Path, _step: usize, _last: bool) -> Result<()> {
        self.model.save(&out_dir.join("model.safetensors"))
    }
}

/// The network's input width: the images' pixel count. The course's 784 for 28 × 28 digits; other
/// sizes adapt fc1 and say so; a test set of another size than the training set, or images of no
/// pixels, are refused naming the folder and both shapes.
fn input_width(config: &MnistConfig, train: &ImageDataset, test: &ImageDataset) -> Result<usize> {
    let dir = config.data_dir.as_deref().unwrap_or(Path::new("the offline digits")).display();
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::Config(format!(
            "--data-dir {dir}: the training images are {}×{} but the test images {}×{}",
            train.rows, train.cols, test.rows, test.cols
        )));
    }
    let pixels = train.image_size();
    if pixels == 0 {
        return Err(Error::Config(format!(
            "--data-dir {dir}: the images are {}×{}, no pixels",
            train.rows, train.cols
        )));
    }
    if pixels != 784 {
        crate::say!(
            "{dir}: images are {}×{}, not 28×28: the network's input layer is fc1 {pixels} → 256 instead of 784 → 256",
            train.rows,
            train.cols
        );
    }
    Ok(pixels)
}

/// Trains the course's network as `config` says, writing metrics.csv, loss.png,
/// model.safetensors and checkpoint.safetensors into `config.out_dir` after every epoch.
pub fn train_mnist(config: &MnistConfig) -> Result<MnistSummary> {
    if config.batch_size == 0 || config.test_batch_size == 0 {
        return Err(Error::Config("--batch-size and --test-batch-size must be at least 1".into()));
    }
    config.device.ensure_available()?;
    // The output folder is claimed before anything is read: a refused run costs nothing.
    let run = RunDir::claim(&config.out_dir, Start::from_flags(config.resume, config.overwrite)?)?;
    let (train_set, test) = load_data(config)?;
    super::batch_fits(config.batch_size, train_set.len())?;
    let pixels = input_width(config, &train_set, &test)?;
    let model = FeedForwardNet::with_inputs(pixels, &mut manual_seed(config.seed));
    for p in model.parameters() {
        p.to_device_(&config.device)?;
    }
    let mut opt = config.optimizer.build(model.parameters(), config.lr, config.momentum);
    let loader = DataLoader::new(&train_set, config.batch_size, true, false);
    let mut task = MnistTask { config, model, loader, test: &test, order: Vec::new() };
    let trainer = TrainerConfig {
        schedule: config.schedule,
        schedule_unit: ScheduleUnit::Epoch,
        log_every: config.log_interval,
        grad_accum: config.grad_accum,
        zero: config.zero,
        precision: config.precision,
        resume: config.resume,
        overwrite: config.overwrite,
        progress: config.progress,
        halt_after: config.halt_after,
        ..TrainerConfig::new(&config.out_dir, config.epochs, config.lr, config.seed)
    };
    let report = train_in(&run, &mut task, opt.as_mut(), &trainer)?;
    if let Some(profile) = config.device.profile_report() {
        crate::warn!("{profile}"); // GRADSCHOOL_CUDA_PROFILE's per-kernel table
    }
    let (test_loss, test_accuracy) =
        (report.last("test_loss").unwrap_or(f64::NAN), report.last("test_accuracy").unwrap_or(f64::NAN));
    Ok(MnistSummary { test_accuracy, test_loss, report })
}
