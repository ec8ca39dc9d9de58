//! The product with a frozen, quantized weight (QLoRA's base layers): `x · W` where W is stored
//! in NF4 or int8 ([`crate::quant`]) and dequantized for the product — and again in backward,
//! so the graph keeps the 4- or 8-bit codes, never an f32 copy of W. W gets no gradient: it is
//! frozen; the gradient flows to `x` (and from there into LoRA's adapters and earlier layers).

use crate::amp::{autocast, autocast_precision, Precision};
use crate::quant::QuantizedMatrix;
use crate::tensor::{Backward, Tensor};
use std::sync::Arc;

impl Tensor {
    /// `self · W` (self: (…, rows), W: rows × cols) with W stored quantized.
    // ANCHOR: matmul_quantized
    pub fn matmul_quantized(&self, w: &Arc<QuantizedMatrix>) -> Tensor {
        let y = {
            let _guard = crate::no_grad();
            let dense = self.new_from_vec(w.dequantize(), [w.rows, w.cols]); // freed after the product
            self.matmul(&dense)
        };
        y.with_backward(&[self], QuantizedMatmulBackward(Arc::clone(w), autocast_precision()))
    }
    // ANCHOR_END: matmul_quantized
}

/// ∂L/∂x = ∂L/∂y · Wᵀ, with W dequantized once more from its codes, in the forward pass's
/// autocast precision.
struct QuantizedMatmulBackward(Arc<QuantizedMatrix>, Precision);

impl Backward for QuantizedMatmulBackward {
    fn name(&self) -> &'static str {
        "matmul_quantized"
    }
    fn backward(&self, _inputs: &[Tensor], _output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        let w = &self.0;
        let dense = grad.new_from_vec(w.dequantize(), [w.rows, w.cols]);
        let _autocast = autocast(self.1);
        vec![Some(grad.matmul(&dense.t()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::QuantKind;
    use crate::{gradcheck, manual_seed};

    fn setup(kind: QuantKind) -> (Tensor, Arc<QuantizedMatrix>, Tensor) {
        let mut rng = manual_seed(7);
        let x = Tensor::randn([2, 3, 8], &mut rng);
        let w = Tensor::randn([8, 5], &mut rng).to_vec();
        let q = Arc::new(QuantizedMatrix::quantize(&w, 8, 5, kind));
        let dense = Tensor::from_vec(q.dequantize(), [8, 5]);
        (x, q, dense)
    }

    #[test]
    fn forward_and_backward_are_the_dense_products_with_the_dequantized_weight() {
        for kind in [QuantKind::Nf4, QuantKind::Int8] {
            let (x, q, dense) = setup(kind);
            let r = Tensor::randn([2, 3, 5], &mut manual_seed(8));
            // the same kernel on the same numbers: equal to the bit
            let xq = x.detach().requires_grad_();
            let yq = xq.matmul_quantized(&q);
            assert_eq!(yq.grad_fn(), Some("matmul_quantized"));
            (&yq * &r).sum().backward();
            let xd = x.detach().requires_grad_();
            let yd = xd.matmul(&dense);
            (&yd * &r).sum().backward();
            assert_eq!(yq.to_vec(), yd.to_vec(), "{kind:?}: forward");
            // ∂L/∂x = r·Wᵀ, bit for bit; the dense op's own backward sums in another order
            let gq = xq.grad().unwrap().to_vec();
            assert_eq!(gq, r.matmul(&dense.t()).to_vec(), "{kind:?}: ∂L/∂x");
            for (i, (g, d)) in gq.iter().zip(xd.grad().unwrap().to_vec()).enumerate() {
                // 5 products of |r|·|w| ≤ ~4 · 3: a few f32 ulps of a sum of that size
                assert!((g - d).abs() <= 1e-5 * (1.0 + d.abs()), "{kind:?}: ∂L/∂x[{i}] {g} vs dense {d}");
            }
        }
    }

    #[test]
    fn lora_adapters_on_a_quantized_base_pass_gradcheck() {
        // QLoRA's layer: y = x·W_q + (x·A)·B·s, gradients into x, A and B by central differences
        let (x, q, _) = setup(QuantKind::Nf4);
        let mut rng = manual_seed(9);
        let a = Tensor::randn([8, 2], &mut rng).mul_scalar(0.5);
        let b = Tensor::randn([2, 5], &mut rng).mul_scalar(0.5);
        let layer =
            |t: &[Tensor]| (t[0].matmul_quantized(&q) + t[0].matmul(&t[1]).matmul(&t[2]).mul_scalar(2.0)).tanh();
        let report = gradcheck(layer, &[x, a, b]);
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn without_grad_nothing_is_recorded() {
        let (x, q, _) = setup(QuantKind::Int8);
        assert_eq!(x.matmul_quantized(&q).grad_fn(), None, "x needs no gradient: no node");
    }
}
