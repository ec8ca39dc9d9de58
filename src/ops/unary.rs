//! Elementwise functions of one tensor, activations included.
//!
//! Each [`UnaryOp`] knows its value `apply(x)` and its derivative `derivative(x, y)` (given the
//! input `x` and the output `y = f(x)`, whichever is cheaper). One backward rule serves them all:
//! ∂L/∂x = ∂L/∂y · f'(x), computed by the backend's fused `unary_grad` kernel.

use crate::amp::Precision;
use crate::autograd::Backward;
pub use crate::backend::op::UnaryOp;
use crate::tensor::Tensor;

// ANCHOR: unary_backward
/// ∂L/∂x = ∂L/∂y · f'(x) for any [`UnaryOp`].
struct UnaryBackward(UnaryOp);

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        let x = &inputs[0];
        let grad_x = x.storage().unary_grad(self.0, &output.storage(), &grad.storage());
        vec![Some(Tensor::from_storage(grad_x, x.shape().clone()))]
    }
}
// ANCHOR_END: unary_backward

/// The elementwise op that casts an f32 to `precision` (`None` for f32).
pub(crate) fn cast_op(precision: Precision) -> Option<UnaryOp> {
    match precision {
        Precision::F32 => None,
        Precision::Bf16 => Some(UnaryOp::RoundBf16),
        Precision::Fp16 => Some(UnaryOp::RoundFp16),
    }
}

impl Tensor {
    /// Applies an elementwise op, recording it for autograd.
    pub fn unary(&self, op: UnaryOp) -> Tensor {
        let out = self.storage().unary(op);
        Tensor::from_op(out, self.shape().clone(), &[self], || UnaryBackward(op))
    }

    /// −x
    pub fn neg(&self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }
    /// eˣ
    pub fn exp(&self) -> Tensor {
        self.unary(UnaryOp::Exp)
    }
    /// ln x
    pub fn log(&self) -> Tensor {
        self.unary(UnaryOp::Log)
    }
    /// √x
    pub fn sqrt(&self) -> Tensor {
        self.unary(UnaryOp::Sqrt)
    }
    /// |x|
    pub fn abs(&self) -> Tensor {
        self.unary(UnaryOp::Abs)
    }
    /// x²
    pub fn square(&self) -> Tensor {
        self.unary(UnaryOp::PowScalar(2.0))
    }
    /// xᵖ for a constant exponent (`torch.pow(x, 2.5)`).
    pub fn powf(&self, p: f32) -> Tensor {
        self.unary(UnaryOp::PowScalar(p))
    }
    /// x + c
    pub fn add_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// c·x
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::MulScalar(c))
    }
    /// min(max(x, lo), hi); pass `f32::NEG_INFINITY` / `f32::INFINITY` for an open side.
    pub fn clamp(&self, lo: f32, hi: f32) -> Tensor {
        assert!(lo <= hi, "clamp: min {lo} > max {hi}");
        self.unary(UnaryOp::Clamp(lo, hi))
    }
    /// The values as a 16-bit format holds them (`x.to(torch.bfloat16)`, kept in f32): rounded
    /// to nearest, ties to even; the gradient passes through. F32 leaves them as they are.
    pub fn round_to(&self, precision: Precision) -> Tensor {
        match cast_op(precision) {
            Some(op) => self.unary(op),
            None => self.clone(),
        }
    }
    /// ReLU(x) = max(x, 0)
    pub fn relu(&self) -> Tensor {
        self.unary(UnaryOp::Relu)
    }
    /// LeakyReLU(x) = x if x > 0 else slope·x (PyTorch's default slope is 0.01)
    pub fn leaky_relu(&self, slope: f32) -> Tensor {
        self.unary(UnaryOp::LeakyRelu(slope))
    }
    /// σ(x) = 1 / (1 + e⁻ˣ)
    pub fn sigmoid(&self) -> Tensor {
        self.unary(UnaryOp::Sigmoid)
    }
    /// tanh x
    pub fn tanh(&self) -> Tensor {
        self.unary(UnaryOp::Tanh)
    }
    /// Exact GELU(x) = x·Φ(x) = ½x(1 + erf(x/√2)) (`F.gelu(x)`).
    pub fn gelu(&self) -> Tensor {
        self.unary(UnaryOp::GeluErf)
    }
    /// GELU with the tanh approximation GPT-2 was trained with
    /// (`F.gelu(x, approximate='tanh')`): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    pub fn gelu_tanh(&self) -> Tensor {
        self.unary(UnaryOp::GeluTanh)
    }
    /// SiLU(x) = x·σ(x).
    pub fn silu(&self) -> Tensor {
        self.unary(UnaryOp::Silu)
    }
    /// Softplus(x) = ln(1 + eˣ), a smooth ReLU.
    pub fn softplus(&self) -> Tensor {
        self.unary(UnaryOp::Softplus)
    }
    /// Swish(x) = x·σ(βx); β = 1 is [`Tensor::silu`].
    pub fn swish(&self, beta: f32) -> Tensor {
        if beta == 1.0 {
            self.silu()
        } else {
            self * &self.mul_scalar(beta).sigmoid()
        }
    }
}
