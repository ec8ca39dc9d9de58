//! Chapter 12 — preparing data: near-duplicate normalisation, leakage between splits, and what
//! truncation at MAX_LEN costs.
//! Read: book/src/ch12-data.md

use std::collections::HashSet;

/// The near-duplicate key: every character that is not alphanumeric becomes a space, letters
/// are lower-cased (ASCII lower-casing: `É` stays `É`), and runs of spaces collapse to one with
/// none at the ends.
pub fn normalize(text: &str) -> String {
    todo!("ex 12.1: normalising text")
}

/// How many validation texts also appear in the training texts once normalised (each validation
/// text counted once per occurrence in `valid`).
pub fn leaked(train: &[String], valid: &[String]) -> usize {
    todo!("ex 12.2: leakage")
}

/// What the course's `process_fn` (exercise 11.1) cuts at `max_len`, for reviews of `lengths`
/// tokens: (how many lose tokens, the mean number lost by those that do; 0.0 if none).
pub fn truncation(lengths: &[usize], max_len: usize) -> (usize, f64) {
    todo!("ex 12.3: truncation")
}
