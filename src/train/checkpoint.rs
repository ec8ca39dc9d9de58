//! The trainer's checkpoint: what `--resume` needs to continue a run bit for bit — the task's
//! tensors (`model.*`), the optimizer's state (`optim.*`), and as metadata the loop's counters,
//! its running loss sums, the metrics so far and the settings (a resumed run must share them) —
//! in one safetensors file written by temp file + rename.

use super::{metrics_csv, parse_metrics_csv, plot_metrics, MetricsRow, Task};
use crate::error::{Error, Result};
use crate::io::{load_safetensors, save_safetensors, write_atomic};
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// The file in the output directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// Running sums the loop carries between rows (kept exact across a resume).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Counters {
    pub(super) epoch: usize,
    pub(super) next_batch: usize,
    pub(super) step: usize,
    pub(super) since: (f64, usize),
    pub(super) epoch_loss: (f64, usize),
    pub(super) train_seconds: f64,
    /// fp16's loss scale and its clean steps since the last change (`GradScaler`).
    pub(super) grad_scaler: Option<(f32, usize)>,
}

/// Writes the task's exports, then the checkpoint (atomically), then metrics.csv and loss.png;
/// `optim` is the whole optimizer state (`OptimizerState::to_tensors`, gathered from every rank
/// under ZeRO-1).
#[allow(clippy::too_many_arguments)]
pub(super) fn save_checkpoint(
    task: &dyn Task,
    optim: Vec<(String, Tensor)>,
    out_dir: &Path,
    c: &Counters,
    rows: &[MetricsRow],
    names: &[String],
    fingerprint: &str,
    last: bool,
) -> Result<()> {
    task.export(out_dir, c.step, last)?;
    let mut tensors: Vec<(String, Tensor)> = task.state().into_iter().map(|(n, t)| (format!("model.{n}"), t)).collect();
    tensors.extend(optim.into_iter().map(|(n, t)| (format!("optim.{n}"), t)));
    let csv = metrics_csv(names, rows);
    let mut meta = HashMap::from([
        ("config".to_string(), fingerprint.to_string()),
        ("epoch".into(), c.epoch.to_string()),
        ("next_batch".into(), c.next_batch.to_string()),
        ("step".into(), c.step.to_string()),
        ("since".into(), format!("{} {}", c.since.0, c.since.1)),
        ("epoch_loss".into(), format!("{} {}", c.epoch_loss.0, c.epoch_loss.1)),
        ("train_seconds".into(), c.train_seconds.to_string()),
        ("metrics".into(), csv.clone()),
    ]);
    if let Some((scale, tracker)) = c.grad_scaler {
        meta.insert("grad_scaler".into(), format!("{scale} {tracker}"));
    }
    save_safetensors(&out_dir.join(CHECKPOINT), &tensors, &meta)?;
    write_atomic(&out_dir.join("metrics.csv"), csv.as_bytes())?;
    plot_metrics(&out_dir.join("loss.png"), &task.title(), names, rows)
}

/// Loads out_dir/checkpoint.safetensors into the task and optimizer.
pub(super) fn restore(
    task: &mut dyn Task,
    opt: &mut dyn Optimizer,
    out_dir: &Path,
    fingerprint: &str,
    names: &[String],
) -> Result<(Counters, Vec<MetricsRow>)> {
    let path = out_dir.join(CHECKPOINT);
    let (tensors, meta) = load_safetensors(&path)?;
    let saved = meta.get("config").cloned().unwrap_or_default();
    if saved != fingerprint {
        return Err(Error::Config(format!(
            "--resume: {} was written with other settings\n  checkpoint: {saved}\n  now:        {fingerprint}",
            path.display()
        )));
    }
    let get = |k: &str| meta.get(k).ok_or_else(|| Error::format(&path, format!("metadata `{k}` missing")));
    let count = |k: &str| get(k)?.parse::<usize>().map_err(|_| Error::format(&path, format!("metadata `{k}`")));
    let pair = |k: &str| -> Result<(f64, usize)> {
        let bad = || Error::format(&path, format!("metadata `{k}`"));
        let (s, n) = get(k)?.split_once(' ').ok_or_else(bad)?;
        Ok((s.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?))
    };
    let c = Counters {
        epoch: count("epoch")?,
        next_batch: count("next_batch")?,
        step: count("step")?,
        since: pair("since")?,
        epoch_loss: pair("epoch_loss")?,
        train_seconds: get("train_seconds")?.parse().unwrap_or(0.0),
        grad_scaler: match meta.get("grad_scaler") {
            Some(_) => match pair("grad_scaler")? {
                (s, n) if s.is_finite() && s > 0.0 => Some((s as f32, n)),
                _ => return Err(Error::format(&path, "metadata `grad_scaler`: the scale must be a positive number")),
            },
            None => None,
        },
    };
    let by_name: HashMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, t) in task.state() {
        let saved = by_name
            .get(format!("model.{name}").as_str())
            .ok_or_else(|| Error::format(&path, format!("tensor model.{name} missing")))?;
        if saved.dims() != t.dims() {
            return Err(Error::format(&path, format!("model.{name}: shape {} vs {}", saved.shape(), t.shape())));
        }
        t.set_data(saved);
    }
    let optim: Vec<(String, Tensor)> =
        tensors.iter().filter_map(|(n, t)| n.strip_prefix("optim.").map(|n| (n.to_string(), t.clone()))).collect();
    opt.state_mut().load_tensors(&optim)?;
    let rows = parse_metrics_csv(get("metrics")?, names, &path)?;
    Ok((c, rows))
}
