//! How a reduction combines the values along one dimension.

/// How values along a dimension are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Σ
    Sum,
    /// max
    Max,
    /// min
    Min,
}
