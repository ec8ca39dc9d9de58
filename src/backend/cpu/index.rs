//! Concatenation and integer indexing: index_select / index_add, gather / scatter_add.

use super::{pool, split_at_dim};

pub(super) fn cat(parts: &[(&[f32], &[usize])], dim: usize) -> Vec<f32> {
    let shape0 = parts[0].1;
    let outer: usize = shape0[..dim].iter().product();
    let total: usize = parts.iter().map(|(d, _)| d.len()).sum();
    let mut out = pool::with_capacity(total);
    for o in 0..outer {
        for (data, shape) in parts {
            let run: usize = shape[dim..].iter().product();
            out.extend_from_slice(&data[o * run..(o + 1) * run]);
        }
    }
    out
}

fn check_index(op: &str, i: i64, size: usize) -> usize {
    if i < 0 || i as usize >= size {
        panic!("{op}: index {i} out of range for a dimension of size {size}");
    }
    i as usize
}

pub(super) fn index_select(x: &[f32], shape: &[usize], dim: usize, idx: &[i64]) -> Vec<f32> {
    let (outer, n, inner) = split_at_dim(shape, dim);
    let mut out = pool::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let i = check_index("index_select", i, n);
            out.extend_from_slice(&x[(o * n + i) * inner..(o * n + i + 1) * inner]);
        }
    }
    out
}

pub(super) fn index_add(g: &[f32], shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) -> Vec<f32> {
    let mut out = pool::zeroed(out_shape.iter().product());
    index_add_into(&mut out, g, shape, dim, idx, out_shape);
    out
}

/// `out` (of `out_shape`) += index_add of `g` (of `shape`): slice `j` of `g` along `dim` is added
/// to slice `idx[j]` of `out`.
pub(crate) fn index_add_into(
    out: &mut [f32],
    g: &[f32],
    shape: &[usize],
    dim: usize,
    idx: &[i64],
    out_shape: &[usize],
) {
    let (outer, m, inner) = split_at_dim(shape, dim);
    let n = out_shape[dim];
    for o in 0..outer {
        for (j, &i) in idx.iter().enumerate().take(m) {
            let i = check_index("index_add", i, n);
            let src = &g[(o * m + j) * inner..(o * m + j + 1) * inner];
            let dst = &mut out[(o * n + i) * inner..(o * n + i + 1) * inner];
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
        }
    }
}

/// Visits every element of an index tensor of `idx_shape`, passing its flat position and the
/// offset in a tensor of `shape` it addresses (dimension `dim` replaced by the index value).
fn for_each_indexed(
    op: &str,
    shape: &[usize],
    dim: usize,
    idx: &[i64],
    idx_shape: &[usize],
    mut f: impl FnMut(usize, usize),
) {
    let strides = crate::shape::contiguous_strides(shape);
    let rank = idx_shape.len();
    let mut pos = vec![0usize; rank];
    for (e, &iv) in idx.iter().enumerate() {
        let mut off = check_index(op, iv, shape[dim]) * strides[dim];
        for k in 0..rank {
            if k != dim {
                off += pos[k] * strides[k];
            }
        }
        f(e, off);
        for k in (0..rank).rev() {
            pos[k] += 1;
            if pos[k] < idx_shape[k] {
                break;
            }
            pos[k] = 0;
        }
    }
}

pub(super) fn gather(x: &[f32], shape: &[usize], dim: usize, idx: &[i64], idx_shape: &[usize]) -> Vec<f32> {
    let mut out = pool::take(idx.len());
    for_each_indexed("gather", shape, dim, idx, idx_shape, |e, off| out[e] = x[off]);
    out
}

pub(super) fn scatter_add(src: &[f32], idx: &[i64], idx_shape: &[usize], dim: usize, out_shape: &[usize]) -> Vec<f32> {
    let mut out = pool::zeroed(out_shape.iter().product());
    for_each_indexed("scatter_add", out_shape, dim, idx, idx_shape, |e, off| out[off] += src[e]);
    out
}
