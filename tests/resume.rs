//! Every training command resumes bit for bit: N steps straight and N/2 steps, an interruption
//! (`halt_after`: the run stops with its checkpoint, as a killed one would after saving), then
//! `--resume` for the rest give the same metrics.csv (but the wall-clock column), the same
//! weights and the same exports. The GPT-2 tasks run with dropout on, so the masks must be
//! reproduced too, and stop mid-epoch.

mod common;

use common::{byte_tokenizer, tiny_config, tiny_gpt2};
use gradschool::amp::Precision;
use gradschool::io::load_safetensors;
use gradschool::optim::{OptimizerKind, Schedule};
use gradschool::train::mnist::{train_mnist, MnistConfig};
use gradschool::train::pretrain::{pretrain, PretrainConfig};
use gradschool::train::sentiment::{train_sentiment, LoraConfig, SentimentConfig};
use gradschool::train::{MetricsRow, CHECKPOINT};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every tensor of a safetensors file, by name.
fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let (t, _) = gradschool::io::load_safetensors(path).unwrap();
    t.into_iter().map(|(n, t)| (n, t.to_vec())).collect()
}

/// Metrics rows with the wall-clock field cleared.
fn untimed(rows: &[MetricsRow]) -> Vec<MetricsRow> {
    rows.iter().map(|r| MetricsRow { train_seconds: None, ..r.clone() }).collect()
}

fn assert_same_files(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        if f.ends_with(".safetensors") {
            assert_eq!(tensors(&a.join(f)), tensors(&b.join(f)), "{f} differs after resume");
        } else {
            assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs");
        }
    }
}

#[test]
fn mnist_resumes_mid_epoch_bit_identically() {
    let (a, b) = (tmp("mnist-a"), tmp("mnist-b"));
    let cfg = |out: PathBuf| MnistConfig {
        epochs: 2,
        limit_train: Some(512),
        lr: 0.05,
        log_interval: 3,
        optimizer: OptimizerKind::Adam,
        schedule: Schedule::Step { step_size: 1, gamma: 0.5 },
        out_dir: out,
        progress: false,
        ..Default::default()
    };
    // 512 / 64 = 8 steps per epoch, 16 in all; stop at 11 (mid-epoch 2), then finish.
    let full = train_mnist(&cfg(a.clone())).unwrap();
    let half = train_mnist(&MnistConfig { halt_after: Some(11), ..cfg(b.clone()) }).unwrap();
    assert_eq!(half.report.steps, 11);
    let resumed = train_mnist(&MnistConfig { resume: true, ..cfg(b.clone()) }).unwrap();
    assert_eq!((full.report.steps, resumed.report.steps), (16, 16));
    assert_eq!(common::metrics_without_time(&a), common::metrics_without_time(&b));
    assert_eq!(resumed.test_accuracy, full.test_accuracy);
    assert_same_files(&a, &b, &["model.safetensors", "checkpoint.safetensors"]);
}

#[test]
fn fp16_training_resumes_bit_identically_with_its_loss_scale() {
    // fp16 products with GradScaler in the trainer: the scale (and its clean-step count) is in the
    // checkpoint, so a resumed run is the uninterrupted one to the bit; the run is not f32's.
    let (a, b, f) = (tmp("fp16-a"), tmp("fp16-b"), tmp("fp16-f32"));
    let cfg = |out: PathBuf, precision| MnistConfig {
        epochs: 2,
        limit_train: Some(512),
        lr: 0.05,
        log_interval: 3,
        out_dir: out,
        progress: false,
        precision,
        ..Default::default()
    };
    let full = train_mnist(&cfg(a.clone(), Precision::Fp16)).unwrap();
    train_mnist(&MnistConfig { halt_after: Some(11), ..cfg(b.clone(), Precision::Fp16) }).unwrap();
    let (_, meta) = load_safetensors(&b.join(CHECKPOINT)).unwrap();
    let (scale, clean) = meta["grad_scaler"].split_once(' ').unwrap();
    // GradScaler starts at 2^16 and only halves or doubles: a power of two, 11 steps counted
    let scale: f32 = scale.parse().unwrap();
    assert!(scale.log2().fract() == 0.0 && clean.parse::<usize>().unwrap() <= 11, "saved scaler {scale} {clean}");
    let refused = train_mnist(&MnistConfig { resume: true, ..cfg(b.clone(), Precision::F32) }).unwrap_err();
    assert!(refused.to_string().contains("precision=fp16"), "{refused}");
    let resumed = train_mnist(&MnistConfig { resume: true, ..cfg(b.clone(), Precision::Fp16) }).unwrap();
    assert_eq!(resumed.report.steps, full.report.steps);
    assert_eq!(common::metrics_without_time(&a), common::metrics_without_time(&b));
    assert_same_files(&a, &b, &["model.safetensors", "checkpoint.safetensors"]);
    let f32_run = train_mnist(&cfg(f.clone(), Precision::F32)).unwrap();
    assert_ne!(tensors(&a.join("model.safetensors")), tensors(&f.join("model.safetensors")), "fp16 trained as f32");
    assert!(
        (f32_run.test_accuracy - full.test_accuracy).abs() < 0.05,
        "{} vs {}",
        f32_run.test_accuracy,
        full.test_accuracy
    );
}

#[test]
fn sentiment_resumes_mid_epoch_bit_identically_full_and_lora() {
    let root = tmp("sentiment");
    let model = root.join("model");
    tiny_gpt2(&model);
    // Rotten Tomatoes' layout (the loader wants ≥ 4798 lines a file): short made-up reviews.
    let data = root.join("rt");
    std::fs::create_dir_all(&data).unwrap();
    for (name, word) in [("rt-polarity.pos", "good"), ("rt-polarity.neg", "dull")] {
        let lines: Vec<String> = (0..4800).map(|i| format!("a {word} film, take {i}")).collect();
        std::fs::write(data.join(name), lines.join("\n")).unwrap();
    }
    for lora in [None, Some(LoraConfig { r: 2, alpha: 4.0, mlp: true, dropout: 0.1, quantize_base: None })] {
        let cfg = |out: PathBuf| SentimentConfig {
            out_dir: out,
            limit_train: Some(24),
            limit_eval: Some(8),
            batch_size: 4,
            epochs: 2,
            eval_every: 4,
            save_every: 4,
            lr: 1e-3,
            warmup: 2,
            progress: false,
            lora,
            lora_train_ln_f: lora.is_some(),
            ..SentimentConfig::new(model.clone(), data.clone())
        };
        let (a, b) = (root.join("a"), root.join("b"));
        // 24 / 4 = 6 steps per epoch, 12 in all; stop at 5 (mid-epoch 1), then finish.
        let full = train_sentiment(&cfg(a.clone())).unwrap();
        train_sentiment(&SentimentConfig { halt_after: Some(5), ..cfg(b.clone()) }).unwrap();
        let resumed = train_sentiment(&SentimentConfig { resume: true, ..cfg(b.clone()) }).unwrap();
        assert_eq!((full.steps, resumed.steps), (12, 12));
        assert_eq!(untimed(&full.rows), untimed(&resumed.rows));
        assert_eq!(common::metrics_without_time(&a), common::metrics_without_time(&b));
        let export =
            if lora.is_some() { "checkpoint-12/adapter_model.safetensors" } else { "checkpoint-12/model.safetensors" };
        assert_same_files(&a, &b, &[export, "checkpoint.safetensors"]);
        if lora.is_some() {
            assert_same_files(&a, &b, &["merged/model.safetensors", "checkpoint-12/adapter_config.json"]);
        }
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn pretraining_resumes_bit_identically() {
    let root = tmp("pretrain");
    let tok = root.join("tok");
    std::fs::create_dir_all(&tok).unwrap();
    byte_tokenizer(&tok);
    std::fs::write(root.join("text.txt"), "to be or not to be, that is the question. ".repeat(30)).unwrap();
    let config = tiny_config();
    let cfg = |out: PathBuf| PretrainConfig {
        steps: 8,
        batch_size: 2,
        block_size: 16,
        eval_every: 3,
        out_dir: out,
        ..PretrainConfig::new(vec![root.join("text.txt")], tok.clone(), config.clone())
    };
    let (a, b) = (root.join("a"), root.join("b"));
    let full = pretrain(&cfg(a.clone())).unwrap();
    assert!(full.last("eval_loss").is_some_and(f64::is_finite));
    pretrain(&PretrainConfig { halt_after: Some(4), ..cfg(b.clone()) }).unwrap();
    pretrain(&PretrainConfig { resume: true, ..cfg(b.clone()) }).unwrap();
    assert_eq!(common::metrics_without_time(&a), common::metrics_without_time(&b));
    assert_same_files(&a, &b, &["model.safetensors", "config.json", "checkpoint.safetensors"]);
    let _ = std::fs::remove_dir_all(&root);
}
