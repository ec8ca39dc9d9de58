//! `gradschool memory`: where the bytes of one fine-tuning step go — weights, gradients, AdamW's
//! state, activations — counted from the model as it will train, then the step run and its
//! peak memory measured beside the count.

use clap::Args;
use gradschool::amp::Precision;
use gradschool::gpt2::{parse_quant_kind, Gpt2};
use gradschool::quant::QuantKind;
use gradschool::train::memory::{
    account_step, f32_weight_bytes, proc_status_bytes, reset_peak_rss, sentiment_shaped_batch,
};
use gradschool::{Error, Result};
use std::path::PathBuf;

/// Flags of `gradschool memory`.
#[derive(Args, Debug)]
pub struct MemoryArgs {
    /// The GPT-2 folder to account for.
    #[arg(long)]
    model_dir: PathBuf,
    /// LoRA rank (without it: full fine-tuning).
    #[arg(long, value_parser = super::args::at_least_one)]
    lora_r: Option<usize>,
    /// Also adapt the MLP projections.
    #[arg(long)]
    lora_mlp: bool,
    /// QLoRA: the base's linear weights in `nf4` or `int8` (needs --lora-r).
    #[arg(long, value_parser = parse_quant_kind, requires = "lora_r")]
    quantize_base: Option<QuantKind>,
    /// Recompute each block's activations in backward instead of keeping them.
    #[arg(long)]
    gradient_checkpointing: bool,
    /// The products' number format: f32, bf16 or fp16 (`--precision` of the training commands).
    #[arg(long, default_value = "f32", value_parser = super::args::precision)]
    precision: Precision,
    /// Sequences per step (the course's 8).
    #[arg(long, default_value_t = 8, value_parser = super::args::at_least_one)]
    batch_size: usize,
    /// Tokens per sequence (the course's MAX_LEN 32).
    #[arg(long, default_value_t = 32, value_parser = super::args::at_least_one)]
    max_len: usize,
}

fn mib(b: usize) -> String {
    format!("{:>9.1} MiB", b as f64 / 1048576.0)
}

/// Counts, runs one step, prints both.
pub fn run(a: &MemoryArgs) -> Result<()> {
    let before = proc_status_bytes("VmRSS");
    let mut model = Gpt2::from_dir_with(&a.model_dir, a.quantize_base.filter(|_| a.lora_r.is_some()))?;
    if a.max_len > model.config.n_positions {
        return Err(Error::Config(format!(
            "--max-len {} exceeds the model's context of {} positions",
            a.max_len, model.config.n_positions
        )));
    }
    if let Some(r) = a.lora_r {
        model.enable_lora(r, 2.0 * r as f32, a.lora_mlp, &mut gradschool::manual_seed(0));
    }
    model.gradient_checkpointing = a.gradient_checkpointing;
    let (ids, labels) = sentiment_shaped_batch(model.config.vocab_size, a.batch_size, a.max_len, 0);
    let loaded = proc_status_bytes("VmRSS");
    let reset = reset_peak_rss();
    let acc = account_step(&model, &ids, &labels, a.precision)?;
    let peak = proc_status_bytes("VmHWM");
    let recipe = match (a.lora_r, a.quantize_base) {
        (None, _) => "full fine-tuning".to_string(),
        (Some(r), None) => format!("LoRA r {r}"),
        (Some(r), Some(q)) => format!("QLoRA r {r}, {q:?} base"),
    };
    gradschool::say!(
        "{recipe}, AdamW, batch {} × {} tokens{}{}: {} of {} parameters train",
        a.batch_size,
        a.max_len,
        if a.gradient_checkpointing { ", gradient checkpointing" } else { "" },
        match a.precision {
            Precision::F32 => String::new(),
            p => format!(", products in {p}"),
        },
        acc.trainable,
        f32_weight_bytes(&model) / 4
    );
    gradschool::say!("  weights          {}   (f32 would be {})", mib(acc.weights), mib(f32_weight_bytes(&model)));
    gradschool::say!("  gradients        {}   (4 bytes × trainable)", mib(acc.gradients));
    gradschool::say!("  AdamW state      {}   (8 bytes × trainable)", mib(acc.optimizer));
    gradschool::say!("  activations      {}   (the graph's op outputs after forward)", mib(acc.activations));
    gradschool::say!("  counted          {}", mib(acc.total()));
    if a.precision != Precision::F32 {
        gradschool::say!(
            "(the products' values are rounded to {} but held in f32 buffers: the bytes are f32's — ARCHITECTURE.md, \
             \"Mixed precision\")",
            a.precision
        );
    }
    if let (Some(before), Some(loaded), Some(peak), true) = (before, loaded, peak, reset) {
        gradschool::say!(
            "measured: RSS {} before loading, {} loaded; peak during the step {} — {} above the process before loading",
            mib(before).trim(),
            mib(loaded).trim(),
            mib(peak).trim(),
            mib(peak.saturating_sub(before)).trim()
        );
        gradschool::say!(
            "(the measured peak also holds the CPU buffer pool's reusable step buffers, temporaries and the allocator's \
             slack; GRADSCHOOL_CPU_POOL_MB=0 turns the pool off)"
        );
    } else {
        gradschool::say!("measured: peak RSS is read from /proc/self (Linux); not available here");
    }
    Ok(())
}
