//! `gradschool quantize`: writes a GPT-2 folder whose linear weights are stored in NF4 or int8
//! (QLoRA's base, [`Gpt2::quantize_base`]), which `generate`, `hotel-bot` and every fine-tuning
//! command load like any model folder; with `--eval-text`, the held-out perplexity of the model
//! before and after, on the same windows.

use clap::Args;
use gradschool::gpt2::{copy_tokenizer, parse_quant_kind, Gpt2, Gpt2Tokenizer};
use gradschool::nn::Module;
use gradschool::quant::QuantKind;
use gradschool::{Error, IntTensor, Result};
use std::path::{Path, PathBuf};

/// Flags of `gradschool quantize`.
#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// The GPT-2 folder to quantize (config.json + model.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    /// Where to write the quantized folder.
    #[arg(long)]
    out_dir: PathBuf,
    /// `nf4` (4-bit NormalFloat, blocks of 64 with an f32 scale: 0.5625 bytes a weight) or
    /// `int8` (one f32 scale per output feature: ~1 byte a weight).
    #[arg(long, default_value = "nf4", value_parser = parse_quant_kind)]
    format: QuantKind,
    /// A text file: report the perplexity of the model before and after quantizing on its
    /// windows (the same ones for both).
    #[arg(long)]
    eval_text: Option<PathBuf>,
    /// Tokens per window for --eval-text (at most the model's context).
    #[arg(long, default_value_t = 256, value_parser = super::args::at_least_one)]
    block_size: usize,
    /// Windows to evaluate, at most.
    #[arg(long, default_value_t = 32, value_parser = super::args::at_least_one)]
    eval_windows: usize,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Replace an existing model folder at --out-dir.
    #[arg(long)]
    overwrite: bool,
}

/// exp(mean next-token loss) of `model` over consecutive `block`-token windows of `ids`, at most
/// `windows` of them, 8 per batch.
pub fn perplexity(model: &Gpt2, ids: &[u32], block: usize, windows: usize) -> f64 {
    let _guard = gradschool::no_grad();
    let rows: Vec<Vec<i64>> =
        ids.chunks_exact(block).take(windows).map(|w| w.iter().map(|&t| t as i64).collect()).collect();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for batch in rows.chunks(8) {
        let x = IntTensor::from_vec(batch.concat(), [batch.len(), block]);
        sum += Gpt2::lm_loss(&model.forward(&x, None), &x).item() as f64 * batch.len() as f64;
        n += batch.len();
    }
    (sum / n.max(1) as f64).exp()
}

fn file_mib(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1048576.0)
}

/// Quantizes, saves, reports sizes (and perplexities).
pub fn run(a: &QuantizeArgs) -> Result<()> {
    if a.out_dir.join("config.json").exists() && !a.overwrite {
        return Err(Error::Config(format!(
            "--out-dir {} already holds a model; pass --overwrite to replace it",
            a.out_dir.display()
        )));
    }
    let mut model = Gpt2::from_dir(&a.model_dir)?;
    if model.quantization().is_some() {
        return Err(Error::Config(format!("--model-dir {}: already quantized", a.model_dir.display())));
    }
    model.eval();
    let tok_dir = a.tokenizer.as_ref().unwrap_or(&a.model_dir);
    let eval_ids = match &a.eval_text {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let block = a.block_size.min(model.config.n_positions);
            let ids = Gpt2Tokenizer::from_dir(tok_dir)?.encode_long(&text)?;
            if ids.len() < block {
                return Err(Error::Config(format!(
                    "--eval-text {}: {} tokens, fewer than one window of {block}",
                    path.display(),
                    ids.len()
                )));
            }
            Some((ids, block))
        }
        None => None,
    };
    let before = eval_ids.as_ref().map(|(ids, b)| perplexity(&model, ids, *b, a.eval_windows));
    let f32_bytes = model.weight_bytes();
    let s = model.quantize_base(a.format);
    model.save_quantized_dir(&a.out_dir)?;
    if tok_dir.join("tokenizer.json").is_file() || tok_dir.join("vocab.json").is_file() {
        copy_tokenizer(tok_dir, &a.out_dir)?;
    }
    gradschool::say!(
        "{} linear weights ({} values, {:.1}% of the model's parameters) stored as {:?}: {:.4} bytes a value",
        s.matrices,
        s.values,
        100.0 * s.values as f64 / (model.num_parameters() + s.values) as f64,
        a.format,
        s.bytes_per_value()
    );
    gradschool::say!(
        "weights {:.1} MiB → {:.1} MiB; wrote {} (model.safetensors {:.1} MiB, quantized.safetensors {:.1} MiB)",
        f32_bytes as f64 / 1048576.0,
        model.weight_bytes() as f64 / 1048576.0,
        a.out_dir.display(),
        file_mib(&a.out_dir.join("model.safetensors")),
        file_mib(&a.out_dir.join(gradschool::gpt2::QUANT_FILE))
    );
    if let (Some((ids, block)), Some(before)) = (&eval_ids, before) {
        let after = perplexity(&model, ids, *block, a.eval_windows);
        let windows = (ids.len() / block).min(a.eval_windows);
        gradschool::say!(
            "perplexity on {windows} windows of {block} tokens: f32 {before:.3}, {:?} {after:.3} ({:+.2}%)",
            a.format,
            100.0 * (after / before - 1.0)
        );
    }
    Ok(())
}
