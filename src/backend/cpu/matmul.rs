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
use std::mem::MaybeUninit;

/// Below this many multiply-adds a product runs on one thread: measured here, splitting an MLP
/// layer (64×784×256) over 2 threads made a training step slower (rayon wake-ups and packing
/// the weight twice cost more than the halved compute).
const PAR_MIN_WORK: usize = 1 << 24;

/// Row and column strides (in elements) of an `rows×cols` operand stored row-major, or stored
/// `cols×rows` and read transposed.
fn strides(cols: usize, rows: usize, trans: bool) -> (isize, isize) {
    if trans {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

/// c (m×n, row-major) = a (m×k) · b (k×n) on the calling thread; every element of `c` is
/// written (it may start uninitialised). `a` and `b` are the stored operands from their first
/// addressed element; `a_rs/a_cs`, `b_rs/b_cs` their row and column strides.
#[allow(clippy::too_many_arguments)]
fn gemm_block(
    c: &mut [MaybeUninit<f32>],
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
    let last = |rows: usize, cols: usize, rs: isize, cs: isize| (rows - 1) as isize * rs + (cols - 1) as isize * cs;
    if m * n == 0 {
        return;
    }
    if k == 0 {
        c.iter_mut().for_each(|x| {
            x.write(0.0);
        });
        return;
    }
    assert!((last(m, k, a_rs, a_cs) as usize) < a.len(), "matmul: lhs block out of bounds");
    assert!((last(k, n, b_rs, b_cs) as usize) < b.len(), "matmul: rhs block out of bounds");
    // SAFETY: `c` holds exactly m×n elements addressed with row stride n and column stride 1;
    // the asserts above prove every element of a (m×k) and b (k×n) that the strides address is
    // inside its slice; the slices do not overlap `c` (a distinct &mut). With read_dst = false,
    // gemm writes every element of c = 1.0·a·b and never reads it, so c may be uninitialised
    // (`MaybeUninit<f32>` has the layout of f32).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().cast::<f32>(),
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
    let total = l.batch * m * n;
    // gemm writes each output element once, so the buffer is not zeroed first (zeroing cost 7%
    // of an MLP training step here).
    let mut out: Vec<f32> = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let spare = &mut out.spare_capacity_mut()[..total];
    let (a_rs, a_cs) = strides(k, m, l.trans_a);
    let (b_rs, b_cs) = strides(n, k, l.trans_b);
    let a_batch = |i: usize| &a[i * l.a_batch_stride..i * l.a_batch_stride + m * k];
    let b_batch = |i: usize| &b[i * l.b_batch_stride..i * l.b_batch_stride + k * n];
    let work = m * n * k;
    let threads = rayon::current_num_threads();

    if l.batch > 1 && (l.batch >= threads || work < PAR_MIN_WORK) {
        // Many products (attention heads): one per rayon task.
        let one = |(i, c): (usize, &mut [MaybeUninit<f32>])| {
            gemm_block(c, a_batch(i), a_rs, a_cs, b_batch(i), b_rs, b_cs, m, n, k)
        };
        if work * l.batch >= PAR_MIN_WORK {
            spare.par_chunks_mut(m * n).enumerate().for_each(one);
        } else {
            spare.chunks_mut(m * n).enumerate().for_each(one);
        }
    } else {
        for (i, c) in spare.chunks_mut(m * n).enumerate() {
            let (ab, bb) = (a_batch(i), b_batch(i));
            if work < PAR_MIN_WORK || m < 2 * threads {
                gemm_block(c, ab, a_rs, a_cs, bb, b_rs, b_cs, m, n, k);
                continue;
            }
            // One block of output rows per thread; row r0 of a starts at r0·a_rs.
            let rows = m.div_ceil(threads);
            c.par_chunks_mut(rows * n).enumerate().for_each(|(j, cb)| {
                let r0 = j * rows;
                gemm_block(cb, &ab[r0 * a_rs as usize..], a_rs, a_cs, bb, b_rs, b_cs, cb.len() / n, n, k);
            });
        }
    }
    // SAFETY: the loops above passed all `total` elements of the spare capacity, in disjoint
    // blocks, to gemm_block, which initialises every element of its block.
    unsafe { out.set_len(total) };
    out
}
