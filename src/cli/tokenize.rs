//! `gradschool tokenize`: the course's tokenisation step, made visible.

use clap::Args;
use gradschool::gpt2::Gpt2Tokenizer;
use gradschool::{Error, Result};
use std::io::{Read, Write};
use std::path::PathBuf;

/// Flags of `gradschool tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Directory with tokenizer.json, or GPT-2's vocab.json + merges.txt.
    #[arg(long)]
    tokenizer: PathBuf,
    /// The text to tokenise (`-`: read standard input).
    #[arg(required_unless_present = "file")]
    text: Option<String>,
    /// Tokenise this UTF-8 file instead.
    #[arg(long, conflicts_with = "text")]
    file: Option<PathBuf>,
    /// Print only the count and the ids, not one line per token (long inputs).
    #[arg(long)]
    ids_only: bool,
}

/// Prints one line per token: id and piece (Ġ is a leading space in GPT-2's byte alphabet).
pub fn run(args: &TokenizeArgs) -> Result<()> {
    let tok = Gpt2Tokenizer::from_dir(&args.tokenizer)?;
    let text = match (&args.text, &args.file) {
        (_, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            String::from_utf8(bytes).map_err(|e| {
                Error::format(
                    path,
                    format!("not UTF-8 at byte {} (decode it first, e.g. from Latin-1)", e.utf8_error().valid_up_to()),
                )
            })?
        }
        (Some(t), None) if t == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| Error::io("<stdin>", e))?;
            s
        }
        (Some(t), None) => t.clone(),
        (None, None) => unreachable!("clap requires the text or --file"),
    };
    // Piece by piece (see gpt2::chunks): the ids are those of the whole text, and memory holds
    // one piece's token records at a time, not the whole file's.
    let mut ids: Vec<u32> = Vec::new();
    for chunk in gradschool::gpt2::chunks(&text, gradschool::gpt2::CHUNK_BYTES) {
        let pieces = tok.encode_with_pieces(chunk)?;
        if !args.ids_only {
            for (id, piece) in &pieces {
                gradschool::say!("{id:>6}  {piece}");
            }
        }
        ids.extend(pieces.iter().map(|(id, _)| *id));
    }
    // written as it goes: a million ids joined into one string would double the memory
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = write!(out, "{} tokens: [", ids.len());
    for (i, id) in ids.iter().enumerate() {
        let _ = write!(out, "{}{id}", if i == 0 { "" } else { ", " });
    }
    let _ = writeln!(out, "]"); // a closed stdout (| head) ends the listing, never in a panic
    Ok(())
}
