//! Integer indexing and selection: index_select (embeddings), gather (picking the label's
//! logit), where / masked_fill (causal masks).

use crate::autograd::Backward;
use crate::backend::Storage;
use crate::int_tensor::IntTensor;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// y = x.index_select(dim, idx): row idx[j] of x is copied to row j of y, so
/// ∂L/∂x[i] = Σ_{j: idx[j] = i} ∂L/∂y[j] (an index used twice gets both gradients).
struct IndexSelectBackward {
    dim: usize,
    idx: IntTensor,
}

impl Backward for IndexSelectBackward {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let x = &inputs[0];
        let grad = g.storage().index_add(g.dims(), self.dim, self.idx.as_slice(), x.dims());
        vec![Some(Tensor::from_storage(grad, x.dims().to_vec()))]
    }
    fn sparse_input_grad(&self) -> bool {
        true
    }
    fn accumulate_into(&self, _inputs: &[Tensor], g: &Tensor, acc: &Tensor) -> bool {
        let (dims, out_dims) = (g.dims(), acc.dims().to_vec());
        acc.storage_mut().index_add_(&g.storage(), dims, self.dim, self.idx.as_slice(), &out_dims);
        true
    }
}

/// y = x.gather(dim, idx): ∂L/∂x = scatter_add of ∂L/∂y to the gathered positions.
struct GatherBackward {
    dim: usize,
    idx: IntTensor,
}

impl Backward for GatherBackward {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let x = &inputs[0];
        let grad = g.storage().scatter_add(self.idx.as_slice(), self.idx.dims(), self.dim, x.dims());
        vec![Some(Tensor::from_storage(grad, x.dims().to_vec()))]
    }
}

/// y = where(c, a, b): the gradient goes to `a` where c holds and to `b` elsewhere.
struct WhereBackward;

impl Backward for WhereBackward {
    fn name(&self) -> &'static str {
        "where"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (c, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
        let zero = g.new_full([], 0.0);
        let grad_a = a.requires_grad().then(|| Tensor::where_cond(c, g, &zero).sum_to(a.dims()));
        let grad_b = b.requires_grad().then(|| Tensor::where_cond(c, &zero, g).sum_to(b.dims()));
        vec![None, grad_a, grad_b]
    }
}

impl Tensor {
    /// Picks entries `idx` (1-D) along `dim`: `x.index_select(0, ids)` is an embedding lookup.
    pub fn index_select(&self, dim: isize, idx: &IntTensor) -> Tensor {
        assert_eq!(idx.dims().len(), 1, "index_select: index must be 1-D, got shape {}", idx.shape());
        let d = self.shape().dim("index_select", dim);
        let out = self.storage().index_select(self.dims(), d, idx.as_slice());
        let mut shape = self.dims().to_vec();
        shape[d] = idx.numel();
        Tensor::from_op(out, shape, &[self], || IndexSelectBackward { dim: d, idx: idx.clone() })
    }

    /// `torch.gather(x, dim, idx)`: `out[i][j] = x[i][idx[i][j]]` for `dim = 1`; `idx` has the
    /// rank of `x` and no larger size in the other dims; the output has `idx`'s shape.
    pub fn gather(&self, dim: isize, idx: &IntTensor) -> Tensor {
        let d = self.shape().dim("gather", dim);
        let ok = idx.dims().len() == self.rank()
            && idx.dims().iter().zip(self.dims()).enumerate().all(|(i, (a, b))| i == d || a <= b);
        assert!(ok, "gather: index shape {} vs input shape {} (dim {dim})", idx.shape(), self.shape());
        let out = self.storage().gather(self.dims(), d, idx.as_slice(), idx.dims());
        Tensor::from_op(out, idx.dims().to_vec(), &[self], || GatherBackward { dim: d, idx: idx.clone() })
    }

    /// `torch.where(cond, a, b)` with broadcasting: `a` where `cond ≠ 0`, else `b`.
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        let ab = broadcast_shapes("where", a.dims(), b.dims());
        let out_shape = broadcast_shapes("where", cond.dims(), &ab);
        let out = Storage::where_cond(
            &cond.storage(),
            &a.storage(),
            &b.storage(),
            [cond.dims(), a.dims(), b.dims(), &out_shape],
        );
        Tensor::from_op(out, out_shape, &[cond, a, b], || WhereBackward)
    }

    /// `value` where `mask ≠ 0`, else `self` (`x.masked_fill(mask, value)`); e.g. −∞ above the
    /// diagonal for a causal attention mask.
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Tensor {
        let out = Tensor::where_cond(mask, &self.new_full([], value), self);
        assert_eq!(
            out.dims(),
            self.dims(),
            "masked_fill: mask {} does not broadcast to {}",
            mask.shape(),
            self.shape()
        );
        out
    }

    /// Embedding lookup: rows `ids` of this `(V, C)` table → shape `ids.shape + [C]`
    /// (`F.embedding(ids, weight)`).
    pub fn embedding(&self, ids: &IntTensor) -> Tensor {
        assert_eq!(self.rank(), 2, "embedding: weight must be (V, C), got {}", self.shape());
        let flat = ids.reshape([ids.numel()]);
        let mut shape = ids.dims().to_vec();
        shape.push(self.dims()[1]);
        self.index_select(0, &flat).reshape(shape)
    }
}
