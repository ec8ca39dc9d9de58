//! `gradschool plot`: overlay the curves of several runs (e.g. the course's learning-rate
//! comparison) in one PNG for homework.

use clap::Args;
use gradschool::train::{plot_panels, read_csv_series, Panel, Series};
use gradschool::Result;
use std::path::PathBuf;

/// Flags of `gradschool plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// metrics.csv files to overlay.
    #[arg(required = true)]
    csv: Vec<PathBuf>,
    /// Output PNG.
    #[arg(short, long)]
    output: PathBuf,
    /// Column to plot: train_loss, test_loss or test_accuracy.
    #[arg(long, default_value = "train_loss")]
    metric: String,
    /// Column for the x axis.
    #[arg(long, default_value = "step")]
    x: String,
}

/// A run's label: its directory name (runs/lr0.1/metrics.csv → lr0.1), else the file stem.
fn label(path: &std::path::Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match path.parent().and_then(|p| p.file_name()) {
        Some(dir) if stem == "metrics" => dir.to_string_lossy().into_owned(),
        _ => stem,
    }
}

/// Reads every CSV, then draws one panel with a curve per run.
pub fn run(args: &PlotArgs) -> Result<()> {
    super::args::image_output(&args.output, &["png"])?;
    let series = args
        .csv
        .iter()
        .map(|p| Ok(Series { label: label(p), points: read_csv_series(p, &args.x, &args.metric)? }))
        .collect::<Result<Vec<_>>>()?;
    let panel = Panel {
        title: format!("{} by {}", args.metric, args.x),
        x_label: args.x.clone(),
        y_label: args.metric.clone(),
        series,
    };
    plot_panels(&args.output, &[panel], (1000, 600))?;
    gradschool::say!("wrote {}", args.output.display());
    Ok(())
}
