//! `gradschool download`: fetch a data set's official files, verified.

use clap::{Args, ValueEnum};
use gradschool::data::download::{fetch, FASHION_MNIST, MNIST};
use gradschool::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The data sets this command knows.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    /// MNIST: 60,000 + 10,000 handwritten digits.
    Mnist,
    /// Fashion-MNIST: 60,000 + 10,000 clothing images, the same format.
    FashionMnist,
}

/// Flags of `gradschool download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Which data set.
    #[arg(value_enum)]
    dataset: Dataset,
    /// Target directory (default: data/<dataset>).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Downloads the four files, skipping verified ones.
pub fn run(args: &DownloadArgs) -> Result<()> {
    let (resources, default_dir) = match args.dataset {
        Dataset::Mnist => (&MNIST, "data/mnist"),
        Dataset::FashionMnist => (&FASHION_MNIST, "data/fashion-mnist"),
    };
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(default_dir));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for res in resources {
        fetch(res, &dir, std::io::stderr().is_terminal())?;
    }
    println!("train with: gradschool mnist --data-dir {}", dir.display());
    Ok(())
}
