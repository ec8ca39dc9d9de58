//! Learning-rate schedules, as pure functions of the step (or epoch) count: resuming a run only
//! needs the count, and every schedule can be plotted before training.

use std::f64::consts::PI;

/// A schedule: the learning rate at step `t` (0-based), given the base rate.
pub trait LrSchedule {
    /// lr(t).
    fn lr(&self, base_lr: f64, t: usize) -> f64;
}

/// The schedules of `torch.optim.lr_scheduler` the course uses, and the warmup schedules of
/// transformer fine-tuning (Hugging Face's `get_linear/cosine_schedule_with_warmup`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// StepLR: lr·γ^⌊t / step_size⌋.
    Step {
        /// Steps between decays.
        step_size: usize,
        /// Decay factor γ.
        gamma: f64,
    },
    /// ExponentialLR: lr·γᵗ.
    Exponential {
        /// Decay factor γ.
        gamma: f64,
    },
    /// CosineAnnealingLR: η_min + (lr − η_min)·(1 + cos(πt/T_max))/2.
    Cosine {
        /// Steps to reach η_min.
        t_max: usize,
        /// The final rate.
        eta_min: f64,
    },
    /// Linear warmup from 0 over `warmup` steps, then linear decay to 0 at `total`.
    WarmupLinear {
        /// Warmup steps.
        warmup: usize,
        /// Total steps.
        total: usize,
    },
    /// Linear warmup over `warmup` steps, then half a cosine down to 0 at `total` (past
    /// `total` the cosine rises again, exactly as Hugging Face's schedule does).
    WarmupCosine {
        /// Warmup steps.
        warmup: usize,
        /// Total steps.
        total: usize,
    },
}

// ANCHOR: schedule
impl LrSchedule for Schedule {
    fn lr(&self, base: f64, t: usize) -> f64 {
        let warm = |warmup: usize| (t < warmup).then(|| base * t as f64 / warmup.max(1) as f64);
        match *self {
            Schedule::Constant => base,
            Schedule::Step { step_size, gamma } => base * gamma.powi((t / step_size.max(1)) as i32),
            Schedule::Exponential { gamma } => base * gamma.powi(t as i32),
            Schedule::Cosine { t_max, eta_min } => {
                let e = eta_min;
                e + (base - e) * (1.0 + (PI * t as f64 / t_max.max(1) as f64).cos()) / 2.0
            }
            Schedule::WarmupLinear { warmup, total } => warm(warmup).unwrap_or_else(|| {
                base * ((total.saturating_sub(t)) as f64 / total.saturating_sub(warmup).max(1) as f64).max(0.0)
            }),
            Schedule::WarmupCosine { warmup, total } => warm(warmup).unwrap_or_else(|| {
                let progress = (t - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
                base * (0.5 * (1.0 + (PI * progress).cos())).max(0.0)
            }),
        }
    }
}
// ANCHOR_END: schedule
