//! Softmax and log-softmax along a dimension, numerically stable (the row maximum is subtracted
//! before exponentiating; see `backend/cpu/reduce.rs`).

use crate::autograd::Backward;
use crate::tensor::Tensor;

/// y = softmax(x) along the last dim. ∂y_i/∂x_j = y_i(δ_ij − y_j), so
/// ∂L/∂x = y ⊙ (∂L/∂y − Σ_j (∂L/∂y)_j y_j).
struct SoftmaxBackward;

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn backward(&self, _inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let dot = (g * y).sum_dims(&[-1], true);
        vec![Some(y * &(g - &dot))]
    }
}

// ANCHOR: log_softmax_backward
/// y = log_softmax(x) along the last dim. ∂y_i/∂x_j = δ_ij − softmax(x)_j, so
/// ∂L/∂x = ∂L/∂y − softmax(x) · Σ_i (∂L/∂y)_i, with softmax(x) = exp(y).
struct LogSoftmaxBackward;

impl Backward for LogSoftmaxBackward {
    fn name(&self) -> &'static str {
        "log_softmax"
    }
    fn backward(&self, _inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let total = g.sum_dims(&[-1], true);
        vec![Some(g - &(y.exp() * &total))]
    }
}
// ANCHOR_END: log_softmax_backward

impl Tensor {
    fn softmax_impl(&self, dim: isize, log: bool) -> Tensor {
        let d = self.shape().dim("softmax", dim);
        let last = self.rank().saturating_sub(1);
        if self.rank() > 0 && d != last {
            // Move `dim` last, work on rows, move it back; autograd follows the transposes.
            return self
                .transpose(d as isize, last as isize)
                .softmax_impl(-1, log)
                .transpose(d as isize, last as isize);
        }
        let cols = self.dims().last().copied().unwrap_or(1);
        let out = self.storage().softmax_last(cols, log);
        if log {
            Tensor::from_op(out, self.shape().clone(), &[self], || LogSoftmaxBackward)
        } else {
            Tensor::from_op(out, self.shape().clone(), &[self], || SoftmaxBackward)
        }
    }

    /// softmax(x)_i = e^{x_i} / Σ_j e^{x_j} along `dim`.
    pub fn softmax(&self, dim: isize) -> Tensor {
        self.softmax_impl(dim, false)
    }

    /// log_softmax(x)_i = x_i − log Σ_j e^{x_j} along `dim` (computed stably, never as
    /// log(softmax(x)), which underflows to −∞).
    pub fn log_softmax(&self, dim: isize) -> Tensor {
        self.softmax_impl(dim, true)
    }
}
