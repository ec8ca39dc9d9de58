//! Helpers every training command shares: metrics CSV, loss-curve plots, progress bars.

mod metrics;
pub mod mnist;
mod plot;
pub mod pretrain;
pub mod sentiment;

pub use metrics::{metrics_csv, read_csv_series, MetricsRow, METRICS_HEADER};
pub use plot::{plot_panels, Panel, Series};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar for one epoch of `steps` batches, showing the live loss and speed; drawn on
/// stderr, and hidden when stderr is not a terminal (CI, redirected output).
pub fn epoch_progress(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
