//! Gradient clipping by global norm, and gradient accumulation over micro-batches.

use crate::tensor::Tensor;

/// Scales all gradients so their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`): with N = √(Σ‖g‖²), every g ← g·min(1, max_norm/(N + 1e-6)).
/// Returns N, the norm before clipping.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> f32 {
    if params.iter().any(|p| p.grad().is_some_and(|g| g.device() != crate::Device::Cpu)) {
        return clip_grad_norm_on_device(params, max_norm);
    }
    let grads: Vec<Tensor> = params.iter().filter_map(|p| p.grad()).collect();
    let total: f64 =
        grads.iter().map(|g| g.with_data(|d| d.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())).sum();
    let norm = total.sqrt() as f32;
    let coef = (max_norm / (norm + 1e-6)).min(1.0);
    if coef < 1.0 {
        for g in &grads {
            g.with_data_mut(|d| d.iter_mut().for_each(|v| *v *= coef));
        }
    }
    norm
}

/// The same on a GPU, with tensor ops: one reduction per gradient, one read of the total
/// (sums of squares in f32 on the device, as PyTorch's `clip_grad_norm_` does), and the scaled
/// gradients written back without leaving the device.
fn clip_grad_norm_on_device(params: &[Tensor], max_norm: f32) -> f32 {
    let _guard = crate::no_grad();
    let with_grad: Vec<(&Tensor, Tensor)> = params.iter().filter_map(|p| p.grad().map(|g| (p, g))).collect();
    if with_grad.is_empty() {
        return 0.0;
    }
    let squares: Vec<Tensor> = with_grad.iter().map(|(_, g)| g.square().sum()).collect();
    let refs: Vec<&Tensor> = squares.iter().collect();
    let norm = Tensor::stack(&refs, 0).sum().item().sqrt();
    let coef = (max_norm / (norm + 1e-6)).min(1.0);
    if coef < 1.0 {
        for (p, g) in &with_grad {
            let scaled = g.mul_scalar(coef);
            p.zero_grad();
            p.accumulate_grad(&scaled);
        }
    }
    norm
}

/// Gradient accumulation: gradients of `every` micro-batches add up in `.grad()` (backward
/// accumulates), and the optimizer steps once per group. Scale each micro-batch loss by
/// [`GradAccumulation::scale`] so the sum equals the gradient of the mean over the whole group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradAccumulation {
    every: usize,
    seen: usize,
}

impl GradAccumulation {
    /// Steps once every `every` micro-batches (1 = no accumulation).
    pub fn new(every: usize) -> GradAccumulation {
        assert!(every > 0, "GradAccumulation: every must be at least 1");
        GradAccumulation { every, seen: 0 }
    }

    /// The factor 1/every for each micro-batch loss.
    pub fn scale(&self) -> f32 {
        1.0 / self.every as f32
    }

    /// Call after each micro-batch's backward: true when it is time to step (and zero grads).
    pub fn micro_batch_done(&mut self) -> bool {
        self.seen += 1;
        if self.seen == self.every {
            self.seen = 0;
            true
        } else {
            false
        }
    }
}
