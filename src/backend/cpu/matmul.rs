//! GEMM through the `gemm` crate (runtime-dispatched AVX-512/AVX2/FMA kernels), which
//! measured 13% faster than matrixmultiply on one core here (171 vs 151 GFLOP/s at 1024²).
//! Transposed operands are read through strides: no copies.
//!
//! Threads: a GEMM library's own thread pool (or rayon) sleeps between calls, and waking it cost
//! more here than an MLP layer's whole product, so each piece runs single-threaded and we split
//! the work ourselves: one product over output-row blocks, this thread plus spinning helper
//! threads (`helper.rs`); many batched products (attention heads) one per rayon task.
//! See benches/README.md for the measurements behind this.

use super::super::MatmulLayout;
use super::{helper, pool, Buffer};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// Below this many multiply-adds (in all), batched products run on this thread.
const PAR_MIN_WORK: usize = 1 << 24;

/// From this many multiply-adds on, one product is split over this thread and the helpers.
const SPLIT_MIN_WORK: usize = 1 << 21;

/// Row and column strides (in elements) of an `rows×cols` operand stored row-major, or stored
/// `cols×rows` and read transposed.
fn strides(cols: usize, rows: usize, trans: bool) -> (isize, isize) {
    if trans {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

/// c (m×n with row stride `c_rs`) = a (m×k) · b (k×n) on the calling thread; every element of
/// the m×n block is written (it may start uninitialised). `a` and `b` are the stored operands
/// from their first addressed element; `a_rs/a_cs`, `b_rs/b_cs` their row and column strides.
#[allow(clippy::too_many_arguments)]
fn gemm_block(
    c: &mut [MaybeUninit<f32>],
    c_rs: usize,
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
    gemm_raw(Dst::Write(c), c_rs, a, (a_rs, a_cs), b, (b_rs, b_cs), (m, n, k))
}

/// A strided operand: the stored values from its first addressed element, and its row and column
/// strides in elements.
pub(super) type Strided<'a> = (&'a [f32], (isize, isize));

/// c (m×n, row stride `c_rs`) = a·b, or c += a·b with `accumulate`, on the calling thread: the
/// small products a kernel runs inside its own parallel loop (the fused attention's tiles).
pub(super) fn gemm_into(
    c: &mut [f32],
    c_rs: usize,
    a: Strided,
    b: Strided,
    mnk: (usize, usize, usize),
    accumulate: bool,
) {
    gemm_raw(Dst::Init(c, accumulate), c_rs, a.0, a.1, b.0, b.1, mnk)
}

/// Where a product goes: a block that may be uninitialised (written, never read), or an
/// initialised one, overwritten or (`true`) added to.
enum Dst<'a> {
    Write(&'a mut [MaybeUninit<f32>]),
    Init(&'a mut [f32], bool),
}

/// The one call into `gemm`.
#[allow(clippy::too_many_arguments)]
fn gemm_raw(
    c: Dst,
    c_rs: usize,
    a: &[f32],
    (a_rs, a_cs): (isize, isize),
    b: &[f32],
    (b_rs, b_cs): (isize, isize),
    (m, n, k): (usize, usize, usize),
) {
    let (c_len, accumulate) = match &c {
        Dst::Write(c) => (c.len(), false),
        Dst::Init(c, acc) => (c.len(), *acc),
    };
    assert!(n <= c_rs && (m == 0 || n == 0 || (m - 1) * c_rs + n <= c_len), "matmul: output block");
    // The largest element the strides address must lie inside each slice.
    let last = |rows: usize, cols: usize, rs: isize, cs: isize| (rows - 1) as isize * rs + (cols - 1) as isize * cs;
    if m * n == 0 || (k == 0 && accumulate) {
        return;
    }
    if k == 0 {
        match c {
            Dst::Write(c) => {
                c.chunks_mut(c_rs).take(m).for_each(|row| row[..n].iter_mut().for_each(|x| _ = x.write(0.0)))
            }
            Dst::Init(c, _) => c.chunks_mut(c_rs).take(m).for_each(|row| row[..n].fill(0.0)),
        }
        return;
    }
    assert!((last(m, k, a_rs, a_cs) as usize) < a.len(), "matmul: lhs block out of bounds");
    assert!((last(k, n, b_rs, b_cs) as usize) < b.len(), "matmul: rhs block out of bounds");
    let dst = match c {
        Dst::Write(c) => c.as_mut_ptr().cast::<f32>(),
        Dst::Init(c, _) => c.as_mut_ptr(),
    };
    // SAFETY: the assert above proves the m×n elements addressed with row stride c_rs and column
    // stride 1 lie inside `c`;
    // the asserts above prove every element of a (m×k) and b (k×n) that the strides address is
    // inside its slice; the slices do not overlap `c` (a distinct &mut). With read_dst = false,
    // gemm writes every element of c = 1.0·a·b and never reads it, so c may be uninitialised
    // (`Dst::Write`: `MaybeUninit<f32>` has the layout of f32); it reads c (c += a·b) only for
    // `Dst::Init`, whose slice is initialised f32s.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            c_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A new buffer of `len` elements, every one of which `fill` must initialise.
fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = pool::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` is only ever given closures (below) that pass the whole slice, in disjoint
    // blocks, to gemm_block, which initialises every element of its block.
    unsafe { out.set_len(len) };
    out
}

/// How a product's operands are read: strides and per-batch offsets.
#[derive(Clone, Copy)]
struct Operands {
    a_rs: isize,
    a_cs: isize,
    b_rs: isize,
    b_cs: isize,
    k: usize,
}

impl Operands {
    /// Rows `r0..r1` × columns `c0..c1` of the product whose operands start at `a_off` /
    /// `b_off`, written to `c` with row stride `c_rs`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        c: &mut [MaybeUninit<f32>],
        c_rs: usize,
        a: &[f32],
        a_off: usize,
        b: &[f32],
        b_off: usize,
        rows: (usize, usize),
        cols: (usize, usize),
    ) {
        let a = &a[a_off + rows.0 * self.a_rs as usize..];
        let b = &b[b_off + cols.0 * self.b_cs as usize..];
        gemm_block(c, c_rs, a, self.a_rs, self.a_cs, b, self.b_rs, self.b_cs, rows.1 - rows.0, cols.1 - cols.0, self.k);
    }
}

pub(super) fn matmul(a: &Arc<Buffer>, b: &Arc<Buffer>, l: &MatmulLayout) -> Vec<f32> {
    let (m, n, k) = (l.m, l.n, l.k);
    let (a_rs, a_cs) = strides(k, m, l.trans_a);
    let (b_rs, b_cs) = strides(n, k, l.trans_b);
    let ops = Operands { a_rs, a_cs, b_rs, b_cs, k };
    let work = m * n * k;
    filled(l.batch * m * n, |out| {
        if m * n == 0 {
            return;
        }
        if l.batch > 1 && work * l.batch >= PAR_MIN_WORK {
            // Many products (attention heads): one per rayon task.
            out.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
                ops.block(c, n, a, i * l.a_batch_stride, b, i * l.b_batch_stride, (0, m), (0, n));
            });
            return;
        }
        let parts = helper::parallelism();
        for (i, c) in out.chunks_mut(m * n).enumerate() {
            let (a_off, b_off) = (i * l.a_batch_stride, i * l.b_batch_stride);
            if work < SPLIT_MIN_WORK || parts == 1 || m.max(n) < 2 * parts {
                ops.block(c, n, a, a_off, b, b_off, (0, m), (0, n));
                continue;
            }
            // Split the longer side of the output in `parts` blocks, so each thread packs only
            // its share of the operand along that side. The first block is computed here into
            // place; the helpers own Arc clones of the operands and return theirs, copied in.
            let by_rows = m > n;
            let len = if by_rows { m } else { n };
            let step = len.div_ceil(parts);
            let span = |p: usize| ((p * step).min(len), ((p + 1) * step).min(len));
            let whole = |span: (usize, usize)| if by_rows { (span, (0, n)) } else { ((0, m), span) };
            let jobs: Vec<Box<dyn FnOnce() -> Vec<f32> + Send>> = (1..parts)
                .map(|p| {
                    let (a, b) = (Arc::clone(a), Arc::clone(b));
                    let (rows, cols) = whole(span(p));
                    let width = cols.1 - cols.0;
                    Box::new(move || {
                        filled((rows.1 - rows.0) * width, |c| ops.block(c, width, &a, a_off, &b, b_off, rows, cols))
                    }) as Box<dyn FnOnce() -> Vec<f32> + Send>
                })
                .collect();
            let (rows, cols) = whole(span(0));
            let blocks = helper::split(
                || {
                    ops.block(c, n, a, a_off, b, b_off, rows, cols);
                    Vec::new()
                },
                jobs,
            );
            for (p, data) in blocks.into_iter().enumerate().skip(1) {
                let (rows, cols) = whole(span(p));
                let width = cols.1 - cols.0;
                for (r, src) in (rows.0..rows.1).zip(data.chunks_exact(width.max(1))) {
                    let dst = &mut c[r * n + cols.0..r * n + cols.1];
                    dst.iter_mut().zip(src).for_each(|(d, &v)| {
                        d.write(v);
                    });
                }
                pool::give(data); // the helper's block, for the next product of this shape
            }
        }
    })
}
