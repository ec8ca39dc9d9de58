//! Layer normalisation as one fused op: the forward pass is a single kernel per row (mean,
//! variance, normalise, scale and shift); the backward pass, from the saved per-row mean and
//! 1/std, is one CPU kernel too, and on a GPU the same formula written with tensor ops.

use crate::autograd::Backward;
use crate::backend::cpu::CpuStorage;
use crate::backend::Storage;
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
        if x.device() == crate::Device::Cpu {
            let c = w.numel();
            let (dx, dw, db) = x.with_data(|xs| {
                g.with_data(|gs| {
                    w.with_data(|ws| {
                        self.mean.with_data(|m| {
                            self.rstd.with_data(|r| crate::backend::cpu::layer_norm_backward(xs, ws, m, r, gs, c))
                        })
                    })
                })
            });
            // dx came from the buffer pool: wrapped as a kernel output, it returns there
            let dx = Tensor::from_storage(Storage::Cpu(CpuStorage::new(dx)), x.shape().clone());
            return vec![
                x.requires_grad().then_some(dx),
                w.requires_grad().then(|| Tensor::from_vec(dw, w.shape().clone())),
                b.requires_grad().then(|| Tensor::from_vec(db, b.shape().clone())),
            ];
        }
        let xhat = (x - &self.mean) * &self.rstd; // (…, C)
        let grad_x = x.requires_grad().then(|| {
            let gh = g * w; // ĝ
            let term = gh.mean_dims(&[-1], true) + &xhat * &(&gh * &xhat).mean_dims(&[-1], true);
            (gh - term) * &self.rstd
        });
        let grad_w = w.requires_grad().then(|| (g * &xhat).sum_to(w.dims()));
        let grad_b = b.requires_grad().then(|| g.sum_to(b.dims()));
        vec![grad_x, grad_w, grad_b]
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
