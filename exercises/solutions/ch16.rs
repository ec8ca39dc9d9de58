//! Chapter 16 — training on many processes: which micro-batches a rank computes, how a flat
//! buffer splits into shards, and the ring all-reduce, simulated on N buffers.
//! Reference solutions. Read: book/src/ch16-distributed.md

use std::ops::Range;

// ex 16.1
/// The micro-batches rank `rank` of `ranks` computes in the optimizer step that starts at
/// micro-batch `start` of an epoch of `batches`: the step takes `ranks × accum` micro-batches
/// (fewer at the epoch's end), and rank r takes the r-th block of `accum` of them (an empty
/// range, at the step's end, if the epoch ran out).
pub fn my_micro_batches(start: usize, batches: usize, ranks: usize, accum: usize, rank: usize) -> Range<usize> {
    let end = (start + ranks * accum).min(batches);
    let first = (start + rank * accum).min(end);
    first..(first + accum).min(end)
}

// ex 16.2
/// Shard `part` of `parts` of a flat buffer of `len` elements: contiguous shards in order, their
/// sizes differing by at most one, the larger ones first (NumPy's `array_split`).
pub fn shard_bounds(len: usize, parts: usize, part: usize) -> Range<usize> {
    let (base, extra) = (len / parts, len % parts);
    let start = part * base + part.min(extra);
    start..start + base + usize::from(part < extra)
}

// ex 16.3
/// The ring all-reduce over `bufs` (one equal-length buffer per rank, N = bufs.len()), simulated:
/// chunk c of every buffer is `shard_bounds(len, N, c)`. Reduce-scatter, N − 1 rounds: in round
/// s every rank r sends its chunk (r − s) mod N to rank r + 1 (mod N), which adds it into its own
/// copy of that chunk (all sends of a round use the values from before the round). All-gather,
/// N − 1 rounds: in round s rank r sends its chunk (r + 1 − s) mod N to rank r + 1, which
/// replaces its copy. Afterwards every buffer holds the sum; returns the floats each rank sent.
pub fn ring_all_reduce(bufs: &mut [Vec<f32>]) -> Vec<usize> {
    let n = bufs.len();
    let len = bufs.first().map_or(0, Vec::len);
    let mut sent = vec![0; n];
    for phase in [0, 1] {
        for s in 0..n.saturating_sub(1) {
            // every rank's message of this round, taken before any is delivered
            let messages: Vec<(usize, Range<usize>, Vec<f32>)> = (0..n)
                .map(|r| {
                    let c = (r + n + phase - s) % n; // s < n: no underflow
                    let range = shard_bounds(len, n, c);
                    (r, range.clone(), bufs[r][range].to_vec())
                })
                .collect();
            for (r, range, data) in messages {
                sent[r] += data.len();
                let dst = &mut bufs[(r + 1) % n][range];
                for (d, v) in dst.iter_mut().zip(data) {
                    *d = if phase == 0 { *d + v } else { v };
                }
            }
        }
    }
    sent
}
