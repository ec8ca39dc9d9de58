//! Chapter 9 — how a GPU runs a kernel: a grid of blocks of threads, each thread computing
//! one index; reductions as trees. Simulated here on the CPU, with the CUDA arithmetic.
//! Read: book/src/ch09-gpu.md

/// Blocks needed to cover n elements with `block` threads each (the `(n + B − 1) / B` of every
/// CUDA launch).
pub fn grid_size(n: usize, block: usize) -> usize {
    todo!("ex 9.1: grid size")
}

/// Simulate a launch: for every block b in 0..grid_size(n, block) and thread t in 0..block, the
/// thread's global index is i = b·block + t; call `kernel(i)` only when i < n (the bounds check
/// every kernel starts with).
pub fn launch(n: usize, block: usize, mut kernel: impl FnMut(usize)) {
    todo!("ex 9.2: launching a kernel")
}

/// Sum `values` the way a thread block does in shared memory: copy into a buffer padded with
/// zeros to a power of two, then for stride = len/2, len/4, …, 1 add element i + stride into
/// element i for every i < stride. Return element 0.
pub fn block_reduce_sum(values: &[f32]) -> f32 {
    todo!("ex 9.3: tree reduction")
}
