//! GEMM through the `gemm` crate (runtime-dispatched AVX-512/AVX2/FMA kernels), which
//! measured 13% faster than matrixmultiply on one core here (171 vs 151 GFLOP/s at 1024²).
//! Transposed operands are read through strides: no copies.
//!
//! Threads: small products (an MLP layer at batch 64) lose time when a GEMM library wakes its
//! own thread pool for each call, so we split the work ourselves with rayon — over the batch
//! when there are several products, otherwise over blocks of output rows — and run each piece
//! single-threaded. See benches/README.md for the measurements behind this.

use super::super::MatmulLayout;
use rayon::prelude::*;

/// Below this many multiply-adds a product runs on one thread: measured here, splitting an MLP
/// layer (64×784×256) over 2 threads made a training step slower (rayon wake-ups and packing
/// the weight twice cost more than the halved compute).
const PAR_MIN_WORK: usize = 1 << 25;

/// Row and column strides (in elements) of an `rows×cols` operand stored row-major, or stored
/// `cols×rows` and read transposed.
fn strides(cols: usize, rows: usize, trans: bool) -> (isize, isize) {
    if trans {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

/// c (m×n, row-major, overwritten) = a (m×k) · b (k×n) on the calling thread.
/// `a` and `b` are the whole stored operands; `a_rs/a_cs`, `b_rs/b_cs` their strides.
#[allow(clippy::too_many_arguments)]
fn gemm_block(
    c: &mut [f32],
    a: &[f32],
    a_rs: isize,
    a_cs: isize,
    b: &[f32],
    b_rs: isize,
    b_cs: isize,
    m: usize,
    n: usize,
    k: usize,
) {
    assert_eq!(c.len(), m * n, "matmul: output block");
    // The largest element the strides address must lie inside each slice.
    let last = |rows: usize, cols: usize, rs: isize, cs: isize| {
        (rows.max(1) - 1) as isize * rs + (cols.max(1) - 1) as isize * cs
    };
    assert!(m * k == 0 || (last(m, k, a_rs, a_cs) as usize) < a.len(), "matmul: lhs block out of bounds");
    assert!(k * n == 0 || (last(k, n, b_rs, b_cs) as usize) < b.len(), "matmul: rhs block out of bounds");
    if m * n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    // SAFETY: `c` holds exactly m×n elements addressed with row stride n and column stride 1;
    // the asserts above prove every element of a (m×k) and b (k×n) that the strides address is
    // inside its slice; the slices do not overlap `c` (it is a distinct &mut). With
    // read_dst = false, gemm writes c = 1.0·a·b without reading c.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

pub(super) fn matmul(a: &[f32], b: &[f32], l: &MatmulLayout) -> Vec<f32> {
    let (m, n, k) = (l.m, l.n, l.k);
    let mut out = vec![0.0; l.batch * m * n];
    if m * n == 0 {
        return out;
    }
    let (a_rs, a_cs) = strides(k, m, l.trans_a);
    let (b_rs, b_cs) = strides(n, k, l.trans_b);
    let a_batch = |i: usize| &a[i * l.a_batch_stride..i * l.a_batch_stride + m * k];
    let b_batch = |i: usize| &b[i * l.b_batch_stride..i * l.b_batch_stride + k * n];
    let work = m * n * k;
    let threads = rayon::current_num_threads();

    if l.batch > 1 && (l.batch >= threads || work < PAR_MIN_WORK) {
        // Many products (attention heads): one per rayon task.
        let one = |(i, c): (usize, &mut [f32])| gemm_block(c, a_batch(i), a_rs, a_cs, b_batch(i), b_rs, b_cs, m, n, k);
        if work * l.batch >= PAR_MIN_WORK {
            out.par_chunks_mut(m * n).enumerate().for_each(one);
        } else {
            out.chunks_mut(m * n).enumerate().for_each(one);
        }
        return out;
    }
    for (i, c) in out.chunks_mut(m * n).enumerate() {
        let (ab, bb) = (a_batch(i), b_batch(i));
        if work < PAR_MIN_WORK || m < 2 * threads {
            gemm_block(c, ab, a_rs, a_cs, bb, b_rs, b_cs, m, n, k);
            continue;
        }
        // Split the output rows into one block per thread; rows r0.. of a start at r0·a_rs.
        let rows = m.div_ceil(threads);
        c.par_chunks_mut(rows * n).enumerate().for_each(|(j, cb)| {
            let r0 = j * rows;
            gemm_block(cb, &ab[r0 * a_rs as usize..], a_rs, a_cs, bb, b_rs, b_cs, cb.len() / n, n, k);
        });
    }
    out
}
