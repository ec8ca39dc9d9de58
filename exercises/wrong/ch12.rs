//! Chapter 12 — preparing data: near-duplicate normalisation, leakage between splits, and what
//! truncation at MAX_LEN costs.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch12-data.md

use std::collections::HashSet;

// ex 12.1
/// The near-duplicate key: every character that is not alphanumeric becomes a space, letters
/// are lower-cased (ASCII lower-casing: `É` stays `É`), and runs of spaces collapse to one with
/// none at the ends.
pub fn normalize(text: &str) -> String {
    text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ") // punctuation kept, É lowered
}

// ex 12.2
/// How many validation texts also appear in the training texts once normalised (each validation
/// text counted once per occurrence in `valid`).
pub fn leaked(train: &[String], valid: &[String]) -> usize {
    let seen: HashSet<&String> = train.iter().collect(); // exact text only
    valid.iter().filter(|v| seen.contains(v)).count()
}

// ex 12.3
/// What the course's `process_fn` (exercise 11.1) cuts at `max_len`, for reviews of `lengths`
/// tokens: (how many lose tokens, the mean number lost by those that do; 0.0 if none).
pub fn truncation(lengths: &[usize], max_len: usize) -> (usize, f64) {
    let lost: Vec<usize> = lengths.iter().map(|&n| n.saturating_sub(max_len)).filter(|&l| l > 0).collect();
    let mean = if lost.is_empty() { 0.0 } else { lost.iter().sum::<usize>() as f64 / lost.len() as f64 };
    (lost.len(), mean)
}
