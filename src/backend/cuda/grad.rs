//! The gradient and in-place kernels of the [`Backend`](crate::backend::Backend) trait on the GPU,
//! composed from the forward kernels: layer norm's backward as the tensor formula, and the
//! in-place window/index adds as an index_add plus an add (the GPU's memory bandwidth makes the
//! extra pass cheap; a fused kernel can replace either without touching the rules above).

use super::buffer::CudaStorage;
use crate::backend::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::backend::Backend;

impl CudaStorage {
    /// See `Backend::layer_norm_grad`: x̂ = (x − μ)·rstd, ĝ = g⊙w,
    /// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)), dw = Σ_rows g⊙x̂, db = Σ_rows g.
    pub(super) fn layer_norm_grad_composed(
        &self,
        w: &Self,
        mean: &Self,
        rstd: &Self,
        g: &Self,
        cols: usize,
    ) -> (Self, Self, Self) {
        let rows = self.len() / cols.max(1);
        let (full, col, row) = (&[rows, cols][..], &[rows, 1][..], &[cols][..]);
        let xhat = self.binary(mean, BinaryOp::Sub, [full, col, full]).binary(rstd, BinaryOp::Mul, [full, col, full]);
        let gh = g.binary(w, BinaryOp::Mul, [full, row, full]);
        let inv_c = UnaryOp::MulScalar(1.0 / cols.max(1) as f32);
        let mean_gh = gh.reduce(ReduceOp::Sum, full, 1).unary(inv_c); // (rows, 1)
        let ghx = gh.binary(&xhat, BinaryOp::Mul, [full, full, full]);
        let mean_ghx = ghx.reduce(ReduceOp::Sum, full, 1).unary(inv_c); // (rows, 1)
        let term =
            xhat.binary(&mean_ghx, BinaryOp::Mul, [full, col, full]).binary(&mean_gh, BinaryOp::Add, [full, col, full]);
        let dx = gh.binary(&term, BinaryOp::Sub, [full, full, full]).binary(rstd, BinaryOp::Mul, [full, col, full]);
        let dw = g.binary(&xhat, BinaryOp::Mul, [full, full, full]).reduce(ReduceOp::Sum, full, 0);
        let db = g.reduce(ReduceOp::Sum, full, 0);
        (dx, dw, db)
    }

    /// See `Backend::index_add_`: the index_add kernel into zeros, then one add.
    pub(super) fn index_add_composed(&mut self, g: &Self, shape: &[usize], dim: usize, idx: &[i64], out: &[usize]) {
        let rows = g.index_add(shape, dim, idx, out);
        let n = [self.len()];
        *self = self.binary(&rows, BinaryOp::Add, [&n, &n, &n]);
    }

    /// See `Backend::narrow_add_`: an index_add with the window's indices.
    pub(super) fn narrow_add_composed(&mut self, g: &Self, shape: &[usize], dim: usize, start: usize, len: usize) {
        let idx: Vec<i64> = (start as i64..(start + len) as i64).collect();
        let mut g_shape = shape.to_vec();
        g_shape[dim] = len;
        self.index_add_composed(g, &g_shape, dim, &idx, shape);
    }
}
