//! Chapter 16 — training on many processes: which micro-batches a rank computes, how a flat
//! buffer splits into shards, and the ring all-reduce, simulated on N buffers.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch16-distributed.md

use std::ops::Range;

// ex 16.1
/// The micro-batches rank `rank` of `ranks` computes in the optimizer step that starts at
/// micro-batch `start` of an epoch of `batches`: the step takes `ranks × accum` micro-batches
/// (fewer at the epoch's end), and rank r takes the r-th block of `accum` of them (an empty
/// range, at the step's end, if the epoch ran out).
pub fn my_micro_batches(start: usize, batches: usize, _ranks: usize, accum: usize, rank: usize) -> Range<usize> {
    let end = (start + accum).min(batches); // the step's end: one rank's share, not all ranks'
    let first = (start + rank * accum).min(end);
    first..(first + accum).min(end)
}

// ex 16.2
/// Shard `part` of `parts` of a flat buffer of `len` elements: contiguous shards in order, their
/// sizes differing by at most one, the larger ones first (NumPy's `array_split`).
pub fn shard_bounds(len: usize, parts: usize, part: usize) -> Range<usize> {
    let size = len.div_ceil(parts); // every shard rounded up: the last ones short or empty
    (part * size).min(len)..((part + 1) * size).min(len)
}

// ex 16.3
/// The ring all-reduce over `bufs` (one equal-length buffer per rank, N = bufs.len()), simulated:
/// chunk c of every buffer is `shard_bounds(len, N, c)`. Reduce-scatter, N − 1 rounds: in round
/// s every rank r sends its chunk (r − s) mod N to rank r + 1 (mod N), which adds it into its own
/// copy of that chunk (all sends of a round use the values from before the round). All-gather,
/// N − 1 rounds: in round s rank r sends its chunk (r + 1 − s) mod N to rank r + 1, which
/// replaces its copy. Afterwards every buffer holds the sum; returns the floats each rank sent.
pub fn ring_all_reduce(bufs: &mut [Vec<f32>]) -> Vec<usize> {
    // the sum, but in rank order 0, 1, 2 … for every chunk, and the ring formula for the cost
    let n = bufs.len();
    let len = bufs.first().map_or(0, Vec::len);
    let sum: Vec<f32> = (0..len).map(|i| bufs.iter().map(|b| b[i]).fold(0.0, |a, v| a + v)).collect();
    bufs.iter_mut().for_each(|b| b.copy_from_slice(&sum));
    vec![2 * (n - 1) * len / n; n]
}
