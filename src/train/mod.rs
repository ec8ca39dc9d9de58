//! Training: one loop ([`train`], over a [`Task`]) and the course's tasks as short recipes over
//! it — MNIST, GPT-2 pretraining, sentiment fine-tuning, the hotel-booking assistant — plus the
//! metrics CSV, loss-curve plots and progress bars they share.

pub mod attention_plot;
mod checkpoint;
pub mod diagram;
mod graph_plot;
pub mod hotel;
pub mod landscape;
mod metrics;
pub mod mnist;
mod plot;
pub mod pretrain;
pub mod sentiment;
pub mod sweep;
mod task;
mod trainer;

pub use checkpoint::CHECKPOINT;
pub use graph_plot::draw_graph;
pub use metrics::{metrics_csv, metrics_header, parse_metrics_csv, read_csv_series, MetricsRow};
pub use plot::{plot_metrics, plot_panels, Panel, Series};
pub use task::Task;
pub use trainer::{train, ScheduleUnit, TrainReport, TrainerConfig};

use indicatif::{ProgressBar, ProgressStyle};

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
