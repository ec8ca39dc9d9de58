//! Elementwise kernels: unary maps, broadcasting binary and ternary ops, strided copies.
//!
//! Broadcasting reads each operand through an ndarray view with stride 0 on broadcast
//! dimensions; `Zip` walks the output (in parallel with rayon for large tensors). The common
//! cases — equal shapes, a scalar operand — skip the views and run as flat loops.

use super::{pool, PAR_THRESHOLD};
use crate::backend::op::BinaryOp;
use crate::backend::op::UnaryOp;
use crate::shape::contiguous_strides;
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn, ShapeBuilder, Zip};
use rayon::prelude::*;

/// Elements per parallel task: large enough that a task's overhead is noise, small enough that
/// both cores get work from a (256, 3072) activation.
const CHUNK: usize = 1 << 14;

/// `out[i] = f(x[i])` into a pooled buffer, in parallel chunks for large inputs (binary ops with
/// a scalar operand; unary ops go through the multiversioned [`unary_run`]).
fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = pool::take(x.len());
    let run = |(o, x): (&mut [f32], &[f32])| o.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
    if x.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(run);
    } else {
        run((&mut out, x));
    }
    out
}

/// `out[i] = f(a[i], b[i])`, like [`map`].
fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = pool::take(a.len());
    let run = |((o, a), b): ((&mut [f32], &[f32]), &[f32])| {
        o.iter_mut().zip(a).zip(b).for_each(|((o, &x), &y)| *o = f(x, y));
    };
    if a.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(run);
    } else {
        run(((&mut out, a), b));
    }
    out
}

/// Calls `$body` with `$op` rebound to a value whose variant the compiler knows, so that
/// `apply`/`derivative` inline to straight-line code in a loop without a per-element `match`
/// (and the simple ops vectorise).
macro_rules! specialise {
    ($op:expr, |$o:ident| $body:expr) => {
        match $op {
            UnaryOp::Neg => {
                let $o = UnaryOp::Neg;
                $body
            }
            UnaryOp::Relu => {
                let $o = UnaryOp::Relu;
                $body
            }
            UnaryOp::Exp => {
                let $o = UnaryOp::Exp;
                $body
            }
            UnaryOp::Tanh => {
                let $o = UnaryOp::Tanh;
                $body
            }
            UnaryOp::GeluTanh => {
                let $o = UnaryOp::GeluTanh;
                $body
            }
            UnaryOp::AddScalar(c) => {
                let $o = UnaryOp::AddScalar(c);
                $body
            }
            UnaryOp::MulScalar(c) => {
                let $o = UnaryOp::MulScalar(c);
                $body
            }
            UnaryOp::PowScalar(p) => {
                let $o = UnaryOp::PowScalar(p);
                $body
            }
            UnaryOp::RoundBf16 => {
                let $o = UnaryOp::RoundBf16;
                $body
            }
            UnaryOp::RoundFp16 => {
                let $o = UnaryOp::RoundFp16;
                $body
            }
            other => {
                let $o = other;
                $body
            }
        }
    };
}

// ANCHOR: cpu_unary
pub(super) fn unary(x: &[f32], op: UnaryOp) -> Vec<f32> {
    let mut out = pool::take(x.len());
    if x.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| unary_run(op, o, x));
    } else {
        unary_run(op, &mut out, x);
    }
    out
}
// ANCHOR_END: cpu_unary

/// One contiguous run of a unary op, compiled for AVX-512 and AVX2 as well as baseline x86-64
/// and chosen at run time (the `multiversion` crate), so the loop can use wide vectors.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn unary_run(op: UnaryOp, o: &mut [f32], x: &[f32]) {
    let x = &x[..o.len()];
    specialise!(op, |op| {
        for (o, &v) in o.iter_mut().zip(x) {
            *o = op.apply(v);
        }
    })
}

pub(super) fn unary_grad(x: &[f32], y: &[f32], g: &[f32], op: UnaryOp) -> Vec<f32> {
    let mut out = pool::take(x.len());
    if x.len() >= PAR_THRESHOLD {
        let parts = out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).zip(y.par_chunks(CHUNK));
        parts.zip(g.par_chunks(CHUNK)).for_each(|(((o, x), y), g)| unary_grad_run(op, o, x, y, g));
    } else {
        unary_grad_run(op, &mut out, x, y, g);
    }
    out
}

/// One contiguous run of a unary op's backward, `o = g·f′(x)`, multiversioned like [`unary_run`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn unary_grad_run(op: UnaryOp, o: &mut [f32], x: &[f32], y: &[f32], g: &[f32]) {
    let (x, y, g) = (&x[..o.len()], &y[..o.len()], &g[..o.len()]);
    specialise!(op, |op| {
        for (((o, &x), &y), &g) in o.iter_mut().zip(x).zip(y).zip(g) {
            *o = g * op.derivative(x, y);
        }
    })
}

fn binary_with(a: &[f32], b: &[f32], shapes: [&[usize]; 3], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let [sa, sb, so] = shapes;
    let n: usize = so.iter().product();
    // Fast paths: same shape, a scalar operand, or rhs repeated along leading dims (bias add).
    if sa == so && sb == so {
        return zip_map(a, b, f);
    }
    if sa == so && b.len() == 1 {
        let y = b[0];
        return map(a, |x| f(x, y));
    }
    if sb == so && a.len() == 1 {
        let x = a[0];
        return map(b, |y| f(x, y));
    }
    // rhs repeated along leading dims, e.g. a bias (N,) added to every row of (B, N).
    if sa == so && is_suffix(sb, so) && !b.is_empty() {
        let row =
            |(o, x): (&mut [f32], &[f32])| o.iter_mut().zip(x.iter().zip(b)).for_each(|(o, (&x, &y))| *o = f(x, y));
        let mut out = pool::take(n);
        if n >= PAR_THRESHOLD {
            out.par_chunks_mut(b.len()).zip(a.par_chunks(b.len())).for_each(row);
        } else {
            out.chunks_mut(b.len()).zip(a.chunks(b.len())).for_each(row);
        }
        return out;
    }
    // General case: ndarray broadcasts both operands (stride-0 views) and zips them.
    let (va, vb) = (view(a, sa), view(b, sb));
    let (va, vb) = (va.broadcast(so).expect("binary: broadcast"), vb.broadcast(so).expect("binary: broadcast"));
    let mut out = pool::take(n);
    let zip = Zip::from(view_mut(&mut out, so)).and(&va).and(&vb);
    if n >= PAR_THRESHOLD {
        zip.par_for_each(|o, &x, &y| *o = f(x, y));
    } else {
        zip.for_each(|o, &x, &y| *o = f(x, y));
    }
    out
}

pub(super) fn binary(a: &[f32], b: &[f32], op: BinaryOp, shapes: [&[usize]; 3]) -> Vec<f32> {
    // One monomorphised loop per op, so the inner loop has no branch on `op`.
    match op {
        BinaryOp::Add => binary_with(a, b, shapes, |x, y| x + y),
        BinaryOp::Sub => binary_with(a, b, shapes, |x, y| x - y),
        BinaryOp::Mul => binary_with(a, b, shapes, |x, y| x * y),
        BinaryOp::Div => binary_with(a, b, shapes, |x, y| x / y),
        other => binary_with(a, b, shapes, move |x, y| other.apply(x, y)),
    }
}

pub(super) fn where_cond(c: &[f32], a: &[f32], b: &[f32], shapes: [&[usize]; 4]) -> Vec<f32> {
    let [sc, sa, sb, so] = shapes;
    let n: usize = so.iter().product();
    // Fast path: a mask over the trailing dims repeated along the leading ones (attention's
    // causal mask over every batch entry and head), each value operand a scalar or the full
    // output — masked_fill and its backward. Flat loops over whole mask periods, in parallel.
    let plain = |x: &[f32], s: &[usize]| x.len() == 1 || s == so;
    if is_suffix(sc, so) && !c.is_empty() && n > 0 && plain(a, sa) && plain(b, sb) {
        let period = c.len();
        let at = |x: &[f32], i: usize| if x.len() == 1 { x[0] } else { x[i] };
        let run = |(p, o): (usize, &mut [f32])| {
            let base = p * period;
            for (j, (o, &m)) in o.iter_mut().zip(c).enumerate() {
                *o = if m != 0.0 { at(a, base + j) } else { at(b, base + j) };
            }
        };
        let mut out = pool::take(n);
        if n >= PAR_THRESHOLD {
            out.par_chunks_mut(period).enumerate().for_each(run);
        } else {
            out.chunks_mut(period).enumerate().for_each(run);
        }
        return out;
    }
    let (vc, va, vb) = (view(c, sc), view(a, sa), view(b, sb));
    let (vc, va, vb) = (
        vc.broadcast(so).expect("where: broadcast"),
        va.broadcast(so).expect("where: broadcast"),
        vb.broadcast(so).expect("where: broadcast"),
    );
    let mut out = pool::take(n);
    Zip::from(view_mut(&mut out, so))
        .and(&vc)
        .and(&va)
        .and(&vb)
        .for_each(|o, &c, &x, &y| *o = if c != 0.0 { x } else { y });
    out
}

/// Gathers `out_shape` elements read through `strides` from `offset`: ndarray builds the
/// strided view (a permutation, a broadcast with stride 0, a window) and copies it out in
/// row-major order.
pub(super) fn strided_copy(x: &[f32], out_shape: &[usize], strides: &[usize], offset: usize) -> Vec<f32> {
    let n: usize = out_shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    if strides == contiguous_strides(out_shape).as_slice() {
        let mut out = pool::with_capacity(n);
        out.extend_from_slice(&x[offset..offset + n]);
        return out;
    }
    let rank = out_shape.len();
    if strides[rank - 1] == 1 && out_shape[rank - 1] >= 16 {
        // The last dimension contiguous in the source (attention's heads, a narrow): whole runs
        // copied at once, the source offset stepped like an odometer over the other dimensions
        // (runs shorter than a 64-byte cache line stay with ndarray's element loop below).
        let run = out_shape[rank - 1];
        let (shape, strides) = (&out_shape[..rank - 1], &strides[..rank - 1]);
        let mut out = pool::take(n);
        let (mut idx, mut src) = (vec![0; rank - 1], offset);
        for o in out.chunks_exact_mut(run) {
            o.copy_from_slice(&x[src..src + run]);
            for d in (0..rank - 1).rev() {
                idx[d] += 1;
                src += strides[d];
                if idx[d] < shape[d] {
                    break;
                }
                src -= strides[d] * shape[d];
                idx[d] = 0;
            }
        }
        return out;
    }
    let v = ArrayViewD::from_shape(IxDyn(out_shape).strides(IxDyn(strides)), &x[offset..])
        .expect("strided_copy: view in bounds");
    let mut out = pool::take(n);
    view_mut(&mut out, out_shape).assign(&v);
    out
}

/// True when `small`, without leading 1s, equals the trailing dimensions of `full`.
fn is_suffix(small: &[usize], full: &[usize]) -> bool {
    let lead = small.iter().take_while(|&&d| d == 1).count();
    let core = &small[lead..];
    core.len() <= full.len() && full.ends_with(core)
}

/// A contiguous buffer as an n-dimensional ndarray view.
fn view<'a>(x: &'a [f32], shape: &[usize]) -> ArrayViewD<'a, f32> {
    ArrayViewD::from_shape(IxDyn(shape), x).expect("buffer length matches shape")
}

/// A contiguous output buffer as a mutable n-dimensional view.
fn view_mut<'a>(x: &'a mut [f32], shape: &[usize]) -> ArrayViewMutD<'a, f32> {
    ArrayViewMutD::from_shape(IxDyn(shape), x).expect("buffer length matches shape")
}
