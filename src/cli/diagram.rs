//! `gradschool diagram`: the book's explanatory diagrams (a neuron, the MNIST network, LoRA),
//! drawn from the real sizes.

use clap::{Args, ValueEnum};
use gradschool::train::diagram::{draw_lora, draw_network, draw_neuron};
use gradschool::Result;
use std::path::PathBuf;

/// Which diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Diagram {
    /// One neuron, y = σ(w·x + b) (chapter 2).
    Neuron,
    /// The course's MNIST network, 784-256-128-64-10, with its parameter count (chapter 8).
    Network,
    /// LoRA on GPT-2's c_attn (768, 2304), to scale (chapter 11).
    Lora,
}

/// Flags of `gradschool diagram`.
#[derive(Args, Debug)]
pub struct DiagramArgs {
    /// The diagram.
    #[arg(value_enum)]
    which: Diagram,
    /// LoRA's rank, for `lora`.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=768))]
    rank: u32,
    /// The picture (PNG).
    #[arg(short, long, default_value = "diagram.png")]
    output: PathBuf,
}

/// Draws the chosen diagram.
pub fn run(args: &DiagramArgs) -> Result<()> {
    super::args::image_output(&args.output, &["png"])?;
    match args.which {
        Diagram::Neuron => draw_neuron(&args.output)?,
        Diagram::Network => draw_network(&args.output, &[784, 256, 128, 64, 10])?,
        Diagram::Lora => draw_lora(&args.output, 768, 2304, args.rank as usize)?,
    }
    gradschool::say!("wrote {}", args.output.display());
    Ok(())
}
