//! The Rotten Tomatoes sentence-polarity data (Pang & Lee, 2005) with Hugging Face's split, and
//! the course's `process_fn`: input tokens + EOS + label token, truncated from the left to
//! MAX_LEN, padded with 0, labels −100 everywhere but the label position.

use crate::error::{Error, Result};
use crate::int_tensor::{IntTensor, IGNORE_INDEX};
use crate::tensor::Tensor;
use std::path::Path;

/// A sentence and its class (0 = negative, 1 = positive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The sentence.
    pub text: String,
    /// 0 = neg, 1 = pos.
    pub label: usize,
}

/// Hugging Face's `rotten_tomatoes` splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RottenTomatoes {
    /// 8,530 sentences.
    pub train: Vec<Review>,
    /// 1,066 sentences.
    pub validation: Vec<Review>,
    /// 1,066 sentences.
    pub test: Vec<Review>,
}

fn read_latin1_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // Latin-1: every byte is the code point of the same value.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    Ok(text.lines().map(|l| l.trim().to_string()).collect())
}

/// Reads `rt-polarity.pos` / `rt-polarity.neg` (Latin-1) from `dir` and splits them as the
/// Hugging Face builder does: of each polarity, lines [0, 4265) train, [4265, 4798) validation,
/// [4798, end) test; positives first within each split.
pub fn load_rotten_tomatoes(dir: &Path) -> Result<RottenTomatoes> {
    let pos = read_latin1_lines(&dir.join("rt-polarity.pos"))?;
    let neg = read_latin1_lines(&dir.join("rt-polarity.neg"))?;
    for (name, lines) in [("rt-polarity.pos", &pos), ("rt-polarity.neg", &neg)] {
        if lines.len() < 4798 {
            return Err(Error::format(dir.join(name), format!("{} lines, expected 5331 (truncated?)", lines.len())));
        }
    }
    let split = |range: std::ops::Range<usize>, end_pos: usize, end_neg: usize| -> Vec<Review> {
        let p = pos[range.start..end_pos.min(range.end)].iter().map(|t| Review { text: t.clone(), label: 1 });
        let n = neg[range.start..end_neg.min(range.end)].iter().map(|t| Review { text: t.clone(), label: 0 });
        p.chain(n).collect()
    };
    Ok(RottenTomatoes {
        train: split(0..4265, pos.len(), neg.len()),
        validation: split(4265..4798, pos.len(), neg.len()),
        test: split(4798..usize::MAX, pos.len(), neg.len()),
    })
}

/// One processed example, MAX_LEN long.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledSequence {
    /// Token ids, padded with 0.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<f32>,
    /// −100 everywhere but the label token's position.
    pub labels: Vec<i64>,
}

// ANCHOR: process_fn
/// The course's `process_fn` for one example: `tokens + [eos, label_token]`; if that reaches
/// `max_len`, keep the last `max_len` tokens (the label stays last); else pad with 0.
pub fn process_example(tokens: &[u32], label_token: u32, eos: u32, max_len: usize) -> LabelledSequence {
    let mut ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    ids.extend([eos as i64, label_token as i64]);
    let raw_len = ids.len();
    let input_len = tokens.len() + 1;
    if raw_len >= max_len {
        let ids = ids[raw_len - max_len..].to_vec();
        let mut labels = vec![IGNORE_INDEX; max_len - 1];
        labels.push(label_token as i64);
        LabelledSequence { input_ids: ids, attention_mask: vec![1.0; max_len], labels }
    } else {
        let mut mask = vec![1.0; raw_len];
        mask.resize(max_len, 0.0);
        let mut labels = vec![IGNORE_INDEX; input_len];
        labels.push(label_token as i64);
        labels.resize(max_len, IGNORE_INDEX);
        ids.resize(max_len, 0);
        LabelledSequence { input_ids: ids, attention_mask: mask, labels }
    }
}
// ANCHOR_END: process_fn

/// Stacks equally long sequences into `(ids (B, L), attention_mask (B, L), labels (B, L))`.
pub fn collate(batch: &[LabelledSequence]) -> (IntTensor, Tensor, IntTensor) {
    let (b, l) = (batch.len(), batch.first().map(|s| s.input_ids.len()).unwrap_or(0));
    assert!(batch.iter().all(|s| s.input_ids.len() == l), "collate: sequences of different lengths");
    let ids = batch.iter().flat_map(|s| s.input_ids.iter().copied()).collect();
    let mask = batch.iter().flat_map(|s| s.attention_mask.iter().copied()).collect();
    let labels = batch.iter().flat_map(|s| s.labels.iter().copied()).collect();
    (IntTensor::from_vec(ids, [b, l]), Tensor::from_vec(mask, [b, l]), IntTensor::from_vec(labels, [b, l]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_matches_the_course_process_fn() {
        // short: [7, 8, 9] + [eos, label] padded to 8; labels −100 × input_len(4), label, −100 × 3
        let s = process_example(&[7, 8, 9], 1930, 50256, 8);
        assert_eq!(s.input_ids, vec![7, 8, 9, 50256, 1930, 0, 0, 0]);
        assert_eq!(s.attention_mask, vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.labels, vec![-100, -100, -100, -100, 1930, -100, -100, -100]);
        // long: truncated from the left, the label last
        let long: Vec<u32> = (1..=10).collect();
        let s = process_example(&long, 12480, 50256, 6);
        assert_eq!(s.input_ids, vec![7, 8, 9, 10, 50256, 12480]);
        assert_eq!(s.labels, vec![-100, -100, -100, -100, -100, 12480]);
        assert_eq!(s.attention_mask, vec![1.0; 6]);
        // exactly MAX_LEN after adding eos + label: the "≥" branch
        let s = process_example(&[1, 2, 3, 4], 5, 6, 6);
        assert_eq!(s.input_ids, vec![1, 2, 3, 4, 6, 5]);
    }

    #[test]
    fn latin1_bytes_decode_to_their_code_points() {
        let dir = std::env::temp_dir().join(format!("gradschool-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x"), b"  caf\xe9 \r\nna\xefve\n").unwrap();
        assert_eq!(read_latin1_lines(&dir.join("x")).unwrap(), vec!["café", "naïve"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
