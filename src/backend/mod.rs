//! Backends: where the numbers are actually computed.
//!
//! A [`Storage`] is an enum over devices (candle's design, f32 only). Every variant implements
//! the same [`Backend`] trait of *forward kernels*; autograd never lives here: backward rules are
//! written with tensor ops in `ops/` (and, where a fused kernel pays, with the trait's gradient
//! kernels), so a new backend gets gradients for free. The CUDA backend is the variant
//! `#[cfg(feature = "cuda")] Cuda(CudaStorage)`: the compiler points at every match that must
//! know it, and nothing above this module names a device's storage.
//!
//! The op vocabulary both sides share (`op/`: unary, binary and reduce ops, optimizer updates)
//! is a leaf module: kernels import it, `ops/` imports it, and neither imports the other.
//!
//! All storages hold a contiguous row-major buffer; shapes travel beside them as `&[usize]`.

mod available;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod op;
#[macro_use]
mod profiled;
mod fused;
use profiled::device_timer;

pub use available::set_num_threads;
pub use cpu::CpuStorage;

use crate::device::Device;
use op::{BinaryOp, OptimStep, ParamSlot, ReduceOp, UnaryOp};

/// How a (batched) matrix product reads its operands. Operand `a` holds `batch` matrices of
/// `m×k` (or `k×m` read transposed when `trans_a`), `a_batch_stride` elements apart (0 to reuse
/// one matrix for every batch); likewise `b` with `k×n`. The output is `batch×m×n`, contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulLayout {
    /// Number of matrix products.
    pub batch: usize,
    /// Rows of the output.
    pub m: usize,
    /// Columns of the output.
    pub n: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Elements between consecutive matrices of `a` (0 = broadcast).
    pub a_batch_stride: usize,
    /// Elements between consecutive matrices of `b` (0 = broadcast).
    pub b_batch_stride: usize,
    /// `a` is stored `k×m` and read transposed.
    pub trans_a: bool,
    /// `b` is stored `n×k` and read transposed.
    pub trans_b: bool,
}

/// The forward kernels every device implements. Shapes are those of the contiguous operands.
// ANCHOR: backend_trait
pub trait Backend: Sized + Send + Sync {
    /// The device this storage lives on.
    fn device(&self) -> Device;
    /// Number of f32 elements.
    fn len(&self) -> usize;
    /// True when there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A copy of the data on the host.
    fn to_vec(&self) -> Vec<f32>;
    /// `y = op(x)` elementwise.
    fn unary(&self, op: UnaryOp) -> Self;
    /// `grad_x = grad · op'(x)` elementwise, given `x = self`, `y = op(x)` and the upstream grad.
    fn unary_grad(&self, op: UnaryOp, y: &Self, grad: &Self) -> Self;
    /// `out = op(lhs, rhs)` with broadcasting to `out_shape`.
    fn binary(&self, rhs: &Self, op: BinaryOp, shapes: [&[usize]; 3]) -> Self;
    /// `out = cond ≠ 0 ? a : b`, all three broadcast to `shapes[3]`.
    fn where_cond(cond: &Self, a: &Self, b: &Self, shapes: [&[usize]; 4]) -> Self;
    /// Reduces dimension `dim` of a tensor of `shape` (the output keeps it with size 1).
    fn reduce(&self, op: ReduceOp, shape: &[usize], dim: usize) -> Self;
    /// Index of the largest (`largest`) or smallest element along `dim`, first on ties.
    fn arg_reduce(&self, shape: &[usize], dim: usize, largest: bool) -> Vec<i64>;
    /// Batched matrix product, see [`MatmulLayout`].
    fn matmul(&self, rhs: &Self, layout: &MatmulLayout) -> Self;
    /// [`Backend::matmul`] plus `bias` (`n` values) added to every row of every product, in the
    /// product itself: the output starts as the bias and the GEMM accumulates into it (BLAS's
    /// C = A·B + 1·C, PyTorch's `addmm`), so no second pass over the output adds it.
    fn matmul_bias(&self, rhs: &Self, bias: &Self, layout: &MatmulLayout) -> Self;
    /// Gathers a contiguous tensor of `out_shape` whose element `i` is at
    /// `offset + Σ i_k · strides[k]` in `self`: permute, expand and narrow are all this.
    fn strided_copy(&self, out_shape: &[usize], strides: &[usize], offset: usize) -> Self;
    /// Concatenation along `dim`; every part has the output's shape except at `dim`.
    fn cat(parts: &[(&Self, &[usize])], dim: usize) -> Self;
    /// `out[.., j, ..] = x[.., idx[j], ..]` along `dim`.
    fn index_select(&self, shape: &[usize], dim: usize, idx: &[i64]) -> Self;
    /// Zeros of `out_shape`, then `out[.., idx[j], ..] += self[.., j, ..]` along `dim`.
    fn index_add(&self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) -> Self;
    /// `torch.gather`: `out[i] = x[i with i_dim replaced by idx[i]]`, `out` shaped like `idx`.
    fn gather(&self, shape: &[usize], dim: usize, idx: &[i64], idx_shape: &[usize]) -> Self;
    /// Zeros of `out_shape`, then `out[i with i_dim replaced by idx[i]] += self[i]`.
    fn scatter_add(&self, idx: &[i64], idx_shape: &[usize], dim: usize, out_shape: &[usize]) -> Self;
    /// Softmax (or log-softmax) over the last dimension, rows of `cols` elements.
    fn softmax_last(&self, cols: usize, log: bool) -> Self;
    /// Fused layer norm over rows of `cols`: y = (x − μ)·rstd·w + b with rstd = 1/√(σ² + eps)
    /// (population variance). Returns (y, μ per row, rstd per row).
    fn layer_norm(&self, weight: &Self, bias: &Self, cols: usize, eps: f32) -> (Self, Self, Self);
    /// Softmax's backward over rows of `cols`, fused, from its output y (`self`) and the
    /// upstream gradient g: ∂L/∂x = y ⊙ (g − Σⱼ gⱼyⱼ) in one pass per row.
    fn softmax_last_grad(&self, g: &Self, cols: usize) -> Self;
    /// Fused cross-entropy over rows of `cols` logits with one target class per row: returns
    /// (ℓ per row = logsumexp(z) − z[target], logsumexp per row). No (rows, cols) intermediate.
    fn cross_entropy_rows(&self, cols: usize, targets: &[i64]) -> (Self, Self);
    /// Its gradient from the saved logsumexp: ∂L/∂z = g_row·(exp(z − lse) − onehot(target)).
    fn cross_entropy_rows_grad(&self, lse: &Self, targets: &[i64], grad_rows: &Self, cols: usize) -> Self;
    /// Layer norm's backward over rows of `cols` from x (`self`), the weight, the saved per-row
    /// μ and rstd and the upstream gradient g: with x̂ = (x − μ)·rstd and ĝ = g⊙w,
    /// (∂L/∂x = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)), ∂L/∂w = Σ_rows g⊙x̂, ∂L/∂b = Σ_rows g).
    fn layer_norm_grad(&self, w: &Self, mean: &Self, rstd: &Self, g: &Self, cols: usize) -> (Self, Self, Self);
    /// In place: `self` (of `out_shape`) += the index_add of `g` (of `shape`) along `dim`, i.e.
    /// slice j of g is added to slice idx\[j\] of self.
    fn index_add_(&mut self, g: &Self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]);
    /// In place: `self[.., start..start + len, ..] += g` along `dim`, self of `shape`, g of
    /// `shape` with `len` at `dim`.
    fn narrow_add_(&mut self, g: &Self, shape: &[usize], dim: usize, start: usize, len: usize);
    /// In place, the adjoint of `Tensor::split_heads`: `self` (B, T, W) gets head h of `g`
    /// (B, NH, T, HS) added into its columns `start + h·HS ..`. By default the heads are moved
    /// back to (B, T, NH·HS) by one copy and added by [`Backend::narrow_add_`]; a backend may do
    /// both in one pass.
    fn split_heads_add_(&mut self, g: &Self, [b, nh, t, hs]: [usize; 4], width: usize, start: usize) {
        let moved = g.strided_copy(&[b, t, nh, hs], &[nh * t * hs, hs, t * hs, 1], 0);
        self.narrow_add_(&moved, &[b, t, width], 2, start, nh * hs);
    }
    /// One optimizer update of every parameter in `slots`, in place (multi-tensor: a GPU does
    /// them all in one launch).
    fn optim_step(slots: &mut [ParamSlot<'_, Self>], step: OptimStep);
}
// ANCHOR_END: backend_trait

/// A tensor's data on one device.
// ANCHOR: storage
pub enum Storage {
    /// Host memory.
    Cpu(CpuStorage),
    /// GPU memory (feature `cuda`).
    #[cfg(feature = "cuda")]
    Cuda(cuda::CudaStorage),
}
// ANCHOR_END: storage

impl Storage {
    /// Host data → storage on `device` (callers check `Device::ensure_available` first).
    pub(crate) fn from_vec(data: Vec<f32>, device: Device) -> Storage {
        match device {
            Device::Cpu => Storage::Cpu(CpuStorage::from_vec(data)),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => Storage::Cuda(cuda::CudaStorage::from_host(i, &data)),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("Device::ensure_available refuses CUDA without the `cuda` feature"),
        }
    }

    /// `n` copies of `v` on `device`, filled where they live (a GPU fills its own memory instead
    /// of receiving a host buffer: NarrowBackward's zero padding is tens of MB at GPT-2 size).
    pub(crate) fn full(n: usize, v: f32, device: Device) -> Storage {
        match device {
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => Storage::Cuda(cuda::CudaStorage::full(i, n, v)),
            Device::Cpu => Storage::Cpu(CpuStorage::full(n, v)),
            #[allow(unreachable_patterns)]
            _ => Storage::from_vec(vec![v; n], device),
        }
    }

    /// Borrows the CPU buffer, if on the host.
    pub(crate) fn as_cpu_slice(&self) -> Option<&[f32]> {
        match self {
            Storage::Cpu(c) => Some(c.as_slice()),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => None,
        }
    }

    /// Mutable CPU buffer, if on the host (optimizer updates, in-place fills).
    pub(crate) fn as_cpu_slice_mut(&mut self) -> Option<&mut [f32]> {
        match self {
            Storage::Cpu(c) => Some(c.as_mut_slice()),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => None,
        }
    }
}

/// Forwards a one-operand `Backend` method to the variant's implementation.
macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Storage::Cpu($s) => Storage::Cpu($e),
            #[cfg(feature = "cuda")]
            Storage::Cuda($s) => Storage::Cuda($e),
        }
    };
}

/// Forwards a two-operand method; operands on different devices panic naming the op and both
/// devices (a programming error, like a shape mismatch: move tensors with `to` first).
macro_rules! dispatch2 {
    ($op:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $e:expr) => {
        match ($a, $b) {
            (Storage::Cpu($x), Storage::Cpu($y)) => Storage::Cpu($e),
            #[cfg(feature = "cuda")]
            (Storage::Cuda($x), Storage::Cuda($y)) => Storage::Cuda($e),
            #[allow(unreachable_patterns)]
            (a, b) => panic!("{}: operands on {} and {}", $op, a.device(), b.device()),
        }
    };
}

impl Storage {
    /// See [`Backend::device`].
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(c) => c.device(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.device(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            Storage::Cpu(c) => c.len(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.len(),
        }
    }
    pub(crate) fn to_vec(&self) -> Vec<f32> {
        match self {
            Storage::Cpu(c) => c.to_vec(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.to_vec(),
        }
    }
    pub(crate) fn unary(&self, op: UnaryOp) -> Storage {
        profiled!(self.device(), op.name(), [&[self.len()]], 0, 2 * self.len(); dispatch!(self, s => s.unary(op)))
    }
    pub(crate) fn unary_grad(&self, op: UnaryOp, y: &Storage, grad: &Storage) -> Storage {
        profiled!(self.device(), op.name(), [&[self.len()]], 0, 4 * self.len(); self.unary_grad_(op, y, grad))
    }
    fn unary_grad_(&self, op: UnaryOp, y: &Storage, grad: &Storage) -> Storage {
        match (self, y, grad) {
            (Storage::Cpu(x), Storage::Cpu(y), Storage::Cpu(g)) => Storage::Cpu(x.unary_grad(op, y, g)),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(x), Storage::Cuda(y), Storage::Cuda(g)) => Storage::Cuda(x.unary_grad(op, y, g)),
            #[allow(unreachable_patterns)]
            (x, _, g) => panic!("{}: operands on {} and {}", op.name(), x.device(), g.device()),
        }
    }
    pub(crate) fn binary(&self, rhs: &Storage, op: BinaryOp, shapes: [&[usize]; 3]) -> Storage {
        let elems = self.len() + rhs.len() + shapes[2].iter().product::<usize>();
        profiled!(self.device(), op.name(), [shapes[0], shapes[1]], 0, elems; dispatch2!(op.name(), self, rhs, |a, b| a.binary(b, op, shapes)))
    }
    pub(crate) fn where_cond(c: &Storage, a: &Storage, b: &Storage, s: [&[usize]; 4]) -> Storage {
        let elems = c.len() + a.len() + b.len() + s[3].iter().product::<usize>();
        profiled!(a.device(), "where", [s[0], s[1], s[2]], 0, elems; Storage::where_cond_(c, a, b, s))
    }
    fn where_cond_(c: &Storage, a: &Storage, b: &Storage, s: [&[usize]; 4]) -> Storage {
        match (c, a, b) {
            (Storage::Cpu(c), Storage::Cpu(a), Storage::Cpu(b)) => Storage::Cpu(CpuStorage::where_cond(c, a, b, s)),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(c), Storage::Cuda(a), Storage::Cuda(b)) => {
                Storage::Cuda(cuda::CudaStorage::where_cond(c, a, b, s))
            }
            #[allow(unreachable_patterns)]
            (c, a, _) => panic!("where: operands on {} and {}", c.device(), a.device()),
        }
    }
    pub(crate) fn reduce(&self, op: ReduceOp, shape: &[usize], dim: usize) -> Storage {
        profiled!(self.device(), op.name(), [shape], 0, self.len(); dispatch!(self, s => s.reduce(op, shape, dim)))
    }
    pub(crate) fn arg_reduce(&self, shape: &[usize], dim: usize, largest: bool) -> Vec<i64> {
        match self {
            Storage::Cpu(s) => s.arg_reduce(shape, dim, largest),
            #[cfg(feature = "cuda")]
            Storage::Cuda(s) => s.arg_reduce(shape, dim, largest),
        }
    }
    pub(crate) fn matmul(&self, rhs: &Storage, layout: &MatmulLayout) -> Storage {
        let MatmulLayout { batch, m, n, k, .. } = *layout;
        let (a, b) = (
            [if layout.a_batch_stride == 0 { 1 } else { batch }, m, k],
            [if layout.b_batch_stride == 0 { 1 } else { batch }, k, n],
        );
        let elems = a.iter().product::<usize>() + b.iter().product::<usize>() + batch * m * n;
        profiled!(self.device(), "matmul", [&a, &b], 2 * batch * m * n * k, elems; dispatch2!("matmul", self, rhs, |a, b| a.matmul(b, layout)))
    }
    pub(crate) fn matmul_bias(&self, rhs: &Storage, bias: &Storage, layout: &MatmulLayout) -> Storage {
        let MatmulLayout { batch, m, n, k, .. } = *layout;
        let (a, b) = (
            [if layout.a_batch_stride == 0 { 1 } else { batch }, m, k],
            [if layout.b_batch_stride == 0 { 1 } else { batch }, k, n],
        );
        let elems = a.iter().product::<usize>() + b.iter().product::<usize>() + n + batch * m * n;
        profiled!(self.device(), "matmul", [&a, &b], 2 * batch * m * n * k, elems; self.matmul_bias_(rhs, bias, layout))
    }
    fn matmul_bias_(&self, rhs: &Storage, bias: &Storage, layout: &MatmulLayout) -> Storage {
        match (self, rhs, bias) {
            (Storage::Cpu(a), Storage::Cpu(b), Storage::Cpu(c)) => Storage::Cpu(a.matmul_bias(b, c, layout)),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(a), Storage::Cuda(b), Storage::Cuda(c)) => Storage::Cuda(a.matmul_bias(b, c, layout)),
            #[allow(unreachable_patterns)]
            (a, b, c) => panic!("matmul: operands on {}, {} and {}", a.device(), b.device(), c.device()),
        }
    }
    pub(crate) fn strided_copy(&self, out: &[usize], strides: &[usize], offset: usize) -> Storage {
        let n: usize = out.iter().product();
        profiled!(self.device(), "copy", [out], 0, 2 * n; dispatch!(self, s => s.strided_copy(out, strides, offset)))
    }
    pub(crate) fn cat(parts: &[(&Storage, &[usize])], dim: usize) -> Storage {
        let elems: usize = parts.iter().map(|(s, _)| 2 * s.len()).sum();
        profiled!(parts[0].0.device(), "cat", [], 0, elems; Storage::cat_(parts, dim))
    }
    fn cat_(parts: &[(&Storage, &[usize])], dim: usize) -> Storage {
        match parts[0].0 {
            Storage::Cpu(_) => {
                let cpu: Vec<(&CpuStorage, &[usize])> = parts
                    .iter()
                    .map(|(s, shape)| match s {
                        Storage::Cpu(c) => (c, *shape),
                        #[allow(unreachable_patterns)]
                        other => panic!("cat: operands on cpu and {}", other.device()),
                    })
                    .collect();
                Storage::Cpu(CpuStorage::cat(&cpu, dim))
            }
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => {
                let gpu: Vec<(&cuda::CudaStorage, &[usize])> = parts
                    .iter()
                    .map(|(s, shape)| match s {
                        Storage::Cuda(c) => (c, *shape),
                        other => panic!("cat: operands on cuda and {}", other.device()),
                    })
                    .collect();
                Storage::Cuda(cuda::CudaStorage::cat(&gpu, dim))
            }
        }
    }
    pub(crate) fn index_select(&self, shape: &[usize], dim: usize, idx: &[i64]) -> Storage {
        let n = self.len() / shape[dim].max(1) * idx.len();
        profiled!(self.device(), "index_select", [shape, &[idx.len()]], 0, 2 * n; dispatch!(self, s => s.index_select(shape, dim, idx)))
    }
    pub(crate) fn index_add(&self, shape: &[usize], dim: usize, idx: &[i64], out: &[usize]) -> Storage {
        let n = out.iter().product::<usize>() + self.len();
        profiled!(self.device(), "index_add", [shape, out], 0, n; dispatch!(self, s => s.index_add(shape, dim, idx, out)))
    }
    pub(crate) fn gather(&self, shape: &[usize], dim: usize, idx: &[i64], ishape: &[usize]) -> Storage {
        profiled!(self.device(), "gather", [shape, ishape], 0, 2 * idx.len(); dispatch!(self, s => s.gather(shape, dim, idx, ishape)))
    }
    pub(crate) fn scatter_add(&self, idx: &[i64], ishape: &[usize], dim: usize, out: &[usize]) -> Storage {
        let n = out.iter().product::<usize>() + idx.len();
        profiled!(self.device(), "scatter_add", [ishape, out], 0, n; dispatch!(self, s => s.scatter_add(idx, ishape, dim, out)))
    }
    pub(crate) fn softmax_last(&self, cols: usize, log: bool) -> Storage {
        let name = if log { "log_softmax" } else { "softmax" };
        profiled!(self.device(), name, [&[self.len() / cols.max(1), cols]], 0, 2 * self.len(); dispatch!(self, s => s.softmax_last(cols, log)))
    }
    pub(crate) fn layer_norm(&self, w: &Storage, b: &Storage, cols: usize, eps: f32) -> (Storage, Storage, Storage) {
        profiled!(self.device(), "layer_norm", [&[self.len() / cols.max(1), cols]], 0, 2 * self.len(); self.layer_norm_(w, b, cols, eps))
    }
    fn layer_norm_(&self, w: &Storage, b: &Storage, cols: usize, eps: f32) -> (Storage, Storage, Storage) {
        match (self, w, b) {
            (Storage::Cpu(x), Storage::Cpu(w), Storage::Cpu(b)) => {
                let (y, m, r) = x.layer_norm(w, b, cols, eps);
                (Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(r))
            }
            #[cfg(feature = "cuda")]
            (Storage::Cuda(x), Storage::Cuda(w), Storage::Cuda(b)) => {
                let (y, m, r) = x.layer_norm(w, b, cols, eps);
                (Storage::Cuda(y), Storage::Cuda(m), Storage::Cuda(r))
            }
            #[allow(unreachable_patterns)]
            (x, w, _) => panic!("layer_norm: operands on {} and {}", x.device(), w.device()),
        }
    }
    pub(crate) fn softmax_last_grad(&self, g: &Storage, cols: usize) -> Storage {
        let rows = [self.len() / cols.max(1), cols];
        profiled!(self.device(), "softmax", [&rows], 0, 3 * self.len(); dispatch2!("softmax backward", self, g, |y, g| y.softmax_last_grad(g, cols)))
    }
    pub(crate) fn cross_entropy_rows(&self, cols: usize, targets: &[i64]) -> (Storage, Storage) {
        profiled!(self.device(), "cross_entropy", [&[targets.len(), cols]], 0, self.len(); self.cross_entropy_rows_(cols, targets))
    }
    fn cross_entropy_rows_(&self, cols: usize, targets: &[i64]) -> (Storage, Storage) {
        match self {
            Storage::Cpu(z) => {
                let (l, lse) = z.cross_entropy_rows(cols, targets);
                (Storage::Cpu(l), Storage::Cpu(lse))
            }
            #[cfg(feature = "cuda")]
            Storage::Cuda(z) => {
                let (l, lse) = z.cross_entropy_rows(cols, targets);
                (Storage::Cuda(l), Storage::Cuda(lse))
            }
        }
    }
    pub(crate) fn cross_entropy_rows_grad(&self, lse: &Storage, targets: &[i64], g: &Storage, cols: usize) -> Storage {
        let rows = [targets.len(), cols];
        profiled!(self.device(), "cross_entropy", [&rows], 0, 2 * self.len(); self.cross_entropy_rows_grad_(lse, targets, g, cols))
    }
    fn cross_entropy_rows_grad_(&self, lse: &Storage, targets: &[i64], g: &Storage, cols: usize) -> Storage {
        match (self, lse, g) {
            (Storage::Cpu(z), Storage::Cpu(l), Storage::Cpu(g)) => {
                Storage::Cpu(z.cross_entropy_rows_grad(l, targets, g, cols))
            }
            #[cfg(feature = "cuda")]
            (Storage::Cuda(z), Storage::Cuda(l), Storage::Cuda(g)) => {
                Storage::Cuda(z.cross_entropy_rows_grad(l, targets, g, cols))
            }
            #[allow(unreachable_patterns)]
            (z, _, g) => panic!("cross_entropy: operands on {} and {}", z.device(), g.device()),
        }
    }
}

impl Storage {
    /// See [`Backend::layer_norm_grad`].
    pub(crate) fn layer_norm_grad(
        &self,
        w: &Storage,
        mean: &Storage,
        rstd: &Storage,
        g: &Storage,
        cols: usize,
    ) -> (Storage, Storage, Storage) {
        let rows = [self.len() / cols.max(1), cols];
        profiled!(self.device(), "layer_norm", [&rows], 0, 3 * self.len(); {
        match (self, w, mean, rstd, g) {
            (Storage::Cpu(x), Storage::Cpu(w), Storage::Cpu(m), Storage::Cpu(r), Storage::Cpu(g)) => {
                let (dx, dw, db) = x.layer_norm_grad(w, m, r, g, cols);
                (Storage::Cpu(dx), Storage::Cpu(dw), Storage::Cpu(db))
            }
            #[cfg(feature = "cuda")]
            (Storage::Cuda(x), Storage::Cuda(w), Storage::Cuda(m), Storage::Cuda(r), Storage::Cuda(g)) => {
                let (dx, dw, db) = x.layer_norm_grad(w, m, r, g, cols);
                (Storage::Cuda(dx), Storage::Cuda(dw), Storage::Cuda(db))
            }
            #[allow(unreachable_patterns)]
            (x, _, _, _, g) => panic!("layer_norm backward: operands on {} and {}", x.device(), g.device()),
        }
        })
    }
    /// See [`Backend::index_add_`].
    pub(crate) fn index_add_(&mut self, g: &Storage, shape: &[usize], dim: usize, idx: &[i64], out: &[usize]) {
        profiled!(g.device(), "index_add_", [shape, out], 0, 3 * g.len(); self.index_add__(g, shape, dim, idx, out))
    }
    fn index_add__(&mut self, g: &Storage, shape: &[usize], dim: usize, idx: &[i64], out: &[usize]) {
        match (self, g) {
            (Storage::Cpu(a), Storage::Cpu(g)) => a.index_add_(g, shape, dim, idx, out),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(a), Storage::Cuda(g)) => a.index_add_(g, shape, dim, idx, out),
            #[allow(unreachable_patterns)]
            (a, g) => panic!("index_add_: operands on {} and {}", a.device(), g.device()),
        }
    }
    /// See [`Backend::narrow_add_`].
    pub(crate) fn narrow_add_(&mut self, g: &Storage, shape: &[usize], dim: usize, start: usize, len: usize) {
        profiled!(g.device(), "narrow_add_", [shape], 0, 3 * g.len(); self.narrow_add__(g, shape, dim, start, len))
    }
    fn narrow_add__(&mut self, g: &Storage, shape: &[usize], dim: usize, start: usize, len: usize) {
        match (self, g) {
            (Storage::Cpu(a), Storage::Cpu(g)) => a.narrow_add_(g, shape, dim, start, len),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(a), Storage::Cuda(g)) => a.narrow_add_(g, shape, dim, start, len),
            #[allow(unreachable_patterns)]
            (a, g) => panic!("narrow backward: operands on {} and {}", a.device(), g.device()),
        }
    }
    /// See [`Backend::optim_step`]: the slots are grouped by device, and each device's backend
    /// updates its group (a GPU in one launch per device).
    pub(crate) fn optim_step(slots: Vec<ParamSlot<'_, Storage>>, step: OptimStep) {
        let Some(dev) = slots.first().map(|s| s.w.device()) else { return };
        // weights, gradients and state: read and written once each (Adam: 2 moments)
        let elems: usize =
            slots.iter().map(|s| s.w.len() * (3 + 2 * s.s1.is_some() as usize + 2 * s.s2.is_some() as usize)).sum();
        let name = match step {
            OptimStep::Sgd(_) => "sgd_step",
            OptimStep::Adam(_) => "adam_step",
        };
        let params = [slots.len()];
        profiled!(dev, name, [&params], 0, elems; Storage::optim_step_(slots, step))
    }
    fn optim_step_(slots: Vec<ParamSlot<'_, Storage>>, step: OptimStep) {
        let mut cpu = Vec::new();
        #[cfg(feature = "cuda")]
        let mut gpu = Vec::new();
        for ParamSlot { w, g, s1, s2, a, b } in slots {
            match (w, g) {
                (Storage::Cpu(w), Storage::Cpu(g)) => {
                    cpu.push(ParamSlot { w, g, s1: s1.map(Storage::host_state), s2: s2.map(Storage::host_state), a, b })
                }
                #[cfg(feature = "cuda")]
                (Storage::Cuda(w), Storage::Cuda(g)) => {
                    gpu.push(ParamSlot { w, g, s1: s1.map(Storage::gpu_state), s2: s2.map(Storage::gpu_state), a, b })
                }
                #[allow(unreachable_patterns)]
                (w, g) => panic!("optimizer step: a parameter on {} has its gradient on {}", w.device(), g.device()),
            }
        }
        CpuStorage::optim_step(&mut cpu, step);
        #[cfg(feature = "cuda")]
        cuda::CudaStorage::optim_step(&mut gpu, step);
    }

    fn host_state(&mut self) -> &mut CpuStorage {
        match self {
            Storage::Cpu(c) => c,
            #[allow(unreachable_patterns)]
            other => panic!("optimizer step: a host parameter has its state on {}", other.device()),
        }
    }

    #[cfg(feature = "cuda")]
    fn gpu_state(&mut self) -> &mut cuda::CudaStorage {
        match self {
            Storage::Cuda(c) => c,
            other => panic!("optimizer step: a GPU parameter has its state on {}", other.device()),
        }
    }
}

impl Storage {
    /// Fused causal attention ([`cpu::attention::forward`]): `Some((out, lse))` where this
    /// device has the kernel, `None` where it does not yet (CUDA), so the caller composes the
    /// unfused ops instead.
    pub(crate) fn fused_attention(
        q: &Storage,
        k: &Storage,
        v: &Storage,
        key_mask: Option<&Storage>,
        shape: op::AttentionShape,
    ) -> Option<(Storage, Storage)> {
        let op::AttentionShape { b, h, t, d, .. } = shape;
        // q·kᵀ and p·v over the causal half (both counted whole, as FLOP counters do)
        profiled!(q.device(), "fused_attention", [&[b, h, t, d]], 4 * b * h * t * t * d, 4 * q.len(); Storage::fused_attention_(q, k, v, key_mask, shape))
    }
    fn fused_attention_(
        q: &Storage,
        k: &Storage,
        v: &Storage,
        key_mask: Option<&Storage>,
        shape: op::AttentionShape,
    ) -> Option<(Storage, Storage)> {
        match (q, k, v, key_mask) {
            (Storage::Cpu(q), Storage::Cpu(k), Storage::Cpu(v), None) => {
                let (o, l) = cpu::attention::forward(q, k, v, None, shape);
                Some((Storage::Cpu(o), Storage::Cpu(l)))
            }
            (Storage::Cpu(q), Storage::Cpu(k), Storage::Cpu(v), Some(Storage::Cpu(m))) => {
                let (o, l) = cpu::attention::forward(q, k, v, Some(m), shape);
                Some((Storage::Cpu(o), Storage::Cpu(l)))
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The backward pass of [`Storage::fused_attention`] (called only where it returned Some):
    /// (dq, dk, dv).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fused_attention_grad(
        q: &Storage,
        k: &Storage,
        v: &Storage,
        out: &Storage,
        lse: &Storage,
        dout: &Storage,
        key_mask: Option<&Storage>,
        shape: op::AttentionShape,
    ) -> (Storage, Storage, Storage) {
        let op::AttentionShape { b, h, t, d, .. } = shape;
        profiled!(q.device(), "fused_attention", [&[b, h, t, d]], 10 * b * h * t * t * d, 8 * q.len(); {
        let mask = match key_mask {
            None => None,
            Some(Storage::Cpu(m)) => Some(m),
            #[allow(unreachable_patterns)]
            Some(m) => panic!("fused attention backward: a mask on {}", m.device()),
        };
        match (q, k, v, out, lse, dout) {
            (Storage::Cpu(q), Storage::Cpu(k), Storage::Cpu(v), Storage::Cpu(o), Storage::Cpu(l), Storage::Cpu(g)) => {
                let (dq, dk, dv) = cpu::attention::backward(q, k, v, o, l, g, mask, shape);
                (Storage::Cpu(dq), Storage::Cpu(dk), Storage::Cpu(dv))
            }
            #[allow(unreachable_patterns)]
            (q, ..) => panic!("fused attention backward: no kernel on {}", q.device()),
        }
        })
    }
}
