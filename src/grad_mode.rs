//! Grad mode: whether ops record the graph (`torch.no_grad()` / `torch.enable_grad()`), a
//! thread-local switch the tensor layer reads when it builds an op's output. A leaf module, so
//! that both `tensor.rs` and `autograd/` can use it without importing each other.

use std::cell::Cell;

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
