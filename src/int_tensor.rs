//! `IntTensor`: integer data — class labels, token ids, indices — kept out of f32.

use crate::shape::Shape;
use std::sync::Arc;

/// The label value that losses skip (PyTorch's `ignore_index = -100`).
pub const IGNORE_INDEX: i64 = -100;

/// An n-dimensional array of i64 (labels, token ids, gather/index_select indices). Cheap to clone;
/// never differentiable. Always in host memory, on every device: the kernels that take indices
/// check them on the host (a bad id is a clear panic, not a GPU fault) and upload them per call,
/// so an `IntTensor` has no device of its own and nothing to move.
#[derive(Clone, PartialEq, Eq)]
pub struct IntTensor {
    data: Arc<Vec<i64>>,
    shape: Shape,
}

impl IntTensor {
    /// `data` in row-major order with `shape`. Panics if the lengths disagree.
    pub fn from_vec(data: Vec<i64>, shape: impl Into<Shape>) -> IntTensor {
        let shape = shape.into();
        assert_eq!(data.len(), shape.numel(), "IntTensor::from_vec: {} values for shape {shape}", data.len());
        IntTensor { data: Arc::new(data), shape }
    }

    /// A 1-D tensor of `values`.
    pub fn new(values: &[i64]) -> IntTensor {
        IntTensor::from_vec(values.to_vec(), [values.len()])
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[i64] {
        &self.data
    }

    /// A copy of the values.
    pub fn to_vec(&self) -> Vec<i64> {
        self.data.to_vec()
    }

    /// The same values with another shape of equal size.
    pub fn reshape(&self, shape: impl Into<Shape>) -> IntTensor {
        let shape = shape.into();
        assert_eq!(shape.numel(), self.numel(), "IntTensor::reshape: cannot view shape {} as {shape}", self.shape);
        IntTensor { data: self.data.clone(), shape }
    }
}

impl std::fmt::Debug for IntTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<i64> = self.data.iter().take(16).copied().collect();
        write!(f, "IntTensor(shape={}, data={shown:?}{})", self.shape, if self.numel() > 16 { "…" } else { "" })
    }
}
