//! Fused causal attention, flash-attention style, on the CPU: for each query row, the keys are
//! visited in tiles with an online softmax (a running maximum and sum), so no (T, T) score or
//! probability matrix is ever stored. The forward pass keeps only the output and each row's
//! log-sum-exp; the backward pass recomputes the probabilities from them. Attention dropout is
//! a counter-based mask (a hash of the seed and the (b, h, i, j) position), so the backward pass
//! regenerates exactly the forward pass's mask without storing it.
//!
//! Semantics are Hugging Face GPT-2's: scores q·kᵀ·scale, key j visible to query i when j ≤ i
//! and the key is not padding; a row with no visible key (masked with f32::MIN there) attends
//! uniformly to every key.

use super::{pool, CpuStorage};
use crate::backend::op::AttentionShape;
use rayon::prelude::*;

/// Keys per tile of the online softmax.
const TILE: usize = 64;

/// SplitMix64 of the seed and a position: the dropout mask without a stored mask.
fn keep(seed: u64, index: u64, p: f32) -> bool {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) >= p
}

/// The dropout factor of weight (row, j) of head `bh`: 0 or 1/(1 − p).
fn drop_factor(s: &AttentionShape, bh: usize, i: usize, j: usize) -> f32 {
    if s.dropout == 0.0 {
        return 1.0;
    }
    let index = ((bh * s.t + i) * s.t + j) as u64;
    if keep(s.seed, index, s.dropout) {
        1.0 / (1.0 - s.dropout)
    } else {
        0.0
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Is key j visible to query i of batch row `bi`?
fn visible(key_mask: Option<&[f32]>, t: usize, bi: usize, i: usize, j: usize) -> bool {
    j <= i && key_mask.is_none_or(|m| m[bi * t + j] != 0.0)
}

/// Forward: q, k, v (B, H, T, D) contiguous, `key_mask` (B, T) of 1 (token) / 0 (padding).
/// Returns the output (B, H, T, D) and the log-sum-exp of each row's visible scores (B, H, T)
/// (+∞ marks a row with no visible key).
pub fn forward(
    q: &CpuStorage,
    k: &CpuStorage,
    v: &CpuStorage,
    key_mask: Option<&CpuStorage>,
    s: AttentionShape,
) -> (CpuStorage, CpuStorage) {
    let (t, d) = (s.t, s.d);
    let (q, k, v) = (q.as_slice(), k.as_slice(), v.as_slice());
    let mask = key_mask.map(CpuStorage::as_slice);
    let mut out = pool::zeroed(s.b * s.h * t * d);
    let mut lse = pool::zeroed(s.b * s.h * t);
    out.par_chunks_mut(t * d).zip(lse.par_chunks_mut(t)).enumerate().for_each(|(bh, (o, l))| {
        let bi = bh / s.h;
        let base = bh * t * d;
        let mut scores = [0.0f32; TILE];
        for i in 0..t {
            let qi = &q[base + i * d..base + (i + 1) * d];
            let oi = &mut o[i * d..(i + 1) * d];
            let (mut m, mut sum) = (f32::NEG_INFINITY, 0.0f32);
            for start in (0..=i).step_by(TILE) {
                let end = (start + TILE).min(i + 1);
                // this tile's scores and its maximum
                let mut tile_max = f32::NEG_INFINITY;
                for j in start..end {
                    let sc = if visible(mask, t, bi, i, j) {
                        dot(qi, &k[base + j * d..base + (j + 1) * d]) * s.scale
                    } else {
                        f32::NEG_INFINITY
                    };
                    scores[j - start] = sc;
                    tile_max = tile_max.max(sc);
                }
                if tile_max == f32::NEG_INFINITY {
                    continue;
                }
                // rescale what was accumulated to the new maximum, then add this tile
                let new_m = m.max(tile_max);
                let correction = (m - new_m).exp();
                sum *= correction;
                oi.iter_mut().for_each(|x| *x *= correction);
                for j in start..end {
                    if scores[j - start] == f32::NEG_INFINITY {
                        continue;
                    }
                    let p = (scores[j - start] - new_m).exp();
                    sum += p;
                    let w = p * drop_factor(&s, bh, i, j);
                    if w != 0.0 {
                        let vj = &v[base + j * d..base + (j + 1) * d];
                        oi.iter_mut().zip(vj).for_each(|(x, y)| *x += w * y);
                    }
                }
                m = new_m;
            }
            if sum == 0.0 {
                // no visible key: f32::MIN everywhere gives every key the same weight 1/T
                l[i] = f32::INFINITY;
                for j in 0..t {
                    let w = drop_factor(&s, bh, i, j) / t as f32;
                    let vj = &v[base + j * d..base + (j + 1) * d];
                    oi.iter_mut().zip(vj).for_each(|(x, y)| *x += w * y);
                }
            } else {
                oi.iter_mut().for_each(|x| *x /= sum);
                l[i] = m + sum.ln();
            }
        }
    });
    (CpuStorage::new(out), CpuStorage::new(lse))
}

/// Backward from the saved output and log-sum-exp: with p = exp(s − lse) recomputed per key,
/// dV += p̃·dO, dP = dO·Vᵀ (times the dropout factor), dS = p·(dP − Σ p̃·dP) where the sum is
/// dO·O, dQ = scale·dS·K, dK = scale·dSᵀ·Q. Returns (dq, dk, dv).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &CpuStorage,
    k: &CpuStorage,
    v: &CpuStorage,
    out: &CpuStorage,
    lse: &CpuStorage,
    dout: &CpuStorage,
    key_mask: Option<&CpuStorage>,
    s: AttentionShape,
) -> (CpuStorage, CpuStorage, CpuStorage) {
    let (t, d) = (s.t, s.d);
    let (q, k, v, o, lse, g) =
        (q.as_slice(), k.as_slice(), v.as_slice(), out.as_slice(), lse.as_slice(), dout.as_slice());
    let mask = key_mask.map(CpuStorage::as_slice);
    let n = s.b * s.h * t * d;
    let (mut dq, mut dk, mut dv) = (pool::zeroed(n), pool::zeroed(n), pool::zeroed(n));
    dq.par_chunks_mut(t * d).zip(dk.par_chunks_mut(t * d)).zip(dv.par_chunks_mut(t * d)).enumerate().for_each(
        |(bh, ((dq, dk), dv))| {
            let bi = bh / s.h;
            let base = bh * t * d;
            for i in 0..t {
                let gi = &g[base + i * d..base + (i + 1) * d];
                let qi = &q[base + i * d..base + (i + 1) * d];
                let delta = dot(gi, &o[base + i * d..base + (i + 1) * d]); // Σⱼ p̃ᵢⱼ dPᵢⱼ
                let l = lse[bh * t + i];
                if l == f32::INFINITY {
                    // uniform weights that do not depend on q or k: only V gets a gradient
                    for j in 0..t {
                        let w = drop_factor(&s, bh, i, j) / t as f32;
                        dv[j * d..(j + 1) * d].iter_mut().zip(gi).for_each(|(x, y)| *x += w * y);
                    }
                    continue;
                }
                for j in 0..=i {
                    if !visible(mask, t, bi, i, j) {
                        continue;
                    }
                    let kj = &k[base + j * d..base + (j + 1) * d];
                    let p = (dot(qi, kj) * s.scale - l).exp();
                    let f = drop_factor(&s, bh, i, j);
                    let vj = &v[base + j * d..base + (j + 1) * d];
                    if f != 0.0 {
                        dv[j * d..(j + 1) * d].iter_mut().zip(gi).for_each(|(x, y)| *x += p * f * y);
                    }
                    let ds = p * (f * dot(gi, vj) - delta) * s.scale;
                    dq[i * d..(i + 1) * d].iter_mut().zip(kj).for_each(|(x, y)| *x += ds * y);
                    dk[j * d..(j + 1) * d].iter_mut().zip(qi).for_each(|(x, y)| *x += ds * y);
                }
            }
        },
    );
    (CpuStorage::new(dq), CpuStorage::new(dk), CpuStorage::new(dv))
}
