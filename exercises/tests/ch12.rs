//! Graders for chapter 12, against the library's data report (`gradschool::data::report`) on
//! generated texts with the problems the chapter finds in Rotten Tomatoes.

use exercises::ch12::*;
use exercises::grader::{assert_close64, grade};
use gradschool::manual_seed;
use rand::seq::IndexedRandom;
use rand::Rng;

const PIECES: &[&str] =
    &["The", "movie", "IS", "great", "!", ",", " ", "  ", "\t", "-", "café", "CAFÉ", "naïve", "42", "'s", "...", "Ça"];

fn text(rng: &mut impl Rng) -> String {
    (0..rng.random_range(0..9)).map(|_| *PIECES.choose(rng).unwrap()).collect()
}

#[test]
fn ex_12_1_normalize() {
    grade("12.1", || {
        let mut rng = manual_seed(120);
        for _ in 0..200 {
            let t = text(&mut rng);
            assert_eq!(normalize(&t), gradschool::data::report::normalize(&t), "normalize({t:?})");
        }
    });
}

#[test]
fn ex_12_2_leakage() {
    grade("12.2", || {
        let mut rng = manual_seed(121);
        for _ in 0..20 {
            let train: Vec<String> = (0..30).map(|_| text(&mut rng)).collect();
            let mut valid: Vec<String> = (0..20).map(|_| text(&mut rng)).collect();
            // some copied from train with their case and punctuation changed
            for v in valid.iter_mut().take(5) {
                *v = format!("{}!", train.choose(&mut rng).unwrap().to_uppercase());
            }
            let keys: std::collections::HashSet<String> =
                train.iter().map(|t| gradschool::data::report::normalize(t)).collect();
            let want = valid.iter().filter(|v| keys.contains(&gradschool::data::report::normalize(v))).count();
            assert_eq!(leaked(&train, &valid), want, "train {train:?}\nvalid {valid:?}");
        }
    });
}

#[test]
fn ex_12_3_truncation() {
    grade("12.3", || {
        let mut rng = manual_seed(122);
        for max_len in [8, 32] {
            let lengths: Vec<usize> = (0..100).map(|_| rng.random_range(0..3 * max_len)).collect();
            // the library's process_fn on reviews of these lengths: what is lost is what is not kept
            let (mut cut, mut lost) = (0, 0);
            for &n in &lengths {
                let tokens: Vec<u32> = (1000..1000 + n as u32).collect(); // told apart from EOS 9 and label 7
                let s = gradschool::data::sentiment::process_example(&tokens, 7, 9, max_len);
                let kept = s.input_ids.iter().filter(|&&t| t >= 1000).count();
                if kept < n {
                    cut += 1;
                    lost += n - kept;
                }
            }
            let (got_cut, got_mean) = truncation(&lengths, max_len);
            assert_eq!(got_cut, cut, "MAX_LEN {max_len}: reviews that lose tokens");
            assert_close64(
                &format!("MAX_LEN {max_len}: mean tokens lost"),
                got_mean,
                lost as f64 / cut.max(1) as f64,
                1e-12,
            );
        }
        assert_eq!(truncation(&[6], 8), (0, 0.0), "6 tokens + EOS + label fit in 8");
    });
}
