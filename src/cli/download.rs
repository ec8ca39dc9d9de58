//! `gradschool download`: fetch a data set's or model's official files, verified.

use clap::{Args, ValueEnum};
use gradschool::data::download::{extract_rt_polarity, fetch, FASHION_MNIST, GPT2, MNIST, RT_POLARITY_ARCHIVE};
use gradschool::gpt2::{Gpt2Config, Gpt2Tokenizer};
use gradschool::{Error, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// What this command knows.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    /// MNIST: 60,000 + 10,000 handwritten digits.
    Mnist,
    /// Fashion-MNIST: 60,000 + 10,000 clothing images, the same format.
    FashionMnist,
    /// GPT-2 (124M) from the Hugging Face Hub: config.json, model.safetensors, tokenizer files.
    Gpt2,
    /// The Rotten Tomatoes sentence-polarity files (rt-polarity.pos / .neg) the course fine-tunes on.
    RottenTomatoes,
}

/// Flags of `gradschool download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// What to download.
    #[arg(value_enum)]
    dataset: Dataset,
    /// Target directory (default: data/<name>).
    #[arg(long)]
    dir: Option<PathBuf>,
}

const MNIST_HINT: &str = "Place the four files by hand in the target directory (train-images-idx3-ubyte.gz, \
    train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), or, for Fashion-MNIST, \
    `apt-get install dataset-fashion-mnist` and pass --data-dir /usr/share/datasets/fashion-mnist";

/// Downloads the files, skipping verified ones.
pub fn run(args: &DownloadArgs) -> Result<()> {
    let default_dir = match args.dataset {
        Dataset::Mnist => "data/mnist",
        Dataset::FashionMnist => "data/fashion-mnist",
        Dataset::Gpt2 => "data/gpt2",
        Dataset::RottenTomatoes => "data/rt-polarity",
    };
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(default_dir));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let progress = std::io::stderr().is_terminal();
    match args.dataset {
        Dataset::Mnist | Dataset::FashionMnist => {
            let resources = if matches!(args.dataset, Dataset::Mnist) { &MNIST } else { &FASHION_MNIST };
            for res in resources {
                fetch(res, &dir, progress, MNIST_HINT)?;
            }
            gradschool::say!("train with: gradschool mnist --data-dir {}", dir.display());
        }
        Dataset::Gpt2 => {
            let hint = format!(
                "Download config.json, model.safetensors, tokenizer.json, vocab.json and merges.txt from \
                 https://huggingface.co/openai-community/gpt2/tree/main by hand into {}",
                dir.display()
            );
            for res in &GPT2 {
                fetch(res, &dir, progress, &hint)?;
            }
            validate_gpt2(&dir)?;
            gradschool::say!("fine-tune with: gradschool sentiment --model-dir {}", dir.display());
        }
        Dataset::RottenTomatoes => {
            let hint = format!(
                "Download {} by hand and extract rt-polarity.pos and rt-polarity.neg into {}",
                RT_POLARITY_ARCHIVE.url,
                dir.display()
            );
            fetch(&RT_POLARITY_ARCHIVE, &dir, progress, &hint)?;
            let archive = dir.join(RT_POLARITY_ARCHIVE.name);
            extract_rt_polarity(&archive, &dir)?;
            std::fs::remove_file(&archive).map_err(|e| Error::io(&archive, e))?;
            gradschool::say!("rt-polarity.pos and rt-polarity.neg verified in {}", dir.display());
        }
    }
    Ok(())
}

/// The files without a published hash must at least parse.
fn validate_gpt2(dir: &Path) -> Result<()> {
    let config = Gpt2Config::from_file(&dir.join("config.json"))?;
    let tok = Gpt2Tokenizer::from_dir(dir)?;
    if tok.vocab_size() != config.vocab_size {
        return Err(Error::format(
            dir.join("tokenizer.json"),
            format!("{} tokens, but config.json says {}", tok.vocab_size(), config.vocab_size),
        ));
    }
    Ok(())
}
