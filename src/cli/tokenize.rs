//! `gradschool tokenize`: the course's tokenisation step, made visible.

use clap::Args;
use gradschool::gpt2::Gpt2Tokenizer;
use gradschool::Result;
use std::path::PathBuf;

/// Flags of `gradschool tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Directory with tokenizer.json, or GPT-2's vocab.json + merges.txt.
    #[arg(long)]
    tokenizer: PathBuf,
    /// The text to tokenise.
    text: String,
}

/// Prints one line per token: id and piece (Ġ is a leading space in GPT-2's byte alphabet).
pub fn run(args: &TokenizeArgs) -> Result<()> {
    let tok = Gpt2Tokenizer::from_dir(&args.tokenizer)?;
    let pieces = tok.encode_with_pieces(&args.text)?;
    for (id, piece) in &pieces {
        println!("{id:>6}  {piece}");
    }
    let ids: Vec<String> = pieces.iter().map(|(id, _)| id.to_string()).collect();
    println!("{} tokens: [{}]", pieces.len(), ids.join(", "));
    Ok(())
}
