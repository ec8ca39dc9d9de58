//! The shared training loop on a task small enough to check by hand: gradient accumulation's
//! 1/N scaling against the closed-form gradient, the stop on a NaN loss with the last checkpoint
//! kept, and a resume with other settings refused.

use gradschool::io::load_safetensors;
use gradschool::optim::Sgd;
use gradschool::train::{train, Task, TrainerConfig, CHECKPOINT};
use gradschool::{Result, Tensor};
use std::path::{Path, PathBuf};

/// Least squares on 8 fixed points, one point per micro-batch: ℓ = (w·x − y)²; from step
/// `nan_at` on, the loss is NaN (as a diverged run's would be).
struct Line {
    w: Tensor,
    nan_at: Option<usize>,
    seen: usize,
}

impl Task for Line {
    fn title(&self) -> String {
        "line".into()
    }
    fn fingerprint(&self) -> String {
        "line".into()
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![("w".into(), self.w.clone())]
    }
    fn batches(&self) -> usize {
        8
    }
    fn start_epoch(&mut self, _: usize, _: u64) {}
    fn loss(&mut self, index: usize, _: u64) -> Result<Tensor> {
        self.seen += 1;
        let x = index as f32 / 8.0;
        let loss = (&self.w * x - (2.0 * x + 1.0)).square().sum();
        Ok(if self.nan_at.is_some_and(|n| self.seen >= n) { loss * f32::NAN } else { loss })
    }
    fn set_training(&mut self, _: bool) {}
    fn eval_names(&self) -> Vec<String> {
        vec!["w".into()]
    }
    fn eval_sums(&mut self, rank: usize, _ranks: usize) -> Result<Vec<f64>> {
        // one number, not a sum over examples: rank 0 contributes it, the others nothing
        Ok(vec![if rank == 0 { self.w.item() as f64 } else { 0.0 }])
    }
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64> {
        sums.to_vec()
    }
    fn export(&self, _: &Path, _: usize, _: bool) -> Result<()> {
        Ok(())
    }
}

fn out(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint() {
    let dir = out("nan");
    let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: Some(7), seen: 0 };
    let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
    let cfg = TrainerConfig { save_every: Some(3), log_every: 100, ..TrainerConfig::new(&dir, 1, 0.1, 0) };
    let err = train(&mut task, &mut opt, &cfg).unwrap_err().to_string();
    assert!(err.contains("NaN at step 7"), "{err}");
    let (tensors, meta) = load_safetensors(&dir.join(CHECKPOINT)).unwrap();
    assert_eq!(meta["step"], "6", "the checkpoint of step 6 is the last one, and it is kept");
    let w = tensors.iter().find(|(n, _)| n == "model.w").unwrap().1.item() as f64;
    // The weight after steps 1–6, by the SGD recurrence in f64: micro-batch i has x = i/8 and
    // ∂ℓ/∂w = 2x(w·x − (2x + 1)), so w ← w − 0.1·2x(w·x − 2x − 1), from w = 0.
    let want = (0..6).map(|i| i as f64 / 8.0).fold(0.0, |w, x| w - 0.1 * 2.0 * x * (w * x - 2.0 * x - 1.0));
    assert!((w - want).abs() < 1e-6, "checkpoint w = {w}, the weight after step 6 is {want}");
    assert!(task.w.item().is_nan(), "in memory the NaN step was applied; the checkpoint is from before it");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn accumulation_scales_each_micro_batch_by_one_over_n() {
    // grad_accum = 8 over the 8 points is one step on the mean loss: with w = 0,
    // ∂/∂w mean((w·x − (2x + 1))²) = mean(−2x(2x + 1)), so w = −lr·that after one step.
    let dir = out("accum");
    let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: None, seen: 0 };
    let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
    let cfg = TrainerConfig { grad_accum: 8, ..TrainerConfig::new(&dir, 1, 0.1, 0) };
    let report = train(&mut task, &mut opt, &cfg).unwrap();
    let grad: f64 = (0..8).map(|i| i as f64 / 8.0).map(|x| -2.0 * x * (2.0 * x + 1.0)).sum::<f64>() / 8.0;
    assert_eq!(report.steps, 1);
    assert!((report.last("w").unwrap() - (-0.1 * grad)).abs() < 1e-6, "{:?}", report.rows);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resuming_with_other_settings_is_refused_naming_both() {
    let dir = out("refuse");
    let mut task = Line { w: Tensor::zeros([1]).requires_grad_(), nan_at: None, seen: 0 };
    let mut opt = Sgd::new(vec![task.w.clone()], 0.1);
    train(&mut task, &mut opt, &TrainerConfig::new(&dir, 1, 0.1, 0)).unwrap();
    let cfg = TrainerConfig { resume: true, ..TrainerConfig::new(&dir, 2, 0.2, 0) };
    let err = train(&mut task, &mut opt, &cfg).unwrap_err().to_string();
    assert!(err.contains("--resume") && err.contains("lr=0.1") && err.contains("lr=0.2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
