//! Ops that move data without arithmetic: reshape, permute/transpose, broadcast_to, squeeze,
//! unsqueeze, narrow, cat, stack, chunk.
//!
//! Their gradients move the gradient back the same way: reshape ↔ reshape, permute ↔ inverse
//! permute, broadcast ↔ sum, narrow ↔ zero-padding, cat ↔ narrow.

use crate::autograd::Backward;
use crate::backend::Storage;
use crate::shape::{broadcast_shapes, contiguous_strides, normalize_dim, Shape};
use crate::tensor::Tensor;

/// ∂L/∂x = reshape(∂L/∂y, x.shape)
struct ReshapeBackward;

impl Backward for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        vec![Some(g.reshape(inputs[0].dims().to_vec()))]
    }
}

/// ∂L/∂x = permute(∂L/∂y, inverse permutation)
struct PermuteBackward(Vec<usize>);

impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn backward(&self, _inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let mut inverse = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inverse[p] = i;
        }
        vec![Some(g.permute_dims(&inverse))]
    }
}

/// Each input element was copied to every broadcast position: ∂L/∂x = Σ over those positions.
struct ExpandBackward;

impl Backward for ExpandBackward {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        vec![Some(g.sum_to(inputs[0].dims()))]
    }
}

/// The whole input gradient of an op whose `accumulate_into` adds ∂L/∂y into part of it (the
/// engine calls that directly when it can add in place): zeros with ∂L/∂y added.
fn added_to_zeros(op: &impl Backward, inputs: &[Tensor], g: &Tensor) -> Vec<Option<Tensor>> {
    let zeros = g.new_full(inputs[0].dims().to_vec(), 0.0);
    op.accumulate_into(inputs, g, &zeros);
    vec![Some(zeros)]
}

/// y = x[.., start..start+len, ..]: ∂L/∂x is ∂L/∂y in that window and 0 elsewhere.
struct NarrowBackward {
    dim: usize,
    start: usize,
}

impl Backward for NarrowBackward {
    fn name(&self) -> &'static str {
        "narrow"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        // zeros with g added into its window (one pass less than concatenating zero pads)
        added_to_zeros(self, inputs, g)
    }
    fn sparse_input_grad(&self) -> bool {
        true
    }
    fn accumulate_into(&self, inputs: &[Tensor], g: &Tensor, acc: &Tensor) -> bool {
        // acc[…, start..start + len, …] += g
        let len = g.dims()[self.dim];
        acc.storage_mut().narrow_add_(&g.storage(), inputs[0].dims(), self.dim, self.start, len);
        true
    }
}

/// y = the heads of the columns `start..start + width` of x (B, T, W): ∂L/∂x is ∂L/∂y moved
/// back to (B, T, width) — the inverse permutation — and added into that window.
struct SplitHeadsBackward {
    start: usize,
}

impl Backward for SplitHeadsBackward {
    fn name(&self) -> &'static str {
        "split_heads"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        added_to_zeros(self, inputs, g)
    }
    fn sparse_input_grad(&self) -> bool {
        true
    }
    fn accumulate_into(&self, inputs: &[Tensor], g: &Tensor, acc: &Tensor) -> bool {
        let d = g.dims();
        acc.storage_mut().split_heads_add_(&g.storage(), [d[0], d[1], d[2], d[3]], inputs[0].dims()[2], self.start);
        true
    }
}

/// y = cat(x₀, x₁, …): each input's gradient is its window of ∂L/∂y.
struct CatBackward(usize);

impl Backward for CatBackward {
    fn name(&self) -> &'static str {
        "cat"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let mut start = 0;
        inputs
            .iter()
            .map(|x| {
                let len = x.dims()[self.0];
                let part = g.narrow(self.0 as isize, start, len);
                start += len;
                x.requires_grad().then_some(part)
            })
            .collect()
    }
}

impl Tensor {
    /// The same data with another shape of equal size (shares storage, like `view`).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        assert_eq!(shape.numel(), self.numel(), "reshape: cannot view shape {} as {shape}", self.shape());
        if shape == *self.shape() {
            return self.clone();
        }
        self.view_op(shape, || ReshapeBackward)
    }

    /// Flattens dimensions `start..=end` into one (`torch.flatten(x, start, end)`).
    pub fn flatten(&self, start: isize, end: isize) -> Tensor {
        if self.rank() == 0 {
            return self.reshape([1]);
        }
        let (s, e) = (self.shape().dim("flatten", start), self.shape().dim("flatten", end));
        let d = self.dims();
        let mut shape = d[..s].to_vec();
        shape.push(d[s..=e].iter().product());
        shape.extend_from_slice(&d[e + 1..]);
        self.reshape(shape)
    }

    /// Reorders dimensions: output dimension i is input dimension `perm[i]` (negative counts
    /// from the end, as every dimension argument here does: `permute(&[0, -1, 1])`).
    pub fn permute(&self, perm: &[isize]) -> Tensor {
        let rank = self.rank();
        assert!(
            perm.len() == rank,
            "permute: {perm:?} is not a permutation of the {rank} dims of shape {}",
            self.shape()
        );
        let perm: Vec<usize> = perm.iter().map(|&d| self.shape().dim("permute", d)).collect();
        self.permute_dims(&perm)
    }

    fn permute_dims(&self, perm: &[usize]) -> Tensor {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        assert!(
            perm.len() == rank && perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true)),
            "permute: {perm:?} is not a permutation of the {rank} dims of shape {}",
            self.shape()
        );
        let strides = contiguous_strides(self.dims());
        let out_shape: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        let out_strides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
        let out = self.storage().strided_copy(&out_shape, &out_strides, 0);
        Tensor::from_op(out, out_shape, &[self], || PermuteBackward(perm.to_vec()))
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor {
        let (a, b) = (self.shape().dim("transpose", d0), self.shape().dim("transpose", d1));
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        if a == b {
            return self.clone();
        }
        self.permute_dims(&perm)
    }

    /// The transpose of a matrix.
    pub fn t(&self) -> Tensor {
        assert_eq!(self.rank(), 2, "t: expects a matrix, got shape {}", self.shape());
        self.transpose(0, 1)
    }

    /// Repeats the data along size-1 (or missing leading) dimensions up to `shape`
    /// (`torch.broadcast_to` / `expand`).
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        if self.dims() == shape {
            return self.clone();
        }
        let full = broadcast_shapes("broadcast_to", self.dims(), shape);
        assert_eq!(full, shape, "broadcast_to: cannot broadcast shape {} to {shape:?}", self.shape());
        let strides = crate::shape::broadcast_strides(self.dims(), shape);
        let out = self.storage().strided_copy(shape, &strides, 0);
        Tensor::from_op(out, shape.to_vec(), &[self], || ExpandBackward)
    }

    /// Alias of [`Tensor::broadcast_to`] (PyTorch's `expand`).
    pub fn expand(&self, shape: &[usize]) -> Tensor {
        self.broadcast_to(shape)
    }

    /// Removes dimension `dim`, which must have size 1.
    pub fn squeeze(&self, dim: isize) -> Tensor {
        let d = self.shape().dim("squeeze", dim);
        assert_eq!(self.dims()[d], 1, "squeeze: dim {dim} of shape {} is not 1", self.shape());
        let mut shape = self.dims().to_vec();
        shape.remove(d);
        self.reshape(shape)
    }

    /// Inserts a dimension of size 1 at `dim` (`-1` appends).
    pub fn unsqueeze(&self, dim: isize) -> Tensor {
        let d = normalize_dim("unsqueeze", dim, self.rank() + 1);
        let mut shape = self.dims().to_vec();
        shape.insert(d, 1);
        self.reshape(shape)
    }

    /// Elements `start..start+len` along `dim` (`x.narrow(dim, start, len)`; `x[:, a:b]`).
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Tensor {
        let d = self.shape().dim("narrow", dim);
        let size = self.dims()[d];
        assert!(
            start + len <= size,
            "narrow: {start}..{} out of range for dim {dim} of shape {}",
            start + len,
            self.shape()
        );
        let strides = contiguous_strides(self.dims());
        let mut shape = self.dims().to_vec();
        shape[d] = len;
        let out = self.storage().strided_copy(&shape, &strides, start * strides[d]);
        Tensor::from_op(out, shape, &[self], || NarrowBackward { dim: d, start })
    }

    /// Attention's heads from the columns `start..start + width` of `x: (B, T, W)`: shape
    /// `(B, NH, T, width / NH)`, head h holding columns `start + h·HS ..` of every position —
    /// `x.narrow(-1, start, width).reshape([B, T, NH, HS]).transpose(1, 2)` (Hugging Face's
    /// `_split_heads` of one of q, k, v), in one copy instead of two: PyTorch's narrow and
    /// reshape are views, here every movement op copies, so the three are done as one read
    /// through strides.
    pub fn split_heads(&self, start: usize, width: usize, n_head: usize) -> Tensor {
        let d = self.dims();
        assert!(
            self.rank() == 3 && n_head > 0 && width.is_multiple_of(n_head) && start + width <= d[2],
            "split_heads: columns {start}..{} of shape {} into {n_head} heads (want (B, T, W), W ≥ {0}, width divisible by the heads)",
            start + width,
            self.shape()
        );
        let (b, t, w, hs) = (d[0], d[1], d[2], width / n_head);
        let shape = vec![b, n_head, t, hs];
        let out = self.storage().strided_copy(&shape, &[t * w, hs, w, 1], start);
        Tensor::from_op(out, shape, &[self], || SplitHeadsBackward { start })
    }

    /// Splits `dim` into `n` equal pieces (`torch.chunk` when divisible).
    pub fn chunk(&self, n: usize, dim: isize) -> Vec<Tensor> {
        let d = self.shape().dim("chunk", dim);
        let size = self.dims()[d];
        assert!(n > 0 && size.is_multiple_of(n), "chunk: dim {dim} of shape {} does not split into {n}", self.shape());
        (0..n).map(|i| self.narrow(dim, i * size / n, size / n)).collect()
    }

    /// Joins tensors along an existing dimension; all other dimensions must agree.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Tensor {
        assert!(!tensors.is_empty(), "cat: expects at least one tensor");
        let first = tensors[0];
        let d = first.shape().dim("cat", dim);
        let mut shape = first.dims().to_vec();
        shape[d] = 0;
        for t in tensors {
            let ok = t.rank() == first.rank()
                && t.dims().iter().zip(first.dims()).enumerate().all(|(i, (a, b))| i == d || a == b);
            assert!(ok, "cat: shape {} vs {} (they may differ only in dim {dim})", first.shape(), t.shape());
            shape[d] += t.dims()[d];
        }
        let guards: Vec<_> = tensors.iter().map(|t| t.storage()).collect();
        let parts: Vec<(&Storage, &[usize])> = guards.iter().zip(tensors).map(|(g, t)| (&**g, t.dims())).collect();
        let out = Storage::cat(&parts, d);
        drop(parts);
        drop(guards);
        Tensor::from_op(out, shape, tensors, || CatBackward(d))
    }

    /// Joins equally shaped tensors along a new dimension `dim`.
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Tensor {
        assert!(!tensors.is_empty(), "stack: expects at least one tensor");
        let d = normalize_dim("stack", dim, tensors[0].rank() + 1) as isize;
        for t in tensors {
            assert_eq!(t.dims(), tensors[0].dims(), "stack: shape {} vs {}", tensors[0].shape(), t.shape());
        }
        let expanded: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::cat(&refs, d)
    }
}
