//! `gradschool attention`: one layer's attention maps for a text, drawn per head (chapter 10).

use clap::Args;
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer};
use gradschool::nn::Module;
use gradschool::{Error, IntTensor, Result};
use std::path::PathBuf;

/// Flags of `gradschool attention`.
#[derive(Args, Debug)]
pub struct AttentionArgs {
    /// A Hugging Face GPT-2 directory (config.json + model.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (tokenizer.json or vocab.json + merges.txt); default: the model's.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// The text whose attention to draw (at most 48 tokens, so the labels stay readable).
    #[arg(long)]
    text: String,
    /// The layer, from 0 (default: the last).
    #[arg(long)]
    layer: Option<usize>,
    /// The picture (PNG).
    #[arg(short, long, default_value = "attention.png")]
    output: PathBuf,
}

/// Loads the model, runs the text once, draws the chosen layer.
pub fn run(args: &AttentionArgs) -> Result<()> {
    let mut model = Gpt2::from_dir(&args.model_dir)?;
    let tok = Gpt2Tokenizer::from_dir(args.tokenizer.as_ref().unwrap_or(&args.model_dir))?;
    model.eval();
    let layers = model.config.n_layer;
    let layer = args.layer.unwrap_or(layers - 1);
    if layer >= layers {
        return Err(Error::Config(format!("--layer {layer}: the model has layers 0 to {}", layers - 1)));
    }
    let pieces = tok.encode_with_pieces(&args.text)?;
    let t = pieces.len();
    if t == 0 || t > 48 || t > model.config.n_positions {
        return Err(Error::Config(format!(
            "--text: {t} tokens; between 1 and {} are drawn",
            48.min(model.config.n_positions)
        )));
    }
    if let Some((bad, _)) = pieces.iter().find(|(id, _)| *id as usize >= model.config.vocab_size) {
        return Err(Error::Config(format!("the tokenizer gave id {bad}, outside the model's vocabulary")));
    }
    super::args::image_output(&args.output, &["png"])?;
    let ids = IntTensor::from_vec(pieces.iter().map(|(id, _)| *id as i64).collect(), [1, t]);
    let maps = model.attention_weights(&ids);
    let att = maps[layer].reshape([model.config.n_head, t, t]); // (NH, T, T) of the one sequence
                                                                // byte-level BPE marks a leading space with Ġ; the label drops it
    let labels: Vec<String> = pieces.iter().map(|(_, p)| p.replace('Ġ', "")).collect();
    let name = args.model_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let title = format!("{name}, layer {layer} of {layers}: where each token looks");
    gradschool::train::attention_plot::draw_attention(&args.output, &title, &att, &labels)?;
    // what the picture shows, in numbers: how much each head keeps on the current token and the first
    let v = att.to_vec();
    for h in 0..model.config.n_head {
        let at = |i: usize, j: usize| v[(h * t + i) * t + j] as f64;
        let diag = (0..t).map(|i| at(i, i)).sum::<f64>() / t as f64;
        let first = (0..t).map(|i| at(i, 0)).sum::<f64>() / t as f64;
        let prev = (1..t).map(|i| at(i, i - 1)).sum::<f64>() / (t - 1).max(1) as f64;
        gradschool::say!(
            "head {h}: mean weight on itself {diag:.3}, on the previous token {prev:.3}, on the first token {first:.3}"
        );
    }
    gradschool::say!("wrote {}", args.output.display());
    Ok(())
}
