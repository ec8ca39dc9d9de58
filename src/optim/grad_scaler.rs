//! Dynamic loss scaling for fp16 training, with `torch.amp.GradScaler`'s rules. fp16's smallest
//! normal value is 6.1e-5: many gradients fall below it and flush to zero. Multiplying the loss
//! by a large scale S lifts every gradient by S (the chain rule is linear), into fp16's range;
//! the gradients are divided by S again before the optimizer sees them. Too large an S
//! overflows to inf: then the step is skipped and S halved. After `growth_interval` steps
//! without an overflow S doubles again, so it keeps probing for the largest S that fits.

use super::Optimizer;
use crate::tensor::Tensor;

/// GradScaler: the scale, its growth and backoff, and the clean steps since the last change.
#[derive(Clone, Debug, PartialEq)]
pub struct GradScaler {
    scale: f32,
    growth_factor: f32,
    backoff_factor: f32,
    growth_interval: usize,
    /// Steps without inf/NaN since the scale last changed.
    growth_tracker: usize,
}

impl Default for GradScaler {
    /// PyTorch's defaults: S = 2¹⁶, ×2 after 2,000 clean steps, ×0.5 on inf/NaN.
    fn default() -> Self {
        GradScaler::new(65536.0, 2.0, 0.5, 2000)
    }
}

impl GradScaler {
    /// A scaler starting at `init_scale`.
    pub fn new(init_scale: f32, growth_factor: f32, backoff_factor: f32, growth_interval: usize) -> GradScaler {
        assert!(growth_factor > 1.0 && backoff_factor > 0.0 && backoff_factor < 1.0 && growth_interval > 0);
        GradScaler { scale: init_scale, growth_factor, backoff_factor, growth_interval, growth_tracker: 0 }
    }

    /// The current scale S.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Steps without inf/NaN since the scale last changed.
    pub fn growth_tracker(&self) -> usize {
        self.growth_tracker
    }

    /// This scaler continued from a saved scale and growth tracker (a resumed run).
    pub fn with_state(self, scale: f32, growth_tracker: usize) -> GradScaler {
        assert!(scale > 0.0 && scale.is_finite(), "GradScaler: the scale must be positive, got {scale}");
        GradScaler { scale, growth_tracker, ..self }
    }

    /// `loss × S`: call `backward()` on this.
    pub fn scale_loss(&self, loss: &Tensor) -> Tensor {
        loss.mul_scalar(self.scale)
    }

    /// Divides every gradient of `params` by S, in f32 times the reciprocal of S (computed in f64,
    /// as PyTorch does), and says whether any gradient holds an inf or NaN.
    pub fn unscale(&self, params: &[Tensor]) -> bool {
        let inv = (1.0 / self.scale as f64) as f32;
        let mut found_inf = false;
        for p in params {
            if let Some(g) = p.grad() {
                let unscaled = g.mul_scalar(inv);
                found_inf |= unscaled.to_vec().iter().any(|v| !v.is_finite());
                p.set_grad(Some(unscaled));
            }
        }
        found_inf
    }

    // ANCHOR: update
    /// After a step: on inf/NaN, S ← S × backoff and the count restarts; otherwise one more clean
    /// step, and at `growth_interval` of them S ← S × growth (unless that overflows f32).
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= self.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == self.growth_interval {
                let grown = self.scale * self.growth_factor;
                if grown.is_finite() {
                    self.scale = grown;
                }
                self.growth_tracker = 0;
            }
        }
    }
    // ANCHOR_END: update

    /// `scaler.step(opt); scaler.update()`: unscales the optimizer's gradients, steps unless one
    /// is inf or NaN (then the step is skipped: the parameters and the optimizer's state stay
    /// as they were), and updates S. Returns whether the step ran.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> bool {
        let found_inf = self.unscale(opt.params());
        if !found_inf {
            opt.step();
        }
        self.update(found_inf);
        !found_inf
    }
}
