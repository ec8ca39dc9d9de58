//! `gradschool check-gpt2`: load any Hugging Face GPT-2 directory, run a reference's inputs, and
//! print a per-tensor report; exit 0 only when everything is within tolerance.

use clap::Args;
use gradschool::gpt2::{check_against_reference, Gpt2};
use gradschool::nn::Module;
use gradschool::{Error, Result};
use std::path::PathBuf;

/// Flags of `gradschool check-gpt2`.
#[derive(Args, Debug)]
pub struct CheckGpt2Args {
    /// A Hugging Face GPT-2 directory (config.json + model.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    /// Reference numbers (tests/reference/gpt2_reference.py writes them for any model directory).
    #[arg(long)]
    reference: PathBuf,
}

/// Prints one line per tensor and a verdict.
pub fn run(args: &CheckGpt2Args) -> Result<()> {
    let mut model = Gpt2::from_dir(&args.model_dir)?;
    model.eval();
    let lines = check_against_reference(&model, &args.reference)?;
    let mut bad = 0;
    for l in &lines {
        let verdict = if l.ok() { "ok" } else { "FAIL" };
        gradschool::say!(
            "{verdict:<4}  {:<40}  max rel err {:.2e}  (tolerance {:.0e})",
            l.name,
            l.max_rel_err,
            l.tolerance
        );
        bad += usize::from(!l.ok());
    }
    if bad > 0 {
        return Err(Error::Config(format!("{bad} of {} tensors outside tolerance", lines.len())));
    }
    gradschool::say!("all {} tensors within tolerance", lines.len());
    Ok(())
}
