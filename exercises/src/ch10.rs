//! Chapter 10 — GPT-2 from its parts: the causal mask, softmax and its backward, one attention
//! head, LayerNorm forward and backward, splitting heads, the BPE tokenizer's merge loop, the
//! KV cache and nucleus sampling. Matrices are row-major `&[f32]` with their sizes given.
//! Read: book/src/ch10-gpt2.md

use std::collections::HashMap;

/// The (T, T) causal mask added to attention scores: 0 where key j ≤ query i (the past and
/// the present), −∞ where j > i (the future).
pub fn causal_mask(t: usize) -> Vec<f32> {
    todo!("ex 10.1: causal mask")
}

/// Softmax of each row of `x` (rows of `cols` values), safe for large inputs: exponentiating
/// 1000 overflows f32, so work with x − max(row). Rows of −∞ but one stay finite.
pub fn softmax_rows(x: &[f32], cols: usize) -> Vec<f32> {
    todo!("ex 10.2: stable softmax")
}

/// The gradient through a row softmax: given its output `y` and the upstream gradient `dy`
/// (rows of `cols`), return dL/dx row by row.
pub fn softmax_backward(y: &[f32], dy: &[f32], cols: usize) -> Vec<f32> {
    todo!("ex 10.3: softmax backward")
}

/// One causal attention head: q, k, v are (T, D); scores = q·kᵀ / √D plus the causal mask,
/// softmax over each row, times v. Returns (T, D).
pub fn causal_attention(q: &[f32], k: &[f32], v: &[f32], t: usize, d: usize) -> Vec<f32> {
    todo!("ex 10.4: causal attention")
}

/// LayerNorm over each row of `cols`: (x − mean) / √(var + eps) · gamma + beta, with the
/// biased variance (divide by cols), as PyTorch.
pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f32) -> Vec<f32> {
    todo!("ex 10.5: LayerNorm")
}

/// LayerNorm's backward: given x, gamma and dL/dy (rows of `cols`), return (dx, dgamma, dbeta).
pub fn layer_norm_backward(x: &[f32], gamma: &[f32], dy: &[f32], cols: usize, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    todo!("ex 10.6: LayerNorm backward")
}

/// Splits (T, H·D) — each token's heads side by side — into (H, T, D): head h's columns
/// h·D..(h+1)·D of every row, heads outermost.
pub fn split_heads(x: &[f32], t: usize, h: usize, d: usize) -> Vec<f32> {
    todo!("ex 10.7: splitting heads")
}

/// The most frequent adjacent pair of `ids` (overlapping pairs counted: [1, 1, 1] has (1, 1)
/// twice); ties go to the pair whose first occurrence comes first. None for fewer than 2 ids.
pub fn most_frequent_pair(ids: &[u32]) -> Option<(u32, u32)> {
    todo!("ex 10.8: most frequent pair")
}

/// Replaces every occurrence of `pair` in `ids`, left to right without overlaps, by `new_id`.
pub fn merge_pair(ids: &[u32], pair: (u32, u32), new_id: u32) -> Vec<u32> {
    todo!("ex 10.9: merging a pair")
}

/// BPE encoding of `bytes` with learned `merges` (`merges[r] = (pair, new_id)`, rank r = the
/// order they were learned): start from the bytes as ids; repeatedly find the pair present in
/// the sequence with the lowest rank and merge all its occurrences; stop when no pair has a rank.
pub fn bpe_encode(bytes: &[u8], merges: &[((u32, u32), u32)]) -> Vec<u32> {
    todo!("ex 10.10: BPE encoding")
}

/// One decoding step with a KV cache for one head: append this token's key `k` and value `v`
/// (D each) to the caches (rows of D), then attend with `q` over every cached position (the
/// past and this one: no mask needed), scaled by 1/√D. Returns the output (D).
pub fn attend_with_cache(k_cache: &mut Vec<f32>, v_cache: &mut Vec<f32>, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    todo!("ex 10.11: KV cache step")
}

/// Nucleus (top-p) filtering: keep the smallest set of most probable tokens whose probabilities
/// (softmax of `logits`) sum to at least p — always at least one — and set every other logit to
/// −∞. Ties in probability: the lower token id ranks first.
pub fn top_p_filter(logits: &[f32], p: f32) -> Vec<f32> {
    todo!("ex 10.12: top-p filtering")
}
