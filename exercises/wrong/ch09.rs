//! Chapter 9 — how a GPU runs a kernel: a grid of blocks of threads, each thread computing
//! one index; reductions as trees. Simulated here on the CPU, with the CUDA arithmetic.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch09-gpu.md

/// Blocks needed to cover n elements with `block` threads each (the `(n + B − 1) / B` of every
/// CUDA launch).
pub fn grid_size(n: usize, block: usize) -> usize {
    n / block // rounds down: the last partial block is never launched
}

/// Simulate a launch of a grid of grid_size(n, block) blocks of `block` threads: call
/// `kernel(b, t)` once for every block b and every thread t of it — all of them, as a GPU runs
/// every thread of the grid, even those past n (the kernel itself computes its index and checks
/// it; [`for_each_index`] shows one).
pub fn launch(n: usize, block: usize, mut kernel: impl FnMut(usize, usize)) {
    for i in 0..n {
        kernel(i / block, i % block); // one call per element: the threads past n never run
    }
}

/// A kernel body over `launch`: each thread computes its global index i = b·block + t and does
/// the work only when i < n (the bounds check every CUDA kernel starts with).
pub fn for_each_index(n: usize, block: usize, mut work: impl FnMut(usize)) {
    launch(n, block, |b, t| {
        let i = b * block + t;
        if i < n {
            work(i);
        }
    });
}

/// Sum `values` the way a thread block does in shared memory: copy into a buffer padded with
/// zeros to a power of two, then for stride = len/2, len/4, …, 1 add element i + stride into
/// element i for every i < stride. Return element 0.
pub fn block_reduce_sum(values: &[f32]) -> f32 {
    let mut buf = values.to_vec();
    // not padded to a power of two: an odd length loses its last element at some stride
    let mut stride = buf.len() / 2;
    while stride > 0 {
        for i in 0..stride {
            buf[i] += buf[i + stride];
        }
        stride /= 2;
    }
    buf[0]
}
