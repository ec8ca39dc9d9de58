//! Kernel paths the small PyTorch fixtures never reach: inputs above the parallel threshold and
//! the general (strided) broadcasting path, each against a naive element-by-element definition.

use crate::backend::cpu::PAR_THRESHOLD;
use crate::backend::MatmulLayout;
use crate::shape::contiguous_strides;
use crate::{manual_seed, Tensor};

/// Multi-index of flat position `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for k in (0..dims.len()).rev() {
        idx[k] = i % dims[k];
        i /= dims[k];
    }
    idx
}

/// Reads `t` at a broadcast multi-index (size-1 and missing leading dims read index 0).
fn at(t: &[f32], dims: &[usize], idx: &[usize]) -> f32 {
    let off = idx.len() - dims.len();
    let strides = contiguous_strides(dims);
    t[(0..dims.len()).map(|k| if dims[k] == 1 { 0 } else { idx[off + k] * strides[k] }).sum::<usize>()]
}

#[test]
fn large_broadcast_binary_matches_the_definition() {
    let mut rng = manual_seed(0);
    // (8, 1, 64, 80) ∘ (33, 1, 80): out (8, 33, 64, 80) ≈ 1.35M elements, general strided path
    let (da, db) = ([8usize, 1, 64, 80], [33usize, 1, 80]);
    let a = Tensor::randn(da, &mut rng);
    let b = Tensor::randn(db, &mut rng);
    let out = &a * &b + &a;
    assert!(out.numel() > PAR_THRESHOLD);
    let (av, bv, ov) = (a.to_vec(), b.to_vec(), out.to_vec());
    for i in (0..ov.len()).step_by(997) {
        let idx = unravel(i, out.dims());
        let (x, y) = (at(&av, &da, &idx), at(&bv, &db, &idx));
        assert_eq!(ov[i], x * y + x, "element {i} at {idx:?}");
    }
}

#[test]
fn large_reductions_match_the_definition() {
    let x = Tensor::randn([40, 50, 30], &mut manual_seed(1));
    let v = x.to_vec();
    let mid = x.sum_dims(&[1], false).to_vec(); // (40, 30): strided accumulation path
    let last = x.max_dims(&[-1], false).to_vec(); // (40, 50): contiguous-run path
    for o in 0..40 {
        for i in 0..30 {
            let want: f64 = (0..50).map(|j| v[(o * 50 + j) * 30 + i] as f64).sum();
            assert!((mid[o * 30 + i] as f64 - want).abs() < 1e-4, "sum at ({o}, {i})");
        }
        for j in 0..50 {
            let want = v[(o * 50 + j) * 30..(o * 50 + j + 1) * 30].iter().copied().fold(f32::MIN, f32::max);
            assert_eq!(last[o * 50 + j], want);
        }
    }
}

#[test]
fn large_softmax_matches_the_definition_in_f64_and_permute_round_trips() {
    // 300 × 257 and 301 × 1000 take the threaded path in chunks of whole rows (the second does
    // not divide evenly into them); 3 × 5 the serial one. Each row against softmax's definition
    // computed in f64: a row written to the wrong place, or a chunk's rows shifted, fails.
    for (rows, cols, scale) in [(300usize, 257usize, 10.0f32), (301, 1000, 3.0), (3, 5, 1.0)] {
        assert_eq!(rows * cols >= PAR_THRESHOLD, rows > 3);
        let x = Tensor::randn([rows, cols], &mut manual_seed(rows as u64)).mul_scalar(scale);
        let (xv, soft, logsoft) = (x.to_vec(), x.softmax(-1).to_vec(), x.log_softmax(-1).to_vec());
        for r in 0..rows {
            let row: Vec<f64> = xv[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).collect();
            let max = row.iter().copied().fold(f64::MIN, f64::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            for (c, &v) in row.iter().enumerate() {
                let (want_log, got_log) = (v - lse, logsoft[r * cols + c] as f64);
                // f32 rounding of x − max − log Σ: a few units of 2⁻²⁴ of the largest term
                let tol = 8.0 * f32::EPSILON as f64 * (1.0 + max.abs() + lse.abs() + want_log.abs());
                assert!((got_log - want_log).abs() <= tol, "log_softmax ({r}, {c}): {got_log} vs {want_log}");
                let (want, got) = (want_log.exp(), soft[r * cols + c] as f64);
                assert!((got - want).abs() <= tol * want + 1e-12, "softmax ({r}, {c}): {got} vs {want}");
            }
        }
    }
    let y = Tensor::randn([20, 30, 70], &mut manual_seed(3));
    let back = y.permute(&[2, 0, 1]).permute(&[1, 2, 0]);
    assert_eq!(back.to_vec(), y.to_vec());
}

/// C = op(A)·op(B) by the definition in f64, with each element's rounding bound for an f32 dot
/// product of length k in any summation order (Higham, Accuracy and Stability of Numerical
/// Algorithms, §3.1): |ĉ − c| ≤ γₖ Σₚ |aₚ||bₚ|, γₖ = k·u / (1 − k·u), u = 2⁻²⁴.
fn naive_matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Vec<(f64, f64)> {
    let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] } as f64;
    let bt = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] } as f64;
    let u = f32::EPSILON as f64 / 2.0;
    let gamma = k as f64 * u / (1.0 - k as f64 * u);
    (0..m * n)
        .map(|e| {
            let terms = (0..k).map(|p| at(e / n, p) * bt(p, e % n));
            let bound = gamma * (0..k).map(|p| (at(e / n, p) * bt(p, e % n)).abs()).sum::<f64>();
            (terms.sum(), bound)
        })
        .collect()
}

#[test]
fn products_split_over_threads_match_the_definition() {
    // 203×130×151 ≈ 4M multiply-adds: above the split threshold, an odd number of rows, and
    // every transpose combination the backward pass uses.
    let (m, k, n) = (203, 130, 151);
    let mut rng = manual_seed(4);
    for (ta, tb) in [(false, false), (true, false), (false, true)] {
        let a = Tensor::randn(if ta { [k, m] } else { [m, k] }, &mut rng);
        let b = Tensor::randn(if tb { [n, k] } else { [k, n] }, &mut rng);
        let (ao, bo) = (if ta { a.t() } else { a.clone() }, if tb { b.t() } else { b.clone() });
        let got = ao.matmul(&bo).to_vec();
        let want = naive_matmul(&a.to_vec(), &b.to_vec(), m, k, n, ta, tb);
        for (i, (&g, &(w, bound))) in got.iter().zip(&want).enumerate() {
            assert!((g as f64 - w).abs() <= bound, "({ta}, {tb}) element {i}: {g} vs {w} (bound {bound:.1e})");
        }
    }
    // Batched products above the rayon threshold, one per task.
    let a = Tensor::randn([6, 64, 96], &mut rng);
    let b = Tensor::randn([6, 96, 80], &mut rng);
    let got = a.matmul(&b).to_vec();
    let (av, bv) = (a.to_vec(), b.to_vec());
    for i in 0..6 {
        let want = naive_matmul(&av[i * 64 * 96..], &bv[i * 96 * 80..], 64, 96, 80, false, false);
        for (j, &(w, bound)) in want.iter().enumerate() {
            assert!((got[i * 64 * 80 + j] as f64 - w).abs() <= bound, "batch {i} element {j}");
        }
    }
}

#[test]
fn a_bias_inside_the_product_is_the_product_plus_the_bias() {
    // C = A·B + 1·bias on every path of the CPU GEMM: one block on this thread (small), split
    // over the helpers by columns (64 × 784 × 256, the MNIST layer) and by rows (203 × 130 × 151),
    // and batched over rayon tasks. Against the definition in f64: each element within the
    // rounding bound of its dot product (Higham) plus one rounding of the sum with the bias.
    let mut rng = manual_seed(9);
    for (batch, m, k, n, tb) in
        [(1, 5, 7, 3, true), (1, 64, 784, 256, true), (1, 203, 130, 151, false), (6, 64, 96, 80, false)]
    {
        let a = Tensor::randn([batch, m, k], &mut rng);
        let b = Tensor::randn(if tb { [1, n, k] } else { [batch, k, n] }, &mut rng);
        let bias = Tensor::randn([n], &mut rng);
        let layout = MatmulLayout {
            batch,
            m,
            n,
            k,
            a_batch_stride: m * k,
            b_batch_stride: if tb { 0 } else { k * n },
            trans_a: false,
            trans_b: tb,
        };
        let got = a.storage().matmul_bias(&b.storage(), &bias.storage(), &layout).to_vec();
        let (av, bv, cv) = (a.to_vec(), b.to_vec(), bias.to_vec());
        for i in 0..batch {
            let bs = if tb { 0 } else { i * k * n };
            let want = naive_matmul(&av[i * m * k..], &bv[bs..], m, k, n, false, tb);
            // k + 1 terms now, the bias one of them: γₖ₊₁ (Σ|aₚbₚ| + |bias|).
            let (u, gk) = (f64::from(f32::EPSILON) / 2.0, |k: f64| k * f64::from(f32::EPSILON) / 2.0);
            let gamma = |k: usize| gk(k as f64) / (1.0 - k as f64 * u);
            for (j, &(w, bound)) in want.iter().enumerate() {
                let (g, w) = (got[i * m * n + j] as f64, w + cv[j % n] as f64);
                let bound = gamma(k + 1) * (bound / gamma(k) + (cv[j % n] as f64).abs());
                assert!(
                    (g - w).abs() <= bound,
                    "{batch}×{m}×{k}×{n} entry {i} element {j}: {g} vs {w} (bound {bound:.1e})"
                );
            }
        }
    }
}

#[test]
fn where_picks_by_the_broadcast_mask_on_every_path() {
    // out[i] = a[i] if mask[i mod its period] ≠ 0 else b[i], by the definition, for the masked_fill
    // shapes (a mask over the trailing dims, a scalar and a full operand, both ways round; small
    // and above the parallel threshold) and a mask that is not a trailing block (general path).
    use super::elementwise::where_cond;
    let mut rng = manual_seed(11);
    for (lead, tail, mask_lead) in [
        (vec![2, 3], vec![4, 5], vec![1, 1]),
        (vec![8, 12], vec![32, 32], vec![]),
        (vec![2, 3], vec![4, 5], vec![2, 1]),
    ] {
        let so: Vec<usize> = lead.iter().chain(&tail).copied().collect();
        let sc: Vec<usize> = mask_lead.iter().chain(&tail).copied().collect();
        let n: usize = so.iter().product();
        let c: Vec<f32> =
            Tensor::rand(sc.as_slice(), &mut rng).to_vec().iter().map(|&u| if u < 0.5 { 1.0 } else { 0.0 }).collect();
        let full = Tensor::randn(so.as_slice(), &mut rng).to_vec();
        // the mask's element for output element i: its index in each dim, 0 where the mask has 1
        let mask_of = |i: usize| {
            let (mut rest, mut idx, mut stride) = (i, 0, 1);
            for (d, &size) in so.iter().enumerate().rev() {
                let k = rest % size;
                rest /= size;
                let ms = if d + sc.len() >= so.len() { sc[d + sc.len() - so.len()] } else { 1 };
                idx += if ms == 1 { 0 } else { k * stride };
                stride *= ms;
            }
            c[idx]
        };
        let scalar = [-7.5f32];
        for (a, sa, b, sb) in [(&scalar[..], &[][..], &full[..], &so[..]), (&full[..], &so[..], &scalar[..], &[][..])] {
            let got = where_cond(&c, a, b, [&sc, sa, sb, &so]);
            assert_eq!(got.len(), n);
            for (i, &g) in got.iter().enumerate() {
                let pick = |x: &[f32]| if x.len() == 1 { x[0] } else { x[i] };
                let want = if mask_of(i) != 0.0 { pick(a) } else { pick(b) };
                assert_eq!(g, want, "output {so:?}, mask {sc:?}, element {i}");
            }
        }
        assert_eq!(n >= PAR_THRESHOLD, tail == [32, 32], "the 8×12×32×32 case must take the parallel path");
    }
}

#[test]
fn fused_cross_entropy_matches_log_softmax_then_pick() {
    // Both kernel paths (serial and rayon), with ignored rows, against the definition
    // ℓᵢ = −log_softmax(zᵢ)[tᵢ] built from the separately PyTorch-checked ops.
    for (n, c) in [(5usize, 7usize), (70, 600)] {
        assert_eq!(n * c >= PAR_THRESHOLD, c == 600, "the large case must take the parallel path");
        let z = Tensor::randn([n, c], &mut manual_seed(4)).mul_scalar(3.0).requires_grad_();
        let targets: Vec<i64> = (0..n as i64).map(|i| (i * 37) % c as i64).collect();
        let keep = Tensor::from_vec((0..n).map(|i| if i % 4 == 1 { 0.0 } else { 1.0 }).collect(), [n]);
        let fused = z.cross_entropy_rows(&targets);
        (&fused * &keep).sum().backward();
        let g_fused = z.grad().unwrap().to_vec();
        z.zero_grad();
        let idx = crate::IntTensor::from_vec(targets.clone(), [n, 1]);
        let composed = z.log_softmax(-1).gather(1, &idx).reshape([n]).neg();
        (&composed * &keep).sum().backward();
        let g_composed = z.grad().unwrap().to_vec();
        for (a, b) in fused.to_vec().iter().zip(composed.to_vec()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "loss {a} vs {b} (n={n}, c={c})");
        }
        for (i, (a, b)) in g_fused.iter().zip(&g_composed).enumerate() {
            assert!((a - b).abs() <= 1e-6, "grad element {i}: {a} vs {b} (n={n}, c={c})");
        }
        assert!(g_fused[c..2 * c].iter().all(|&g| g == 0.0), "an ignored row has zero gradient");
    }
}

#[test]
fn fused_softmax_backward_matches_its_definition() {
    // dx = y ⊙ (g − Σ g·y), written with the separately checked ops, on both kernel paths.
    for (rows, cols) in [(3usize, 5usize), (40, 1000)] {
        assert_eq!(rows * cols >= PAR_THRESHOLD, cols == 1000, "the large case must take the parallel path");
        let x = Tensor::randn([rows, cols], &mut manual_seed(6)).requires_grad_();
        let g = Tensor::randn([rows, cols], &mut manual_seed(7));
        let y = x.softmax(-1);
        y.backward_with(&g);
        let yd = y.detach();
        let want = (&yd * &(&g - &(&g * &yd).sum_dims(&[-1], true))).to_vec();
        for (i, (a, b)) in x.grad().unwrap().to_vec().iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-6, "element {i}: {a} vs {b} ({rows}×{cols})");
        }
    }
}

#[test]
fn fused_cross_entropy_gradient_is_accurate_at_gpt2_width() {
    // 50257 classes: the per-row Σ exp must not drift. Reference: the same formula in f64.
    let (n, c) = (4usize, 50257usize);
    let z = Tensor::randn([n, c], &mut manual_seed(8)).mul_scalar(4.0).requires_grad_();
    let targets: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % c as i64).collect();
    z.cross_entropy_rows(&targets).sum().backward();
    let (zv, gv) = (z.to_vec(), z.grad().unwrap().to_vec());
    for r in 0..n {
        let row = &zv[r * c..(r + 1) * c];
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        for j in 0..c {
            let want = (row[j] as f64 - lse).exp() - if j as i64 == targets[r] { 1.0 } else { 0.0 };
            let got = gv[r * c + j] as f64;
            assert!((got - want).abs() <= 2e-6 * (1.0 + want.abs()), "row {r} class {j}: {got} vs f64 {want}");
        }
    }
}

#[test]
fn exp_fast_is_within_2e7_of_the_f64_exponential() {
    use crate::backend::op::exp_fast;
    // Reference: f64 `exp`, exact to far below f32 precision. 2M points over the whole range in
    // which e^x is a normal f32, plus the edges the kernels rely on.
    let mut worst = 0f64;
    for i in 0..=2_000_000 {
        let x = -87.0 + i as f32 * 87.5e-6; // −87 … 88
        let want = (x as f64).exp();
        worst = worst.max(((exp_fast(x) as f64 - want) / want).abs());
    }
    assert!(worst <= 2e-7, "worst relative error {worst:e}");
    assert_eq!(exp_fast(0.0), 1.0);
    assert_eq!(exp_fast(f32::NEG_INFINITY), 0.0, "masked softmax entries must be exactly 0");
    assert_eq!(exp_fast(-100.0), 0.0);
    assert_eq!(exp_fast(f32::MIN), 0.0);
    assert!(exp_fast(f32::NAN).is_nan());
    assert!(exp_fast(1e30).is_finite(), "capped at e^88, not ∞");
}

#[test]
fn gelu_and_its_gradient_at_gpt2_width_match_the_f64_formula() {
    // Large enough for the parallel, multiversioned (AVX-512/AVX2 where present) kernels.
    // Reference: the tanh formula and its derivative in f64.
    let n = 3 * PAR_THRESHOLD + 5;
    let x = Tensor::from_vec((0..n).map(|i| (i as f32 / n as f32) * 20.0 - 10.0).collect(), [n]).requires_grad_();
    let y = x.gelu_tanh();
    let g = Tensor::from_vec((0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect(), [n]);
    y.backward_with(&g);
    let (xs, ys, gs, dx) = (x.to_vec(), y.to_vec(), g.to_vec(), x.grad().unwrap().to_vec());
    let k = (2.0f64 / std::f64::consts::PI).sqrt();
    for i in 0..n {
        let v = xs[i] as f64;
        let u = k * (v + 0.044715 * v * v * v);
        let (t, du) = (u.tanh(), k * (1.0 + 3.0 * 0.044715 * v * v));
        let want_y = 0.5 * v * (1.0 + t);
        let want_dx = gs[i] as f64 * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
        assert!((ys[i] as f64 - want_y).abs() <= 2e-6 * (1.0 + want_y.abs()), "gelu({v}) = {} vs {want_y}", ys[i]);
        assert!((dx[i] as f64 - want_dx).abs() <= 2e-6 * (1.0 + want_dx.abs()), "gelu'({v}) = {} vs {want_dx}", dx[i]);
    }
}

#[test]
fn permutes_and_narrows_that_keep_contiguous_runs_match_the_definition() {
    // Attention's head split/merge and narrow (trailing dims contiguous in the source), checked
    // element by element against the index definition: out[i0,i1,i2,i3] = x[perm-mapped index].
    let dims = [3usize, 4, 5, 20];
    let x = Tensor::from_vec((0..dims.iter().product::<usize>()).map(|i| i as f32).collect(), dims);
    let xs = x.to_vec();
    let strides = contiguous_strides(&dims);
    for perm in [[2usize, 0, 1, 3], [1, 0, 2, 3], [0, 2, 1, 3]] {
        let y = x.permute(&perm.map(|p| p as isize));
        let od: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
        for (i, &v) in y.to_vec().iter().enumerate() {
            let idx = unravel(i, &od);
            let src: usize = (0..4).map(|k| idx[k] * strides[perm[k]]).sum();
            assert_eq!(v, xs[src], "perm {perm:?} at {idx:?}");
        }
    }
    // narrow of the last dim to 16 of 20: runs of 16
    let y = x.narrow(-1, 3, 16);
    for (i, &v) in y.to_vec().iter().enumerate() {
        let idx = unravel(i, &[3, 4, 5, 16]);
        let src = idx[0] * strides[0] + idx[1] * strides[1] + idx[2] * strides[2] + idx[3] + 3;
        assert_eq!(v, xs[src], "narrow at {idx:?}");
    }
}

#[test]
fn split_heads_and_matmul_t_equal_the_copies_they_replace() {
    // Reference: the ops they fuse — narrow, reshape, transpose (each a copy) and a product
    // with a materialised transpose. Copies move values without arithmetic, so the heads must
    // be equal bit for bit, and so must the gradient of qkv that flows back through them alone.
    // The product reads k through swapped strides, which packs it differently and may add its
    // terms in another order: q·kᵀ is checked against the f64 sum within Higham's bound
    // |ŝ − s| ≤ γₖ·Σ|q||k|, γₖ = kε/(1 − kε), and the attention output and qkv's gradient that
    // flow from it to 1e-5 of the reference's.
    let (b, t, c, nh) = (2, 5, 12, 3);
    let hs = c / nh;
    let x = Tensor::randn([b, t, 3 * c], &mut crate::manual_seed(3));
    let run = |fused: bool, through_product: bool| {
        let x = x.detach().requires_grad_();
        let heads = |i: usize| {
            if fused {
                x.split_heads(i * c, c, nh)
            } else {
                x.narrow(-1, i * c, c).reshape([b, t, nh, hs]).transpose(1, 2)
            }
        };
        let (q, k, v) = (heads(0), heads(1), heads(2));
        let scores = if fused { q.matmul_t(&k) } else { q.matmul(&k.transpose(-2, -1)) };
        let y = scores.softmax(-1).matmul(&v);
        let loss = if through_product { y.square().sum() } else { (q.square() + k.exp() + v * 3.0).sum() };
        loss.backward();
        (q.to_vec(), k.to_vec(), scores.to_vec(), y.to_vec(), x.grad().unwrap().to_vec())
    };
    let (fused, reference) = (run(true, false), run(false, false));
    assert_eq!(fused.0, reference.0, "the heads of q");
    assert_eq!(fused.1, reference.1, "the heads of k");
    assert_eq!(fused.4, reference.4, "qkv's gradient through the heads alone");
    let (fused, reference) = (run(true, true), run(false, true));
    let (q, k) = (&fused.0, &fused.1);
    let gamma = hs as f64 * f32::EPSILON as f64 / 2.0 / (1.0 - hs as f64 * f32::EPSILON as f64 / 2.0);
    for (n, &s) in fused.2.iter().enumerate() {
        let (bh, i, j) = (n / (t * t), n / t % t, n % t);
        let (qi, kj) = (&q[(bh * t + i) * hs..][..hs], &k[(bh * t + j) * hs..][..hs]);
        let exact: f64 = qi.iter().zip(kj).map(|(&a, &b)| a as f64 * b as f64).sum();
        let bound = gamma * qi.iter().zip(kj).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum::<f64>();
        assert!((s as f64 - exact).abs() <= bound, "q·kᵀ at {n}: {s} vs {exact} (bound {bound:e})");
    }
    for (what, a, r) in [("attention's output", &fused.3, &reference.3), ("qkv's gradient", &fused.4, &reference.4)] {
        let scale = r.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(r.iter()) {
            assert!((x - y).abs() <= 1e-5 * scale, "{what}: {x} vs {y}");
        }
    }
}

#[test]
fn masked_softmax_is_the_scale_the_fill_and_the_softmax_bit_for_bit() {
    // Reference: the three ops it fuses, `(x * scale).masked_fill(mask, fill).softmax(-1)`,
    // forward and backward; the same arithmetic in the same order, so the same bits. A causal
    // (1, 1, T, T) mask and a padded (B, 1, T, T) one, below and above the parallel threshold.
    for (b, nh, t) in [(2, 3, 5), (4, 4, 48)] {
        let n = b * nh * t * t;
        assert_eq!(n >= PAR_THRESHOLD, t == 48, "one case on each side of the threshold");
        let x = Tensor::randn([b, nh, t, t], &mut manual_seed(t as u64));
        let g = Tensor::randn([b, nh, t, t], &mut manual_seed(1 + t as u64));
        let causal: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { 1.0 } else { 0.0 }).collect();
        let causal = Tensor::from_vec(causal, [1, 1, t, t]);
        let padded: Vec<f32> =
            (0..b * t * t).map(|i| if i % t > (i / t) % t || i % t < i / (t * t) { 1.0 } else { 0.0 }).collect();
        let padded = Tensor::from_vec(padded, [b, 1, t, t]);
        for mask in [&causal, &padded] {
            let run = |fused: bool| {
                let x = x.detach().requires_grad_();
                let y = if fused {
                    x.masked_softmax(mask, f32::MIN, 0.125)
                } else {
                    (&x * 0.125).masked_fill(mask, f32::MIN).softmax(-1)
                };
                assert_eq!(y.grad_fn(), Some(if fused { "masked_softmax" } else { "softmax" }), "the path taken");
                y.backward_with(&g);
                (y.to_vec(), x.grad().unwrap().to_vec())
            };
            let (fused, reference) = (run(true), run(false));
            let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same(&fused.0, &reference.0), "probabilities, mask {}", mask.shape());
            assert!(same(&fused.1, &reference.1), "gradient, mask {}", mask.shape());
        }
    }
}
