//! What to check before training on a text-classification dataset: size and label balance per
//! split, exact and near duplicates, leakage between splits, encoding damage, and token lengths
//! against MAX_LEN (how many examples the course's left truncation cuts, and by how much).

use super::text::Example;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};

// ANCHOR: normalize
/// The text with case, punctuation and spacing folded away: two reviews that differ only there
/// are the same example to a model that has seen one of them.
pub fn normalize(text: &str) -> String {
    let kept: String = text.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}
// ANCHOR_END: normalize

// ANCHOR: misdecoded
/// Signs of text decoded with the wrong encoding: U+FFFD (bytes a UTF-8 decoder could not read)
/// or the pairs UTF-8 leaves when read as Latin-1 (`Ã©` for `é`) or Windows-1252 (`â€™` for `’`).
pub fn looks_misdecoded(text: &str) -> bool {
    text.contains('\u{FFFD}')
        || text.contains("â€")
        || text
            .chars()
            .zip(text.chars().skip(1))
            .any(|(a, b)| matches!(a, 'Ã' | 'Â' | 'â') && ('\u{80}'..='\u{BF}').contains(&b))
}
// ANCHOR_END: misdecoded

/// Lines of a file that are not valid UTF-8 — a file in Latin-1 (Rotten Tomatoes) or
/// Windows-1252 read as UTF-8 loses every accented character on them.
pub fn invalid_utf8_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|line| std::str::from_utf8(line).is_err()).count()
}

/// The checks of one split.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitReport {
    /// The split's name.
    pub name: String,
    /// Examples.
    pub examples: usize,
    /// Examples per label.
    pub labels: BTreeMap<String, usize>,
    /// Empty texts.
    pub empty: usize,
    /// Examples whose text (as written) appeared earlier in the split.
    pub exact_duplicates: usize,
    /// Examples whose normalised text appeared earlier in the split (exact ones included).
    pub near_duplicates: usize,
    /// Normalised texts that occur with more than one label in the split.
    pub conflicting_labels: usize,
    /// Texts with a character outside ASCII.
    pub non_ascii: usize,
    /// Texts that look decoded with the wrong encoding ([`looks_misdecoded`]).
    pub misdecoded: usize,
    /// Token count of every text, in order.
    pub token_lengths: Vec<usize>,
    /// Examples the course's processing truncates: tokens + EOS + label > MAX_LEN.
    pub truncated: usize,
    /// Tokens cut from the beginning of the truncated examples, in all.
    pub tokens_cut: usize,
    /// Examples shorter than the minimum token count asked for.
    pub too_short: usize,
}

/// Normalised texts shared by two splits.
#[derive(Clone, Debug, PartialEq)]
pub struct Leak {
    /// The two splits.
    pub splits: (String, String),
    /// Distinct normalised texts in both.
    pub shared: usize,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct DataReport {
    /// Per split.
    pub splits: Vec<SplitReport>,
    /// Per pair of splits.
    pub leaks: Vec<Leak>,
    /// MAX_LEN the truncation counts refer to.
    pub max_len: usize,
    /// The minimum token count of `too_short`.
    pub min_tokens: usize,
}

/// Named splits of a dataset: ("train", its examples), …
pub type Splits = Vec<(String, Vec<Example>)>;

/// Analyses `splits` (name, examples), counting tokens with `count_tokens`.
pub fn analyze(
    splits: &[(String, Vec<Example>)],
    count_tokens: &mut dyn FnMut(&str) -> crate::Result<usize>,
    max_len: usize,
    min_tokens: usize,
) -> crate::Result<DataReport> {
    let mut reports = Vec::new();
    let mut normalized_sets: Vec<HashSet<String>> = Vec::new();
    for (name, examples) in splits {
        let mut r = SplitReport {
            name: name.clone(),
            examples: examples.len(),
            labels: BTreeMap::new(),
            empty: 0,
            exact_duplicates: 0,
            near_duplicates: 0,
            conflicting_labels: 0,
            non_ascii: 0,
            misdecoded: 0,
            token_lengths: Vec::with_capacity(examples.len()),
            truncated: 0,
            tokens_cut: 0,
            too_short: 0,
        };
        let (mut seen, mut seen_norm) = (HashSet::new(), HashSet::new());
        let mut labels_of: HashMap<String, HashSet<&str>> = HashMap::new();
        for e in examples {
            *r.labels.entry(e.label.clone()).or_default() += 1;
            r.empty += usize::from(e.text.is_empty());
            r.exact_duplicates += usize::from(!seen.insert(e.text.as_str()));
            let norm = normalize(&e.text);
            r.near_duplicates += usize::from(!seen_norm.insert(norm.clone()));
            labels_of.entry(norm).or_default().insert(e.label.as_str());
            r.non_ascii += usize::from(!e.text.is_ascii());
            r.misdecoded += usize::from(looks_misdecoded(&e.text));
            let n = count_tokens(&e.text)?;
            r.token_lengths.push(n);
            if n + 2 > max_len {
                r.truncated += 1;
                r.tokens_cut += n + 2 - max_len;
            }
            r.too_short += usize::from(n < min_tokens);
        }
        r.conflicting_labels = labels_of.values().filter(|l| l.len() > 1).count();
        normalized_sets.push(seen_norm);
        reports.push(r);
    }
    let mut leaks = Vec::new();
    for i in 0..splits.len() {
        for j in i + 1..splits.len() {
            let shared = normalized_sets[i].intersection(&normalized_sets[j]).count();
            leaks.push(Leak { splits: (splits[i].0.clone(), splits[j].0.clone()), shared });
        }
    }
    Ok(DataReport { splits: reports, leaks, max_len, min_tokens })
}

/// The `p`-quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[usize], p: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn pct(n: usize, of: usize) -> String {
    format!("{:.1}%", 100.0 * n as f64 / of.max(1) as f64)
}

impl fmt::Display for DataReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.splits {
            let mut sorted = r.token_lengths.clone();
            sorted.sort_unstable();
            let mean = sorted.iter().sum::<usize>() as f64 / sorted.len().max(1) as f64;
            let mut labels = String::new();
            for (l, n) in &r.labels {
                let _ = write!(labels, "{l} {n} ({}), ", pct(*n, r.examples));
            }
            writeln!(f, "{}: {} examples; labels {}", r.name, r.examples, labels.trim_end_matches(", "))?;
            writeln!(
                f,
                "  duplicates: {} exact, {} after normalising case/punctuation/spacing; {} texts with conflicting labels; {} empty",
                r.exact_duplicates, r.near_duplicates, r.conflicting_labels, r.empty
            )?;
            writeln!(
                f,
                "  encoding: {} texts with non-ASCII characters, {} that look mis-decoded",
                r.non_ascii, r.misdecoded
            )?;
            writeln!(
                f,
                "  tokens: mean {mean:.1}, median {}, 95% ≤ {}, max {}; {} shorter than {}",
                quantile(&sorted, 0.5),
                quantile(&sorted, 0.95),
                sorted.last().copied().unwrap_or(0),
                r.too_short,
                self.min_tokens
            )?;
            writeln!(
                f,
                "  MAX_LEN {}: {} truncated ({}), losing {} tokens from their beginning ({:.1} each)",
                self.max_len,
                r.truncated,
                pct(r.truncated, r.examples),
                r.tokens_cut,
                r.tokens_cut as f64 / r.truncated.max(1) as f64
            )?;
        }
        for l in &self.leaks {
            writeln!(f, "leakage {} ∩ {}: {} texts in both (normalised)", l.splits.0, l.splits.1, l.shared)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: &str) -> Example {
        Example { text: text.into(), label: label.into() }
    }

    #[test]
    fn counts_duplicates_leaks_encoding_and_truncation() {
        let train = vec![
            ex("A fine film.", "pos"),
            ex("A fine film.", "pos"),  // exact duplicate
            ex("a FINE film!!", "neg"), // near duplicate, and a conflicting label
            ex("Café crème", "pos"),    // non-ASCII, fine
            ex("CafÃ© crÃ¨me", "neg"),  // UTF-8 read as Latin-1
            ex("", "neg"),
        ];
        let valid = vec![ex("a fine film", "pos"), ex("something new", "neg")];
        // one token per word (whitespace split): the tokenizer is a parameter
        let mut words = |t: &str| Ok(t.split_whitespace().count());
        let r = analyze(&[("train".into(), train), ("validation".into(), valid)], &mut words, 4, 1).unwrap();
        let t = &r.splits[0];
        assert_eq!((t.examples, t.labels["pos"], t.labels["neg"]), (6, 3, 3));
        assert_eq!((t.exact_duplicates, t.near_duplicates, t.conflicting_labels, t.empty), (1, 2, 1, 1));
        assert_eq!((t.non_ascii, t.misdecoded), (2, 1));
        // lengths 3 3 3 2 2 0; truncated when n + 2 > 4: the three 3-word texts, 1 token each
        assert_eq!(t.token_lengths, vec![3, 3, 3, 2, 2, 0]);
        assert_eq!((t.truncated, t.tokens_cut, t.too_short), (3, 3, 1));
        assert_eq!(r.leaks, vec![Leak { splits: ("train".into(), "validation".into()), shared: 1 }]);
        let text = r.to_string();
        assert!(text.contains("train: 6 examples; labels neg 3 (50.0%), pos 3 (50.0%)"), "{text}");
        assert!(text.contains("leakage train ∩ validation: 1 texts"), "{text}");
    }

    #[test]
    fn finds_the_lines_a_utf8_reader_would_damage() {
        // "café" in Latin-1 (é = 0xE9) is not UTF-8; in UTF-8 it is (0xC3 0xA9)
        assert_eq!(invalid_utf8_lines(b"plain\ncaf\xe9\ncaf\xc3\xa9\n\xff\xfe"), 2);
    }

    #[test]
    fn recognises_both_kinds_of_mojibake_and_leaves_real_accents_alone() {
        assert!(looks_misdecoded("itâ€™s")); // ’ as UTF-8, read as Windows-1252
        assert!(looks_misdecoded("naÃ¯ve")); // ï as UTF-8, read as Latin-1
        assert!(looks_misdecoded("caf\u{FFFD}"));
        assert!(!looks_misdecoded("naïve café, «bien»"));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!((quantile(&v, 0.5), quantile(&v, 0.95), quantile(&v, 1.0), quantile(&[], 0.5)), (5, 10, 10, 0));
    }
}
