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

use crate::tensor::Tensor;
use std::cell::Cell;

/// The derivative rule of one op.
///
/// Given the op's `inputs`, its `output` and `grad` = ∂L/∂output, return ∂L/∂input for each
/// input, in order (`None` where an input needs none, e.g. integer indices or constants).
// ANCHOR: backward_trait
pub trait Backward: Send + Sync {
    /// The op's name, for error messages and graph printing.
    fn name(&self) -> &'static str;
    /// Vector-Jacobian product: the gradient of each input.
    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>>;
    /// For a one-input op whose input gradient is mostly zeros (narrow, index_select, so
    /// embedding): add that gradient into `acc` — the input's gradient so far, which nothing
    /// else shares — in place, instead of materialising a zero-padded tensor and summing two
    /// full-size tensors. GPT-2's tied `wte` gets the head's dense gradient first and then the
    /// embedding's few rows: 2 passes over 154 MB saved per step. Returns false where it cannot
    /// (the default, and tensors not on the CPU); the engine then calls `backward` and sums.
    fn accumulate_into(&self, _inputs: &[Tensor], _grad: &Tensor, _acc: &Tensor) -> bool {
        false
    }
    /// True for ops that implement [`Backward::accumulate_into`]: the engine then holds their
    /// backward back until their input's turn, so that the dense gradients arrive first.
    fn sparse_input_grad(&self) -> bool {
        false
    }
}
// ANCHOR_END: backward_trait

/// How a non-leaf tensor was computed.
pub(crate) struct Node {
    pub(crate) op: Box<dyn Backward>,
    pub(crate) inputs: Vec<Tensor>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless a [`no_grad`] guard is alive on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped. See [`no_grad`].
#[must_use = "gradients are disabled only while the guard is alive: `let _guard = no_grad();`"]
pub struct NoGradGuard {
    prev: bool,
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Turns graph recording off until the guard is dropped, like `with torch.no_grad():`.
///
/// ```
/// use gradschool::{no_grad, Tensor};
/// let w = Tensor::ones([2]).requires_grad_();
/// let y = {
///     let _guard = no_grad();
///     &w * 2.0
/// };
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad() -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    NoGradGuard { prev }
}

/// Turns graph recording back on until the guard is dropped, like `with torch.enable_grad():`
/// (used by gradient checkpointing, whose recomputation runs inside a backward pass).
pub fn enable_grad() -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(true));
    NoGradGuard { prev }
}

pub(crate) fn engine_backward(root: &Tensor, grad: Tensor) {
    engine::backward(root, grad)
}

/// Tensors reachable from `root` in topological order (inputs before the ops that use them):
/// the order `backward()` visits in reverse. Public for teaching.
pub fn topological_order(root: &Tensor) -> Vec<Tensor> {
    engine::topological_order(root)
}
