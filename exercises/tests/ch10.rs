//! Graders for chapter 10. Inputs are random (seeded) at several shapes; the reference is the
//! library's op (each checked against PyTorch in gradschool's own tests) or its autograd, or a
//! property any correct answer has.

use exercises::ch10::*;
use exercises::grader::{assert_close, grade};
use gradschool::{manual_seed, Tensor};
use rand::Rng;

fn randn(n: usize, seed: u64) -> Vec<f32> {
    Tensor::randn([n], &mut manual_seed(seed)).to_vec()
}

fn t2(v: &[f32], r: usize, c: usize) -> Tensor {
    Tensor::from_vec(v.to_vec(), [r, c])
}

#[test]
fn ex_10_1_causal_mask() {
    grade("10.1", || {
        for t in [1, 2, 5, 9] {
            let m = causal_mask(t);
            assert_eq!(m.len(), t * t, "T = {t}: (T, T) values");
            for i in 0..t {
                for j in 0..t {
                    let want = if j <= i { 0.0 } else { f32::NEG_INFINITY };
                    assert_eq!(m[i * t + j], want, "T = {t}: query {i}, key {j} (a query sees itself and the past)");
                }
            }
        }
    });
}

#[test]
fn ex_10_2_stable_softmax() {
    grade("10.2", || {
        for (seed, (r, c)) in [(3, 7), (1, 1), (4, 50)].into_iter().enumerate() {
            let x = randn(r * c, seed as u64);
            let want = t2(&x, r, c).softmax(1).to_vec();
            assert_close(&format!("softmax ({r}, {c})"), &softmax_rows(&x, c), &want, 1e-5);
            // the same rows shifted by +1000: softmax is shift-invariant, exp(1000) is not finite
            let big: Vec<f32> = x.iter().map(|v| v + 1000.0).collect();
            assert_close(&format!("softmax ({r}, {c}) + 1000"), &softmax_rows(&big, c), &want, 1e-4);
        }
        let masked = [f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY];
        assert_close("a row masked but one entry", &softmax_rows(&masked, 3), &[0.0, 1.0, 0.0], 0.0);
    });
}

#[test]
fn ex_10_3_softmax_backward() {
    grade("10.3", || {
        for (seed, (r, c)) in [(2, 5), (4, 9), (1, 2)].into_iter().enumerate() {
            let x = t2(&randn(r * c, 10 + seed as u64), r, c).requires_grad_();
            let dy = t2(&randn(r * c, 20 + seed as u64), r, c);
            let y = x.softmax(1);
            (&y * &dy).sum().backward(); // the library's autograd: dL/dx for L = Σ y·dy
            let got = softmax_backward(&y.to_vec(), &dy.to_vec(), c);
            assert_close(&format!("dx ({r}, {c})"), &got, &x.grad().unwrap().to_vec(), 1e-4);
        }
    });
}

fn library_attention(q: &[f32], k: &[f32], v: &[f32], t: usize, d: usize) -> Vec<f32> {
    let mask: Vec<f32> = (0..t * t).map(|x| if x % t <= x / t { 0.0 } else { f32::NEG_INFINITY }).collect();
    let scores = t2(q, t, d).matmul(&t2(k, t, d).t()).mul_scalar(1.0 / (d as f32).sqrt()) + t2(&mask, t, t);
    scores.softmax(1).matmul(&t2(v, t, d)).to_vec()
}

#[test]
fn ex_10_4_causal_attention() {
    grade("10.4", || {
        for (seed, (t, d)) in [(1, 4), (5, 8), (7, 3)].into_iter().enumerate() {
            let s = 30 + 3 * seed as u64;
            let (q, k, v) = (randn(t * d, s), randn(t * d, s + 1), randn(t * d, s + 2));
            let want = library_attention(&q, &k, &v, t, d);
            assert_close(&format!("attention T {t}, D {d}"), &causal_attention(&q, &k, &v, t, d), &want, 1e-4);
        }
    });
}

fn ln_inputs(r: usize, c: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
    // rows with a mean and a spread far from 0 and 1, so the normalisation matters; then two
    // rows from other regimes (r grows by 2): a mean of 100 with spread 1, where the one-pass
    // variance E[x²] − mean² cancels in f32 (x² ≈ 1e4 has an ulp of 0.001, so x̂ is off by
    // ~1e-3, ten times the tolerance) while the two-pass (x − mean)² stays within ~1e-5, and a
    // nearly constant row (mean 0.5, spread 1e-3: variance 1e-6 < eps = 1e-5), where eps decides
    // 1/σ (a mean near 0.5 keeps x − mean exact enough in f32 for the 1e-4 tolerance)
    let z = randn(r * c + 2 * c, seed);
    let mut x: Vec<f32> = z[..r * c].iter().map(|v| 3.0 * v + 2.0).collect();
    x.extend(z[r * c..r * c + c].iter().map(|v| 100.0 + v));
    x.extend(z[r * c + c..].iter().map(|v| 0.5 + 1e-3 * v));
    let r = r + 2;
    let g: Vec<f32> = randn(c, seed + 1).iter().map(|v| 1.0 + 0.5 * v).collect();
    (t2(&x, r, c), Tensor::from_vec(g, [c]), Tensor::from_vec(randn(c, seed + 2), [c]))
}

#[test]
fn ex_10_5_layer_norm() {
    grade("10.5", || {
        for (seed, (r, c)) in [(3, 5), (2, 16), (4, 2)].into_iter().enumerate() {
            let (x, g, b) = ln_inputs(r, c, 40 + 3 * seed as u64);
            let r = r + 2; // ln_inputs added its two regime rows
            let want = x.layer_norm(&g, &b, 1e-5).to_vec();
            let got = layer_norm(&x.to_vec(), &g.to_vec(), &b.to_vec(), c, 1e-5);
            assert_close(&format!("LayerNorm ({r}, {c})"), &got, &want, 1e-4);
        }
    });
}

#[test]
fn ex_10_6_layer_norm_backward() {
    grade("10.6", || {
        for (seed, (r, c)) in [(3, 5), (2, 16), (5, 3)].into_iter().enumerate() {
            let (x, g, b) = ln_inputs(r, c, 50 + 3 * seed as u64);
            let r = r + 2; // ln_inputs added its two regime rows
            let (x, g, b) = (x.requires_grad_(), g.requires_grad_(), b.requires_grad_());
            let dy = t2(&randn(r * c, 60 + seed as u64), r, c);
            (&x.layer_norm(&g, &b, 1e-5) * &dy).sum().backward();
            let (dx, dg, db) = layer_norm_backward(&x.to_vec(), &g.to_vec(), &dy.to_vec(), c, 1e-5);
            // dx = (γ·dy − mean(γ·dy) − x̂·mean(γ·dy·x̂))·rstd subtracts two means and then
            // multiplies by 1/σ, which amplifies f32 rounding: over 20,000 random inputs of these
            // shapes a correct f32 dx is up to 7.8e-5 (in this tolerance's measure) from the f64
            // one, against 2.3e-6 for dγ; 1e-3 leaves a 12× margin, 1e-4 would fail right answers.
            assert_close(&format!("dx ({r}, {c})"), &dx, &x.grad().unwrap().to_vec(), 1e-3);
            assert_close(&format!("dgamma ({r}, {c})"), &dg, &g.grad().unwrap().to_vec(), 1e-4);
            assert_close(&format!("dbeta ({r}, {c})"), &db, &b.grad().unwrap().to_vec(), 1e-4);
        }
    });
}

#[test]
fn ex_10_7_split_heads() {
    grade("10.7", || {
        for (t, h, d) in [(3, 2, 4), (1, 4, 2), (5, 3, 1)] {
            let x: Vec<f32> = (0..t * h * d).map(|i| i as f32).collect();
            // (T, H·D) → (T, H, D) → (H, T, D), as GPT-2's attention does with view + transpose
            let want = Tensor::from_vec(x.clone(), [t, h, d]).permute(&[1, 0, 2]).to_vec();
            assert_close(&format!("T {t}, H {h}, D {d}"), &split_heads(&x, t, h, d), &want, 0.0);
        }
    });
}

/// Count of every pair and its first position, by brute force.
fn pair_counts(ids: &[u32]) -> Vec<((u32, u32), usize, usize)> {
    let mut v: Vec<((u32, u32), usize, usize)> = Vec::new();
    for i in 0..ids.len().saturating_sub(1) {
        let p = (ids[i], ids[i + 1]);
        match v.iter_mut().find(|e| e.0 == p) {
            Some(e) => e.1 += 1,
            None => v.push((p, 1, i)),
        }
    }
    v
}

#[test]
fn ex_10_8_most_frequent_pair() {
    grade("10.8", || {
        assert_eq!(most_frequent_pair(&[7]), None, "one id has no pair");
        assert_eq!(most_frequent_pair(&[9, 9, 9, 2, 3]), Some((9, 9)), "[9, 9, 9] holds (9, 9) twice");
        // three pairs twice each: the first to occur wins, not the smallest
        assert_eq!(most_frequent_pair(&[5, 6, 1, 2, 5, 6, 1, 2]), Some((5, 6)), "tie: first occurrence");
        let mut rng = manual_seed(70);
        for _ in 0..50 {
            let ids: Vec<u32> = (0..rng.random_range(2..40)).map(|_| rng.random_range(0..4)).collect();
            let counts = pair_counts(&ids);
            let best = counts.iter().map(|e| e.1).max().unwrap();
            let want = counts.iter().filter(|e| e.1 == best).min_by_key(|e| e.2).unwrap().0;
            assert_eq!(most_frequent_pair(&ids), Some(want), "ids {ids:?}");
        }
    });
}

#[test]
fn ex_10_9_merge_pair() {
    grade("10.9", || {
        assert_eq!(merge_pair(&[1, 1, 1], (1, 1), 9), vec![9, 1], "left to right, no overlaps");
        assert_eq!(merge_pair(&[1, 2, 3, 1, 2], (1, 2), 7), vec![7, 3, 7]);
        let mut rng = manual_seed(71);
        for _ in 0..50 {
            let ids: Vec<u32> = (0..rng.random_range(0..30)).map(|_| rng.random_range(0..3)).collect();
            let pair = (rng.random_range(0..3), rng.random_range(0..3));
            let got = merge_pair(&ids, pair, 99);
            // expanding 99 back gives the input, and no pair is left unmerged
            let back: Vec<u32> =
                got.iter().flat_map(|&t| if t == 99 { vec![pair.0, pair.1] } else { vec![t] }).collect();
            assert_eq!(back, ids, "merge of {pair:?} in {ids:?} gave {got:?}");
            assert!(got.windows(2).all(|w| (w[0], w[1]) != pair || pair.0 == pair.1), "{pair:?} left in {got:?}");
            let merged = got.iter().filter(|&&t| t == 99).count();
            let mut want = 0;
            let mut i = 0;
            while i + 1 < ids.len() {
                if (ids[i], ids[i + 1]) == pair {
                    want += 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            assert_eq!(merged, want, "{pair:?} in {ids:?}: occurrences merged");
        }
    });
}

/// Every non-overlapping occurrence of `pair`, left to right, replaced by `id` (the grader's own
/// copy, so a wrong 10.9 cannot hide a wrong 10.10).
fn replace_pair(ids: &[u32], pair: (u32, u32), id: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
            out.push(id);
            i += 2;
        } else {
            out.push(ids[i]);
            i += 1;
        }
    }
    out
}

/// Learns `n` merges on `text` by brute force (most frequent pair, first occurrence on ties).
fn learn(text: &[u8], n: usize) -> Vec<((u32, u32), u32)> {
    let mut ids: Vec<u32> = text.iter().map(|&b| b as u32).collect();
    let mut merges = Vec::new();
    for r in 0..n {
        let counts = pair_counts(&ids);
        let Some(best) = counts.iter().map(|e| e.1).max() else { break };
        let pair = counts.iter().filter(|e| e.1 == best).min_by_key(|e| e.2).unwrap().0;
        let new_id = 256 + r as u32;
        ids = replace_pair(&ids, pair, new_id);
        merges.push((pair, new_id));
    }
    merges
}

#[test]
fn ex_10_10_bpe_encode() {
    grade("10.10", || {
        // "bc" is this text's most frequent pair, but "ab" was learned first (rank 0): it wins
        let merges = [((97, 98), 256), ((98, 99), 257)];
        assert_eq!(bpe_encode(b"abcbcbc", &merges), vec![256, 99, 257, 257], "ranks, not this text's counts");
        let train = b"the cat sat on the mat; the hat is that cat's hat, then the rat ate the mat";
        let merges = learn(train, 20);
        for text in [&b"that rat sat on the hat"[..], b"mathematics", b"", b"the the the"] {
            // the merges applied one rank at a time, in order: the same as lowest rank first
            let mut want: Vec<u32> = text.iter().map(|&b| b as u32).collect();
            for &(pair, id) in &merges {
                want = replace_pair(&want, pair, id);
            }
            assert_eq!(bpe_encode(text, &merges), want, "{:?}", String::from_utf8_lossy(text));
        }
    });
}

#[test]
fn ex_10_11_kv_cache() {
    grade("10.11", || {
        for (seed, (t, d)) in [(6, 4), (3, 8)].into_iter().enumerate() {
            let s = 80 + 3 * seed as u64;
            let (q, k, v) = (randn(t * d, s), randn(t * d, s + 1), randn(t * d, s + 2));
            let full = library_attention(&q, &k, &v, t, d); // every row at once, causal mask
            let (mut kc, mut vc) = (Vec::new(), Vec::new());
            for i in 0..t {
                let r = i * d..(i + 1) * d;
                let out = attend_with_cache(&mut kc, &mut vc, &q[r.clone()], &k[r.clone()], &v[r.clone()]);
                assert_close(&format!("T {t}, D {d}: step {i}"), &out, &full[r], 1e-4);
                assert_eq!(kc.len(), (i + 1) * d, "the key cache holds every position so far");
            }
        }
    });
}

#[test]
fn ex_10_12_top_p() {
    grade("10.12", || {
        let mut rng = manual_seed(90);
        for trial in 0..40 {
            let n = rng.random_range(1..12);
            let logits: Vec<f32> = randn(n, 100 + trial).iter().map(|v| 2.0 * v).collect();
            let p = [0.1f32, 0.5, 0.9, 1.0][trial as usize % 4];
            let out = top_p_filter(&logits, p);
            let probs = Tensor::from_vec(logits.clone(), [n]).softmax(0).to_vec();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            let kept = out.iter().filter(|v| v.is_finite()).count();
            assert!(kept >= 1, "p {p}: at least one token stays");
            for (rank, &i) in order.iter().enumerate() {
                let want = if rank < kept { logits[i] } else { f32::NEG_INFINITY };
                assert_eq!(out[i], want, "p {p}, logits {logits:?}: the kept tokens are the most probable, unchanged");
            }
            let mass: f32 = order[..kept].iter().map(|&i| probs[i]).sum();
            let without_last = mass - probs[order[kept - 1]];
            assert!(mass >= p - 1e-6 || kept == n, "p {p}: kept mass {mass} < p");
            assert!(
                without_last < p,
                "p {p}: the set is not the smallest (mass {without_last} without its last token)"
            );
        }
    });
}
