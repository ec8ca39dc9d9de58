//! Graders for chapter 11: random inputs at several shapes against the library's
//! PyTorch-checked code (`process_example`, `Gpt2::lm_loss`, tensor ops, `clip_grad_norm`).

use exercises::ch11::*;
use exercises::grader::{assert_close, assert_close64, grade};
use gradschool::gpt2::Gpt2;
use gradschool::{manual_seed, IntTensor, Tensor};
use rand::Rng;

fn randn(n: usize, seed: u64) -> Vec<f32> {
    Tensor::randn([n], &mut manual_seed(seed)).to_vec()
}

#[test]
fn ex_11_1_process_fn() {
    grade("11.1", || {
        let mut rng = manual_seed(110);
        for max_len in [4, 8, 32] {
            for n in [0, 1, max_len - 3, max_len - 2, max_len - 1, max_len, max_len + 7, 3 * max_len] {
                let tokens: Vec<u32> = (0..n).map(|_| rng.random_range(1..50_000)).collect();
                let label = rng.random_range(1..50_000);
                let want = gradschool::data::sentiment::process_example(&tokens, label, 50256, max_len);
                let (ids, mask, labels) = process_example(&tokens, label, 50256, max_len);
                let what = format!("{n} tokens at MAX_LEN {max_len}");
                assert_eq!(ids, want.input_ids, "{what}: input_ids");
                assert_eq!(mask, want.attention_mask, "{what}: attention_mask");
                assert_eq!(labels, want.labels, "{what}: labels");
            }
        }
    });
}

#[test]
fn ex_11_2_masked_lm_loss() {
    grade("11.2", || {
        let mut rng = manual_seed(111);
        for (seed, (t, v)) in [(6, 11), (9, 5), (2, 7)].into_iter().enumerate() {
            let logits = randn(t * v, 120 + seed as u64);
            let labels: Vec<i64> =
                (0..t).map(|_| if rng.random_bool(0.4) { IGNORE } else { rng.random_range(0..v as i64) }).collect();
            let mut labels = labels;
            labels[t - 1] = rng.random_range(0..v as i64); // at least one pair counts
            let want = Gpt2::lm_loss(
                &Tensor::from_vec(logits.clone(), [1, t, v]),
                &IntTensor::from_vec(labels.clone(), [1, t]),
            )
            .item();
            assert_close(
                &format!("T {t}, V {v}, labels {labels:?}"),
                &[masked_lm_loss(&logits, &labels, t, v)],
                &[want],
                1e-5,
            );
        }
    });
}

fn lora_case(seed: u64, (b, i, o, r): (usize, usize, usize, usize)) -> (Tensor, Tensor, Tensor, Tensor) {
    let t = |n: usize, s: u64, shape: [usize; 2]| Tensor::from_vec(randn(n, s), shape);
    (t(b * i, seed, [b, i]), t(i * o, seed + 1, [i, o]), t(r * i, seed + 2, [r, i]), t(o * r, seed + 3, [o, r]))
}

#[test]
fn ex_11_3_lora_forward() {
    grade("11.3", || {
        for (k, dims) in [(3, 5, 4, 2), (2, 6, 6, 3), (1, 4, 7, 1)].into_iter().enumerate() {
            let (x, w, a, b) = lora_case(130 + 4 * k as u64, dims);
            let alpha = 16.0;
            let want = x.matmul(&w) + x.matmul(&a.t()).matmul(&b.t()).mul_scalar(alpha / dims.3 as f32);
            let got = lora_forward(&x.to_vec(), &w.to_vec(), &a.to_vec(), &b.to_vec(), dims, alpha);
            assert_close(&format!("(B, IN, OUT, r) = {dims:?}"), &got, &want.to_vec(), 1e-4);
        }
    });
}

#[test]
fn ex_11_4_lora_merge() {
    grade("11.4", || {
        for (k, dims) in [(3, 5, 4, 2), (2, 6, 6, 3), (1, 4, 7, 1)].into_iter().enumerate() {
            let (x, w, a, b) = lora_case(140 + 4 * k as u64, dims);
            let (_, i, o, r) = dims;
            let merged = Tensor::from_vec(lora_merge(&w.to_vec(), &a.to_vec(), &b.to_vec(), (i, o, r), 8.0), [i, o]);
            let want = x.matmul(&w) + x.matmul(&a.t()).matmul(&b.t()).mul_scalar(8.0 / r as f32);
            assert_close(
                &format!("x·W′ for (B, IN, OUT, r) = {dims:?}"),
                &x.matmul(&merged).to_vec(),
                &want.to_vec(),
                1e-4,
            );
        }
    });
}

#[test]
fn ex_11_5_clip_grad_norm() {
    grade("11.5", || {
        // the last case has gradients of size ~1e-6 (norm ~3e-6) and max_norm 1e-6: there the
        // 1e-6 in max_norm / (norm + 1e-6) is as large as the norm, so its sign and place show;
        // values are compared divided by `scale`, so the tolerance is relative to their size
        for (k, (scale, max_norm)) in [(1.0f32, 0.5f32), (1.0, 3.0), (1.0, 100.0), (1e-6, 1e-6)].into_iter().enumerate()
        {
            let sizes = [3, 7, 1];
            let grads: Vec<Vec<f32>> = sizes
                .iter()
                .enumerate()
                .map(|(j, &n)| randn(n, 150 + 10 * k as u64 + j as u64).iter().map(|g| g * scale).collect())
                .collect();
            let params: Vec<Tensor> = grads
                .iter()
                .map(|g| {
                    let p = Tensor::zeros([g.len()]).requires_grad_();
                    (&p * &Tensor::from_vec(g.clone(), [g.len()])).sum().backward(); // grad = g
                    p
                })
                .collect();
            let want_norm = gradschool::optim::clip_grad_norm(&params, max_norm);
            let mut got = grads.clone();
            let norm = clip_grad_norm(&mut got, max_norm);
            let unscale = |v: &[f32]| v.iter().map(|x| x / scale).collect::<Vec<f32>>();
            let what = format!("max_norm {max_norm}, gradients of size ~{scale}");
            assert_close(&format!("{what}: returned norm / {scale}"), &[norm / scale], &[want_norm / scale], 1e-5);
            for (j, p) in params.iter().enumerate() {
                let want = unscale(&p.grad().unwrap().to_vec());
                assert_close(&format!("{what}: gradient {j} / {scale}"), &unscale(&got[j]), &want, 1e-5);
            }
        }
    });
}

#[test]
fn ex_11_6_label_accuracy() {
    grade("11.6", || {
        let mut rng = manual_seed(160);
        let v = 20;
        for labels in [vec![3u32, 11], vec![5, 0, 17]] {
            let rows = 30;
            let logits = randn(rows * v, 161 + labels.len() as u64);
            let targets: Vec<usize> = (0..rows).map(|_| rng.random_range(0..labels.len())).collect();
            // by hand: argmax among the label tokens' logits only, first on ties
            let mut hits = 0;
            for (row, &t) in logits.chunks(v).zip(&targets) {
                let pred =
                    (0..labels.len())
                        .fold(0, |b, i| if row[labels[i] as usize] > row[labels[b] as usize] { i } else { b });
                hits += usize::from(pred == t);
            }
            let got = label_accuracy(&logits, v, &labels, &targets);
            assert_close64(&format!("labels {labels:?}"), got, hits as f64 / rows as f64, 1e-12);
        }
        // a tie between the two label tokens goes to the first label
        let mut row = vec![0.0f32; v];
        row[3] = 2.0;
        row[11] = 2.0;
        row[7] = 9.0; // the largest logit of all is not a label token
        assert_close64("a tie, and a larger non-label logit", label_accuracy(&row, v, &[3, 11], &[0]), 1.0, 0.0);
    });
}
