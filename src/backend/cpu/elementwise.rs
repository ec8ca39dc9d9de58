//! Elementwise kernels: unary maps, broadcasting binary and ternary ops, strided copies.
//!
//! Broadcasting reads each operand through strides (0 on broadcast dimensions) and walks the
//! output row by row (a row = the last dimension), so the inner loop is a plain strided loop the
//! compiler vectorises when the strides are 0 or 1.

use super::PAR_THRESHOLD;
use crate::ops::binary::BinaryOp;
use crate::ops::unary::UnaryOp;
use crate::shape::{broadcast_strides, contiguous_strides};
use rayon::prelude::*;

/// `out[i] = f(x[i])`, in parallel for large inputs.
fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    if x.len() >= PAR_THRESHOLD {
        x.par_iter().map(|&v| f(v)).collect()
    } else {
        x.iter().map(|&v| f(v)).collect()
    }
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
            other => {
                let $o = other;
                $body
            }
        }
    };
}

pub(super) fn unary(x: &[f32], op: UnaryOp) -> Vec<f32> {
    specialise!(op, |o| map(x, move |v| o.apply(v)))
}

fn unary_grad_with(x: &[f32], y: &[f32], g: &[f32], op: UnaryOp) -> Vec<f32> {
    let f = |((x, y), g): ((&f32, &f32), &f32)| g * op.derivative(*x, *y);
    if x.len() >= PAR_THRESHOLD {
        x.par_iter().zip(y.par_iter()).zip(g.par_iter()).map(f).collect()
    } else {
        x.iter().zip(y.iter()).zip(g.iter()).map(f).collect()
    }
}

pub(super) fn unary_grad(x: &[f32], y: &[f32], g: &[f32], op: UnaryOp) -> Vec<f32> {
    specialise!(op, |o| unary_grad_with(x, y, g, o))
}

/// Offset of row `row` (a row is the last dimension) in an operand with `strides`, for an
/// output whose leading dimensions are `lead`.
#[inline]
fn row_offset(mut row: usize, lead: &[usize], strides: &[usize]) -> usize {
    let mut off = 0;
    for k in (0..lead.len()).rev() {
        off += (row % lead[k]) * strides[k];
        row /= lead[k];
    }
    off
}

/// Runs `body(row_index, out_row)` over the rows of an output of `out_shape`.
fn for_each_row(out: &mut [f32], out_shape: &[usize], body: impl Fn(usize, &mut [f32]) + Sync) {
    let cols = out_shape.last().copied().unwrap_or(1).max(1);
    if out.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| body(r, row));
    } else {
        out.chunks_mut(cols).enumerate().for_each(|(r, row)| body(r, row));
    }
}

fn binary_with(a: &[f32], b: &[f32], shapes: [&[usize]; 3], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let [sa, sb, so] = shapes;
    let n: usize = so.iter().product();
    // Fast paths: same shape, a scalar operand, or rhs repeated along leading dims (bias add).
    if sa == so && sb == so {
        return if n >= PAR_THRESHOLD {
            a.par_iter().zip(b.par_iter()).map(|(&x, &y)| f(x, y)).collect()
        } else {
            a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
        };
    }
    if sa == so && b.len() == 1 {
        let y = b[0];
        return map(a, |x| f(x, y));
    }
    if sb == so && a.len() == 1 {
        let x = a[0];
        return map(b, |y| f(x, y));
    }
    let mut out = vec![0.0; n];
    if so.is_empty() {
        out[0] = f(a[0], b[0]);
        return out;
    }
    let (ta, tb) = (broadcast_strides(sa, so), broadcast_strides(sb, so));
    let r = so.len() - 1;
    let (ca, cb) = (ta[r], tb[r]);
    for_each_row(&mut out, so, |row, o| {
        let oa = row_offset(row, &so[..r], &ta[..r]);
        let ob = row_offset(row, &so[..r], &tb[..r]);
        match (ca, cb) {
            (1, 1) => o.iter_mut().zip(&a[oa..]).zip(&b[ob..]).for_each(|((o, &x), &y)| *o = f(x, y)),
            (1, 0) => o.iter_mut().zip(&a[oa..]).for_each(|(o, &x)| *o = f(x, b[ob])),
            (0, 1) => o.iter_mut().zip(&b[ob..]).for_each(|(o, &y)| *o = f(a[oa], y)),
            _ => o.iter_mut().enumerate().for_each(|(j, o)| *o = f(a[oa + j * ca], b[ob + j * cb])),
        }
    });
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
    let mut out = vec![0.0; n];
    if so.is_empty() {
        out[0] = if c[0] != 0.0 { a[0] } else { b[0] };
        return out;
    }
    let (tc, ta, tb) = (broadcast_strides(sc, so), broadcast_strides(sa, so), broadcast_strides(sb, so));
    let r = so.len() - 1;
    for_each_row(&mut out, so, |row, o| {
        let (oc, oa, ob) = (
            row_offset(row, &so[..r], &tc[..r]),
            row_offset(row, &so[..r], &ta[..r]),
            row_offset(row, &so[..r], &tb[..r]),
        );
        for (j, o) in o.iter_mut().enumerate() {
            *o = if c[oc + j * tc[r]] != 0.0 { a[oa + j * ta[r]] } else { b[ob + j * tb[r]] };
        }
    });
    out
}

pub(super) fn strided_copy(x: &[f32], out_shape: &[usize], strides: &[usize], offset: usize) -> Vec<f32> {
    let n: usize = out_shape.iter().product();
    if out_shape.is_empty() {
        return vec![x[offset]];
    }
    if strides == contiguous_strides(out_shape).as_slice() {
        return x[offset..offset + n].to_vec();
    }
    let mut out = vec![0.0; n];
    let r = out_shape.len() - 1;
    let c = strides[r];
    for_each_row(&mut out, out_shape, |row, o| {
        let base = offset + row_offset(row, &out_shape[..r], &strides[..r]);
        if c == 1 {
            o.copy_from_slice(&x[base..base + o.len()]);
        } else {
            o.iter_mut().enumerate().for_each(|(j, o)| *o = x[base + j * c]);
        }
    });
    out
}
