//! GEMM through ndarray's `general_mat_mul` (matrixmultiply: AVX-512 kernels, multithreaded for
//! large products). Transposed operands are read through strides: no copies.

use super::super::MatmulLayout;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// A `rows×cols` view of `data`, or of a `cols×rows` block read transposed.
fn view(data: &[f32], rows: usize, cols: usize, trans: bool) -> ArrayView2<'_, f32> {
    if trans {
        ArrayView2::from_shape((cols, rows), data).expect("matmul: operand block size").reversed_axes()
    } else {
        ArrayView2::from_shape((rows, cols), data).expect("matmul: operand block size")
    }
}

pub(super) fn matmul(a: &[f32], b: &[f32], l: &MatmulLayout) -> Vec<f32> {
    let (m, n, k) = (l.m, l.n, l.k);
    let mut out = vec![0.0; l.batch * m * n];
    if m * n == 0 {
        return out;
    }
    let one = |(i, c): (usize, &mut [f32])| {
        let a = view(&a[i * l.a_batch_stride..i * l.a_batch_stride + m * k], m, k, l.trans_a);
        let b = view(&b[i * l.b_batch_stride..i * l.b_batch_stride + k * n], k, n, l.trans_b);
        let mut c = ArrayViewMut2::from_shape((m, n), c).expect("matmul: output block size");
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    };
    // Many small products (attention heads): one per rayon task. Few large ones: matrixmultiply
    // threads each product itself.
    if l.batch > 1 && m * n * k < 128 * 128 * 128 {
        out.par_chunks_mut(m * n).enumerate().for_each(one);
    } else {
        out.chunks_mut(m * n).enumerate().for_each(one);
    }
    out
}
