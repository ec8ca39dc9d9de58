//! The metrics CSV every training command writes, and reading it back for plots.

use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One row of `metrics.csv`: a logged training step, or the end of an epoch (test columns set).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsRow {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Global optimizer step, from 1.
    pub step: usize,
    /// Training loss (the step's, or the epoch's mean on epoch rows).
    pub train_loss: f64,
    /// Test loss (epoch rows only).
    pub test_loss: Option<f64>,
    /// Test accuracy in [0, 1] (epoch rows only).
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds of the epoch (epoch rows only).
    pub epoch_seconds: Option<f64>,
}

/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str = "epoch,step,train_loss,test_loss,test_accuracy,epoch_seconds";

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

/// The CSV text of `rows`, header first.
pub fn metrics_csv(rows: &[MetricsRow]) -> String {
    let mut s = format!("{METRICS_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{}",
            r.epoch,
            r.step,
            r.train_loss,
            opt(r.test_loss),
            opt(r.test_accuracy),
            opt(r.epoch_seconds)
        );
    }
    s
}

/// A column of a CSV file with a header row: `(x, y)` pairs of `x_col` and `y_col` for the rows
/// where `y_col` is not empty. Errors name the file, the line and the column.
pub fn read_csv_series(path: &Path, x_col: &str, y_col: &str) -> Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| Error::format(path, format!("no column `{name}` (columns: {})", header.join(", "))))
    };
    let (xi, yi) = (col(x_col)?, col(y_col)?);
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or("");
        if cell(yi).is_empty() {
            continue;
        }
        let parse = |i: usize, name: &str| {
            cell(i).parse::<f64>().map_err(|_| {
                Error::format(path, format!("line {}: `{}` in column {name} is not a number", n + 2, cell(i)))
            })
        };
        out.push((parse(xi, x_col)?, parse(yi, y_col)?));
    }
    Ok(out)
}
