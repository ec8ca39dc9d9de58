//! The memory account of a fine-tuning step (`gradschool memory`): weights, gradients and AdamW
//! state against the formula 4 + 4 + 8 bytes a trainable parameter and the real optimizer's
//! state; activations against their scaling (linear in the batch, cut by checkpointing).

mod common;

use gradschool::amp::Precision;
use gradschool::gpt2::Gpt2;
use gradschool::nn::Module;
use gradschool::quant::QuantKind;
use gradschool::train::memory::{account_step, sentiment_shaped_batch};
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny")
}

#[test]
fn the_account_counts_weights_gradients_state_and_activations() {
    let model = Gpt2::from_dir(&fixture()).unwrap();
    let params = model.num_parameters();
    let batch = |b: usize| sentiment_shaped_batch(97, b, 12, 1);
    let (ids, labels) = batch(2);
    let full = account_step(&model, &ids, &labels, Precision::F32).unwrap();
    assert_eq!((full.weights, full.trainable), (4 * params, params), "every weight trains, f32");
    assert_eq!((full.gradients, full.optimizer), (4 * params, 8 * params), "AdamW: two moments a parameter");
    assert_eq!(full.total(), 16 * params + full.activations);
    // activations are a fixed part (position embeddings, the causal mask) plus the same bytes
    // for every sequence of the batch: exactly affine in the batch size
    let act = |b: usize| {
        let (i, l) = batch(b);
        account_step(&Gpt2::from_dir(&fixture()).unwrap(), &i, &l, Precision::F32).unwrap().activations
    };
    let (a2, a4, a6) = (full.activations, act(4), act(6));
    assert!(a4 > a2 && a4 - a2 == a6 - a4, "activations at batch 2, 4, 6: {a2}, {a4}, {a6}");
    // gradient checkpointing keeps each block's input, not its inside
    let mut ckpt = Gpt2::from_dir(&fixture()).unwrap();
    ckpt.gradient_checkpointing = true;
    let kept = account_step(&ckpt, &ids, &labels, Precision::F32).unwrap();
    assert!(kept.activations * 2 < full.activations, "checkpointed {} vs {}", kept.activations, full.activations);
    // LoRA r 4 on attention: only the adapters have gradients and state
    let mut lora = Gpt2::from_dir(&fixture()).unwrap();
    let trained = lora.enable_lora(4, 8.0, false, &mut gradschool::manual_seed(0));
    let l = account_step(&lora, &ids, &labels, Precision::F32).unwrap();
    assert_eq!((l.trainable, l.gradients, l.optimizer), (trained, 4 * trained, 8 * trained));
    assert_eq!(l.weights, 4 * (params + trained));
    // QLoRA: the same adapters on an NF4 base, whose 24,576 linear weights cost 0.5625 bytes
    let mut q = Gpt2::from_dir_with(&fixture(), Some(QuantKind::Nf4)).unwrap();
    q.enable_lora(4, 8.0, false, &mut gradschool::manual_seed(0));
    let qa = account_step(&q, &ids, &labels, Precision::F32).unwrap();
    assert_eq!(qa.weights, l.weights - 4 * 24_576 + 24_576 * 9 / 16);
    assert_eq!((qa.gradients, qa.optimizer), (l.gradients, l.optimizer));
}

#[test]
fn the_memory_command_prints_the_account_and_the_measured_peak() {
    let dir = std::env::temp_dir().join(format!("gs-memory-{}", std::process::id()));
    common::tiny_gpt2(&dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args([
            "memory",
            "--model-dir",
            dir.to_str().unwrap(),
            "--lora-r",
            "2",
            "--quantize-base",
            "nf4",
            "--max-len",
            "8",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for want in ["QLoRA r 2, Nf4 base", "weights", "gradients", "AdamW state", "activations", "measured"] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let too_long = std::process::Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["memory", "--model-dir", dir.to_str().unwrap(), "--max-len", "100000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&too_long.stderr);
    assert!(!too_long.status.success() && err.contains("--max-len 100000"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
