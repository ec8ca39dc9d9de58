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
        // One fused pass per row (attention's (B, heads, T, T) probabilities make this the
        // largest backward of a transformer); as ops it reads: y * (g − (g * y).sum(-1, keepdim)).
        let cols = y.dims().last().copied().unwrap_or(1);
        vec![Some(Tensor::from_storage(y.storage().softmax_last_grad(&g.storage(), cols), y.shape().clone()))]
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

/// y = softmax(scale·x with the masked places set to a fill) along the last dim; the fill is
/// a constant, so ∂L/∂x = scale·y ⊙ (g − Σ g·y) where unmasked and 0 where masked.
struct MaskedSoftmaxBackward {
    mask: Tensor,
    mask_rows: Vec<usize>,
    scale: f32,
}

impl Backward for MaskedSoftmaxBackward {
    fn name(&self) -> &'static str {
        "masked_softmax"
    }
    fn backward(&self, _inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let cols = y.dims().last().copied().unwrap_or(1);
        let mask = (&*self.mask.storage(), self.mask_rows.as_slice());
        let grad = match y.storage().masked_softmax_grad(&g.storage(), mask, cols, self.scale) {
            Some(grad) => Tensor::from_storage(grad, y.shape().clone()),
            // (only a device with the forward kernel records this rule, and it has both)
            None => (y * &(g - &(g * y).sum_dims(&[-1], true))).masked_fill(&self.mask, 0.0) * self.scale,
        };
        vec![Some(grad)]
    }
}

impl Tensor {
    /// Attention's probabilities from its raw scores: softmax along the last dimension of
    /// `scale`·x with the places where `mask` ≠ 0 set to `fill` first —
    /// `(x * scale).masked_fill(mask, fill).softmax(-1)`, with the same result bit for bit, as
    /// one kernel on the CPU (one pass over the (B, NH, T, T) scores forward and one backward,
    /// instead of three each). `mask` broadcasts to x's shape and spans its last dimension:
    /// a causal (1, 1, T, T) mask or one with padding, (B, 1, T, T).
    pub fn masked_softmax(&self, mask: &Tensor, fill: f32, scale: f32) -> Tensor {
        let (dims, rank) = (self.dims(), self.rank());
        let spans_rows = rank > 0
            && mask.rank() <= rank
            && !mask.requires_grad()
            && mask.dims().last() == dims.last()
            && crate::shape::broadcast_shapes("masked_softmax", mask.dims(), dims) == dims;
        if spans_rows {
            let cols = dims[rank - 1];
            // where each row's mask starts: the mask's broadcast strides over x's leading dims
            let strides = crate::shape::broadcast_strides(mask.dims(), dims);
            let lead = &dims[..rank - 1];
            let mut mask_rows = Vec::with_capacity(self.numel() / cols.max(1));
            let mut idx = vec![0usize; lead.len()];
            for _ in 0..self.numel() / cols.max(1) {
                mask_rows.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
                for d in (0..lead.len()).rev() {
                    idx[d] += 1;
                    if idx[d] < lead[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            let out = self.storage().masked_softmax((&mask.storage(), &mask_rows), cols, scale, fill);
            if let Some(out) = out {
                let mask = mask.detach();
                return Tensor::from_op(out, self.shape().clone(), &[self], || MaskedSoftmaxBackward {
                    mask,
                    mask_rows,
                    scale,
                });
            }
        }
        (self * scale).masked_fill(mask, fill).softmax(-1)
    }

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

/// ℓᵢ = logsumexp(zᵢ) − zᵢ[tᵢ] for rows of logits, fused: ∂ℓᵢ/∂zᵢⱼ = softmax(zᵢ)ⱼ − [j = tᵢ],
/// recomputed in backward from the saved per-row logsumexp, so neither the log-probabilities nor
/// their gradient is ever stored as a separate (N, C) tensor (50257 columns for GPT-2).
struct CrossEntropyRowsBackward {
    lse: Tensor,
    targets: Vec<i64>,
}

impl Backward for CrossEntropyRowsBackward {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let z = &inputs[0];
        let cols = z.dims()[1];
        let grad = z.storage().cross_entropy_rows_grad(&self.lse.storage(), &self.targets, &g.storage(), cols);
        vec![Some(Tensor::from_storage(grad, z.shape().clone()))]
    }
}

impl Tensor {
    /// Per-row cross-entropy of (N, C) logits against one class per row, `targets[i]` in
    /// [0, C): the fused kernel behind `F.cross_entropy` (see `nn::functional::cross_entropy`).
    pub fn cross_entropy_rows(&self, targets: &[i64]) -> Tensor {
        assert!(
            self.rank() == 2 && self.dims()[0] == targets.len(),
            "cross_entropy_rows: logits {} vs {} targets (want (N, C) and N)",
            self.shape(),
            targets.len()
        );
        let c = self.dims()[1];
        if let Some(bad) = targets.iter().find(|&&t| t < 0 || t as usize >= c) {
            panic!("cross_entropy_rows: target {bad} out of range for {c} classes");
        }
        let (loss, lse) = self.storage().cross_entropy_rows(c, targets);
        let lse = Tensor::from_storage(lse, [targets.len()]);
        let targets = targets.to_vec();
        Tensor::from_op(loss, [self.dims()[0]], &[self], || CrossEntropyRowsBackward { lse, targets })
    }
}
