//! Reductions: sum, mean, max, min, var over all or given dimensions (with `keepdim`), argmax.
//!
//! The primitive reduces one dimension, keeping it with size 1; reducing several dimensions
//! applies it once per dimension, and `keepdim = false` is a final reshape. Mean and variance
//! are composites, so their gradients come from the chain rule.

use crate::autograd::Backward;
pub use crate::backend::op::ReduceOp;
use crate::int_tensor::IntTensor;
use crate::shape::normalize_dim;
use crate::tensor::Tensor;

/// Backward of a one-dimension reduction (output has size 1 at `dim`).
struct ReduceBackward {
    op: ReduceOp,
    dim: usize,
}

impl Backward for ReduceBackward {
    fn name(&self) -> &'static str {
        match self.op {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
    fn backward(&self, inputs: &[Tensor], out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let x = &inputs[0];
        let grad_x = match self.op {
            // ∂(Σ_j x_j)/∂x_i = 1: every input gets the output's gradient
            ReduceOp::Sum => g.broadcast_to(x.dims()),
            // ∂max/∂x_i = 1 for the maximal element(s), 0 elsewhere; ties share it evenly
            // (as torch.amax)
            ReduceOp::Max | ReduceOp::Min => {
                let hits = x.eq(out);
                let count = hits.reduce_dim(ReduceOp::Sum, self.dim);
                &hits * &(g / &count)
            }
        };
        vec![Some(grad_x)]
    }
}

/// Normalises and sorts dimensions (descending, so reducing one does not shift the others).
fn normalize_dims(op: &str, dims: &[isize], rank: usize) -> Vec<usize> {
    let mut out: Vec<usize> = dims.iter().map(|&d| normalize_dim(op, d, rank)).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out
}

impl Tensor {
    /// Reduces dimension `dim`, keeping it with size 1.
    pub(crate) fn reduce_dim(&self, op: ReduceOp, dim: usize) -> Tensor {
        let mut shape = self.dims().to_vec();
        let out = self.storage().reduce(op, self.dims(), dim);
        shape[dim] = 1;
        Tensor::from_op(out, shape, &[self], || ReduceBackward { op, dim })
    }

    fn reduce_dims(&self, op: ReduceOp, name: &str, dims: &[isize], keepdim: bool) -> Tensor {
        if self.rank() == 0 {
            return self.clone();
        }
        let dims = normalize_dims(name, dims, self.rank());
        let mut out = self.clone();
        for &d in &dims {
            out = out.reduce_dim(op, d);
        }
        if keepdim {
            return out;
        }
        let kept: Vec<usize> = (0..self.rank()).filter(|d| !dims.contains(d)).map(|d| self.dims()[d]).collect();
        out.reshape(kept)
    }

    fn reduce_all(&self, op: ReduceOp) -> Tensor {
        self.reshape([self.numel()]).reduce_dim(op, 0).reshape([])
    }

    /// Σ of all elements → a scalar.
    pub fn sum(&self) -> Tensor {
        self.reduce_all(ReduceOp::Sum)
    }
    /// Σ over `dims` (negative counts from the end), like `x.sum(dim=dims, keepdim=keepdim)`.
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.reduce_dims(ReduceOp::Sum, "sum", dims, keepdim)
    }
    /// Mean of all elements → a scalar.
    pub fn mean(&self) -> Tensor {
        self.sum().mul_scalar(1.0 / self.numel() as f32)
    }
    /// Mean over `dims`.
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let s = self.sum_dims(dims, keepdim);
        let n = self.numel() / s.numel().max(1);
        s.mul_scalar(1.0 / n as f32)
    }
    /// Largest element → a scalar (`torch.amax`; ties share the gradient).
    pub fn max(&self) -> Tensor {
        self.reduce_all(ReduceOp::Max)
    }
    /// Largest element over `dims` (`torch.amax(x, dims, keepdim)`).
    pub fn max_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.reduce_dims(ReduceOp::Max, "max", dims, keepdim)
    }
    /// Smallest element → a scalar (`torch.amin`).
    pub fn min(&self) -> Tensor {
        self.reduce_all(ReduceOp::Min)
    }
    /// Smallest element over `dims` (`torch.amin(x, dims, keepdim)`).
    pub fn min_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.reduce_dims(ReduceOp::Min, "min", dims, keepdim)
    }
    /// Variance of all elements with Bessel's correction (`torch.var(x)`): Σ(x − x̄)² / (N − 1).
    pub fn var(&self) -> Tensor {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.var_dims(&all, false, 1)
    }
    /// Variance over `dims`: Σ(x − x̄)² / (N − correction); `correction = 1` is unbiased
    /// (PyTorch's default), 0 the population variance (what LayerNorm uses).
    pub fn var_dims(&self, dims: &[isize], keepdim: bool, correction: usize) -> Tensor {
        let mean = self.mean_dims(dims, true);
        let sq = (self - &mean).square().sum_dims(dims, keepdim);
        let n = self.numel() / sq.numel().max(1);
        assert!(n > correction, "var: {n} elements with correction {correction}");
        sq.mul_scalar(1.0 / (n - correction) as f32)
    }
    /// Index of the largest element along `dim` (first on ties); no gradient.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> IntTensor {
        self.arg_reduce(dim, keepdim, true)
    }
    /// Index of the smallest element along `dim` (first on ties); no gradient.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> IntTensor {
        self.arg_reduce(dim, keepdim, false)
    }

    fn arg_reduce(&self, dim: isize, keepdim: bool, largest: bool) -> IntTensor {
        let d = self.shape().dim("argmax", dim);
        let idx = self.storage().arg_reduce(self.dims(), d, largest);
        let mut shape = self.dims().to_vec();
        if keepdim {
            shape[d] = 1;
        } else {
            shape.remove(d);
        }
        IntTensor::from_vec(idx, shape)
    }

    // ANCHOR: sum_to
    /// Sums a broadcast gradient back to `shape`: the reverse of broadcasting `shape` up to this
    /// tensor's shape (leading dimensions summed away, size-1 dimensions summed with keepdim).
    pub fn sum_to(&self, shape: &[usize]) -> Tensor {
        if self.dims() == shape {
            return self.clone();
        }
        let lead = self.rank() - shape.len();
        let mut dims: Vec<isize> = (0..lead as isize).collect();
        for (i, &s) in shape.iter().enumerate() {
            if s == 1 && self.dims()[lead + i] != 1 {
                dims.push((lead + i) as isize);
            }
        }
        let summed = if dims.is_empty() { self.clone() } else { self.sum_dims(&dims, true) };
        summed.reshape(shape.to_vec())
    }
    // ANCHOR_END: sum_to
}
