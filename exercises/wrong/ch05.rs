//! Chapter 5 — mini-batches, learning rates and schedules.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch05-batches.md

use std::ops::Range;

/// The index ranges of the batches of `n` examples in batches of `batch`; with `drop_last`
/// the last, smaller batch is skipped.
pub fn batch_ranges(n: usize, batch: usize, drop_last: bool) -> Vec<Range<usize>> {
    (0..n)
        .step_by(batch)
        .map(|s| s..(s + batch).min(n))
        .filter(|r| !drop_last || r.end < n) // drops the last batch even when it is full
        .collect()
}

/// torch's StepLR: the learning rate in epoch `epoch` (from 0) is base·γ^⌊epoch / step_size⌋.
pub fn step_lr(base: f64, step_size: usize, gamma: f64, epoch: usize) -> f64 {
    base * gamma.powf(epoch as f64 / step_size as f64) // a smooth decay: no ⌊ ⌋, so no steps
}

/// Linear warmup from 0 over `warmup` steps, then half a cosine from `base` down to 0 at
/// `total`: lr(t) = base·t/warmup for t < warmup, else base·½(1 + cos(π·(t − warmup)/(total − warmup))).
pub fn warmup_cosine(base: f64, warmup: usize, total: usize, t: usize) -> f64 {
    if t < warmup {
        return base * (t + 1) as f64 / warmup as f64; // one step ahead: lr(0) must be 0
    }
    let progress = (t - warmup) as f64 / (total - warmup) as f64;
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}
