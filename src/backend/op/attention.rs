//! The shape and options of a fused causal attention call.

/// The sizes and options of one fused attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    /// Batch.
    pub b: usize,
    /// Heads.
    pub h: usize,
    /// Sequence length (queries = keys).
    pub t: usize,
    /// Head size.
    pub d: usize,
    /// Multiplies q·k (1/√d).
    pub scale: f32,
    /// Attention dropout probability (0: none).
    pub dropout: f32,
    /// Seed of the dropout mask.
    pub seed: u64,
}
