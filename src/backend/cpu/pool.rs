//! A caching allocator for host tensor buffers: the CPU twin of the GPU's retained memory pool.
//!
//! A training step allocates the same buffers, of the same sizes, every step. Without a cache,
//! each buffer above glibc's mmap threshold is a fresh mapping whose pages the kernel faults in
//! and zeroes on first touch, and unmaps again when the tensor is dropped: about 12% of a CPU
//! GPT-2 step (perf: `exc_page_fault`, `clear_page_erms`; benches/README.md). So a dropped
//! buffer of at least [`MIN_LEN`] elements is kept here, keyed by its exact length, and the next
//! request for that length gets it back with its pages already mapped.
//!
//! How much it holds is bounded twice. By what the step reuses: never more than twice the most
//! bytes the pooled buffers were ever in use at once (the working set of a step — when a step
//! ends and its buffers come back, what the next step takes again; twice, because a buffer
//! serves only its own length); past that, the buffers
//! given back longest ago are freed first, so lengths that stop recurring (variable-length
//! batches: every padded length makes new sizes) age out instead of piling up. And by a cap
//! (default 4 GiB; `GRADSCHOOL_CPU_POOL_MB`, 0 turns caching off). [`empty_cache`] frees
//! everything held, as `torch.cuda.empty_cache()` does for PyTorch's GPU cache; [`stats`] reports
//! hits, misses and bytes held.
//!
//! A reused buffer still holds its previous tensor's values: kernels ask for [`take`] only when
//! they write every element, [`zeroed`] when they accumulate. In debug builds (the tests) every
//! buffer [`take`] returns is filled with NaN first, so a kernel that leaves an element unwritten
//! fails its value tests instead of passing on a lucky zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Buffers shorter than this (64 KiB) come from the system allocator, whose small-size bins
/// already reuse memory without page faults.
pub const MIN_LEN: usize = 16 * 1024;

const DEFAULT_LIMIT_MB: usize = 4096;

/// The cache holds at most this many times the most bytes ever in use at once. One working set
/// is not enough even for a step of fixed shapes: a buffer is kept by its exact length, so a
/// freed one cannot serve a request of another length, and the buffers a step owns outnumber
/// those in use at its peak.
const WORKING_SETS: usize = 2;

/// What the cache has done since the process started (or since [`empty_cache`] for `cached`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests (of at least [`MIN_LEN`] elements) that had to allocate.
    pub misses: u64,
    /// Bytes held by the cache now (buffers waiting for reuse).
    pub cached_bytes: usize,
    /// The cap on what the cache holds.
    pub limit_bytes: usize,
    /// Bytes of pooled-size buffers in use now (taken and not given back).
    pub live_bytes: usize,
    /// The most bytes of pooled-size buffers ever in use at once: the cache holds no more.
    pub peak_live_bytes: usize,
    /// Buffers freed to keep within the bounds (oldest first).
    pub evicted: u64,
}

struct Pool {
    /// Buffers by length, each with the tick it was given back at; oldest first within a length.
    free: HashMap<usize, Vec<(u64, Vec<f32>)>>,
    /// (tick, length) of every cached buffer: the order to evict in.
    order: BTreeMap<u64, usize>,
    tick: u64,
    cached: usize,
    limit: usize,
    live: usize,
    peak_live: usize,
    hits: u64,
    misses: u64,
    evicted: u64,
}

impl Pool {
    fn new(limit: usize) -> Pool {
        Pool {
            free: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            cached: 0,
            limit,
            live: 0,
            peak_live: 0,
            hits: 0,
            misses: 0,
            evicted: 0,
        }
    }

    /// A cached buffer of `len` elements, if one is held (the most recently given back: its
    /// pages are the likeliest still in the CPU's cache); counts it as in use either way.
    fn reuse(&mut self, len: usize) -> Option<Vec<f32>> {
        self.live += len * 4;
        self.peak_live = self.peak_live.max(self.live);
        match self.free.get_mut(&len).and_then(Vec::pop) {
            Some((tick, v)) => {
                self.hits += 1;
                self.cached -= len * 4;
                self.order.remove(&tick);
                if self.free.get(&len).is_some_and(Vec::is_empty) {
                    self.free.remove(&len);
                }
                Some(v)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Keeps `v` for reuse if it fits within the bounds (freeing older buffers to make room).
    fn give(&mut self, v: Vec<f32>) {
        let len = v.len();
        self.live = self.live.saturating_sub(len * 4);
        if self.make_room(len * 4) {
            self.tick += 1;
            self.cached += len * 4;
            self.order.insert(self.tick, len);
            self.free.entry(len).or_default().push((self.tick, v));
        }
    }

    /// What the cache may hold now: the cap, and no more than the step's working set.
    fn bound(&self) -> usize {
        self.limit.min(WORKING_SETS * self.peak_live)
    }

    /// Frees the oldest buffers until `extra` more bytes fit within the bound (`false`: they
    /// cannot, even with the cache empty).
    fn make_room(&mut self, extra: usize) -> bool {
        if extra > self.bound() {
            return false;
        }
        while self.cached + extra > self.bound() {
            let Some((tick, len)) = self.order.pop_first() else { break };
            let list = self.free.get_mut(&len).expect("ordered buffers are held");
            let at = list.iter().position(|(t, _)| *t == tick).expect("the tick is listed");
            drop(list.remove(at));
            if list.is_empty() {
                self.free.remove(&len);
            }
            self.cached -= len * 4;
            self.evicted += 1;
        }
        true
    }
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
        Mutex::new(Pool::new(limit << 20))
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
    pool().reuse(len)
}

/// Takes back a buffer that is no longer used (called when the storage of a kernel's output is
/// dropped; buffers from outside the pool are not given back, see `CpuStorage::from_vec`).
pub(crate) fn give(v: Vec<f32>) {
    // Only exact-size buffers are kept, so a reused one never needs resizing.
    if v.len() < MIN_LEN || v.capacity() != v.len() {
        return;
    }
    pool().give(v);
}

/// Frees every buffer the cache holds.
pub fn empty_cache() {
    let freed = {
        let mut p = pool();
        p.cached = 0;
        p.order.clear();
        std::mem::take(&mut p.free)
    };
    drop(freed); // outside the lock
}

/// Hits, misses and bytes held so far.
pub fn stats() -> PoolStats {
    let p = pool();
    PoolStats {
        hits: p.hits,
        misses: p.misses,
        cached_bytes: p.cached,
        limit_bytes: p.limit,
        live_bytes: p.live,
        peak_live_bytes: p.peak_live,
        evicted: p.evicted,
    }
}

/// Sets the most bytes the cache may hold (0 turns caching off), freeing what is held above it.
pub fn set_limit(bytes: usize) {
    let mut p = pool();
    p.limit = bytes;
    p.make_room(0);
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
        let (p1, p2) = (take(len), take(len)); // two in use at once: the working set holds both
        give(p1);
        give(p2);
        let s = stats();
        assert!(s.hits >= 2 && s.misses >= 1 && s.peak_live_bytes >= 2 * len * 4, "{s:?}");
        empty_cache();
        assert_eq!(held(len), 0);
    }

    /// The bounds on a private pool (the global one is shared by concurrent tests): the cache
    /// holds no more than twice the most bytes ever in use at once, and frees the buffers given back
    /// longest ago first — so a step of fixed shapes keeps every buffer it reuses, and lengths
    /// that stop recurring age out.
    #[test]
    fn the_cache_holds_the_working_set_and_ages_out_lengths_that_stop_recurring() {
        let (a, b, c) = (1000, 2000, 3000); // elements; ×4 bytes
        let mut p = Pool::new(1 << 30);
        // a "step" using a and b at once: 12,000 bytes in use at the peak
        let (x, y) = (p.reuse(a).unwrap_or_else(|| vec![0.0; a]), p.reuse(b).unwrap_or_else(|| vec![0.0; b]));
        assert_eq!((p.live, p.peak_live, p.misses), (12_000, 12_000, 2));
        p.give(x);
        p.give(y);
        assert_eq!((p.cached, p.live, p.evicted), (12_000, 0, 0), "the whole working set is kept");
        // the next step takes both back from the cache
        let (x, y) = (p.reuse(a).unwrap(), p.reuse(b).unwrap());
        assert_eq!((p.hits, p.cached), (2, 0));
        p.give(x);
        p.give(y);
        // a batch of another shape: c alone (12,000 bytes) fits beside them (bound: 2 × 12,000)
        let z = p.reuse(c).unwrap_or_else(|| vec![0.0; c]);
        p.give(z);
        assert_eq!((p.cached, p.evicted), (24_000, 0));
        // and another: d (6,000 bytes) fits only if the oldest go, a's then b's buffer
        let d = 1500;
        let w = p.reuse(d).unwrap_or_else(|| vec![0.0; d]);
        p.give(w);
        assert_eq!((p.cached, p.evicted), (18_000, 2), "a and b aged out for d");
        assert!(
            p.free.contains_key(&c) && p.free.contains_key(&d) && !p.free.contains_key(&a) && !p.free.contains_key(&b)
        );
        // a buffer larger than the bound is not cached, and evicts nothing
        p.give(vec![0.0f32; 7000]);
        assert_eq!((p.cached, p.evicted), (18_000, 2));
        // the cap binds below the bound: the oldest (c) goes, d stays
        p.limit = 8_000;
        p.make_room(0);
        assert_eq!((p.cached, p.evicted), (6_000, 3));
        assert!(p.free.contains_key(&d) && p.order.len() == 1);
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
