//! The in-place update of many parameters at once, for the optimizers: a multi-tensor step
//! (`torch._foreach_*`'s idea) over tensors. The arithmetic is `backend::op::{SgdStep, AdamStep}`;
//! this file only locks each tensor and hands the buffers to the backend, which runs one loop
//! per parameter on the host or one launch for all of them on a GPU.

use crate::backend::op::ParamSlot;
pub use crate::backend::op::{AdamStep, OptimStep, SgdStep};
use crate::backend::Storage;
use crate::tensor::Tensor;

/// One parameter of a multi-tensor step: the tensor, its gradient, its state buffers (on the
/// parameter's device) and its two scalars (see [`OptimStep`]).
pub struct OptimSlot {
    /// The parameter, updated in place.
    pub w: Tensor,
    /// Its gradient.
    pub g: Tensor,
    /// First state buffer (SGD's momentum, Adam's m).
    pub s1: Option<Tensor>,
    /// Second state buffer (Adam's v).
    pub s2: Option<Tensor>,
    /// First per-parameter scalar.
    pub a: f32,
    /// Second per-parameter scalar.
    pub b: f32,
}

/// Applies `step` to every slot, in place, outside autograd.
pub fn multi_tensor_step(slots: &[OptimSlot], step: OptimStep) {
    for (i, s) in slots.iter().enumerate() {
        assert!(!slots[..i].iter().any(|t| t.w.id() == s.w.id()), "optimizer: a parameter is listed twice");
    }
    // Write locks on parameters and state, read locks on gradients, held until the backend has
    // run (or, on a GPU, queued) the update: nothing can swap a buffer out from under it.
    let mut w: Vec<_> = slots.iter().map(|s| s.w.storage_mut()).collect();
    let g: Vec<_> = slots.iter().map(|s| s.g.storage()).collect();
    let mut s1: Vec<_> = slots.iter().map(|s| s.s1.as_ref().map(|t| t.storage_mut())).collect();
    let mut s2: Vec<_> = slots.iter().map(|s| s.s2.as_ref().map(|t| t.storage_mut())).collect();
    let parts: Vec<ParamSlot<'_, Storage>> = w
        .iter_mut()
        .zip(&g)
        .zip(s1.iter_mut().zip(s2.iter_mut()))
        .zip(slots)
        .map(|(((w, g), (s1, s2)), s)| ParamSlot {
            w: &mut **w,
            g: &**g,
            s1: s1.as_deref_mut(),
            s2: s2.as_deref_mut(),
            a: s.a,
            b: s.b,
        })
        .collect();
    Storage::optim_step(parts, step);
}
