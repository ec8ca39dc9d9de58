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

/// c (m×n, row stride `c_rs`) = a (m×k)·b (k×n) on the calling thread, written into an
/// uninitialised block or added to an initialised one ([`Dst`]); `a` and `b` are the stored
/// operands from their first addressed element, with their row and column strides. The one call
/// into `gemm`.
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

/// A product's output as it is built: uninitialised (each block written once), or, with a bias,
/// each block set to the bias rows by the thread that computes it, just before it adds the
/// product in (so that pass is shared by the threads and leaves the block in their cache).
enum Out<'a> {
    Fresh(&'a mut [MaybeUninit<f32>]),
    Biased(&'a mut [f32], &'a [f32]),
}

impl Out<'_> {
    /// The block of `rows` rows (row stride `c_rs`) and columns `cols` whose first element is at
    /// `from`, as a GEMM destination: written, or holding the bias's `cols` and added to.
    fn at(&mut self, from: usize, c_rs: usize, rows: usize, cols: (usize, usize)) -> Dst<'_> {
        match self {
            Out::Fresh(c) => Dst::Write(&mut c[from..]),
            Out::Biased(c, bias) => {
                let width = cols.1 - cols.0;
                for r in 0..rows {
                    c[from + r * c_rs..from + r * c_rs + width].copy_from_slice(&bias[cols.0..cols.1]);
                }
                Dst::Init(&mut c[from..], true)
            }
        }
    }

    /// Puts a block computed elsewhere (`src`, one row of it) at element `from`.
    fn put(&mut self, from: usize, src: &[f32]) {
        match self {
            Out::Fresh(c) => c[from..from + src.len()].iter_mut().zip(src).for_each(|(d, &v)| _ = d.write(v)),
            Out::Biased(c, _) => c[from..from + src.len()].copy_from_slice(src),
        }
    }
}

/// A new buffer of `len` elements built by `fill`, which must write every element (or, with
/// `bias`, add to every element the bias it sets first: see [`Out`]).
fn filled(len: usize, bias: Option<&[f32]>, fill: impl FnOnce(Out)) -> Vec<f32> {
    if let Some(bias) = bias {
        let mut out = pool::take(len); // initialised (old values): every block sets its bias
        fill(Out::Biased(&mut out, bias));
        return out;
    }
    let mut out = pool::with_capacity(len);
    fill(Out::Fresh(&mut out.spare_capacity_mut()[..len]));
    // SAFETY: `fill` is only ever given closures (below) that pass the whole slice, in disjoint
    // blocks, to gemm_raw as `Dst::Write`, which initialises every element of its block.
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
    /// `b_off`, into `c` with row stride `c_rs`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        c: Dst,
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
        let mnk = (rows.1 - rows.0, cols.1 - cols.0, self.k);
        gemm_raw(c, c_rs, a, (self.a_rs, self.a_cs), b, (self.b_rs, self.b_cs), mnk);
    }
}

/// `l.batch` products a·b, each plus `bias` (n values added to every row) when given: the bias
/// is the output's starting value and each product is accumulated into it, as BLAS's
/// C = A·B + 1·C does (PyTorch's `addmm`), so no separate pass adds it.
pub(super) fn matmul(a: &Arc<Buffer>, b: &Arc<Buffer>, bias: Option<&Arc<Buffer>>, l: &MatmulLayout) -> Vec<f32> {
    let (m, n, k) = (l.m, l.n, l.k);
    let (a_rs, a_cs) = strides(k, m, l.trans_a);
    let (b_rs, b_cs) = strides(n, k, l.trans_b);
    let ops = Operands { a_rs, a_cs, b_rs, b_cs, k };
    let work = m * n * k;
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "matmul: a bias of {} for {n} output columns", bias.len());
    }
    filled(l.batch * m * n, bias.map(|b| &b[..]), |mut out| {
        if m * n == 0 {
            return;
        }
        if l.batch > 1 && work * l.batch >= PAR_MIN_WORK {
            // Many products (attention heads): one per rayon task.
            let one = |i: usize, mut c: Out| {
                ops.block(c.at(0, n, m, (0, n)), n, a, i * l.a_batch_stride, b, i * l.b_batch_stride, (0, m), (0, n))
            };
            match out {
                Out::Fresh(c) => c.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| one(i, Out::Fresh(c))),
                Out::Biased(c, bias) => {
                    c.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| one(i, Out::Biased(c, bias)))
                }
            }
            return;
        }
        let parts = helper::parallelism();
        for i in 0..l.batch {
            let (a_off, b_off, at) = (i * l.a_batch_stride, i * l.b_batch_stride, i * m * n);
            if work < SPLIT_MIN_WORK || parts == 1 || m.max(n) < 2 * parts {
                ops.block(out.at(at, n, m, (0, n)), n, a, a_off, b, b_off, (0, m), (0, n));
                continue;
            }
            // Split the longer side of the output in `parts` blocks, so each thread packs only
            // its share of the operand along that side. The first block is computed here into
            // place; the helpers own Arc clones of the operands (and the bias) and return
            // theirs, copied in.
            let by_rows = m > n;
            let len = if by_rows { m } else { n };
            let step = len.div_ceil(parts);
            let span = |p: usize| ((p * step).min(len), ((p + 1) * step).min(len));
            let whole = |span: (usize, usize)| if by_rows { (span, (0, n)) } else { ((0, m), span) };
            let jobs: Vec<Box<dyn FnOnce() -> Vec<f32> + Send>> = (1..parts)
                .map(|p| {
                    let (a, b, bias) = (Arc::clone(a), Arc::clone(b), bias.map(Arc::clone));
                    let (rows, cols) = whole(span(p));
                    let width = cols.1 - cols.0;
                    Box::new(move || {
                        let bias = bias.as_ref().map(|b| &b[cols.0..cols.1]);
                        filled((rows.1 - rows.0) * width, bias, |mut c| {
                            let c = c.at(0, width, rows.1 - rows.0, (0, width));
                            ops.block(c, width, &a, a_off, &b, b_off, rows, cols)
                        })
                    }) as Box<dyn FnOnce() -> Vec<f32> + Send>
                })
                .collect();
            let (rows, cols) = whole(span(0));
            let blocks = helper::split(
                || {
                    let c = out.at(at + rows.0 * n + cols.0, n, rows.1 - rows.0, cols);
                    ops.block(c, n, a, a_off, b, b_off, rows, cols);
                    Vec::new()
                },
                jobs,
            );
            for (p, data) in blocks.into_iter().enumerate().skip(1) {
                let (rows, cols) = whole(span(p));
                let width = cols.1 - cols.0;
                for (r, src) in (rows.0..rows.1).zip(data.chunks_exact(width.max(1))) {
                    out.put(at + r * n + cols.0, src);
                }
                pool::give(data); // the helper's block, for the next product of this shape
            }
        }
    })
}
