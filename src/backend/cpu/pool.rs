//! A caching allocator for host tensor buffers: the CPU twin of the GPU's retained memory pool.
//!
//! A training step allocates the same buffers, of the same sizes, every step. Without a cache,
//! each buffer above glibc's mmap threshold is a fresh mapping whose pages the kernel faults in
//! and zeroes on first touch, and unmaps again when the tensor is dropped: about 12% of a CPU
//! GPT-2 step (perf: `exc_page_fault`, `clear_page_erms`; benches/README.md). So a dropped
//! buffer of at least [`MIN_LEN`] elements is kept here, keyed by its exact length, and the next
//! request for that length gets it back with its pages already mapped.
//!
//! The cache holds at most a limit of bytes (default 4 GiB; `GRADSCHOOL_CPU_POOL_MB`, 0 turns
//! it off); a buffer that would exceed it is freed as before. [`empty_cache`] frees everything
//! held, as `torch.cuda.empty_cache()` does for PyTorch's GPU cache; [`stats`] reports hits,
//! misses and bytes held.
//!
//! A reused buffer still holds its previous tensor's values: kernels ask for [`take`] only when
//! they write every element, [`zeroed`] when they accumulate. In debug builds (the tests) every
//! buffer [`take`] returns is filled with NaN first, so a kernel that leaves an element unwritten
//! fails its value tests instead of passing on a lucky zero.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Buffers shorter than this (64 KiB) come from the system allocator, whose small-size bins
/// already reuse memory without page faults.
pub const MIN_LEN: usize = 16 * 1024;

const DEFAULT_LIMIT_MB: usize = 4096;

/// What the cache has done since the process started (or since [`empty_cache`] for `cached`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests (of at least [`MIN_LEN`] elements) that had to allocate.
    pub misses: u64,
    /// Bytes held by the cache now (buffers waiting for reuse).
    pub cached_bytes: usize,
    /// The most bytes the cache will hold.
    pub limit_bytes: usize,
}

struct Pool {
    free: HashMap<usize, Vec<Vec<f32>>>,
    cached: usize,
    limit: usize,
    hits: u64,
    misses: u64,
}

fn pool() -> MutexGuard<'static, Pool> {
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let limit = match std::env::var("GRADSCHOOL_CPU_POOL_MB") {
            Ok(v) => v.trim().parse::<usize>().unwrap_or_else(|_| {
                crate::warn!(
                    "gradschool: GRADSCHOOL_CPU_POOL_MB={v:?} is not a number of MiB; using {DEFAULT_LIMIT_MB}"
                );
                DEFAULT_LIMIT_MB
            }),
            Err(_) => DEFAULT_LIMIT_MB,
        };
        Mutex::new(Pool { free: HashMap::new(), cached: 0, limit: limit << 20, hits: 0, misses: 0 })
    });
    // A panic while holding the lock leaves the map consistent (no operation panics midway).
    pool.lock().unwrap_or_else(|e| e.into_inner())
}

/// A buffer of `len` elements whose contents are unspecified (a reused buffer keeps its old
/// values): for kernels that write every element.
pub(crate) fn take(len: usize) -> Vec<f32> {
    let mut v = reuse(len).unwrap_or_else(|| vec![0.0; len]);
    if cfg!(debug_assertions) {
        v.fill(f32::NAN);
    }
    v
}

/// A buffer of `len` zeros.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    match reuse(len) {
        Some(mut v) => {
            v.fill(0.0);
            v
        }
        // calloc: the kernel's fresh pages are already zero, nothing is written here.
        None => vec![0.0; len],
    }
}

/// An empty buffer with room for `len` elements, to be filled by `extend`/`par_extend`.
pub(crate) fn with_capacity(len: usize) -> Vec<f32> {
    match reuse(len) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(len),
    }
}

fn reuse(len: usize) -> Option<Vec<f32>> {
    if len < MIN_LEN {
        return None;
    }
    let mut p = pool();
    let found = p.free.get_mut(&len).and_then(Vec::pop);
    match &found {
        Some(_) => {
            p.hits += 1;
            p.cached -= len * 4;
        }
        None => p.misses += 1,
    }
    found
}

/// Takes back a buffer that is no longer used (called when the storage of a kernel's output is
/// dropped; buffers from outside the pool are not given back, see `CpuStorage::from_vec`).
pub(crate) fn give(v: Vec<f32>) {
    let len = v.len();
    // Only exact-size buffers are kept, so a reused one never needs resizing.
    if len < MIN_LEN || v.capacity() != len {
        return;
    }
    let mut p = pool();
    if p.cached + len * 4 <= p.limit {
        p.cached += len * 4;
        p.free.entry(len).or_default().push(v);
    }
}

/// Frees every buffer the cache holds.
pub fn empty_cache() {
    let freed = {
        let mut p = pool();
        p.cached = 0;
        std::mem::take(&mut p.free)
    };
    drop(freed); // outside the lock
}

/// Hits, misses and bytes held so far.
pub fn stats() -> PoolStats {
    let p = pool();
    PoolStats { hits: p.hits, misses: p.misses, cached_bytes: p.cached, limit_bytes: p.limit }
}

/// Sets the most bytes the cache may hold (0 turns caching off), freeing what is held above it.
pub fn set_limit(bytes: usize) {
    let mut p = pool();
    p.limit = bytes;
    if p.cached > bytes {
        p.free.clear();
        p.cached = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers of `len` elements the cache holds.
    fn held(len: usize) -> usize {
        pool().free.get(&len).map_or(0, Vec::len)
    }

    /// Other tests run kernels concurrently, so this one checks only buffers of a length no
    /// other test allocates, never the process-wide totals.
    #[test]
    fn reuses_exact_lengths_keeps_to_its_limit_and_empties() {
        let len = MIN_LEN + 12_345;
        let first = take(len);
        let ptr = first.as_ptr();
        give(first);
        assert_eq!(held(len), 1);
        let again = with_capacity(len);
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        assert!(again.is_empty() && again.capacity() == len);
        assert_eq!(held(len), 0);
        let mut again = again;
        again.resize(len, 7.0);
        give(again);
        let z = zeroed(len);
        assert_eq!(z.as_ptr(), ptr);
        assert!(z.iter().all(|&v| v == 0.0), "zeroed clears the old values (7.0)");
        if cfg!(debug_assertions) {
            give(z);
            assert!(take(len).iter().all(|v| v.is_nan()), "debug builds poison reused buffers");
        }
        // Too small to pool: freed, not cached.
        give(vec![1.0; MIN_LEN - 1]);
        assert_eq!(held(MIN_LEN - 1), 0);
        // A buffer with spare capacity is not kept (a reused one must need no resizing).
        let mut spare = Vec::with_capacity(len + 1);
        spare.resize(len, 0.0);
        give(spare);
        assert_eq!(held(len), 0);
        // Limit 0: nothing is cached.
        let limit = stats().limit_bytes;
        set_limit(0);
        give(vec![0.0; len]);
        assert_eq!(held(len), 0);
        set_limit(limit);
        give(vec![0.0; len]);
        give(vec![0.0; len]);
        assert_eq!(held(len), 2);
        let s = stats();
        assert!(s.hits >= 2 && s.misses >= 1 && s.cached_bytes >= 2 * len * 4);
        empty_cache();
        assert_eq!(held(len), 0);
    }

    #[test]
    fn only_buffers_a_kernel_took_from_the_pool_come_back() {
        // A tensor made from the caller's Vec (a data loader's batch) is freed when dropped; if it
        // were cached, a loader making one per step would fill the cache with buffers nobody
        // requests. A kernel's output returns for reuse.
        use crate::backend::op::UnaryOp;
        use crate::backend::{Backend, CpuStorage};
        let len = MIN_LEN + 54_321;
        for _ in 0..3 {
            drop(CpuStorage::from_vec(vec![1.0; len])); // what Tensor::from_vec wraps
        }
        assert_eq!(held(len), 0);
        let x = CpuStorage::from_vec(vec![1.0; len]);
        let y = x.unary(UnaryOp::MulScalar(2.0)); // a kernel's output
        drop(y);
        assert_eq!(held(len), 1);
        // the next kernel output of that length reuses it, so the count does not grow
        let z = x.unary(UnaryOp::MulScalar(3.0));
        assert_eq!(held(len), 0);
        drop(z);
        assert_eq!(held(len), 1);
    }
}
