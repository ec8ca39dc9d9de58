//! The GPU path of SGD and Adam/AdamW: when every parameter with a gradient sits on one CUDA
//! device, the update is one multi-tensor kernel launch (src/backend/cuda/kernels/optim.cu)
//! with the optimizer state kept on the GPU, instead of a host round trip per parameter. The
//! scalars are formed exactly as on the CPU path, so both devices follow the same arithmetic.

use super::OptimizerState;
use crate::backend::cuda::{cuda_device, CudaStorage, MultiTensor};
use crate::backend::Storage;
use crate::device::Device;
use crate::tensor::Tensor;

/// The one CUDA device holding every parameter that has a gradient, if there is one.
pub(crate) fn common_cuda_device(params: &[Tensor]) -> Option<usize> {
    let mut ordinal = None;
    for p in params.iter().filter(|p| p.grad().is_some()) {
        match (p.device(), ordinal) {
            (Device::Cuda(i), None) => ordinal = Some(i),
            (Device::Cuda(i), Some(j)) if i == j => {}
            _ => return None,
        }
    }
    ordinal
}

/// The GPU buffer of a storage, borrowed (never cloned: a clone would be a copy).
fn cuda(s: &Storage) -> &CudaStorage {
    match s {
        Storage::Cuda(c) => c,
        Storage::Cpu(_) => unreachable!("fused optimizer step: a tensor left the GPU"),
    }
}

/// One parameter's tensors, locked while the table is built and the kernel queued.
struct Entry {
    w: Tensor,
    g: Tensor,
    s1: Option<Tensor>,
    s2: Option<Tensor>,
    a: f32,
    b: f32,
}

fn launch(ordinal: usize, entries: &[Entry], go: impl FnOnce(&MultiTensor, &crate::backend::cuda::CudaDevice)) {
    let dev = cuda_device(ordinal).unwrap_or_else(|e| panic!("{e}"));
    // Write locks on parameters and state, read locks on gradients, held until the launch is
    // queued: nothing else can swap a buffer out from under the pointers in the table.
    let guards_w: Vec<_> = entries.iter().map(|e| e.w.storage_mut()).collect();
    let guards_g: Vec<_> = entries.iter().map(|e| e.g.storage()).collect();
    let guards_s: Vec<_> = entries
        .iter()
        .map(|e| (e.s1.as_ref().map(|t| t.storage_mut()), e.s2.as_ref().map(|t| t.storage_mut())))
        .collect();
    let mut table = MultiTensor::default();
    for (k, e) in entries.iter().enumerate() {
        let (s1, s2) = (guards_s[k].0.as_deref().map(cuda), guards_s[k].1.as_deref().map(cuda));
        table.push(cuda(&guards_w[k]), cuda(&guards_g[k]), s1, s2, e.a, e.b);
    }
    go(&table, &dev);
}

/// SGD over all parameters in one launch (see `Sgd::step` for the rule).
pub(crate) fn sgd(params: &[Tensor], state: &mut OptimizerState, ordinal: usize, h: (f32, f32, f32, f32, bool)) {
    let (lr, mu, keep, wd, nesterov) = h;
    let mut entries = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(g) = p.grad() else { continue };
        assert!(!params[..i].iter().any(|q| q.id() == p.id()), "optimizer: parameter {i} is listed twice");
        let (buf, existed) = if mu != 0.0 {
            let (b, existed) = state.device_buffer(i, "momentum_buffer", p, 0.0);
            (Some(b), existed)
        } else {
            (None, true)
        };
        entries.push(Entry { w: p.clone(), g, s1: buf, s2: None, a: if existed { 0.0 } else { 1.0 }, b: 0.0 });
    }
    launch(ordinal, &entries, |t, dev| t.launch_sgd(dev, lr, mu, keep, wd, nesterov));
}

/// Adam/AdamW over all parameters in one launch (see `adam_step` for the rule and scalars).
pub(crate) fn adam(
    params: &[Tensor],
    state: &mut OptimizerState,
    ordinal: usize,
    (lr, (b1, b2), eps, wd, decoupled): (f64, (f64, f64), f64, f64, bool),
) {
    let mut entries = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(g) = p.grad() else { continue };
        assert!(!params[..i].iter().any(|q| q.id() == p.id()), "optimizer: parameter {i} is listed twice");
        let t = state.next_step(i) as i32;
        let (m, _) = state.device_buffer(i, "exp_avg", p, 0.0);
        let (v, _) = state.device_buffer(i, "exp_avg_sq", p, 0.0);
        let step_size = (lr / (1.0 - b1.powi(t))) as f32;
        let inv_bc2_sqrt = 1.0 / ((1.0 - b2.powi(t)).sqrt() as f32);
        entries.push(Entry { w: p.clone(), g, s1: Some(m), s2: Some(v), a: step_size, b: inv_bc2_sqrt });
    }
    let (decay, l2) = ((1.0 - lr * wd) as f32, wd as f32);
    let (w1, b2f, w2, epsf) = ((1.0 - b1) as f32, b2 as f32, (1.0 - b2) as f32, eps as f32);
    launch(ordinal, &entries, |t, dev| t.launch_adam(dev, w1, b2f, w2, epsf, decay, l2, decoupled));
}
