//! Chapter 10 — GPT-2 from its parts: the causal mask, softmax and its backward, one attention
//! head, LayerNorm forward and backward, splitting heads, the BPE tokenizer's merge loop, the
//! KV cache and nucleus sampling. Matrices are row-major `&[f32]` with their sizes given.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch10-gpt2.md

use std::collections::HashMap;

// ex 10.1
/// The (T, T) causal mask added to attention scores: 0 where key j ≤ query i (the past and
/// the present), −∞ where j > i (the future).
pub fn causal_mask(t: usize) -> Vec<f32> {
    (0..t * t).map(|k| if k % t < k / t { 0.0 } else { f32::NEG_INFINITY }).collect()
}

// ex 10.2
/// Softmax of each row of `x` (rows of `cols` values), safe for large inputs: exponentiating
/// 1000 overflows f32, so work with x − max(row). Rows of −∞ but one stay finite.
pub fn softmax_rows(x: &[f32], cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = row.iter().map(|&v| v.exp()).collect();
        let _ = m;
        let s: f32 = e.iter().sum();
        out.extend(e.iter().map(|v| v / s));
    }
    out
}

// ex 10.3
/// The gradient through a row softmax: given its output `y` and the upstream gradient `dy`
/// (rows of `cols`), return dL/dx row by row.
pub fn softmax_backward(y: &[f32], dy: &[f32], cols: usize) -> Vec<f32> {
    let mut dx = Vec::with_capacity(y.len());
    for (yr, dr) in y.chunks(cols).zip(dy.chunks(cols)) {
        let dot: f32 = yr.iter().zip(dr).map(|(a, b)| a * b).sum();
        let _ = dot;
        dx.extend(yr.iter().zip(dr).map(|(a, b)| a * b));
    }
    dx
}

// ex 10.4
/// One causal attention head: q, k, v are (T, D); scores = q·kᵀ / √D plus the causal mask,
/// softmax over each row, times v. Returns (T, D).
pub fn causal_attention(q: &[f32], k: &[f32], v: &[f32], t: usize, d: usize) -> Vec<f32> {
    let scale = 1.0 / d as f32;
    let mask = ok::causal_mask(t);
    let mut scores = vec![0.0; t * t];
    for i in 0..t {
        for j in 0..t {
            let dot: f32 = (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum();
            scores[i * t + j] = dot * scale + mask[i * t + j];
        }
    }
    let p = ok::softmax_rows(&scores, t);
    let mut out = vec![0.0; t * d];
    for i in 0..t {
        for j in 0..t {
            for c in 0..d {
                out[i * d + c] += p[i * t + j] * v[j * d + c];
            }
        }
    }
    out
}

// ex 10.5
/// LayerNorm over each row of `cols`: (x − mean) / √(var + eps) · gamma + beta, with the
/// biased variance (divide by cols), as PyTorch.
pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let mean = row.iter().sum::<f32>() / cols as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / (cols as f32 - 1.0).max(1.0);
        let rstd = 1.0 / (var + eps).sqrt();
        out.extend(row.iter().enumerate().map(|(c, v)| (v - mean) * rstd * gamma[c] + beta[c]));
    }
    out
}

// ex 10.6
/// LayerNorm's backward: given x, gamma and dL/dy (rows of `cols`), return (dx, dgamma, dbeta).
pub fn layer_norm_backward(x: &[f32], gamma: &[f32], dy: &[f32], cols: usize, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mut dx, mut dgamma, mut dbeta) = (Vec::with_capacity(x.len()), vec![0.0; cols], vec![0.0; cols]);
    for (row, dr) in x.chunks(cols).zip(dy.chunks(cols)) {
        let n = cols as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let rstd = 1.0 / (var + eps).sqrt();
        let xhat: Vec<f32> = row.iter().map(|v| (v - mean) * rstd).collect();
        let g: Vec<f32> = dr.iter().zip(gamma).map(|(d, g)| d * g).collect(); // dL/dx̂
        let g_mean = g.iter().sum::<f32>() / n;
        let gx_mean = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f32>() / n;
        let _ = (g_mean, gx_mean);
        dx.extend(g.iter().map(|gi| rstd * gi));
        for c in 0..cols {
            dgamma[c] += dr[c] * xhat[c];
            dbeta[c] += dr[c];
        }
    }
    (dx, dgamma, dbeta)
}

// ex 10.7
/// Splits (T, H·D) — each token's heads side by side — into (H, T, D): head h's columns
/// h·D..(h+1)·D of every row, heads outermost.
pub fn split_heads(x: &[f32], t: usize, h: usize, d: usize) -> Vec<f32> {
    let _ = (t, h, d);
    x.to_vec() // (T, H, D) is not (H, T, D)
}

// ex 10.8
/// The most frequent adjacent pair of `ids` (overlapping pairs counted: [1, 1, 1] has (1, 1)
/// twice); ties go to the pair whose first occurrence comes first. None for fewer than 2 ids.
pub fn most_frequent_pair(ids: &[u32]) -> Option<(u32, u32)> {
    let mut counts: HashMap<(u32, u32), (usize, usize)> = HashMap::new(); // pair → (count, first)
    for (i, w) in ids.windows(2).enumerate() {
        counts.entry((w[0], w[1])).or_insert((0, i)).0 += 1;
    }
    counts.into_iter().max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.0.cmp(&a.0))).map(|(p, _)| p)
}

// ex 10.9
/// Replaces every occurrence of `pair` in `ids`, left to right without overlaps, by `new_id`.
pub fn merge_pair(ids: &[u32], pair: (u32, u32), new_id: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    let mut i = 0;
    while i < ids.len() {
        if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
            out.push(new_id);
            i += 1; // the second id is merged again with the next
        } else {
            out.push(ids[i]);
            i += 1;
        }
    }
    out
}

// ex 10.10
/// BPE encoding of `bytes` with learned `merges` (`merges[r] = (pair, new_id)`, rank r = the
/// order they were learned): start from the bytes as ids; repeatedly find the pair present in
/// the sequence with the lowest rank and merge all its occurrences; stop when no pair has a rank.
pub fn bpe_encode(bytes: &[u8], merges: &[((u32, u32), u32)]) -> Vec<u32> {
    let known: HashMap<(u32, u32), u32> = merges.iter().copied().collect();
    let mut ids: Vec<u32> = bytes.iter().map(|&b| b as u32).collect();
    loop {
        // the most frequent known pair, as in training, instead of the lowest rank
        let mut counts: HashMap<(u32, u32), usize> = HashMap::new();
        for w in ids.windows(2) {
            if known.contains_key(&(w[0], w[1])) {
                *counts.entry((w[0], w[1])).or_default() += 1;
            }
        }
        let Some((&pair, _)) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else { return ids };
        ids = ok::merge_pair(&ids, pair, known[&pair]);
    }
}

// ex 10.11
/// One decoding step with a KV cache for one head: append this token's key `k` and value `v`
/// (D each) to the caches (rows of D), then attend with `q` over every cached position (the
/// past and this one: no mask needed), scaled by 1/√D. Returns the output (D).
pub fn attend_with_cache(k_cache: &mut Vec<f32>, v_cache: &mut Vec<f32>, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    let d = q.len();
    k_cache.extend_from_slice(k);
    v_cache.extend_from_slice(v);
    // the 1/√D of the full attention forgotten in the cached step
    let scores: Vec<f32> = k_cache.chunks(d).map(|kr| kr.iter().zip(q).map(|(a, b)| a * b).sum::<f32>()).collect();
    let p = ok::softmax_rows(&scores, scores.len());
    let mut out = vec![0.0; d];
    for (pj, vr) in p.iter().zip(v_cache.chunks(d)) {
        for c in 0..d {
            out[c] += pj * vr[c];
        }
    }
    out
}

// ex 10.12
/// Nucleus (top-p) filtering: keep the smallest set of most probable tokens whose probabilities
/// (softmax of `logits`) sum to at least p — always at least one — and set every other logit to
/// −∞. Ties in probability: the lower token id ranks first.
pub fn top_p_filter(logits: &[f32], p: f32) -> Vec<f32> {
    let probs = ok::softmax_rows(logits, logits.len());
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut out = vec![f32::NEG_INFINITY; logits.len()];
    let mut mass = 0.0;
    for &i in &order {
        if mass + probs[i] > p && mass > 0.0 {
            break; // the token that crosses p is left out
        }
        out[i] = logits[i];
        mass += probs[i];
    }
    out
}

/// The correct versions of the helpers later exercises use.
mod ok {
    pub fn causal_mask(t: usize) -> Vec<f32> {
        (0..t * t).map(|k| if k % t <= k / t { 0.0 } else { f32::NEG_INFINITY }).collect()
    }

    pub fn softmax_rows(x: &[f32], cols: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(cols) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|&v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            out.extend(e.iter().map(|v| v / s));
        }
        out
    }

    pub fn merge_pair(ids: &[u32], pair: (u32, u32), new_id: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(ids.len());
        let mut i = 0;
        while i < ids.len() {
            if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
                out.push(new_id);
                i += 2;
            } else {
                out.push(ids[i]);
                i += 1;
            }
        }
        out
    }
}
