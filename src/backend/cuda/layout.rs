//! How an elementwise launch addresses its operands: shapes and strides packed into a by-value
//! kernel parameter (`ShapeInfo`), and the merged-dimension `Layout` that lets most broadcasting
//! kernels decode a rank-1 or rank-2 index in 32-bit arithmetic.

use cudarc::driver::DeviceRepr;

/// Shapes and strides for a kernel, passed by value as a launch parameter (kernels' `ShapeInfo`):
/// copying them to the GPU would cost an allocation and a transfer per launch.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ShapeInfo {
    v: [u64; 32],
}

// SAFETY: a plain array of u64, laid out as the kernels' `struct ShapeInfo { size_t v[32]; }`.
unsafe impl DeviceRepr for ShapeInfo {}

/// Packs `[dims, strides…]` (at most 32 words: rank ≤ 8 with three operands).
pub(crate) fn shape_info(words: &[usize]) -> ShapeInfo {
    assert!(words.len() <= 32, "CUDA backend: tensors of rank above 8 are not supported ({} shape words)", words.len());
    let mut v = [0u64; 32];
    v.iter_mut().zip(words).for_each(|(d, &w)| *d = w as u64);
    ShapeInfo { v }
}

/// The index layout of an elementwise launch: dims merged where every operand allows it (a
/// dimension joins the one before it when, for each operand, stride_outer = stride_inner·size),
/// size-1 dims dropped, and whether 32-bit indices suffice for the output and every operand.
pub(crate) struct Layout {
    pub(crate) dims: Vec<usize>,
    pub(crate) strides: Vec<Vec<usize>>,
    pub(crate) idx32: i32,
}

impl Layout {
    pub(crate) fn new(dims: &[usize], strides: &[&[usize]], offsets: &[usize]) -> Layout {
        let k = strides.len();
        let (mut md, mut ms): (Vec<usize>, Vec<Vec<usize>>) = (Vec::new(), vec![Vec::new(); k]);
        for d in 0..dims.len() {
            if dims[d] == 1 {
                continue;
            }
            let merge = !md.is_empty() && (0..k).all(|o| ms[o].last() == Some(&(strides[o][d] * dims[d])));
            if merge {
                *md.last_mut().unwrap() *= dims[d];
                (0..k).for_each(|o| *ms[o].last_mut().unwrap() = strides[o][d]);
            } else {
                md.push(dims[d]);
                (0..k).for_each(|o| ms[o].push(strides[o][d]));
            }
        }
        if md.is_empty() {
            md.push(1);
            ms.iter_mut().for_each(|s| s.push(0));
        }
        let n: usize = md.iter().product();
        let reach = |s: &[usize], off: usize| off + md.iter().zip(s).map(|(d, st)| (d - 1) * st).sum::<usize>();
        let fits = n <= u32::MAX as usize && ms.iter().zip(offsets).all(|(s, &o)| reach(s, o) <= u32::MAX as usize);
        Layout { dims: md, strides: ms, idx32: fits as i32 }
    }

    /// True when every operand walks the output contiguously (no index arithmetic needed).
    pub(crate) fn contiguous(&self) -> bool {
        self.dims.len() == 1 && self.strides.iter().all(|s| s[0] == 1 || self.dims[0] == 1)
    }

    /// `[dims, strides of each operand]`, the kernels' `info` array.
    pub(crate) fn info(&self) -> Vec<usize> {
        let mut v = self.dims.clone();
        self.strides.iter().for_each(|s| v.extend(s));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;
    use crate::shape::{broadcast_strides, contiguous_strides};

    /// Offset of flat output index i in an operand, the way the kernels walk a layout.
    fn offset(mut i: usize, dims: &[usize], strides: &[usize]) -> usize {
        let mut off = 0;
        for d in (0..dims.len()).rev() {
            off += (i % dims[d]) * strides[d];
            i /= dims[d];
        }
        off
    }

    #[test]
    fn merged_layouts_address_the_same_elements() {
        // (output shape, operand shapes broadcast to it): attention's mask, a bias, softmax's
        // row sums, a scalar, a transposed copy, identical shapes.
        let cases: [(&[usize], &[&[usize]]); 5] = [
            (&[8, 12, 16, 16], &[&[16, 16], &[8, 12, 16, 16]]),
            (&[4, 6, 5], &[&[5], &[4, 6, 1]]),
            (&[3, 1, 7], &[&[], &[3, 1, 7]]),
            (&[2, 3, 4], &[&[2, 3, 4], &[2, 3, 4]]),
            (&[1, 1], &[&[1], &[1, 1]]),
        ];
        for (out, ops) in cases {
            let strides: Vec<Vec<usize>> = ops.iter().map(|s| broadcast_strides(s, out)).collect();
            let refs: Vec<&[usize]> = strides.iter().map(|s| &s[..]).collect();
            let layout = Layout::new(out, &refs, &vec![0; refs.len()]);
            let n: usize = out.iter().product();
            assert_eq!(layout.dims.iter().product::<usize>(), n, "{out:?}: merged dims keep the size");
            for i in 0..n {
                for (k, s) in strides.iter().enumerate() {
                    assert_eq!(
                        offset(i, &layout.dims, &layout.strides[k]),
                        offset(i, out, s),
                        "{out:?} operand {k} at {i}"
                    );
                }
            }
            assert_eq!(layout.idx32, 1);
        }
        // identical shapes collapse to one contiguous run; the mask case to rank 2
        let same =
            Layout::new(&[2, 3, 4], &[&contiguous_strides(&[2, 3, 4]), &contiguous_strides(&[2, 3, 4])], &[0, 0]);
        assert!(same.contiguous() && same.dims == [24]);
        let mask = broadcast_strides(&[16, 16], &[8, 12, 16, 16]);
        let full = contiguous_strides(&[8, 12, 16, 16]);
        assert_eq!(Layout::new(&[8, 12, 16, 16], &[&mask, &full], &[0, 0]).dims, [96, 256]);
        // a transposed copy stays rank 2 (it cannot merge), and a far offset needs 64-bit indices
        let t = Layout::new(&[300, 200], &[&[1, 300], &[200, 1]], &[0, 0]);
        assert!(t.dims == [300, 200] && !t.contiguous());
        assert_eq!(Layout::new(&[10], &[&[1], &[1]], &[u32::MAX as usize, 0]).idx32, 0);
    }
}
