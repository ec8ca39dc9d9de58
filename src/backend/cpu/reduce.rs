//! Reductions along one dimension, arg-reductions and the row softmax.

use super::{pool, split_at_dim, PAR_THRESHOLD};
use crate::backend::op::exp_fast;
use crate::backend::op::ReduceOp;
use rayon::prelude::*;

/// Sum of a contiguous run with 8 independent accumulators: vectorises, and the error grows
/// like that of 8 short sums rather than one long one.
fn sum_run(x: &[f32]) -> f32 {
    sum_map(x, |v| v)
}

/// Σⱼ f(x[j]) the way [`sum_run`] sums: 8 accumulators, so the loop vectorises (one running
/// sum would make each add wait for the one before).
fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    let mut s = lanes(acc);
    for &v in rest {
        s += f(v);
    }
    s
}

/// The 8 accumulators added pairwise.
fn lanes(acc: [f32; 8]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

fn reduce_run(x: &[f32], op: ReduceOp) -> f32 {
    match op {
        ReduceOp::Sum => sum_run(x),
        ReduceOp::Max => x.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ReduceOp::Min => x.iter().copied().fold(f32::INFINITY, f32::min),
    }
}

pub(super) fn reduce(x: &[f32], op: ReduceOp, shape: &[usize], dim: usize) -> Vec<f32> {
    let (outer, n, inner) = split_at_dim(shape, dim);
    let mut out = pool::take(outer * inner);
    if inner == 1 {
        // Each output is one contiguous run of x.
        let f = |(o, v): (usize, &mut f32)| *v = reduce_run(&x[o * n..(o + 1) * n], op);
        if x.len() >= PAR_THRESHOLD && outer > 1 {
            out.par_iter_mut().enumerate().for_each(f);
        } else {
            out.iter_mut().enumerate().for_each(f);
        }
        return out;
    }
    // Each output row of `inner` accumulates `n` rows of x, element by element.
    let f = |(o, acc): (usize, &mut [f32])| {
        let block = &x[o * n * inner..(o + 1) * n * inner];
        match op {
            ReduceOp::Sum => acc.fill(0.0),
            ReduceOp::Max => acc.fill(f32::NEG_INFINITY),
            ReduceOp::Min => acc.fill(f32::INFINITY),
        }
        for row in block.chunks_exact(inner) {
            match op {
                ReduceOp::Sum => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v),
                ReduceOp::Max => acc.iter_mut().zip(row).for_each(|(a, &v)| *a = a.max(v)),
                ReduceOp::Min => acc.iter_mut().zip(row).for_each(|(a, &v)| *a = a.min(v)),
            }
        }
    };
    if x.len() >= PAR_THRESHOLD && outer > 1 {
        out.par_chunks_mut(inner).enumerate().for_each(f);
    } else {
        out.chunks_mut(inner).enumerate().for_each(f);
    }
    out
}

pub(super) fn arg_reduce(x: &[f32], shape: &[usize], dim: usize, largest: bool) -> Vec<i64> {
    let (outer, n, inner) = split_at_dim(shape, dim);
    let mut out = vec![0i64; outer * inner];
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0;
            let mut best_v = x[o * n * inner + i];
            for j in 1..n {
                let v = x[(o * n + j) * inner + i];
                if (largest && v > best_v) || (!largest && v < best_v) {
                    best = j;
                    best_v = v;
                }
            }
            out[o * inner + i] = best as i64;
        }
    }
    out
}

// ANCHOR: softmax_kernel
/// softmax(x)_i = exp(x_i − m) / Σ_j exp(x_j − m) with m = max_j x_j (subtracting m keeps
/// exp from overflowing and changes nothing mathematically);
/// log_softmax(x)_i = x_i − m − log Σ_j exp(x_j − m).
pub(super) fn softmax_last(x: &[f32], cols: usize, log: bool) -> Vec<f32> {
    let mut out = pool::take(x.len());
    if cols == 0 {
        return out;
    }
    // whole rows per task, about PAR_THRESHOLD/2 elements each
    let n = cols * (PAR_THRESHOLD / 2 / cols).max(1);
    if x.len() >= PAR_THRESHOLD {
        x.par_chunks(n).zip(out.par_chunks_mut(n)).for_each(|(x, o)| softmax_rows(x, o, cols, log));
    } else {
        softmax_rows(x, &mut out, cols, log);
    }
    out
}

/// The rows of `x` (each `cols` long) into `out`; compiled for AVX-512 and AVX2 too (chosen at run
/// time), where `exp_fast` vectorises.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn softmax_rows(x: &[f32], out: &mut [f32], cols: usize, log: bool) {
    for (xr, o) in x.chunks(cols).zip(out.chunks_mut(cols)) {
        let m = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (o, &v) in o.iter_mut().zip(xr) {
            *o = exp_fast(v - m);
        }
        let s = sum_run(o);
        if log {
            let ls = s.ln();
            for (o, &v) in o.iter_mut().zip(xr) {
                *o = v - m - ls;
            }
        } else {
            let inv = 1.0 / s;
            o.iter_mut().for_each(|o| *o *= inv);
        }
    }
}
// ANCHOR_END: softmax_kernel

/// Attention's probabilities from its raw scores in one pass per row: softmax over rows of
/// `cols` of z, z = `fill` where the mask is set and `scale`·x elsewhere — the same arithmetic
/// as `(x * scale).masked_fill(mask, fill).softmax(-1)` ([`softmax_rows`]), so the same bits.
/// Row r of x reads the `cols` mask values from `mask_rows[r]` on (a causal (T, T) mask is the
/// same few rows for every batch entry and head; a padding mask differs by batch entry).
pub(crate) fn masked_softmax(
    x: &[f32],
    mask: &[f32],
    mask_rows: &[usize],
    cols: usize,
    scale: f32,
    fill: f32,
) -> Vec<f32> {
    let mut out = pool::take(x.len());
    if cols == 0 {
        return out;
    }
    // blocks of whole rows, about PAR_THRESHOLD/2 elements each (a task per row of a (T, T)
    // score matrix would be thousands of tiny tasks)
    let per = (PAR_THRESHOLD / 2 / cols).max(1);
    let block = |(i, (xb, ob)): (usize, (&[f32], &mut [f32]))| {
        masked_softmax_rows((xb, ob), (mask, &mask_rows[i * per..]), cols, scale, fill);
    };
    if x.len() >= PAR_THRESHOLD {
        x.par_chunks(per * cols).zip(out.par_chunks_mut(per * cols)).enumerate().for_each(block);
    } else {
        block((0, (x, &mut out)));
    }
    out
}

/// A block of rows of [`masked_softmax`], each row's softmax as [`softmax_rows`] computes it;
/// compiled for AVX-512 and AVX2 too, the whole block in one call (a (T, T) score row is short).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn masked_softmax_rows(
    (x, out): (&[f32], &mut [f32]),
    (mask, rows): (&[f32], &[usize]),
    cols: usize,
    scale: f32,
    fill: f32,
) {
    for ((xr, o), &at) in x.chunks(cols).zip(out.chunks_mut(cols)).zip(rows) {
        for ((o, &v), &m) in o.iter_mut().zip(xr).zip(&mask[at..at + cols]) {
            *o = if m != 0.0 { fill } else { scale * v };
        }
        let m = o.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        o.iter_mut().for_each(|o| *o = exp_fast(*o - m));
        let inv = 1.0 / sum_run(o);
        o.iter_mut().for_each(|o| *o *= inv);
    }
}

/// A block of rows of [`masked_softmax_grad`], compiled like [`masked_softmax_rows`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn masked_softmax_grad_rows(
    (y, g, out): (&[f32], &[f32], &mut [f32]),
    (mask, rows): (&[f32], &[usize]),
    cols: usize,
    scale: f32,
) {
    for (((o, yr), gr), &at) in out.chunks_mut(cols).zip(y.chunks(cols)).zip(g.chunks(cols)).zip(rows) {
        let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
        for (((o, &y), &g), &m) in o.iter_mut().zip(yr).zip(gr).zip(&mask[at..at + cols]) {
            *o = if m != 0.0 { 0.0 } else { y * (g - dot) * scale };
        }
    }
}

/// [`masked_softmax`]'s backward from its output y: ∂L/∂x = scale·y ⊙ (g − Σ g·y), 0 where the
/// mask is set — softmax's backward, then the masked fill's (0 at the filled places) and the
/// scale's, in the order those three backward rules apply them (the same bits).
pub(crate) fn masked_softmax_grad(
    y: &[f32],
    g: &[f32],
    (mask, mask_rows): (&[f32], &[usize]),
    cols: usize,
    scale: f32,
) -> Vec<f32> {
    let mut out = pool::take(y.len());
    if cols == 0 {
        return out;
    }
    let per = (PAR_THRESHOLD / 2 / cols).max(1);
    if y.len() >= PAR_THRESHOLD {
        let n = per * cols;
        out.par_chunks_mut(n).zip(y.par_chunks(n).zip(g.par_chunks(n))).enumerate().for_each(|(i, (ob, (yb, gb)))| {
            masked_softmax_grad_rows((yb, gb, ob), (mask, &mask_rows[i * per..]), cols, scale);
        });
    } else {
        masked_softmax_grad_rows((y, g, &mut out), (mask, mask_rows), cols, scale);
    }
    out
}

/// One row of layer norm's work: (input, output) and (mean, rstd) slots.
type LayerNormRow<'a> = ((&'a [f32], &'a mut [f32]), (&'a mut f32, &'a mut f32));

// ANCHOR: layer_norm_kernel
/// Layer norm of each row of `cols`: μ = mean, σ² = mean((x − μ)²), rstd = 1/√(σ² + eps),
/// y = (x − μ)·rstd·w + b. One pass for μ and one for σ² (two-pass: no cancellation).
pub(super) fn layer_norm(x: &[f32], w: &[f32], b: &[f32], cols: usize, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = x.len() / cols.max(1);
    let (mut y, mut mean, mut rstd) = (pool::take(x.len()), pool::take(rows), pool::take(rows));
    let row = |((xr, yr), (m, r)): LayerNormRow<'_>| {
        let mu = sum_run(xr) / cols as f32;
        let var = sum_map(xr, |v| (v - mu) * (v - mu)) / cols as f32;
        let rs = 1.0 / (var + eps).sqrt();
        for (j, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
            *o = (v - mu) * rs * w[j] + b[j];
        }
        (*m, *r) = (mu, rs);
    };
    if x.len() >= PAR_THRESHOLD {
        x.par_chunks(cols).zip(y.par_chunks_mut(cols)).zip(mean.par_iter_mut().zip(rstd.par_iter_mut())).for_each(row);
    } else {
        x.chunks(cols).zip(y.chunks_mut(cols)).zip(mean.iter_mut().zip(rstd.iter_mut())).for_each(row);
    }
    (y, mean, rstd)
}
// ANCHOR_END: layer_norm_kernel

/// A task's block of rows for layer norm's backward: (index, (dx, (x, g))).
type RowBlock<'a> = (usize, (&'a mut [f32], (&'a [f32], &'a [f32])));

// ANCHOR: layer_norm_backward_kernel
/// Layer norm's backward in one pass per row, from the saved μ and rstd: with x̂ = (x − μ)·rstd
/// and ĝ = g⊙w, dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)); dw = Σ_rows g⊙x̂ and db = Σ_rows g,
/// summed per task over a block of rows and then across tasks.
pub(crate) fn layer_norm_backward(
    x: &[f32],
    w: &[f32],
    mean: &[f32],
    rstd: &[f32],
    g: &[f32],
    cols: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = pool::take(x.len());
    let block_rows = (PAR_THRESHOLD / cols.max(1)).max(1);
    let block = |(r0, (dxb, (xb, gb))): RowBlock<'_>| {
        let (mut dw, mut db) = (vec![0.0f32; cols], vec![0.0f32; cols]);
        for (i, ((dxr, xr), gr)) in dxb.chunks_mut(cols).zip(xb.chunks(cols)).zip(gb.chunks(cols)).enumerate() {
            let (mu, rs) = (mean[r0 * block_rows + i], rstd[r0 * block_rows + i]);
            // Σ ĝ and Σ ĝ·x̂ in 8 lanes each (as sum_map), so the loop vectorises.
            let (mut gh8, mut ghx8) = ([0.0f32; 8], [0.0f32; 8]);
            let whole = cols - cols % 8;
            for ((x8, g8), w8) in xr[..whole].chunks_exact(8).zip(gr[..whole].chunks_exact(8)).zip(w.chunks_exact(8)) {
                for l in 0..8 {
                    let gh = g8[l] * w8[l];
                    gh8[l] += gh;
                    ghx8[l] += gh * ((x8[l] - mu) * rs);
                }
            }
            let (mut sum_gh, mut sum_ghx) = (lanes(gh8), lanes(ghx8));
            for j in whole..cols {
                let gh = gr[j] * w[j];
                sum_gh += gh;
                sum_ghx += gh * ((xr[j] - mu) * rs);
            }
            for j in 0..cols {
                dw[j] += gr[j] * ((xr[j] - mu) * rs);
                db[j] += gr[j];
            }
            let (a, b) = (sum_gh / cols as f32, sum_ghx / cols as f32);
            for j in 0..cols {
                let xh = (xr[j] - mu) * rs;
                dxr[j] = rs * (gr[j] * w[j] - a - xh * b);
            }
        }
        (dw, db)
    };
    let n = block_rows * cols;
    let work = dx.chunks_mut(n).zip(x.chunks(n).zip(g.chunks(n))).enumerate();
    let add = |(mut w1, mut b1): (Vec<f32>, Vec<f32>), (w2, b2): (Vec<f32>, Vec<f32>)| {
        w1.iter_mut().zip(w2).for_each(|(a, b)| *a += b);
        b1.iter_mut().zip(b2).for_each(|(a, b)| *a += b);
        (w1, b1)
    };
    let zero = || (vec![0.0; cols], vec![0.0; cols]);
    let (dw, db) = if x.len() >= PAR_THRESHOLD {
        let work = dx.par_chunks_mut(n).zip(x.par_chunks(n).zip(g.par_chunks(n))).enumerate();
        work.map(block).reduce(zero, add)
    } else {
        work.map(block).fold(zero(), add)
    };
    (dx, dw, db)
}
// ANCHOR_END: layer_norm_backward_kernel

/// Fused cross-entropy, one row at a time: lse = m + ln Σ exp(z − m) (m the row's max) and
/// ℓ = lse − z[target]. The twin of reduce.cu's cross_entropy_rows_f32.
pub(super) fn cross_entropy_rows(z: &[f32], cols: usize, targets: &[i64]) -> (Vec<f32>, Vec<f32>) {
    let rows = targets.len();
    let (mut loss, mut lse) = (pool::take(rows), pool::take(rows));
    let row = |((zr, &t), (l, s)): ((&[f32], &i64), (&mut f32, &mut f32))| {
        let m = row_max(zr);
        let e = m + (sum_exp_f64(zr, m).ln() as f32);
        (*l, *s) = (e - zr[t as usize], e);
    };
    let work = z.chunks(cols.max(1)).zip(targets.iter());
    if z.len() >= PAR_THRESHOLD {
        z.par_chunks(cols.max(1))
            .zip(targets.par_iter())
            .zip(loss.par_iter_mut().zip(lse.par_iter_mut()))
            .for_each(row);
    } else {
        work.zip(loss.iter_mut().zip(lse.iter_mut())).for_each(row);
    }
    (loss, lse)
}

/// Σ exp(z − m) over a row: 512 exponentials at a time by `exp_fast` into a stack buffer (a loop
/// that vectorises; an accumulating one did not, 5× slower), each block summed in f32 by
/// [`sum_run`]'s eight lanes, the blocks added in f64. A GPT-2 row has 50257 terms, mostly tiny
/// next to the running sum, and one f32 sum of them all drifts by ~1e-5 relative (measured; see
/// the width test in ops/tests.rs); a block of 512 stays far below that.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn sum_exp_f64(z: &[f32], m: f32) -> f64 {
    let mut total = 0.0f64;
    let mut e = [0.0f32; 512];
    for block in z.chunks(512) {
        let e = &mut e[..block.len()];
        for (e, &v) in e.iter_mut().zip(block) {
            *e = exp_fast(v - m);
        }
        total += f64::from(sum_run(e));
    }
    total
}

/// The largest value of a row, in eight lanes (a NaN is skipped, as `f32::max` skips it; the
/// sum of exponentials then carries it to the loss).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn row_max(z: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let lanes = z.chunks_exact(8);
    let rest = lanes.remainder();
    for c in lanes {
        for i in 0..8 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().chain(rest).copied().fold(f32::NEG_INFINITY, f32::max)
}

/// o = g·exp(z − lse) over a row (the softmax times the incoming gradient), vectorised.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn scaled_exp_row(o: &mut [f32], z: &[f32], lse: f32, g: f32) {
    for (o, &v) in o.iter_mut().zip(z) {
        *o = g * exp_fast(v - lse);
    }
}

/// ∂L/∂z[i, j] = g[i]·(exp(z[i, j] − lse[i]) − [j = target[i]]).
pub(super) fn cross_entropy_rows_grad(z: &[f32], lse: &[f32], targets: &[i64], g: &[f32], cols: usize) -> Vec<f32> {
    let mut out = pool::take(z.len());
    let row = |(i, (o, zr)): (usize, (&mut [f32], &[f32]))| {
        scaled_exp_row(o, zr, lse[i], g[i]);
        if let Some(o) = usize::try_from(targets[i]).ok().and_then(|t| o.get_mut(t)) {
            *o -= g[i]; // the target's −1, after the row's exponentials
        }
    };
    if z.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(cols.max(1)).zip(z.par_chunks(cols.max(1))).enumerate().for_each(row);
    } else {
        out.chunks_mut(cols.max(1)).zip(z.chunks(cols.max(1))).enumerate().for_each(row);
    }
    out
}

/// Softmax's backward, row by row: dx = y ⊙ (g − Σ g·y). The twin of reduce.cu's
/// softmax_grad_rows_f32.
pub(super) fn softmax_last_grad(y: &[f32], g: &[f32], cols: usize) -> Vec<f32> {
    let mut out = pool::take(y.len());
    let row = |((o, yr), gr): ((&mut [f32], &[f32]), &[f32])| {
        let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
        for ((o, &y), &g) in o.iter_mut().zip(yr).zip(gr) {
            *o = y * (g - dot);
        }
    };
    let c = cols.max(1);
    if y.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(c).zip(y.par_chunks(c)).zip(g.par_chunks(c)).for_each(row);
    } else {
        out.chunks_mut(c).zip(y.chunks(c)).zip(g.chunks(c)).for_each(row);
    }
    out
}
