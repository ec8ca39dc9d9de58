//! Chapter 5 — mini-batches, learning rates and schedules.
//! Read: book/src/ch05-batches.md

use std::ops::Range;

/// The index ranges of the batches of `n` examples in batches of `batch`; with `drop_last`
/// the last, smaller batch is skipped.
pub fn batch_ranges(n: usize, batch: usize, drop_last: bool) -> Vec<Range<usize>> {
    todo!("ex 5.1: mini-batches")
}

/// torch's StepLR: the learning rate in epoch `epoch` (from 0) is base·γ^⌊epoch / step_size⌋.
pub fn step_lr(base: f64, step_size: usize, gamma: f64, epoch: usize) -> f64 {
    todo!("ex 5.2: StepLR")
}

/// Linear warmup from 0 over `warmup` steps, then half a cosine from `base` down to 0 at
/// `total`: lr(t) = base·t/warmup for t < warmup, else base·½(1 + cos(π·(t − warmup)/(total − warmup))).
pub fn warmup_cosine(base: f64, warmup: usize, total: usize, t: usize) -> f64 {
    todo!("ex 5.3: warmup + cosine")
}
