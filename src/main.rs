//! The `gradschool` command: one subcommand per chapter job.

mod cli;

use clap::Parser;
use gradschool::distributed;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Under mpirun, join the job first (rank 0 speaks for it); alone, this does nothing.
    let guard = match distributed::init() {
        Ok(guard) => guard,
        Err(e) => {
            gradschool::warn!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let world = distributed::world();
    let code = match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // every rank stops at the same step on Ctrl-C (the trainer agrees on it): end together
        Err(e @ gradschool::Error::Interrupted(_)) => {
            gradschool::warn!("error: {e}");
            // 130 = 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C
            ExitCode::from(130)
        }
        Err(e) if world.size() > 1 => {
            // One rank failed: say which, and end every rank now instead of leaving the others
            // waiting in their next collective.
            gradschool::warn!("error on rank {} of {}: {e}", world.rank(), world.size());
            world.abort(1)
        }
        Err(e) => {
            gradschool::warn!("error: {e}");
            ExitCode::from(1)
        }
    };
    guard.finish(); // MPI_Finalize, after every rank's last collective
    code
}
