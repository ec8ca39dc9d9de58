//! Command-line interface (clap). Each subcommand validates its flags before any tensor code
//! runs, so a user mistake is a one-line error, never a panic.

mod demo;

use clap::{Parser, Subcommand};
use gradschool::Result;

/// gradschool: learn how training really works, from one neuron to GPT-2.
#[derive(Parser, Debug)]
#[command(name = "gradschool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit y = sin(x) with a small MLP trained by hand-written gradient descent (a first look at
    /// the autograd; the MNIST chapter's `mnist` command replaces it as the main job).
    Demo(demo::DemoArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
    }
}
