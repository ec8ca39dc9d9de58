//! Chapter 9 — how a GPU runs a kernel: a grid of blocks of threads, each thread computing
//! one index; reductions as trees. Simulated here on the CPU, with the CUDA arithmetic.
//! Read: book/src/ch09-gpu.md

/// The fewest blocks of `block` threads that cover n elements, in integer arithmetic (every CUDA
/// launch starts with this).
pub fn grid_size(n: usize, block: usize) -> usize {
    todo!("ex 9.1: grid size")
}

/// Simulate a launch of a grid of grid_size(n, block) blocks of `block` threads: call
/// `kernel(b, t)` once for every block b and every thread t of it — all of them, as a GPU runs
/// every thread of the grid, even those past n (the kernel itself computes its index and checks
/// it; [`for_each_index`] shows one).
pub fn launch(n: usize, block: usize, mut kernel: impl FnMut(usize, usize)) {
    todo!("ex 9.2: launching a kernel")
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
    todo!("ex 9.3: tree reduction")
}
