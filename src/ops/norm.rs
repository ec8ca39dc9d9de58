//! Layer normalisation as one fused op: the forward pass is a single kernel per row (mean,
//! variance, normalise, scale and shift); the backward pass, from the saved per-row mean and
//! 1/std, is one backend kernel too (`Backend::layer_norm_grad`).

use crate::autograd::Backward;
use crate::tensor::Tensor;

/// y = x̂·w + b with x̂ = (x − μ)·rstd over the last dim of size C. With ĝ = ∂L/∂y·w:
/// ∂L/∂x = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ∂L/∂w = Σ_rows ∂L/∂y·x̂, ∂L/∂b = Σ_rows ∂L/∂y.
struct LayerNormBackward {
    mean: Tensor, // (…, 1)
    rstd: Tensor, // (…, 1)
}

impl Backward for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer_norm"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (x, w, b) = (&inputs[0], &inputs[1], &inputs[2]);
        // One fused kernel (Backend::layer_norm_grad): on the CPU a single pass per row; the
        // formula it computes, as tensor ops, is in the doc comment above.
        let (dx, dw, db) = x.storage().layer_norm_grad(
            &w.storage(),
            &self.mean.storage(),
            &self.rstd.storage(),
            &g.storage(),
            w.numel(),
        );
        vec![
            x.requires_grad().then(|| Tensor::from_storage(dx, x.shape().clone())),
            w.requires_grad().then(|| Tensor::from_storage(dw, w.shape().clone())),
            b.requires_grad().then(|| Tensor::from_storage(db, b.shape().clone())),
        ]
    }
}

impl Tensor {
    /// `F.layer_norm(x, [C], weight, bias, eps)` over the last dimension C, fused.
    pub fn layer_norm(&self, weight: &Tensor, bias: &Tensor, eps: f32) -> Tensor {
        let c = self.dims().last().copied().unwrap_or(1);
        assert!(
            weight.dims() == [c] && bias.dims() == [c],
            "layer_norm: input {} vs weight {} and bias {} (both must be [{c}])",
            self.shape(),
            weight.shape(),
            bias.shape()
        );
        let (y, mean, rstd) = self.storage().layer_norm(&weight.storage(), &bias.storage(), c, eps);
        let mut stat_shape = self.dims().to_vec();
        if let Some(last) = stat_shape.last_mut() {
            *last = 1;
        }
        let mean = Tensor::from_storage(mean, stat_shape.clone());
        let rstd = Tensor::from_storage(rstd, stat_shape);
        Tensor::from_op(y, self.shape().clone(), &[self, weight, bias], || LayerNormBackward { mean, rstd })
    }
}
