//! Tensor operations, one file per family. Each primitive op is a forward function and, right
//! below it, the `Backward` rule that differentiates it, with the derivative written above it.
//! Composite ops (mean, var, losses …) are built from primitives and get their gradient from the
//! chain rule alone.

pub mod attention;
pub mod binary;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod movement;
pub mod norm;
pub mod optim;
pub mod quantized;
pub mod reduce;
pub mod softmax;
pub mod unary;
