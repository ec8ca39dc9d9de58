//! The `gradschool` command: one subcommand per chapter job.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();

    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            gradschool::warn!("error: {e}");
            // 130 = 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C
            ExitCode::from(if matches!(e, gradschool::Error::Interrupted(_)) { 130 } else { 1 })
        }
    }
}
