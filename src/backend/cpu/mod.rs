//! The CPU backend: contiguous `Vec<f32>` buffers recycled through a caching pool (`pool.rs`),
//! kernels parallelised with rayon above a size threshold, GEMM through the `gemm` crate.

pub(crate) mod attention;
mod elementwise;
mod helper;
mod index;
mod matmul;
pub mod pool;
mod reduce;
#[cfg(test)]
mod tests;

use super::op::{BinaryOp, OptimStep, ParamSlot, ReduceOp, UnaryOp};
use super::{Backend, MatmulLayout};
use crate::device::Device;
use std::sync::Arc;

/// Below this many elements a kernel runs on one thread: spawning costs more than it saves.
pub(crate) const PAR_THRESHOLD: usize = 1 << 15;

/// A contiguous host buffer. Shared (`Arc`) so a kernel can hand it to a helper thread without
/// copying; writes go through copy-on-write, which never copies in practice (the tensor owns
/// the only reference).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuStorage(Arc<Buffer>);

/// A host buffer. One that a kernel took from the [`pool`] goes back to it when the last tensor
/// using it is dropped; one that came from outside (`Tensor::from_vec`, a data loader's batch) is
/// freed as usual. Only pool-born buffers return, so every buffer the pool holds answers an
/// earlier request of its length: the cache never holds more buffers of a length than were ever
/// alive at once. (Accepting outside buffers too let a loader's fresh batch per step pile up
/// in the cache, unrequested, until the limit: 4.3 GB for the MNIST run.)
#[derive(Debug)]
pub struct Buffer {
    data: Vec<f32>,
    pooled: bool,
}

impl PartialEq for Buffer {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.pooled {
            pool::give(std::mem::take(&mut self.data));
        }
    }
}

impl Clone for Buffer {
    fn clone(&self) -> Self {
        let mut v = pool::with_capacity(self.data.len());
        v.extend_from_slice(&self.data);
        Buffer { data: v, pooled: true }
    }
}

impl std::ops::Deref for Buffer {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data
    }
}

impl CpuStorage {
    /// Wraps a kernel's output, taken from the [`pool`]: it returns there when dropped.
    pub(crate) fn new(data: Vec<f32>) -> Self {
        CpuStorage(Arc::new(Buffer { data, pooled: true }))
    }
    /// Wraps a buffer allocated elsewhere (user data, loaders): freed normally when dropped.
    pub fn from_vec(data: Vec<f32>) -> Self {
        CpuStorage(Arc::new(Buffer { data, pooled: false }))
    }
    /// `n` copies of `v`, in a buffer from the pool.
    pub fn full(n: usize, v: f32) -> Self {
        let data = if v.to_bits() == 0 {
            pool::zeroed(n)
        } else {
            let mut d = pool::take(n);
            d.fill(v);
            d
        };
        CpuStorage::new(data)
    }
    /// The data.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }
    /// The data, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        Arc::make_mut(&mut self.0).data.as_mut_slice()
    }
}

impl Backend for CpuStorage {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn to_vec(&self) -> Vec<f32> {
        self.0.to_vec()
    }
    fn unary(&self, op: UnaryOp) -> Self {
        CpuStorage::new(elementwise::unary(&self.0, op))
    }
    fn unary_grad(&self, op: UnaryOp, y: &Self, grad: &Self) -> Self {
        CpuStorage::new(elementwise::unary_grad(&self.0, &y.0, &grad.0, op))
    }
    fn binary(&self, rhs: &Self, op: BinaryOp, shapes: [&[usize]; 3]) -> Self {
        CpuStorage::new(elementwise::binary(&self.0, &rhs.0, op, shapes))
    }
    fn where_cond(cond: &Self, a: &Self, b: &Self, shapes: [&[usize]; 4]) -> Self {
        CpuStorage::new(elementwise::where_cond(&cond.0, &a.0, &b.0, shapes))
    }
    fn reduce(&self, op: ReduceOp, shape: &[usize], dim: usize) -> Self {
        CpuStorage::new(reduce::reduce(&self.0, op, shape, dim))
    }
    fn arg_reduce(&self, shape: &[usize], dim: usize, largest: bool) -> Vec<i64> {
        reduce::arg_reduce(&self.0, shape, dim, largest)
    }
    fn matmul(&self, rhs: &Self, layout: &MatmulLayout) -> Self {
        CpuStorage::new(matmul::matmul(&self.0, &rhs.0, None, layout))
    }
    fn matmul_bias(&self, rhs: &Self, bias: &Self, layout: &MatmulLayout) -> Self {
        CpuStorage::new(matmul::matmul(&self.0, &rhs.0, Some(&bias.0), layout))
    }
    fn strided_copy(&self, out_shape: &[usize], strides: &[usize], offset: usize) -> Self {
        CpuStorage::new(elementwise::strided_copy(&self.0, out_shape, strides, offset))
    }
    fn cat(parts: &[(&Self, &[usize])], dim: usize) -> Self {
        let parts: Vec<(&[f32], &[usize])> = parts.iter().map(|(s, sh)| (s.as_slice(), *sh)).collect();
        CpuStorage::new(index::cat(&parts, dim))
    }
    fn index_select(&self, shape: &[usize], dim: usize, idx: &[i64]) -> Self {
        CpuStorage::new(index::index_select(&self.0, shape, dim, idx))
    }
    fn index_add(&self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) -> Self {
        CpuStorage::new(index::index_add(&self.0, shape, dim, idx, out_shape))
    }
    fn gather(&self, shape: &[usize], dim: usize, idx: &[i64], idx_shape: &[usize]) -> Self {
        CpuStorage::new(index::gather(&self.0, shape, dim, idx, idx_shape))
    }
    fn scatter_add(&self, idx: &[i64], idx_shape: &[usize], dim: usize, out_shape: &[usize]) -> Self {
        CpuStorage::new(index::scatter_add(&self.0, idx, idx_shape, dim, out_shape))
    }
    fn softmax_last(&self, cols: usize, log: bool) -> Self {
        CpuStorage::new(reduce::softmax_last(&self.0, cols, log))
    }
    fn layer_norm(&self, weight: &Self, bias: &Self, cols: usize, eps: f32) -> (Self, Self, Self) {
        let (y, mean, rstd) = reduce::layer_norm(&self.0, &weight.0, &bias.0, cols, eps);
        (CpuStorage::new(y), CpuStorage::new(mean), CpuStorage::new(rstd))
    }
    fn softmax_last_grad(&self, g: &Self, cols: usize) -> Self {
        CpuStorage::new(reduce::softmax_last_grad(&self.0, &g.0, cols))
    }
    fn cross_entropy_rows(&self, cols: usize, targets: &[i64]) -> (Self, Self) {
        let (loss, lse) = reduce::cross_entropy_rows(&self.0, cols, targets);
        (CpuStorage::new(loss), CpuStorage::new(lse))
    }
    fn cross_entropy_rows_grad(&self, lse: &Self, targets: &[i64], grad_rows: &Self, cols: usize) -> Self {
        CpuStorage::new(reduce::cross_entropy_rows_grad(&self.0, &lse.0, targets, &grad_rows.0, cols))
    }
    fn layer_norm_grad(&self, w: &Self, mean: &Self, rstd: &Self, g: &Self, cols: usize) -> (Self, Self, Self) {
        let (dx, dw, db) = reduce::layer_norm_backward(&self.0, &w.0, &mean.0, &rstd.0, &g.0, cols);
        (CpuStorage::new(dx), CpuStorage::from_vec(dw), CpuStorage::from_vec(db))
    }
    fn index_add_(&mut self, g: &Self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) {
        index::index_add_into(self.as_mut_slice(), &g.0, shape, dim, idx, out_shape);
    }
    fn narrow_add_(&mut self, g: &Self, shape: &[usize], dim: usize, start: usize, len: usize) {
        // self[…, start..start + len, …] += g: one contiguous run per outer index
        let (outer, n, inner) = split_at_dim(shape, dim);
        let a = self.as_mut_slice();
        for o in 0..outer {
            let dst = &mut a[(o * n + start) * inner..(o * n + start + len) * inner];
            dst.iter_mut().zip(&g.0[o * len * inner..(o + 1) * len * inner]).for_each(|(d, &s)| *d += s);
        }
    }
    fn split_heads_add_(&mut self, g: &Self, [b, nh, t, hs]: [usize; 4], width: usize, start: usize) {
        // self[bi, ti, start + h·HS + d] += g[bi, h, ti, d]: walking self in order, one run of
        // HS per head, with no intermediate copy
        let a = self.as_mut_slice();
        for (row, dst) in a.chunks_exact_mut(width).enumerate().take(b * t) {
            let (bi, ti) = (row / t, row % t);
            for (h, dst) in dst[start..start + nh * hs].chunks_exact_mut(hs).enumerate() {
                let src = &g.0[((bi * nh + h) * t + ti) * hs..][..hs];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
            }
        }
    }
    fn optim_step(slots: &mut [ParamSlot<'_, Self>], step: OptimStep) {
        for s in slots {
            let (w, g) = (s.w.as_mut_slice(), s.g.as_slice());
            match step {
                OptimStep::Sgd(h) => h.update(w, g, s.s1.as_deref_mut().map(CpuStorage::as_mut_slice), s.a != 0.0),
                OptimStep::Adam(h) => {
                    let (m, v) = match (s.s1.as_deref_mut(), s.s2.as_deref_mut()) {
                        (Some(m), Some(v)) => (m.as_mut_slice(), v.as_mut_slice()),
                        _ => panic!("Adam step: a parameter without its m and v buffers"),
                    };
                    h.update(w, g, m, v, s.a, s.b);
                }
            }
        }
    }
}

/// Splits `shape` around `dim` into `(outer, size, inner)`: the number of slices before the
/// dimension, its length, and the contiguous run after it.
pub(crate) fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    let outer = shape[..dim].iter().product();
    let inner = shape[dim + 1..].iter().product();
    (outer, shape[dim], inner)
}

/// [`reduce::masked_softmax`] on storages.
pub(crate) fn masked_softmax(
    x: &CpuStorage,
    mask: (&CpuStorage, &[usize]),
    cols: usize,
    scale: f32,
    fill: f32,
) -> CpuStorage {
    CpuStorage::new(reduce::masked_softmax(&x.0, &mask.0 .0, mask.1, cols, scale, fill))
}

/// [`reduce::masked_softmax_grad`] on storages.
pub(crate) fn masked_softmax_grad(
    y: &CpuStorage,
    g: &CpuStorage,
    mask: (&CpuStorage, &[usize]),
    cols: usize,
    scale: f32,
) -> CpuStorage {
    CpuStorage::new(reduce::masked_softmax_grad(&y.0, &g.0, (&mask.0 .0, mask.1), cols, scale))
}
