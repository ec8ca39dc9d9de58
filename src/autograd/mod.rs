//! Reverse-mode automatic differentiation.
//!
//! Every op that runs while gradients are enabled and has an input that requires grad records a
//! [`Node`] on its output: the op's [`Backward`] rule and its inputs. `backward()` then
//!
//! 1. orders the graph topologically (an explicit stack, so a 100 000-op chain cannot overflow
//!    the thread's stack),
//! 2. walks it from the output back to the leaves, calling each rule with the gradient of the
//!    op's output and *adding* the results into the gradients of its inputs (a tensor used twice
//!    receives two contributions: the multivariate chain rule),
//! 3. accumulates into `.grad()` of leaves that require grad (and of tensors that asked to
//!    `retain_grad()`), and frees each node as soon as it has been used.
//!
//! Backward rules are written with tensor ops under [`no_grad`], so every backend gets autograd
//! for free and no second-order graph is recorded.

mod checkpoint;
mod engine;
mod gradcheck;
pub mod graph;
pub mod scalar;

pub use checkpoint::checkpoint;
pub use gradcheck::{gradcheck, gradcheck_with, GradcheckOptions, GradcheckReport};
pub use graph::{Graph, GraphNode};

pub use crate::grad_mode::{enable_grad, is_grad_enabled, no_grad, NoGradGuard};
pub use crate::tensor::Backward;
use crate::tensor::Tensor;

/// Tensors reachable from `root` in topological order (inputs before the ops that use them):
/// the order `backward()` visits in reverse. Public for teaching.
pub fn topological_order(root: &Tensor) -> Vec<Tensor> {
    engine::topological_order(root)
}
