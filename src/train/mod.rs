//! Training: one loop ([`train`], over a [`Task`]) and the course's tasks as short recipes over
//! it — MNIST, GPT-2 pretraining, sentiment fine-tuning, the hotel-booking assistant — plus the
//! metrics CSV, loss-curve plots and progress bars they share.

pub mod attention_plot;
mod checkpoint;
pub mod diagram;
mod graph_plot;
pub mod hotel;
pub mod landscape;
pub mod memory;
mod metrics;
pub mod mnist;
mod plot;
pub mod pretrain;
pub mod run_dir;
pub mod sentiment;
pub mod sweep;
mod task;
mod trainer;

pub use checkpoint::CHECKPOINT;
pub use graph_plot::draw_graph;
pub use metrics::{metrics_csv, metrics_header, parse_metrics_csv, read_csv_series, MetricsRow};
pub use plot::{plot_metrics, plot_panels, Panel, Series};
pub use run_dir::{RunDir, Start};
pub use task::Task;
pub use trainer::{batch_fits, train, train_in, ScheduleUnit, TrainReport, TrainerConfig};

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set by SIGINT or SIGTERM once [`stop_at_step_boundary_on_signals`] has run.
static INTERRUPTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// From now on, Ctrl-C (SIGINT) and `kill` (SIGTERM) ask the trainer to stop at the next step
/// boundary with a checkpoint, instead of ending the process and losing the steps since the last
/// save; a second signal ends the process at once (exit code 1), for a run that will not stop.
pub fn stop_at_step_boundary_on_signals() -> crate::Result<()> {
    let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let registered = signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(flag))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(flag)));
        registered.map_err(|e| crate::Error::Config(format!("cannot install the handler of signal {sig}: {e}")))?;
    }
    Ok(())
}

/// Whether a stop was asked for (see [`stop_at_step_boundary_on_signals`]).
pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// A progress bar for one epoch of `steps` optimizer steps, showing the live loss and speed;
/// drawn on stderr, and hidden when stderr is not a terminal (CI, redirected output).
pub fn epoch_progress(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
