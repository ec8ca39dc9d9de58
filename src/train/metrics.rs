//! The metrics CSV every training command writes (one format for every task), and reading any
//! CSV column back for plots.

use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One row of `metrics.csv`: a logged step (no evaluation), or an evaluation (its metrics set).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsRow {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Global optimizer step, from 1.
    pub step: usize,
    /// Learning rate of that step.
    pub lr: f64,
    /// Mean training loss over the steps since the previous row.
    pub train_loss: f64,
    /// The task's evaluation metrics, in the order of its names; empty on logged-step rows.
    pub eval: Vec<f64>,
    /// Wall-clock seconds spent training (not evaluating) since the previous evaluation row; set
    /// on evaluation rows only (with one evaluation per epoch: the epoch's training time).
    pub train_seconds: Option<f64>,
}

/// The header of a metrics.csv with evaluation columns `eval_names`:
/// `epoch,step,lr,train_loss,<eval names…>,train_seconds`.
pub fn metrics_header(eval_names: &[String]) -> String {
    let mut cols = vec!["epoch".to_string(), "step".into(), "lr".into(), "train_loss".into()];
    cols.extend(eval_names.iter().cloned());
    cols.push("train_seconds".into());
    cols.join(",")
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

/// The CSV text of `rows`, header first. Numbers are written in Rust's shortest round-trip form,
/// so [`parse_metrics_csv`] reads back exactly the same values.
pub fn metrics_csv(eval_names: &[String], rows: &[MetricsRow]) -> String {
    let mut s = metrics_header(eval_names) + "\n";
    for r in rows {
        let _ = write!(s, "{},{},{},{}", r.epoch, r.step, r.lr, r.train_loss);
        for i in 0..eval_names.len() {
            let _ = write!(s, ",{}", opt(r.eval.get(i).copied()));
        }
        let _ = writeln!(s, ",{}", opt(r.train_seconds));
    }
    s
}

/// Parses text written by [`metrics_csv`] with these evaluation columns; `what` names the source
/// in errors (a file, or a checkpoint's metadata).
pub fn parse_metrics_csv(text: &str, eval_names: &[String], what: &Path) -> Result<Vec<MetricsRow>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header != metrics_header(eval_names) {
        return Err(Error::format(
            what,
            format!("metrics header `{header}`, expected `{}`", metrics_header(eval_names)),
        ));
    }
    let k = eval_names.len();
    lines
        .enumerate()
        .map(|(i, line)| {
            let line_no = i + 2;
            let c: Vec<&str> = line.split(',').collect();
            if c.len() != k + 5 {
                return Err(Error::format(what, format!("line {line_no}: expected {} columns", k + 5)));
            }
            let num = |s: &str| {
                s.parse::<f64>().map_err(|_| Error::format(what, format!("line {line_no}: `{s}` is not a number")))
            };
            let int = |s: &str| {
                s.parse::<usize>().map_err(|_| Error::format(what, format!("line {line_no}: `{s}` is not a count")))
            };
            let eval: Vec<f64> = if c[4..4 + k].iter().all(|s| s.is_empty()) {
                Vec::new()
            } else {
                c[4..4 + k].iter().map(|s| num(s)).collect::<Result<_>>()?
            };
            let secs = c[4 + k];
            Ok(MetricsRow {
                epoch: int(c[0])?,
                step: int(c[1])?,
                lr: num(c[2])?,
                train_loss: num(c[3])?,
                eval,
                train_seconds: if secs.is_empty() { None } else { Some(num(secs)?) },
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_exactly_through_the_csv() {
        let names = vec!["eval_loss".to_string(), "eval_accuracy".to_string()];
        let rows = vec![
            MetricsRow { epoch: 1, step: 10, lr: 1e-3, train_loss: 0.1 + 0.2, eval: vec![], train_seconds: None },
            MetricsRow {
                epoch: 1,
                step: 20,
                lr: 2.5e-5,
                train_loss: std::f64::consts::PI,
                eval: vec![1.0 / 3.0, 0.875],
                train_seconds: Some(1.25),
            },
        ];
        let text = metrics_csv(&names, &rows);
        assert!(text.starts_with("epoch,step,lr,train_loss,eval_loss,eval_accuracy,train_seconds\n"), "{text}");
        assert_eq!(parse_metrics_csv(&text, &names, Path::new("m.csv")).unwrap(), rows);
        let err = parse_metrics_csv(&text, &names[..1], Path::new("m.csv")).unwrap_err().to_string();
        assert!(err.contains("m.csv") && err.contains("header"), "{err}");
    }
}
