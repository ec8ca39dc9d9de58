//! The fused causal attention kernel against the unfused ops it replaces (the library's
//! matmul, masked_fill and softmax, each checked against PyTorch), finite differences, and its
//! dropout's statistics; and GPT-2 with and without it.

mod common;

use gradschool::gpt2::{Gpt2, Gpt2Config};
use gradschool::{manual_seed, IntTensor, Tensor};

/// softmax(q·kᵀ·scale masked)·v as GPT-2's unfused path computes it.
fn unfused(q: &Tensor, k: &Tensor, v: &Tensor, key_mask: Option<&Tensor>, scale: f32) -> Tensor {
    let (b, t) = (q.dims()[0], q.dims()[2]);
    let causal: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { 1.0 } else { 0.0 }).collect();
    let mut mask = Tensor::from_vec(causal, [1, 1, t, t]);
    if let Some(m) = key_mask {
        mask = mask.maximum(&(1.0 - m).reshape([b, 1, 1, t]));
    }
    q.matmul(&k.transpose(-2, -1)).mul_scalar(scale).masked_fill(&mask, f32::MIN).softmax(-1).matmul(v)
}

fn qkv(dims: [usize; 4], seed: u64) -> (Tensor, Tensor, Tensor) {
    let mut rng = manual_seed(seed);
    let mut t = || Tensor::randn(dims, &mut rng).requires_grad_();
    (t(), t(), t())
}

#[test]
fn values_and_gradients_match_the_unfused_ops() {
    // T = 70 crosses the 64-row query tile and T = 130 two of them (the last tile partial); a
    // padding mask whose first key is padding leaves query 0 with no visible key (Hugging Face:
    // uniform weights)
    let cases = [
        ([2, 3, 5, 4], false),
        ([1, 2, 70, 8], false),
        ([2, 2, 6, 3], true),
        ([1, 1, 1, 2], false),
        ([2, 1, 130, 5], true),
    ];
    for (dims, masked) in cases {
        let (b, t) = (dims[0], dims[2]);
        let key_mask = masked.then(|| {
            let m: Vec<f32> =
                (0..b * t).map(|i| if i % t == 0 || (i / t == 1 && i % t >= t - 2) { 0.0 } else { 1.0 }).collect();
            Tensor::from_vec(m, [b, t])
        });
        let scale = 1.0 / (dims[3] as f32).sqrt();
        let (q, k, v) = qkv(dims, 7 + t as u64);
        let dy = Tensor::randn(dims, &mut manual_seed(99));
        let fused = Tensor::fused_causal_attention(&q, &k, &v, key_mask.as_ref(), scale, 0.0, 0)
            .expect("the CPU has the kernel");
        (&fused * &dy).sum().backward();
        let grads: Vec<Tensor> = [&q, &k, &v].iter().map(|x| x.grad().unwrap()).collect();
        [&q, &k, &v].iter().for_each(|x| x.zero_grad());
        let want = unfused(&q, &k, &v, key_mask.as_ref(), scale);
        (&want * &dy).sum().backward();
        common::assert_close(&format!("{dims:?} masked={masked}: output"), &fused, &want, 1e-5, 1e-5);
        for (name, (g, x)) in ["dq", "dk", "dv"].iter().zip(grads.iter().zip([&q, &k, &v])) {
            common::assert_close(&format!("{dims:?} masked={masked}: {name}"), g, &x.grad().unwrap(), 1e-4, 1e-5);
        }
    }
}

/// Central differences of L = Σ attention(q, k, v)·w with respect to every input element.
fn finite_difference_check(dropout: f32, seed: u64) {
    let dims = [1, 2, 4, 3];
    let (q, k, v) = qkv(dims, 3);
    let w = Tensor::randn(dims, &mut manual_seed(4));
    let loss = |q: &Tensor, k: &Tensor, v: &Tensor| {
        let y = Tensor::fused_causal_attention(q, k, v, None, 0.5, dropout, seed).unwrap();
        (&y * &w).sum()
    };
    loss(&q, &k, &v).backward();
    let eps = 1e-2f32;
    for (which, x) in [&q, &k, &v].iter().enumerate() {
        let g = x.grad().unwrap().to_vec();
        let base = x.detach().to_vec();
        for i in 0..base.len() {
            let at = |delta: f32| {
                let mut p = base.clone();
                p[i] += delta;
                let p = Tensor::from_vec(p, dims);
                let (a, b, c) = match which {
                    0 => (&p, &k.detach(), &v.detach()),
                    1 => (&q.detach(), &p, &v.detach()),
                    _ => (&q.detach(), &k.detach(), &p),
                };
                loss(a, b, c).item() as f64
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            assert!(
                (fd - g[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "dropout {dropout}: input {which}[{i}]: autograd {} vs finite differences {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences_with_and_without_dropout() {
    finite_difference_check(0.0, 0);
    finite_difference_check(0.5, 11); // the seed fixes the mask, so the function is deterministic
}

#[test]
fn dropout_masks_are_seeded_and_unbiased() {
    let dims = [1, 2, 8, 4];
    let (q, k, v) = qkv(dims, 5);
    let run = |p: f32, seed: u64| Tensor::fused_causal_attention(&q, &k, &v, None, 0.5, p, seed).unwrap().to_vec();
    assert_eq!(run(0.3, 1), run(0.3, 1), "the same seed, the same mask");
    assert_ne!(run(0.3, 1), run(0.3, 2), "another seed, another mask");
    // inverted dropout keeps the expectation: the mean over n masks is within 5 standard errors
    // (s/√n, s the sample standard deviation over the masks) of the output without dropout. A
    // mask scaled by 1 instead of 1/(1 − p) is off by 0.3/0.7 of the output, far beyond it.
    let plain = run(0.0, 0);
    let n = 400;
    let samples: Vec<Vec<f32>> = (0..n).map(|seed| run(0.3, seed)).collect();
    for (i, &want) in plain.iter().enumerate() {
        let xs: Vec<f64> = samples.iter().map(|s| s[i] as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let se = sd / (n as f64).sqrt();
        assert!((mean - want as f64).abs() <= 5.0 * se + 1e-6, "output {i}: mean {mean} vs {want}, s.e. {se}");
    }
}

#[test]
fn gpt2_gives_the_same_logits_and_gradients_fused_or_not() {
    let config =
        Gpt2Config { n_positions: 24, resid_pdrop: 0.0, embd_pdrop: 0.0, attn_pdrop: 0.0, ..common::tiny_config() };
    let ids = IntTensor::from_vec((0..2 * 20).map(|i| (i * 37 % 50257) as i64).collect(), [2, 20]);
    let mask = Tensor::from_vec((0..40).map(|i| if i >= 36 { 0.0 } else { 1.0 }).collect(), [2, 20]);
    let run = |fused: bool, checkpointing: bool| {
        let mut model = Gpt2::new(config.clone(), &mut manual_seed(1));
        model.fused_attention = fused;
        model.gradient_checkpointing = checkpointing;
        let logits = model.forward(&ids, Some(&mask));
        Gpt2::lm_loss(&logits, &ids).backward();
        let grads: Vec<Vec<f32>> = model.named_parameters().iter().map(|(_, p)| p.grad().unwrap().to_vec()).collect();
        (logits, grads)
    };
    use gradschool::nn::Module;
    let ((a, ga), (b, gb), (c, gc)) = (run(true, false), run(false, false), run(true, true));
    common::assert_close("logits", &a, &b, 1e-4, 1e-5);
    assert_eq!(a.to_vec(), c.to_vec(), "checkpointing recomputes the same fused forward");
    assert_eq!(ga, gc, "and the same gradients");
    for (i, (x, y)) in ga.iter().zip(&gb).enumerate() {
        common::assert_close(
            &format!("parameter {i}'s gradient"),
            &Tensor::from_vec(x.clone(), [x.len()]),
            &Tensor::from_vec(y.clone(), [y.len()]),
            1e-3,
            1e-6,
        );
    }
}

#[test]
fn attention_weights_are_each_layers_softmax_and_change_nothing() {
    use gradschool::nn::{Forward, Module};
    let config = Gpt2Config { n_layer: 2, ..common::tiny_config() };
    let mut model = Gpt2::new(config, &mut manual_seed(5));
    model.eval();
    model.fused_attention = true; // the probe must still see the probabilities
    let t = 7;
    let ids = IntTensor::from_vec((0..t as i64).map(|i| i * 101 % 50257).collect(), [1, t]);
    let before = model.forward(&ids, None).to_vec();
    let maps = model.attention_weights(&ids);
    assert_eq!(maps.len(), 2, "one map per layer");
    assert_eq!(model.forward(&ids, None).to_vec(), before, "probing leaves the forward pass alone");
    for (l, m) in maps.iter().enumerate() {
        assert_eq!(m.dims(), &[1, 2, t, t], "layer {l}: (B, NH, T, T)");
        let v = m.to_vec();
        for row in 0..2 * t {
            let (i, r) = (row % t, &v[row * t..(row + 1) * t]);
            // a softmax row sums to 1; the causal mask leaves the future at exactly 0
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5, "layer {l}, row {row}: {r:?}");
            assert!(r[i + 1..].iter().all(|&p| p == 0.0), "layer {l}: query {i} sees the future: {r:?}");
        }
    }
    // layer 0 recomputed by hand from the weights: softmax(q·kᵀ/√HS + causal mask)
    let _guard = gradschool::no_grad();
    let pos = IntTensor::from_vec((0..t as i64).collect(), [t]);
    let x = model.wte.embedding(&ids) + model.wpe.embedding(&pos); // (1, T, C)
    let qkv = model.blocks[0].c_attn.forward(&model.blocks[0].ln_1.forward(&x)); // (1, T, 3C)
    let (c, hs) = (8, 4);
    for h in 0..2 {
        let q = qkv.narrow(-1, h * hs, hs).reshape([t, hs]);
        let k = qkv.narrow(-1, c + h * hs, hs).reshape([t, hs]);
        let s = (q.matmul(&k.t()) * (1.0 / (hs as f32).sqrt())).to_vec();
        let mut want = Vec::new();
        for i in 0..t {
            let m = s[i * t..i * t + i + 1].iter().copied().fold(f32::MIN, f32::max);
            let z: f32 = s[i * t..i * t + i + 1].iter().map(|v| (v - m).exp()).sum();
            want.extend((0..t).map(|j| if j <= i { (s[i * t + j] - m).exp() / z } else { 0.0 }));
        }
        let got = maps[0].narrow(1, h, 1).reshape([t, t]);
        common::assert_close(&format!("head {h}"), &got, &Tensor::from_vec(want, [t, t]), 1e-5, 1e-6);
    }
}
