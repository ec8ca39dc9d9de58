//! `gradschool generate`: continue a prompt with a GPT-2 from a Hugging Face directory.

use clap::Args;
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, Sampling, EOS_ID};
use gradschool::nn::Module;
use gradschool::{manual_seed, Error, Result};
use std::path::PathBuf;

/// Flags of `gradschool generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A Hugging Face GPT-2 directory (config.json + model.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (tokenizer.json or vocab.json + merges.txt); default: the model's.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// The text to continue.
    #[arg(long)]
    prompt: String,
    /// Tokens to add (the prompt and these must fit in the model's context).
    #[arg(long, default_value_t = 40, value_parser = super::args::at_least_one)]
    max_new_tokens: usize,
    /// 0 = greedy; higher = more random.
    #[arg(long, default_value_t = 0.0, value_parser = temperature)]
    temperature: f32,
    /// Sample only from the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample only from the most likely tokens covering this probability (1 = all).
    #[arg(long, default_value_t = 1.0, value_parser = top_p)]
    top_p: f32,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    profile: super::args::ProfileArgs,
}

/// `--temperature`: a finite number ≥ 0 (0 = greedy).
fn temperature(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("expected a number ≥ 0 (0 = greedy), got `{s}`")),
    }
}

/// `--top-p`: a probability in (0, 1].
fn top_p(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("expected a probability in (0, 1], got `{s}`")),
    }
}

/// Loads, generates, prints the text.
pub fn run(args: &GenerateArgs) -> Result<()> {
    if let Some(path) = &args.profile.profile {
        super::args::trace_output(path)?;
    }
    let mut model = Gpt2::from_dir(&args.model_dir)?;
    let tok = Gpt2Tokenizer::from_dir(args.tokenizer.as_ref().unwrap_or(&args.model_dir))?;
    model.eval();
    let prompt = tok.encode(&args.prompt)?;
    if prompt.is_empty() {
        return Err(Error::Config("--prompt: the text has no tokens".into()));
    }
    if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= model.config.vocab_size) {
        return Err(Error::Config(format!(
            "the tokenizer gave id {bad}, outside the model's vocabulary of {}",
            model.config.vocab_size
        )));
    }
    let context = model.config.n_positions;
    if prompt.len() + args.max_new_tokens > context {
        return Err(Error::Config(format!(
            "--max-new-tokens {}: the prompt is {} tokens and the model's context is {context}, so at most {} new tokens fit",
            args.max_new_tokens,
            prompt.len(),
            context.saturating_sub(prompt.len())
        )));
    }
    let sampling = Sampling { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p };
    if args.profile.profile.is_some() {
        gradschool::profiler::start(); // the generation only: loading and tokenizing stay out
    }
    let started = std::time::Instant::now();
    let out = model.generate(&prompt, args.max_new_tokens, &sampling, Some(EOS_ID), &mut manual_seed(args.seed));
    let (new, secs) = (out.len() - prompt.len(), started.elapsed().as_secs_f64());
    gradschool::warn!(
        "{new} new tokens after a {}-token prompt in {secs:.2} s: {:.1} tokens/s (KV cache)",
        prompt.len(),
        new as f64 / secs
    );
    if let Some(path) = &args.profile.profile {
        super::write_profile(path)?;
    }
    gradschool::say!("{}", tok.decode(&out)?);
    Ok(())
}
