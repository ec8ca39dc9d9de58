//! Shapes, strides and the broadcasting rule.
//!
//! gradschool tensors are always stored contiguous and row-major, so a shape alone says where
//! every element lives: the element at index `(i0, i1, …)` sits at `Σ ik · stride_k` with
//! `stride_last = 1` and `stride_k = stride_{k+1} · dim_{k+1}`.

use std::fmt;

/// The dimensions of a tensor, outermost first. A scalar has no dimensions.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub(crate) Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements: the product of the dimensions (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major strides of a contiguous tensor of this shape.
    pub fn strides(&self) -> Vec<usize> {
        contiguous_strides(&self.0)
    }

    /// Turns a PyTorch-style dimension (negative counts from the end) into an index.
    /// Panics with the op name when it is out of range: a programmer error, like a shape mismatch.
    pub fn dim(&self, op: &str, d: isize) -> usize {
        normalize_dim(op, d, self.rank())
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}

impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(d: &[usize; N]) -> Self {
        Shape(d.to_vec())
    }
}

/// Row-major strides for `dims`.
pub(crate) fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; dims.len()];
    for k in (0..dims.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * dims[k + 1];
    }
    strides
}

/// `d` in `[-rank, rank)` → `[0, rank)`.
pub(crate) fn normalize_dim(op: &str, d: isize, rank: usize) -> usize {
    let r = rank as isize;
    let n = if d < 0 { d + r } else { d };
    if n < 0 || n >= r.max(1) {
        panic!("{op}: dim {d} out of range for a tensor of rank {rank}");
    }
    n as usize
}

/// NumPy/PyTorch broadcasting: align shapes on the right; each pair of dimensions must be equal
/// or one of them 1. Panics naming the op and both shapes otherwise.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() { 1 } else { a[i - (rank - a.len())] };
        let db = if i < rank - b.len() { 1 } else { b[i - (rank - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together"),
        };
    }
    out
}

/// Strides that read a contiguous tensor of shape `src` as if it had the (broadcast) shape `out`:
/// broadcast dimensions get stride 0.
pub(crate) fn broadcast_strides(src: &[usize], out: &[usize]) -> Vec<usize> {
    let src_strides = contiguous_strides(src);
    let offset = out.len() - src.len();
    (0..out.len()).map(|i| if i < offset || src[i - offset] == 1 { 0 } else { src_strides[i - offset] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        // numpy: np.broadcast_shapes((8, 1, 6, 1), (7, 1, 5)) == (8, 7, 6, 5)
        assert_eq!(broadcast_shapes("t", &[8, 1, 6, 1], &[7, 1, 5]), vec![8, 7, 6, 5]);
        assert_eq!(broadcast_shapes("t", &[], &[3]), vec![3]);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
    }

    #[test]
    #[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast together")]
    fn broadcasting_mismatch_names_op_and_shapes() {
        broadcast_shapes("add", &[2, 3], &[4]);
    }

    #[test]
    fn negative_dims_count_from_the_end() {
        assert_eq!(normalize_dim("t", -1, 3), 2);
        assert_eq!(normalize_dim("t", 0, 0), 0);
    }
}
