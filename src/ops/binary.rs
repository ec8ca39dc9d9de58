//! Elementwise functions of two tensors, with NumPy/PyTorch broadcasting, and the arithmetic
//! operators (`&a + &b`, `&a * 2.0`, …).
//!
//! Broadcasting and its gradient: if `b` of shape `[N]` is added to `a` of shape `[B, N]`, every
//! element of `b` is used `B` times, so ∂L/∂b sums the `B` incoming gradients:
//! `grad_b = grad.sum_to(b.shape)`. Every rule below ends with that reduction.

use crate::autograd::Backward;
pub use crate::backend::op::BinaryOp;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;
use std::ops;

// ANCHOR: binary_backward
/// The chain rule for each differentiable [`BinaryOp`], reduced back to each input's shape.
struct BinaryBackward(BinaryOp);

impl Backward for BinaryBackward {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn backward(&self, inputs: &[Tensor], out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (grad_a, grad_b) = match self.0 {
            // ∂(a+b)/∂a = 1, ∂(a+b)/∂b = 1
            BinaryOp::Add => (g.clone(), g.clone()),
            // ∂(a−b)/∂a = 1, ∂(a−b)/∂b = −1
            BinaryOp::Sub => (g.clone(), g.neg()),
            // ∂(ab)/∂a = b, ∂(ab)/∂b = a
            BinaryOp::Mul => (g * b, g * a),
            // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b² = −out/b
            BinaryOp::Div => (g / b, (g * out / b).neg()),
            // ∂aᵇ/∂a = b·aᵇ⁻¹, ∂aᵇ/∂b = aᵇ·ln a
            BinaryOp::Pow => (g * b * &a.pow(&b.add_scalar(-1.0)), g * out * &a.log()),
            // the larger input gets the gradient; ties split it evenly (as PyTorch)
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let wins = if self.0 == BinaryOp::Maximum { a.gt(b) } else { a.lt(b) };
                let share = &wins + &a.eq(b).mul_scalar(0.5);
                (g * &share, g * &share.neg().add_scalar(1.0))
            }
            op => unreachable!("{} has no gradient", op.name()),
        };
        let need = |t: &Tensor| t.requires_grad();
        vec![need(a).then(|| grad_a.sum_to(a.dims())), need(b).then(|| grad_b.sum_to(b.dims()))]
    }
}
// ANCHOR_END: binary_backward

impl Tensor {
    /// Applies a broadcasting elementwise op, recording it for autograd when differentiable.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Tensor {
        let out_shape = broadcast_shapes(op.name(), self.dims(), rhs.dims());
        let out = self.storage().binary(&rhs.storage(), op, [self.dims(), rhs.dims(), &out_shape]);
        if op.differentiable() {
            Tensor::from_op(out, out_shape, &[self, rhs], || BinaryBackward(op))
        } else {
            Tensor::from_storage(out, out_shape)
        }
    }

    /// a + b (broadcasting)
    pub fn add(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Add)
    }
    /// a − b (broadcasting)
    pub fn sub(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Sub)
    }
    /// a · b elementwise (broadcasting)
    pub fn mul(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Mul)
    }
    /// a / b elementwise (broadcasting)
    pub fn div(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Div)
    }
    /// aᵇ with a tensor exponent (broadcasting); see [`Tensor::powf`] for a constant one.
    pub fn pow(&self, exponent: &Tensor) -> Tensor {
        self.binary(exponent, BinaryOp::Pow)
    }
    /// max(a, b) elementwise (`torch.maximum`)
    pub fn maximum(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Maximum)
    }
    /// min(a, b) elementwise (`torch.minimum`)
    pub fn minimum(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Minimum)
    }
    /// 1.0 where a > b, else 0.0 (a mask; no gradient)
    pub fn gt(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Gt)
    }
    /// 1.0 where a ≥ b, else 0.0
    pub fn ge(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Ge)
    }
    /// 1.0 where a < b, else 0.0
    pub fn lt(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Lt)
    }
    /// 1.0 where a ≤ b, else 0.0
    pub fn le(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Le)
    }
    /// 1.0 where a = b, else 0.0
    pub fn eq(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Eq)
    }
    /// 1.0 where a ≠ b, else 0.0
    pub fn ne(&self, rhs: &Tensor) -> Tensor {
        self.binary(rhs, BinaryOp::Ne)
    }
}

// ----- operators: every combination of Tensor / &Tensor, and with f32 -------------------------

macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $func:ident) => {
        impl ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$func(self, rhs)
            }
        }
        impl ops::$trait<Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$func(self, &rhs)
            }
        }
        impl ops::$trait<&Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$func(&self, rhs)
            }
        }
        impl ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$func(&self, &rhs)
            }
        }
    };
}

tensor_operator!(Add, add, add);
tensor_operator!(Sub, sub, sub);
tensor_operator!(Mul, mul, mul);
tensor_operator!(Div, div, div);

macro_rules! scalar_operator {
    ($trait:ident, $method:ident, |$t:ident, $c:ident| $tensor_op:expr, |$c2:ident, $t2:ident| $scalar_lhs:expr) => {
        impl ops::$trait<f32> for &Tensor {
            type Output = Tensor;
            fn $method(self, $c: f32) -> Tensor {
                let $t = self;
                $tensor_op
            }
        }
        impl ops::$trait<f32> for Tensor {
            type Output = Tensor;
            fn $method(self, $c: f32) -> Tensor {
                let $t = &self;
                $tensor_op
            }
        }
        impl ops::$trait<&Tensor> for f32 {
            type Output = Tensor;
            fn $method(self, $t2: &Tensor) -> Tensor {
                let $c2 = self;
                $scalar_lhs
            }
        }
        impl ops::$trait<Tensor> for f32 {
            type Output = Tensor;
            fn $method(self, $t2: Tensor) -> Tensor {
                let $c2 = self;
                let $t2 = &$t2;
                $scalar_lhs
            }
        }
    };
}

scalar_operator!(Add, add, |t, c| t.add_scalar(c), |c, t| t.add_scalar(c));
scalar_operator!(Sub, sub, |t, c| t.add_scalar(-c), |c, t| t.neg().add_scalar(c));
scalar_operator!(Mul, mul, |t, c| t.mul_scalar(c), |c, t| t.mul_scalar(c));
scalar_operator!(Div, div, |t, c| t.mul_scalar(1.0 / c), |c, t| t.powf(-1.0).mul_scalar(c));

impl ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl ops::Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
