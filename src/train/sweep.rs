//! A hyper-parameter sweep: the same fine-tuning run at every point of a grid (learning rate,
//! batch size, warmup, LoRA rank and α), each in its own folder, summarised in one CSV and one
//! comparison plot — hyper-parameters measured, not asserted.

use super::sentiment::{train_sentiment, LoraConfig, SentimentConfig};
use super::{plot_panels, Panel, Series, TrainReport};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use std::fmt::Write as _;
use std::path::Path;

/// The values to try; every combination is one run. An empty axis keeps the base config's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepGrid {
    /// Learning rates.
    pub lr: Vec<f64>,
    /// Batch sizes.
    pub batch_size: Vec<usize>,
    /// Warmup steps.
    pub warmup: Vec<usize>,
    /// LoRA ranks (a run with a rank trains adapters; the base config's α and MLP setting apply).
    pub lora_r: Vec<usize>,
    /// LoRA α values (with a rank from `lora_r` or the base config).
    pub lora_alpha: Vec<f32>,
    /// LoRA dropout probabilities (with a rank from `lora_r` or the base config).
    pub lora_dropout: Vec<f32>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    /// What differs from the base, e.g. `lr=0.001 batch=8`.
    pub label: String,
    /// The run's settings.
    pub config: SentimentConfig,
    /// Its metrics.
    pub report: TrainReport,
    /// Wall-clock seconds of training (evaluation excluded).
    pub seconds: f64,
}

impl SweepGrid {
    // ANCHOR: grid
    /// Every combination, as (label, config) with each run's output in `base.out_dir/run-N`.
    pub fn configs(&self, base: &SentimentConfig) -> Result<Vec<(String, SentimentConfig)>> {
        let or_base = |v: &[f64], b: f64| if v.is_empty() { vec![b] } else { v.to_vec() };
        let lrs = or_base(&self.lr, base.lr);
        let batches = if self.batch_size.is_empty() { vec![base.batch_size] } else { self.batch_size.clone() };
        let warmups = if self.warmup.is_empty() { vec![base.warmup] } else { self.warmup.clone() };
        let base_lora =
            base.lora.unwrap_or(LoraConfig { r: 8, alpha: 16.0, mlp: false, dropout: 0.0, quantize_base: None });
        let ranks: Vec<Option<usize>> = if self.lora_r.is_empty() {
            vec![base.lora.map(|l| l.r)]
        } else {
            self.lora_r.iter().map(|&r| Some(r)).collect()
        };
        let alphas = if self.lora_alpha.is_empty() { vec![base_lora.alpha] } else { self.lora_alpha.clone() };
        let dropouts = if self.lora_dropout.is_empty() { vec![base_lora.dropout] } else { self.lora_dropout.clone() };
        if ranks.iter().all(Option::is_none) && !(self.lora_alpha.is_empty() && self.lora_dropout.is_empty()) {
            return Err(Error::Config(
                "--sweep-lora-alpha and --sweep-lora-dropout need LoRA: give --lora-r or --sweep-lora-r".into(),
            ));
        }
        let mut out = Vec::new();
        for &lr in &lrs {
            for &batch_size in &batches {
                for &warmup in &warmups {
                    for &r in &ranks {
                        for (&alpha, &dropout) in alphas.iter().flat_map(|a| dropouts.iter().map(move |d| (a, d))) {
                            let mut c = base.clone();
                            (c.lr, c.batch_size, c.warmup) = (lr, batch_size, warmup);
                            c.lora = r.map(|r| LoraConfig { r, alpha, dropout, ..base_lora });
                            let mut label = format!("lr={lr} batch={batch_size} warmup={warmup}");
                            if let Some(l) = c.lora {
                                let _ = write!(label, " lora r={} α={}", l.r, l.alpha);
                                if l.dropout > 0.0 {
                                    let _ = write!(label, " dropout={}", l.dropout);
                                }
                            }
                            c.out_dir = base.out_dir.join(format!("run-{}", out.len() + 1));
                            out.push((label, c));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
    // ANCHOR_END: grid
}

/// Runs every combination of `grid` over `base`; writes `sweep.csv` (one row a run: its
/// settings, final and best validation accuracy, final validation loss, training seconds) and
/// `sweep.png` (the validation curves side by side) into `base.out_dir`.
pub fn sweep(base: &SentimentConfig, grid: &SweepGrid) -> Result<Vec<SweepRun>> {
    sweep_with(base, grid, |_, _| Ok(()))
}

/// [`sweep`], calling `after_run(n, run)` as run `n` (from 1) ends: `gradschool sweep --profile`
/// writes each run's own trace there.
pub fn sweep_with(
    base: &SentimentConfig,
    grid: &SweepGrid,
    mut after_run: impl FnMut(usize, &SweepRun) -> Result<()>,
) -> Result<Vec<SweepRun>> {
    let configs = grid.configs(base)?;
    std::fs::create_dir_all(&base.out_dir).map_err(|e| Error::io(&base.out_dir, e))?;
    let (mut runs, total) = (Vec::new(), configs.len());
    for (i, (label, config)) in configs.into_iter().enumerate() {
        crate::say!("== run {}/{total}: {label}", i + 1);
        let report = train_sentiment(&config)?;
        let seconds = report.rows.iter().filter_map(|r| r.train_seconds).sum();
        runs.push(SweepRun { label, config, report, seconds });
        write_summary(&base.out_dir, &runs)?;
        after_run(i + 1, runs.last().expect("just pushed"))?;
    }
    Ok(runs)
}

fn write_summary(dir: &Path, runs: &[SweepRun]) -> Result<()> {
    let mut csv = String::from(
        "run,lr,batch_size,warmup,lora_r,lora_alpha,lora_dropout,steps,final_eval_accuracy,best_eval_accuracy,final_eval_loss,train_seconds\n",
    );
    let (mut acc, mut loss) = (Vec::new(), Vec::new());
    for (i, r) in runs.iter().enumerate() {
        let c = &r.config;
        let accs: Vec<(f64, f64)> =
            r.report.rows.iter().filter_map(|row| row.eval.get(1).map(|&a| (row.step as f64, a))).collect();
        let best = accs.iter().map(|p| p.1).fold(f64::NAN, f64::max);
        let opt = |v: Option<String>| v.unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{:.2}",
            i + 1,
            c.lr,
            c.batch_size,
            c.warmup,
            opt(c.lora.map(|l| l.r.to_string())),
            opt(c.lora.map(|l| l.alpha.to_string())),
            opt(c.lora.map(|l| l.dropout.to_string())),
            r.report.steps,
            opt(r.report.last("eval_accuracy").map(|v| v.to_string())),
            best,
            opt(r.report.last("eval_loss").map(|v| v.to_string())),
            r.seconds
        );
        acc.push(Series { label: r.label.clone(), points: accs.iter().map(|&(s, a)| (s, 100.0 * a)).collect() });
        let losses = r.report.rows.iter().filter_map(|row| row.eval.first().map(|&l| (row.step as f64, l))).collect();
        loss.push(Series { label: r.label.clone(), points: losses });
    }
    write_atomic(&dir.join("sweep.csv"), csv.as_bytes())?;
    let panels = [
        Panel {
            title: "validation accuracy".into(),
            x_label: "step".into(),
            y_label: "accuracy (%)".into(),
            series: acc,
        },
        Panel { title: "validation loss".into(), x_label: "step".into(), y_label: "loss".into(), series: loss },
    ];
    plot_panels(&dir.join("sweep.png"), &panels, (1000, 900))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_grid_is_every_combination_each_in_its_own_folder() {
        let base = SentimentConfig { out_dir: PathBuf::from("runs/s"), ..SentimentConfig::new("m".into(), "d".into()) };
        let grid = SweepGrid { lr: vec![1e-4, 1e-3], batch_size: vec![8, 16, 32], ..Default::default() };
        let configs = grid.configs(&base).unwrap();
        assert_eq!(configs.len(), 6); // 2 × 3
        assert_eq!(configs[0].0, "lr=0.0001 batch=8 warmup=0");
        assert_eq!((configs[5].1.lr, configs[5].1.batch_size), (1e-3, 32));
        assert_eq!(configs[5].1.out_dir, PathBuf::from("runs/s/run-6"));
        assert!(configs.iter().all(|(_, c)| c.lora.is_none() && c.max_len == base.max_len));
        // LoRA axes: ranks × alphas, each a LoRA run
        let lora = SweepGrid { lora_r: vec![4, 8], lora_alpha: vec![8.0, 16.0], ..Default::default() };
        let configs = lora.configs(&base).unwrap();
        assert_eq!(configs.len(), 4);
        assert_eq!(
            configs[3].1.lora,
            Some(LoraConfig { r: 8, alpha: 16.0, mlp: false, dropout: 0.0, quantize_base: None })
        );
        assert!(configs[1].0.ends_with("lora r=4 α=16"), "{}", configs[1].0);
        // α without any rank is a mistake, said as such
        let dropout = SweepGrid { lora_r: vec![4], lora_dropout: vec![0.0, 0.1], ..Default::default() };
        let configs = dropout.configs(&base).unwrap();
        assert_eq!(configs.iter().map(|(_, c)| c.lora.unwrap().dropout).collect::<Vec<_>>(), vec![0.0, 0.1]);
        assert!(configs[1].0.ends_with("dropout=0.1"), "{}", configs[1].0);
        let bad = SweepGrid { lora_alpha: vec![8.0], ..Default::default() };
        assert!(bad
            .configs(&base)
            .unwrap_err()
            .to_string()
            .contains("--sweep-lora-alpha and --sweep-lora-dropout need LoRA"));
    }
}
